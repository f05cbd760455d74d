"""Clean a ParsedFeed into FeedData: plain titles, safe HTML, absolute URLs, UTC."""

from __future__ import annotations

import html
import re
from collections.abc import Iterable
from datetime import UTC, datetime
from urllib.parse import (
    SplitResult,
    urljoin,
    urlsplit,
    urlunsplit,
    uses_netloc,
    uses_relative,
)

import nh3

from feedhub.types import (
    Author,
    ContentType,
    Enclosure,
    EntryData,
    FeedData,
    ParsedContent,
    ParsedEntry,
    ParsedFeed,
)

__all__ = ["normalize", "sanitize_html"]

#: longest title kept, in characters, ellipsis included
MAX_TITLE_LENGTH = 1000

# Conservative allowlist: text structure, links, images, tables. No media
# elements (poster/srcset URLs), no forms, no SVG/MathML, no style or class.
_TAGS = frozenset(
    {"p", "br", "hr", "a", "img", "figure", "figcaption", "blockquote", "q", "cite"}
    | {"ul", "ol", "li", "dl", "dt", "dd", "em", "strong", "b", "i", "u", "s"}
    | {"sub", "sup", "small", "mark", "del", "ins", "abbr", "code", "pre", "kbd"}
    | {"samp", "var", "h1", "h2", "h3", "h4", "h5", "h6"}
    | {"table", "caption", "thead", "tbody", "tfoot", "tr", "th", "td"}
)
_ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title", "width", "height"},
    "blockquote": {"cite"},
    "q": {"cite"},
    "abbr": {"title"},
    "ol": {"start"},
    "td": {"colspan", "rowspan"},
    "th": {"colspan", "rowspan", "scope"},
}
# Elements dropped together with their content: their text is code, markup or
# widget labels, never part of the article.
_CLEAN_CONTENT_TAGS = frozenset(
    {"script", "style", "iframe", "noscript", "template", "object", "svg", "math"}
    | {"select", "textarea", "title", "head", "noembed", "noframes", "xmp"}
)
_URL_ATTRIBUTES = frozenset({"href", "src", "cite"})
_HTML_SCHEMES = frozenset({"http", "https", "mailto"})
_LINK_SCHEMES = frozenset({"http", "https"})

# XML 1.0 §2.2 Char, minus C1 controls: NUL, C0 other than tab and newline (CR is
# folded into newline first), DEL and C1, surrogates, U+FFFE and U+FFFF.
_FORBIDDEN_RE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")
_SPACE_RE = re.compile(r"\s+")
_PARAGRAPH_RE = re.compile(r"\n\s*\n")
# "jane@example.com (Jane Doe)" (RSS 2.0 <author>) and "Jane Doe <jane@…>".
_EMAIL_NAME_RE = re.compile(r"^\s*([^\s()<>]+@[^\s()<>]+)\s*\((.*)\)\s*$")
_NAME_EMAIL_RE = re.compile(r"^\s*(.*?)\s*<([^\s<>]+@[^\s<>]+)>\s*$")


def normalize(parsed: ParsedFeed) -> FeedData:
    """Clean a parsed feed; never raises on odd values.

    Args:
        parsed: the parser's output.

    Returns:
        The feed with plain-text titles and rights, sanitized HTML, absolute
        http(s) links, UTC datetimes, deduplicated authors and categories, and
        no characters XML 1.0 forbids.
    """
    base = _clean(parsed.url)
    return FeedData(
        url=base,
        title=_plain(parsed.title, ContentType.TEXT) or None,
        link=_link(parsed.link, base),
        id=_stripped(parsed.id),
        subtitle=_plain(parsed.subtitle, ContentType.TEXT) or None,
        updated=_utc(parsed.updated),
        authors=_authors(parsed.authors, base),
        icon=_link(parsed.icon, base),
        language=_stripped(parsed.language),
        ttl=parsed.ttl if parsed.ttl is not None and parsed.ttl >= 0 else None,
        entries=tuple(_entry(entry, base) for entry in parsed.entries),
        update_interval=_update_interval(parsed.update_period, parsed.update_frequency),
        skip_hours=tuple(sorted({h for h in parsed.skip_hours if 0 <= h <= 23})),
        skip_days=tuple(
            sorted({_DAYS[d] for d in map(str.lower, parsed.skip_days) if d in _DAYS})
        ),
        rights=_plain(parsed.rights, ContentType.TEXT) or None,
        categories=_categories(parsed.categories),
    )


