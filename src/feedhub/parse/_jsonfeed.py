"""Read JSON Feed 1.0/1.1 documents into ParsedFeed; private to parse.

No business logic. feedparser 6 does not read JSON Feed, so this maps the
https://jsonfeed.org/version/1.1 fields onto the same values feedparser's
results are mapped onto.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin

from feedhub.exceptions import ParseError
from feedhub.types import (
    Author,
    ContentType,
    Enclosure,
    FeedFormat,
    ParsedContent,
    ParsedEntry,
    ParsedFeed,
)

_VERSION_PREFIX = "https://jsonfeed.org/version/"
#: what publishers write instead of the version URL: "1.1", "1", "http://..."
_LOOSE_VERSION = re.compile(
    r"(?:https?://(?:www\.)?jsonfeed\.org/version/)?1(?:\.\d+)?/?"
)
_JSON_TYPES = frozenset({"application/feed+json", "application/json"})


def looks_like_json(body: bytes, headers: Mapping[str, str]) -> bool:
    """Tell whether ``body`` should be read as JSON Feed rather than XML."""
    start = body.lstrip(b"\xef\xbb\xbf \t\r\n")[:1]
    if start == b"{":
        return True
    media_type = headers.get("content-type", "").split(";")[0].strip().lower()
    return media_type in _JSON_TYPES and start != b"<"


def parse_json_feed(body: bytes, url: str) -> ParsedFeed:
    """Parse a JSON Feed document.

    Args:
        body: the raw document (UTF-8, -16 or -32, per RFC 8259 §8.1).
        url: the document URL, base for relative URLs.

    Returns:
        The feed, format ``FeedFormat.JSON``.

    Raises:
        ParseError: invalid JSON, or no ``version``/``items``.
    """
    try:
        doc = json.loads(body)
    except (ValueError, RecursionError) as e:
        raise ParseError(url, f"not a feed: invalid JSON: {e}") from e
    if not isinstance(doc, dict):
        raise ParseError(url, "not a feed: JSON document is not an object")
    version = doc.get("version")
    if not isinstance(version, str) or not (
        version.startswith(_VERSION_PREFIX) or _LOOSE_VERSION.fullmatch(version.strip())
    ):
        raise ParseError(url, "not a feed: JSON without a JSON Feed version")
    items = doc.get("items")
    if not isinstance(items, list):
        raise ParseError(url, "not a feed: JSON Feed without items")
    feed_authors = _authors(doc)
    # JSON Feed 1.1 has no feed-level rights or tags: both stay empty.
    return ParsedFeed(
        url=url,
        format=FeedFormat.JSON,
        title=_str(doc.get("title")),
        link=_str(doc.get("home_page_url")),
        subtitle=_str(doc.get("description")),
        authors=feed_authors,
        icon=_str(doc.get("icon")) or _str(doc.get("favicon")),
        language=_str(doc.get("language")),
        entries=tuple(_entry(item, url) for item in items if isinstance(item, dict)),
    )


def _entry(item: dict[str, Any], url: str) -> ParsedEntry:
    link = _str(item.get("url")) or _str(item.get("external_url"))
    # Relative URLs in content resolve against the item's own page.
    base = _join(url, link) if link else None
    content: list[ParsedContent] = []
    html = _str(item.get("content_html"))
    if html:
        content.append(ParsedContent(html, ContentType.HTML, base))
    text = _str(item.get("content_text"))
    if text:
        content.append(ParsedContent(text, ContentType.TEXT, base))
    title = _str(item.get("title"))
    summary = _str(item.get("summary"))
    tags = item.get("tags")
    return ParsedEntry(
        # JSON Feed requires a string id, but numbers are common in the wild.
        id=_str(item.get("id")) or _number(item.get("id")),
        link=link,
        title=ParsedContent(title, ContentType.TEXT) if title is not None else None,
        summary=ParsedContent(summary, ContentType.TEXT, base) if summary else None,
        content=tuple(content),
        authors=_authors(item),
        published=_date(item.get("date_published")),
        updated=_date(item.get("date_modified")),
        categories=tuple(t for t in tags if isinstance(t, str))
        if isinstance(tags, list)
        else (),
        enclosures=_attachments(item.get("attachments")),
    )


def _join(url: str, link: str) -> str | None:
    """``link`` made absolute against ``url``; None when it is no URL at all."""
    try:
        return urljoin(url, link)
    except ValueError:  # e.g. "http://[::1" (invalid IPv6 literal)
        return None


def _authors(obj: dict[str, Any]) -> tuple[Author, ...]:
    """Read 1.1 ``authors`` or, failing that, 1.0 ``author``."""
    raw = obj.get("authors")
    if not isinstance(raw, list):
        raw = [obj.get("author")]
    authors = []
    for author in raw:
        if not isinstance(author, dict):
            continue
        uri = _str(author.get("url"))
        email = None
        if uri and uri.lower().startswith("mailto:"):
            email = uri[len("mailto:") :]
        authors.append(Author(name=_str(author.get("name")), email=email, uri=uri))
    return tuple(authors)


def _attachments(raw: object) -> tuple[Enclosure, ...]:
    if not isinstance(raw, list):
        return ()
    enclosures = []
    for attachment in raw:
        if not isinstance(attachment, dict):
            continue
        url = _str(attachment.get("url"))
        if not url:
            continue
        size = attachment.get("size_in_bytes")
        length = size if isinstance(size, int) and not isinstance(size, bool) else None
        enclosures.append(
            Enclosure(url=url, type=_str(attachment.get("mime_type")), length=length)
        )
    return tuple(enclosures)


def _date(value: object) -> datetime | None:
    """RFC 3339 date-time -> aware UTC datetime; None when invalid."""
    if not isinstance(value, str):
        return None
    text = value.strip()
    # Python 3.11's fromisoformat reads RFC 3339, including "Z" and fractions.
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        # RFC 3339 requires an offset; a missing one is most likely UTC.
        parsed = parsed.replace(tzinfo=UTC)
    try:
        return parsed.astimezone(UTC)
    except OverflowError:
        return None


def _str(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _number(value: object) -> str | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return None
