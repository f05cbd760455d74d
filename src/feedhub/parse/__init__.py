"""Turn a fetched body into a ParsedFeed with feedparser (XML) or json (JSON Feed)."""

from __future__ import annotations

import html
import io
import re
import time
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

import feedparser

from feedhub.exceptions import ParseError
from feedhub.parse._entities import EntityError, defuse, drop_bad_char_refs
from feedhub.parse._jsonfeed import looks_like_json, parse_json_feed
from feedhub.types import (
    Author,
    ContentType,
    Enclosure,
    FeedFormat,
    ParsedContent,
    ParsedEntry,
    ParsedFeed,
)

__all__ = ["parse"]

# feedparser's result.version values; "rss090" and "rss10" are RDF documents.
_FORMATS = {
    "rss090": FeedFormat.RDF,
    "rss10": FeedFormat.RDF,
    "rss091n": FeedFormat.RSS,
    "rss091u": FeedFormat.RSS,
    "rss092": FeedFormat.RSS,
    "rss093": FeedFormat.RSS,
    "rss094": FeedFormat.RSS,
    "rss20": FeedFormat.RSS,
    "rss": FeedFormat.RSS,
    "atom01": FeedFormat.ATOM,
    "atom02": FeedFormat.ATOM,
    "atom03": FeedFormat.ATOM,
    "atom10": FeedFormat.ATOM,
    "atom": FeedFormat.ATOM,
}
_HTML_TYPES = frozenset({"text/html", "application/xhtml+xml", "html", "xhtml"})
_HTML_PAGE_RE = re.compile(rb"<(?:!doctype\s+html|html)[\s>]", re.IGNORECASE)
_TAG_RE = re.compile(r"<[^>]*>")
# feedparser keeps only the last <hour>/<day> of RSS <skipHours>/<skipDays>,
# so they are read from the (already defused) bytes; both are bounded in size.
_SKIP_HOURS_RE = re.compile(
    rb"<skipHours\b[^>]*>(.{0,2000}?)</skipHours>", re.IGNORECASE | re.DOTALL
)
_SKIP_DAYS_RE = re.compile(
    rb"<skipDays\b[^>]*>(.{0,1000}?)</skipDays>", re.IGNORECASE | re.DOTALL
)
_HOUR_RE = re.compile(rb"<hour\b[^>]*>\s*(\d{1,2})\s*</hour>", re.I)
_DAY_RE = re.compile(rb"<day\b[^>]*>\s*([A-Za-z]{3,9})\s*</day>", re.I)


def parse(body: bytes, *, url: str, headers: Mapping[str, str]) -> ParsedFeed:
    """Parse a feed document.

    Args:
        body: the response body, decompressed.
        url: the URL it was fetched from (after redirects); relative URLs in the
            document resolve against it.
        headers: response headers, names lower-cased; ``content-type`` decides
            the charset (RFC 7303 §3) and whether the body is JSON Feed.

    Returns:
        The feed; ``warning`` is set when feedparser complained but still found
        a feed.

    Raises:
        ParseError: empty body, not a feed (e.g. an HTML page), invalid JSON
            Feed, or an XML entity expansion over the bounds.
    """
    if not body.strip():
        raise ParseError(url, "not a feed: empty body")
    if looks_like_json(body, headers):
        return parse_json_feed(body, url)
    try:
        body = drop_bad_char_refs(defuse(body))
    except EntityError as e:
        raise ParseError(url, str(e)) from e
    response_headers = {k.lower(): v for k, v in headers.items()}
    # The document URL, so feedparser resolves relative URLs against it.
    response_headers["content-location"] = url
    try:
        # A file object, never bytes or str: feedparser fetches URLs and opens
        # local paths given as strings, and a body like b"/etc/passwd" is one.
        # feedparser's own sanitizer and URI resolver are off: they are pure
        # Python (two thirds of parse time) and not enough anyway; normalize
        # sanitizes with nh3 and resolves URLs against each value's base.
        result = feedparser.parse(
            io.BytesIO(body),
            response_headers=response_headers,
            resolve_relative_uris=False,
            sanitize_html=False,
        )
    except Exception as e:
        # feedparser reports problems through ``bozo``; a raise is a reaction
        # to this document (e.g. RecursionError on deep nesting).
        raise ParseError(url, f"feedparser failed: {type(e).__name__}: {e}") from e
    return _feed(result, body, url)


def _feed(result: Any, body: bytes, url: str) -> ParsedFeed:
    feed = result.get("feed", {})
    version = result.get("version") or ""
    entries = result.get("entries", [])
    found = bool(version or feed.get("title") or entries)
    if _HTML_PAGE_RE.search(body[:1024]) and not (version or entries):
        raise ParseError(url, "not a feed: looks like an HTML page")
    if not found:
        exc = result.get("bozo_exception")
        reason = str(exc) if exc is not None else "no feed elements found"
        raise ParseError(url, f"not a feed: {reason}")
    warning = None
    if result.get("bozo"):
        warning = str(result.get("bozo_exception", "")) or None
    return ParsedFeed(
        url=url,
        format=_FORMATS.get(version, FeedFormat.UNKNOWN),
        id=_text(feed.get("id")),
        title=_plain(feed.get("title_detail")),
        link=_alternate(feed),
        subtitle=_plain(feed.get("subtitle_detail")),
        updated=_datetime(_updated(feed)),
        authors=_authors(feed),
        icon=_text(feed.get("icon"))
        or _text(feed.get("logo"))
        or _text((feed.get("image") or {}).get("href")),
        language=_text(feed.get("language")),
        ttl=_ttl(feed.get("ttl")),
        entries=tuple(_entry(entry) for entry in entries),
        warning=warning,
        update_period=_text(feed.get("sy_updateperiod")),
        update_frequency=_int(feed.get("sy_updatefrequency")),
        skip_hours=_skip_hours(body),
        skip_days=_skip_days(body),
        # feedparser maps RSS <copyright> and dc:rights onto atom:rights.
        rights=_plain(feed.get("rights_detail")),
        categories=_categories(feed.get("tags", ())),
    )