# RSS 1.0 Syndication module: sy:updatePeriod, default "daily".
_PERIODS = {
    "hourly": 3600.0,
    "daily": 86400.0,
    "weekly": 7 * 86400.0,
    "monthly": 30 * 86400.0,
    "yearly": 365 * 86400.0,
}
# RSS 2.0 <skipDays> names -> datetime.weekday()
_DAYS = {
    name: number
    for number, names in enumerate(
        ("monday mon", "tuesday tue", "wednesday wed", "thursday thu")
        + ("friday fri", "saturday sat", "sunday sun")
    )
    for name in names.split()
}


def _update_interval(period: str | None, frequency: int | None) -> float | None:
    """Seconds between updates from sy:updatePeriod / sy:updateFrequency.

    Either may be missing (defaults "daily" and 1); unknown periods and
    non-positive frequencies give None.
    """
    if period is None and frequency is None:
        return None
    seconds = _PERIODS.get((period or "daily").strip().lower())
    count = 1 if frequency is None else frequency
    if seconds is None or count < 1:
        return None
    return seconds / count


def sanitize_html(html: str, base: str | None) -> str:
    """Reduce HTML to an allowlist of tags and attributes with absolute URLs.

    Scripts, styles, frames, forms, SVG/MathML and every event handler are
    removed; ``href``/``src``/``cite`` become absolute against ``base`` and keep
    only the http, https and mailto schemes (anything else, and relative URLs
    without a base, are dropped); links get ``rel="noopener noreferrer"``.

    Args:
        html: an HTML fragment.
        base: absolute URL relative URLs resolve against, or None.

    Returns:
        The sanitized fragment; "" for empty input.
    """
    text = _clean(html)
    if not text.strip():
        return ""

    def attribute_filter(element: str, attribute: str, value: str) -> str | None:
        if attribute in _URL_ATTRIBUTES:
            return _absolute(value, base, _HTML_SCHEMES)
        return value

    cleaned: str = nh3.clean(
        text,
        tags=set(_TAGS),
        clean_content_tags=set(_CLEAN_CONTENT_TAGS),
        attributes=_ATTRIBUTES,
        attribute_filter=attribute_filter,
        strip_comments=True,
        link_rel="noopener noreferrer",
        url_schemes=set(_HTML_SCHEMES),
        # nh3 checks schemes and relative URLs before calling the filter and
        # never re-checks its result, so relative URLs must reach the filter,
        # which resolves them and checks the scheme of what it returns.
        url_relative="pass_through",
    )
    # html5ever emits character references such as "&#1;" as the raw character.
    return _clean(cleaned).strip()


def _entry(entry: ParsedEntry, feed_url: str) -> EntryData:
    content = _best_content(entry.content)
    return EntryData(
        original_id=_stripped(entry.id),
        link=_link(entry.link, feed_url),
        title=_title(entry.title),
        summary=_html(entry.summary, feed_url),
        content=_html(content, feed_url),
        authors=_authors(entry.authors, feed_url),
        published=_utc(entry.published),
        updated=_utc(entry.updated),
        categories=_categories(entry.categories),
        enclosures=_enclosures(entry.enclosures, feed_url),
        origin_link=_link(entry.origin_link, feed_url),
    )


def _title(title: ParsedContent | None) -> str:
    if title is None:
        return ""
    text = _plain(title.value, title.type)
    if len(text) > MAX_TITLE_LENGTH:
        text = text[: MAX_TITLE_LENGTH - 1].rstrip() + "…"
    return text


