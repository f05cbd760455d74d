"""Give every entry a stable identity: its key, canonical link, content hash and story.

Pure: stdlib only, no I/O, no clock reads.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from urllib.parse import unquote_plus, urlsplit, urlunsplit

from feedhub.types import EntryData, EntryIdentity

__all__ = [
    "TRACKING_PARAMS",
    "TRACKING_PREFIXES",
    "canonical_url",
    "content_hash",
    "entry_key",
    "identify",
]

#: Query parameters that only track the click, compared case-insensitively.
TRACKING_PARAMS: frozenset[str] = frozenset(
    {
        # ad click ids: Facebook, Google, DoubleClick, Microsoft, Yandex, TikTok, X
        "fbclid",
        "gclid",
        "gclsrc",
        "dclid",
        "gbraid",
        "wbraid",
        "msclkid",
        "yclid",
        "ttclid",
        "twclid",
        "li_fat_id",
        "igshid",
        "srsltid",
        # e-mail campaigns: Mailchimp, HubSpot, Marketo, Vero, Olytics
        "mc_cid",
        "mc_eid",
        "_hsenc",
        "_hsmi",
        "mkt_tok",
        "vero_id",
        "vero_conv",
        "oly_anon_id",
        "oly_enc_id",
        # referrer markers and misc. analytics
        "ref",
        "ref_src",
        "ref_url",
        "_openstat",
        "fb_action_ids",
        "fb_action_types",
        "fb_ref",
        "fb_source",
        "action_object_map",
        "action_type_map",
        "action_ref_map",
        "sc_cid",
        "s_cid",
        "rb_clickid",
        "wickedid",
    }
)

#: Prefixes of tracking parameter families (Google Analytics, Matomo/Piwik,
#: HubSpot ads, Humble Bundle), compared case-insensitively.
TRACKING_PREFIXES: tuple[str, ...] = (
    "utm_",
    "mtm_",
    "pk_",
    "matomo_",
    "piwik_",
    "hsa_",
    "hmb_",
    "ga_",
)

# RFC 3986 §6.2.3: a port equal to the scheme's default is dropped.
_DEFAULT_PORTS = {"http": 80, "https": 443}


def canonical_url(url: str, extra_params: Iterable[str] = ()) -> str:
    """Return the canonical form of ``url``, so copies of one link compare equal.

    Lowercases the scheme and host, drops a default port, the fragment and
    tracking parameters (``TRACKING_PARAMS``, ``TRACKING_PREFIXES`` and
    ``extra_params``, all case-insensitive), sorts the remaining query
    parameters (stable for equal names), turns an empty path into "/" and drops
    a trailing "?". The path keeps its case (RFC 3986 §6.2.2.1: only scheme and
    host are case-insensitive). Percent-escapes are kept byte for byte, so the
    result is idempotent.

    Args:
        url: any string; it need not be a valid URL.
        extra_params: more parameter names to drop.

    Returns:
        The canonical URL; the stripped input when it cannot be parsed.
    """
    extra = frozenset(name.lower() for name in extra_params)
    result = url.strip()
    # Dropping a fragment or a parameter can expose trailing whitespace
    # ("a #b" -> "a "); strip and go again until a fixed point, so that
    # canonical_url(canonical_url(u)) == canonical_url(u). Each extra pass
    # only strips, so two or three suffice; the bound is a guard, not a limit.
    for _ in range(16):  # pragma: no branch
        canonical = _canonical_once(result, extra).strip()
        if canonical == result:
            break
        result = canonical
    return result


def _canonical_once(url: str, extra: frozenset[str]) -> str:
    """Run one canonicalization pass over a stripped ``url``."""
    try:
        parts = urlsplit(url)
    except ValueError:
        # e.g. an unbalanced IPv6 bracket: "http://[::1/"
        return url
    scheme = parts.scheme.lower()
    netloc = _canonical_netloc(scheme, parts.netloc)
    path = parts.path
    if netloc and not path:
        path = "/"
    elif not netloc and path.startswith("//"):
        # urlunsplit would write "//x" back, which re-parses as a host "x"
        path = "/" + path.lstrip("/")
    query = _canonical_query(parts.query, extra)
    return urlunsplit((scheme, netloc, path, query, ""))


def _canonical_netloc(scheme: str, netloc: str) -> str:
    """Lowercase the host of ``netloc`` and drop an empty or default port.

    Parsed by hand rather than with ``SplitResult.port``, which raises on a
    port out of range; such a port is kept as written.
    """
    userinfo, at, hostport = netloc.rpartition("@")
    if hostport.startswith("["):
        # RFC 3986 §3.2.2: an IP literal; its colons are not the port's
        bracket = hostport.find("]") + 1
        host, port = hostport[:bracket], hostport[bracket:].removeprefix(":")
    else:
        host, _, port = hostport.partition(":")
    default = _DEFAULT_PORTS.get(scheme)
    # compared as text: int() raises on over 4300 digits (CVE-2020-10735)
    if default is not None and port.lstrip("0") == str(default):
        port = ""
    return f"{userinfo}{at}{host.lower()}" + (f":{port}" if port else "")


def _canonical_query(query: str, extra: frozenset[str]) -> str:
    """Drop tracking parameters and sort the rest by name, keeping raw escapes."""
    kept: list[tuple[str, str]] = []
    for pair in query.split("&"):
        if not pair.strip():
            continue
        raw_name = pair.partition("=")[0]
        name = unquote_plus(raw_name).lower()
        if name in TRACKING_PARAMS or name in extra:
            continue
        if name.startswith(TRACKING_PREFIXES):
            continue
        kept.append((raw_name, pair))
    # sorted() is stable: repeated names (a=2&a=1) keep their order
    kept.sort(key=lambda item: item[0])
    return "&".join(pair for _, pair in kept)


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def entry_key(source_id: int, entry: EntryData) -> str:
    """Return the entry's key: sha256 hex of ``f"{source_id}\\n{id or link}"``.

    The key is per source: the same guid in two sources gives two keys. When
    the entry has neither an id nor a link, the key falls back to its title
    and published time. That fallback is weak: editing the title, or a feed
    that dates every entry "now", makes a new key for the same entry.

    Args:
        source_id: the source's stable id (not its URL, which a 301 may change).
        entry: the normalized entry.

    Returns:
        64 hex characters.
    """
    ident = entry.original_id or entry.link
    if ident:
        return _sha256(f"{source_id}\n{ident}")
    published = entry.published.isoformat() if entry.published else ""
    return _sha256(f"{source_id}\n{entry.title}\n{published}")


def content_hash(entry: EntryData) -> str:
    """Return sha256 hex over the entry's content, ignoring volatile fields.

    Covers title, link, summary, content, authors, published, categories and
    enclosures, serialized as canonical JSON. ``updated`` is left out on
    purpose: many feeds bump it on every build without changing anything.

    Args:
        entry: the normalized entry.

    Returns:
        64 hex characters; equal for entries that differ only in volatile fields.
    """
    fields = {
        "title": entry.title,
        "link": entry.link,
        "summary": entry.summary,
        "content": entry.content,
        "authors": [[a.name, a.email, a.uri] for a in entry.authors],
        "published": entry.published.isoformat() if entry.published else None,
        "categories": list(entry.categories),
        "enclosures": [[e.url, e.type, e.length] for e in entry.enclosures],
    }
    text = json.dumps(fields, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return _sha256(text)


def identify(source_id: int, entry: EntryData) -> EntryIdentity:
    """Return the entry's identity: key, canonical link, content hash and story.

    The story groups copies of one article across sources: it is keyed by the
    canonical origin link (else link); an entry without a link is a story of
    its own, keyed by its entry key.

    Args:
        source_id: the source's stable id.
        entry: the normalized entry.

    Returns:
        The entry's ``EntryIdentity``.
    """
    key = entry_key(source_id, entry)
    link = entry.origin_link or entry.link
    # a whitespace-only link canonicalizes to "", which is no link at all
    canonical = (canonical_url(link) if link else "") or None
    story = _sha256(f"url\n{canonical}") if canonical else _sha256(f"key\n{key}")
    return EntryIdentity(
        key=key,
        canonical_link=canonical,
        content_hash=content_hash(entry),
        story_id=story,
    )