def _skip_hours(body: bytes) -> tuple[int, ...]:
    """RSS 2.0 ``<skipHours>``: hours 0-23 GMT (some feeds write 24 for 0)."""
    match = _SKIP_HOURS_RE.search(body)
    if match is None:
        return ()
    hours = {int(h) % 24 for h in _HOUR_RE.findall(match.group(1)) if int(h) <= 24}
    return tuple(sorted(hours))


def _skip_days(body: bytes) -> tuple[str, ...]:
    """RSS 2.0 ``<skipDays>``: day names as written, e.g. ``Saturday``."""
    match = _SKIP_DAYS_RE.search(body)
    if match is None:
        return ()
    return tuple(d.decode("ascii") for d in _DAY_RE.findall(match.group(1)))


def _entry(entry: Any) -> ParsedEntry:
    summary = None
    # Without summary_detail the summary is feedparser's copy of the content.
    if entry.get("summary_detail"):
        summary = _content(entry["summary_detail"])
    return ParsedEntry(
        id=_text(entry.get("id")),
        link=_alternate(entry),
        origin_link=_text(entry.get("feedburner_origlink")),
        title=_content(entry.get("title_detail")),
        summary=summary,
        content=tuple(
            c for c in (_content(d) for d in entry.get("content", ())) if c is not None
        ),
        authors=_authors(entry),
        published=_datetime(entry.get("published_parsed")),
        updated=_datetime(_updated(entry)),
        categories=_categories(entry.get("tags", ())),
        enclosures=_enclosures(entry.get("links", ())),
    )


def _content(detail: Any) -> ParsedContent | None:
    """feedparser's ``*_detail`` dict -> ParsedContent; None when absent."""
    if not detail or not isinstance(detail.get("value"), str):
        return None
    kind = (detail.get("type") or "").lower()
    return ParsedContent(
        value=detail["value"],
        type=ContentType.HTML if kind in _HTML_TYPES else ContentType.TEXT,
        base=_text(detail.get("base")),
    )


def _plain(detail: Any) -> str | None:
    """A feed-level text construct as plain text (RFC 4287 §3.1)."""
    content = _content(detail)
    if content is None:
        return None
    if content.type is ContentType.HTML:
        return html.unescape(_TAG_RE.sub("", content.value))
    return content.value


def _alternate(obj: Any) -> str | None:
    """The rel="alternate" link (RFC 4287 §4.2.7.2), else feedparser's ``link``."""
    for link in obj.get("links", ()):
        if link.get("rel", "alternate") == "alternate" and _text(link.get("href")):
            return _text(link.get("href"))
    return _text(obj.get("link"))


def _authors(obj: Any) -> tuple[Author, ...]:
    authors = []
    for author in obj.get("authors", ()):
        if not isinstance(author, Mapping):
            continue
        authors.append(
            Author(
                name=_text(author.get("name")),
                email=_text(author.get("email")),
                uri=_text(author.get("href")),
            )
        )
    return tuple(authors)


def _categories(tags: Iterable[Any]) -> tuple[str, ...]:
    categories = []
    for tag in tags:
        term = _text(tag.get("term")) or _text(tag.get("label"))
        if term:
            categories.append(term)
    return tuple(categories)


def _enclosures(links: Iterable[Any]) -> tuple[Enclosure, ...]:
    enclosures = []
    for link in links:
        href = _text(link.get("href"))
        if link.get("rel") != "enclosure" or not href:
            continue
        enclosures.append(
            Enclosure(
                url=href,
                type=_text(link.get("type")) or None,
                length=_int(link.get("length")),
            )
        )
    return tuple(enclosures)


def _updated(obj: Any) -> Any:
    """``updated_parsed`` itself: FeedParserDict.get falls back to
    ``published_parsed`` with a DeprecationWarning (feedparser issue 310)."""
    return dict.get(obj, "updated_parsed") if isinstance(obj, dict) else None


def _datetime(value: Any) -> datetime | None:
    """feedparser's UTC ``struct_time`` -> aware datetime; None when invalid."""
    if not isinstance(value, time.struct_time):
        return None
    try:
        return datetime(*value[:6], tzinfo=UTC)
    except (ValueError, OverflowError, TypeError):
        return None


def _ttl(value: Any) -> int | None:
    """RSS 2.0 ``<ttl>``: minutes, a non-negative integer."""
    minutes = _int(value)
    return minutes if minutes is not None and minutes >= 0 else None


def _int(value: Any) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if not isinstance(value, str):
        return None
    try:
        return int(value.strip())
    except ValueError:
        return None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