def _plain(value: str | None, kind: ContentType) -> str:
    """Plain text on one line: tags stripped (HTML only), entities decoded."""
    if not value:
        return ""
    text = _clean(value)
    if kind is ContentType.HTML:
        # nh3 with no allowed tags keeps only the text, entity-escaped.
        text = html.unescape(
            nh3.clean(text, tags=set(), clean_content_tags=set(_CLEAN_CONTENT_TAGS))
        )
    return _SPACE_RE.sub(" ", _clean(text)).strip()


def _best_content(contents: Iterable[ParsedContent]) -> ParsedContent | None:
    """The longest HTML content, else the longest text content."""
    candidates = [c for c in contents if c.value and c.value.strip()]
    if not candidates:
        return None
    return max(candidates, key=lambda c: (c.type is ContentType.HTML, len(c.value)))


def _html(content: ParsedContent | None, feed_url: str) -> str | None:
    """Sanitized HTML for a content value; text is escaped, not sanitized."""
    if content is None:
        return None
    base = _absolute(content.base, feed_url, _LINK_SCHEMES) or feed_url or None
    if content.type is ContentType.TEXT:
        result = _text_to_html(content.value)
    else:
        result = sanitize_html(content.value, base)
    return result or None


def _text_to_html(text: str) -> str:
    """Plain text -> ``<p>`` per blank-line-separated paragraph, ``<br>`` per line."""
    paragraphs = _PARAGRAPH_RE.split(_clean(text).strip())
    return "".join(
        "<p>"
        + "<br>".join(html.escape(line.strip(), quote=False) for line in p.split("\n"))
        + "</p>"
        for p in paragraphs
        if p.strip()
    )


def _authors(authors: Iterable[Author], base: str) -> tuple[Author, ...]:
    """Clean authors; one per name, so RSS ``dc:creator`` "Jane" and
    ``author`` "jane@x (Jane)" become a single Jane with an email."""
    kept: list[Author] = []
    for author in authors:
        cleaned = _author(author, base)
        if not (cleaned.name or cleaned.email or cleaned.uri):
            continue
        for i, other in enumerate(kept):
            if cleaned == other:
                break
            if cleaned.name and (
                cleaned.name.casefold() == (other.name or "").casefold()
            ):
                kept[i] = Author(
                    name=other.name,
                    email=other.email or cleaned.email,
                    uri=other.uri or cleaned.uri,
                )
                break
        else:
            kept.append(cleaned)
    return tuple(kept)


def _author(author: Author, base: str) -> Author:
    name = _one_line(author.name)
    email = _one_line(author.email)
    if name and not email:
        if match := _EMAIL_NAME_RE.match(name):
            email, name = match.group(1), match.group(2).strip()
        elif match := _NAME_EMAIL_RE.match(name):
            name, email = match.group(1), match.group(2)
    if email.lower().startswith("mailto:"):
        email = email[len("mailto:") :]
    return Author(
        name=name or None,
        email=email or None,
        uri=_absolute(author.uri, base, _HTML_SCHEMES),
    )


def _categories(categories: Iterable[str]) -> tuple[str, ...]:
    kept: list[str] = []
    seen: set[str] = set()
    for category in categories:
        term = _one_line(category)
        if term and term.casefold() not in seen:
            seen.add(term.casefold())
            kept.append(term)
    return tuple(kept)


def _enclosures(enclosures: Iterable[Enclosure], base: str) -> tuple[Enclosure, ...]:
    kept: list[Enclosure] = []
    for enclosure in enclosures:
        url = _absolute(enclosure.url, base, _LINK_SCHEMES)
        if url is None:
            continue
        length = enclosure.length
        cleaned = Enclosure(
            url=url,
            type=_one_line(enclosure.type) or None,
            length=length if length is not None and length >= 0 else None,
        )
        if cleaned not in kept:
            kept.append(cleaned)
    return tuple(kept)


def _link(url: str | None, base: str) -> str | None:
    return _absolute(url, base, _LINK_SCHEMES)


