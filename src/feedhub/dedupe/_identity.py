"""Entry identity: key, canonical link (tracking, origin and AMP rules), content hash.

Pure: stdlib only, no I/O, no clock reads.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from urllib.parse import unquote_plus, urlsplit, urlunsplit

from feedhub.types import EntryData, EntryIdentity

__all__ = [
    "TRACKING_PARAMS",
    "TRACKING_PREFIXES",
    "canonical_link",
    "canonical_url",
    "content_hash",
    "entry_key",
    "identify",
    "unamp",
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


def entry_key(source_id: int, entry: EntryData, *, by_link: bool = False) -> str:
    """Return the entry's key: sha256 hex of ``f"{source_id}\\n{id or link}"``.

    The key is per source: the same guid in two sources gives two keys. When
    the entry has neither an id nor a link, the key falls back to its title
    and published time. That fallback is weak: editing the title, or a feed
    that dates every entry "now", makes a new key for the same entry.

    With ``by_link`` (the feed gave several entries the same id) the link is
    hashed too, ``f"{source_id}\\n{id}\\n{link}"``, so they are told apart.

    Args:
        source_id: the source's stable id (not its URL, which a 301 may change).
        entry: the normalized entry.
        by_link: tell entries sharing an id apart by their link.

    Returns:
        64 hex characters.
    """
    if by_link and entry.original_id and entry.link:
        return _sha256(f"{source_id}\n{entry.original_id}\n{entry.link}")
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


# Google's AMP viewer and the AMP cache wrap the publisher's URL in their own:
# https://www.google.com/amp/s/example.com/a and
# https://example-com.cdn.ampproject.org/c/s/example.com/a ("s/" means https).
_AMP_WRAPPER = re.compile(
    r"^https?://(?:www\.google\.[a-z.]+/amp/|[^/]+\.cdn\.ampproject\.org/[a-z]/)"
    r"(s/)?(.+)$",
    re.IGNORECASE,
)
#: query parameters that select an AMP rendering of the same page
_AMP_PARAMS = frozenset({"amp", "outputtype", "_amp", "amp_js_v", "usqp"})


def unamp(url: str) -> str:
    """Map an AMP variant of a page to the page itself.

    Unwraps Google AMP viewer and AMP cache URLs, drops an ``amp`` path
    segment (``/news/amp/123``, ``/story/amp/``), an ``.amp`` suffix
    (``/a.amp``, ``/a.amp.html``), an ``amp.`` host prefix and the AMP query
    parameters (``amp``, ``outputType``, ``_amp``, ``amp_js_v``, ``usqp``).

    Args:
        url: an absolute URL.

    Returns:
        The non-AMP URL; ``url`` unchanged when it has no AMP marker.
    """
    wrapped = _AMP_WRAPPER.match(url.strip())
    if wrapped:
        url = ("https://" if wrapped.group(1) else "http://") + wrapped.group(2)
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    host = parts.netloc
    if host.lower().startswith("amp."):
        host = host[4:]
    segments = [seg for seg in parts.path.split("/") if seg.lower() != "amp"]
    path = "/".join(segments) or "/"
    if parts.path.endswith("/") and not path.endswith("/"):
        path += "/"
    path = re.sub(r"\.amp(\.html?)?$", lambda m: m.group(1) or "", path, flags=re.I)
    query = "&".join(
        pair
        for pair in parts.query.split("&")
        if pair and unquote_plus(pair.partition("=")[0]).lower() not in _AMP_PARAMS
    )
    return urlunsplit((parts.scheme, host, path, query, parts.fragment))


def canonical_link(
    entry: EntryData, extra_params: Iterable[str] = (), *, amp: bool = True
) -> str | None:
    """Return the canonical form of the entry's origin link, else its link.

    An origin link (``feedburner:origLink`` and the like) names the
    publisher's page when the feed's own link goes through a redirector, so it
    wins. With ``amp``, AMP variants map to the canonical page (``unamp``).

    Args:
        entry: the normalized entry.
        extra_params: more tracking parameters to drop (``dedupe.tracking_params``).
        amp: map AMP variants to the canonical page.

    Returns:
        The canonical URL, or None when the entry has no (non-blank) link.
    """
    link = entry.origin_link or entry.link
    if not link or not link.strip():
        return None
    if amp:
        link = unamp(link)
    # a whitespace-only link canonicalizes to "", which is no link at all
    return canonical_url(link, extra_params) or None


def identify(
    source_id: int,
    entry: EntryData,
    *,
    extra_params: Iterable[str] = (),
    amp: bool = True,
    by_link: bool = False,
) -> EntryIdentity:
    """Return the entry's identity: key, canonical link, content hash and story.

    The story returned here is the entry's own: keyed by its canonical link
    (else its entry key). Grouping copies from other sources, or by content,
    happens at ingest (``assign_story``), which may put the entry into an
    existing story instead.

    Args:
        source_id: the source's stable id.
        entry: the normalized entry.
        extra_params: more tracking parameters to drop.
        amp: map AMP variants to the canonical page.
        by_link: tell entries sharing an id apart by link (see ``entry_key``).

    Returns:
        The entry's ``EntryIdentity``.
    """
    key = entry_key(source_id, entry, by_link=by_link)
    canonical = canonical_link(entry, extra_params, amp=amp)
    story = _sha256(f"url\n{canonical}") if canonical else _sha256(f"key\n{key}")
    return EntryIdentity(
        key=key,
        canonical_link=canonical,
        content_hash=content_hash(entry),
        story_id=story,
    )
