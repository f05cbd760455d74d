"""What every format says about one entry: id, authors, links, body. No I/O."""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass

from feedhub.publish._text import MEDIA_TYPE, UNKNOWN_AUTHOR, author_dict, clean, utc
from feedhub.types import PublishedEntry, Related, SourceInfo


@dataclass(frozen=True, slots=True)
class CleanEntry:
    """A PublishedEntry with every text cleaned and every fallback applied."""

    entry: PublishedEntry
    id: str
    title: str
    link: str
    summary: str | None
    content: str | None
    authors: tuple[dict[str, str], ...]
    #: True when ``authors`` came from the entry itself, not the source feed
    own_authors: bool
    categories: tuple[str, ...]
    links: tuple[dict[str, str], ...]
    source: SourceInfo


def also_reported(related: Sequence[Related]) -> str:
    """HTML paragraph crediting the other outlets carrying the same story."""
    items = []
    for rel in related:
        href = clean(rel.link)
        if not href:
            continue
        name = clean(rel.source_title).strip() or href
        items.append(f'<a href="{html.escape(href)}">{html.escape(name)}</a>')
    if not items:
        return ""
    return f"<p>Also reported by: {', '.join(items)}</p>"


def clean_source(source: SourceInfo) -> SourceInfo:
    url = clean(source.url)
    return SourceInfo(
        id=clean(source.id) or url,
        title=clean(source.title).strip(),
        url=url,
        link=clean(source.link) or None,
        updated=utc(source.updated, "source.updated") if source.updated else None,
        authors=source.authors,
        rights=clean(source.rights).strip() or None,
        categories=tuple(c for c in map(clean, source.categories) if c.strip()),
    )


def _links(entry: PublishedEntry, link: str) -> list[dict[str, str]]:
    """The entry's atom:link attributes: alternate, enclosures, related."""
    links = [{"href": link, "rel": "alternate"}] if link else []
    for enclosure in entry.enclosures:
        href = clean(enclosure.url)
        if not href:
            continue
        data = {"href": href, "rel": "enclosure"}
        media_type = clean(enclosure.type).strip()
        if MEDIA_TYPE.fullmatch(media_type):
            data["type"] = media_type
        if enclosure.length is not None and enclosure.length >= 0:
            data["length"] = str(enclosure.length)
        links.append(data)
    for rel in entry.related:
        if href := clean(rel.link):
            data = {"href": href, "rel": "related"}
            if title := clean(rel.source_title).strip():
                data["title"] = title
            links.append(data)
    return links


def prepare(entry: PublishedEntry, untitled: str) -> CleanEntry | None:
    """Clean one entry for rendering; None when it has no usable id.

    Every entry gets an author: its own, else the source feed's, else the source
    feed's title (RFC 4287 §4.1.1; most readers do not inherit authors).
    """
    link = clean(entry.link)
    # RFC 4287 §4.2.6: the original atom:id, verbatim.
    entry_id = clean(entry.id) or link
    if not entry_id:
        return None
    source = clean_source(entry.source)
    own = tuple(a for a in map(author_dict, entry.authors) if a is not None)
    authors = own or tuple(a for a in map(author_dict, source.authors) if a)
    if not authors:
        fallback = {"name": source.title or UNKNOWN_AUTHOR}
        if source.link:
            fallback["uri"] = source.link
        authors = (fallback,)
    summary = clean(entry.summary) or None
    content = clean(entry.content) or None
    if extra := also_reported(entry.related):
        content = (content or summary or "") + extra
    if content is None and not link:
        # RFC 4287 §4.1.2: an entry without rel="alternate" MUST have content.
        content = summary or ""
    return CleanEntry(
        entry=entry,
        id=entry_id,
        title=clean(entry.title).strip() or untitled,
        link=link,
        summary=summary,
        content=content,
        authors=authors,
        own_authors=bool(own),
        categories=tuple(
            dict.fromkeys(t.strip() for t in map(clean, entry.categories) if t.strip())
        ),
        links=tuple(_links(entry, link)),
        source=source,
    )