# The common absolute link, which cleaning and joining leave as it is: a
# lower-case http(s) scheme, a plain host (no user, no IPv6 brackets: nothing
# urlsplit checks or rejects) and an optional port, a path without ";"
# (params, which urljoin may drop) and a query and fragment that are not
# empty (urlunsplit drops an empty "?" or "#"), all printable ASCII (no
# whitespace or control to remove).
_PLAIN_URL = re.compile(
    r"(https?)://[A-Za-z0-9.-]+(?::[0-9]*)?"
    r"(?:/[!\"$-:<->@-~]*)?(?:\?[!\"$-~]+)?(?:#[!-~]+)?"
)


def _absolute(url: str | None, base: str | None, schemes: frozenset[str]) -> str | None:
    """``url`` made absolute against ``base``; None unless its scheme is allowed."""
    if not url:
        return None
    if url.isascii() and (plain := _PLAIN_URL.fullmatch(url)) and plain[1] in schemes:
        # what the steps below return for it: nothing to clean, and
        # urljoin(base, url) == url for an absolute http(s) URL in this form
        return url
    # Whitespace and controls inside URLs are never meaningful (WHATWG URL
    # strips tab and newline), and they hide "java\tscript:".
    cleaned = _SPACE_RE.sub("", _clean(url))
    if not cleaned:
        return None
    try:
        own = urlsplit(cleaned)
        # urljoin(base, "https://") returns base; an empty authority is no URL.
        if own.scheme.lower() in _LINK_SCHEMES and not own.netloc:
            return None
        absolute = _join(base, cleaned, own) if base else cleaned
        # urlsplit is deterministic: an unchanged URL splits as before
        parts = own if absolute == cleaned else urlsplit(absolute)
    except ValueError:  # e.g. "http://[::1" (invalid IPv6 literal)
        return None
    if parts.scheme.lower() not in schemes:
        return None
    if parts.scheme.lower() != "mailto" and not parts.netloc:
        return None
    return absolute


def _join(base: str, url: str, own: SplitResult) -> str:
    """``urljoin(base, url)``, where ``own`` is ``urlsplit(url)``.

    Most links are absolute: for those, this is what ``urljoin`` computes,
    without parsing ``url`` a second time (``urlsplit`` caches base URLs, which
    repeat, but not links, which do not). Anything else goes to ``urljoin``.
    """
    scheme = own.scheme
    if not (scheme and own.netloc):
        return urljoin(base, url)
    if scheme != urlsplit(base).scheme or scheme not in uses_relative:
        return url
    if scheme in uses_netloc and ";" not in own.path:
        # urljoin: urlunparse(urlparse(url)), and with no ";" in the path
        # there are no params: urlunsplit(urlsplit(url))
        return urlunsplit(own)
    return urljoin(base, url)


def _utc(value: datetime | None) -> datetime | None:
    """Aware UTC; a naive value is taken as UTC."""
    if value is None:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError:
        return None


def _stripped(value: str | None) -> str | None:
    return _clean(value).strip() or None if value else None


def _one_line(value: str | None) -> str:
    return _SPACE_RE.sub(" ", _clean(value)).strip() if value else ""


def _clean(value: str) -> str:
    """Remove characters XML 1.0 forbids; CRLF and CR become LF."""
    if "\r" in value:
        value = value.replace("\r\n", "\n").replace("\r", "\n")
    # Most text has none of them, and a byte translation tells so at a
    # fraction of the regex's cost: every forbidden character's UTF-8 form
    # has a byte outside _HARMLESS (the byte itself for ASCII, the lead byte
    # 0xC2 for C1 controls, 0xED for surrogates, 0xEF for U+FFFE/U+FFFF).
    if not value.encode("utf-8", "surrogatepass").translate(None, _HARMLESS):
        return value
    return _FORBIDDEN_RE.sub("", value)


#: bytes deleted by _clean's check: tab, newline, printable ASCII, and every
#: byte >= 0x80 but the lead bytes of forbidden characters
_HARMLESS = bytes(
    b for b in range(256) if b in (9, 10) or 32 <= b < 127 or b >= 128
).translate(None, b"\xc2\xed\xef")
