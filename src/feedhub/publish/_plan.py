"""Decide what each published document holds: URLs, links, entries, retractions.

Pure: stored values in, ``FeedDocument`` values out; pipeline does the I/O.
Paths under ``base_url``: a feed's stem (``all``, ``topics/ai``,
``authors/ada``) plus ``.atom``/``.rss``/``.json``/``.html``; its RFC 5005
archive pages at ``{stem}/archive/{n}.{ext}``, 1 the oldest.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from feedhub.publish._text import ATOM_TYPE, HTML_TYPE, JSON_FEED_TYPE, RSS_TYPE
from feedhub.types import (
    Author,
    DeletedEntry,
    DocLink,
    Enclosure,
    FeedDocument,
    FeedKind,
    PublishedEntry,
    Related,
    SourceInfo,
    SourceState,
    StoredEntry,
    Story,
)

#: extension -> media type, in the order twins are listed
FORMATS: Mapping[str, str] = {
    "atom": ATOM_TYPE,
    "rss": RSS_TYPE,
    "json": JSON_FEED_TYPE,
    "html": HTML_TYPE,
}
#: atom:updated of a feed with no entries yet; any fixed instant keeps it stable
EMPTY_FEED_UPDATED = datetime(1970, 1, 1, tzinfo=UTC)
# RFC 3987 IRI, roughly: a scheme, then no whitespace or the characters RFC 3986
# excludes; anything else (an RSS guid like "1234") gets a urn:feedhub id.
_IRI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:[^\s<>\"{}|\\^`]+$")
_ACTIVE_SCHEMES = ("javascript:", "vbscript:", "data:", "file:")


def feed_stem(kind: FeedKind, slug: str) -> str:
    """Path of a feed under base_url without extension, e.g. ``topics/ai``."""
    return "all" if kind is FeedKind.ALL else f"{kind.value}/{slug}"


def feed_path(kind: FeedKind, slug: str, ext: str = "atom") -> str:
    """Path of one format of a feed under base_url, e.g. ``topics/ai.atom``."""
    return f"{feed_stem(kind, slug)}.{ext}"


def archive_path(stem: str, page: int, ext: str = "atom") -> str:
    """Path of an RFC 5005 archive page, e.g. ``topics/ai/archive/3.atom``."""
    return f"{stem}/archive/{page}.{ext}"


def join(base_url: str, path: str) -> str:
    """Absolute URL of ``path`` under ``base_url``."""
    return base_url.rstrip("/") + "/" + path.lstrip("/")


def entry_id(stored: StoredEntry) -> str:
    """The id published for a story: the one storage pinned for it, else the
    original id when it is an IRI, else a URN derived from the entry key."""
    if stored.published_id and _usable_id(stored.published_id):
        return stored.published_id
    original = stored.data.original_id
    if original and _usable_id(original):
        return original  # RFC 4287 4.2.6: keep the original atom:id
    return f"urn:feedhub:entry:{stored.key}"


def _usable_id(value: str) -> bool:
    """An IRI, but not one that runs or reads something when a reader follows
    it (some use an id as the link when there is none; see #8)."""
    return bool(_IRI.match(value)) and not value.lower().startswith(_ACTIVE_SCHEMES)


def _entry_updated(stored: StoredEntry) -> datetime:
    data = stored.data
    updated = data.updated or data.published or stored.first_seen_at
    if stored.last_changed_at > stored.first_seen_at:
        # we stored a change the feed did not date: tell readers it changed
        updated = max(updated, stored.last_changed_at)
    return updated


def source_info(state: SourceState | None, fallback_url: str) -> SourceInfo:
    """What atom:source says about a source feed.

    The source feed's authors, rights and categories are always carried; the
    Atom writer puts authors and categories in atom:source only for entries
    lacking their own (RFC 4287 §4.2.11).
    """
    if state is None:
        return SourceInfo(id=fallback_url, title=fallback_url, url=fallback_url)
    return SourceInfo(
        id=state.feed_id
        if state.feed_id and _usable_id(state.feed_id)
        else state.fetch_url,
        title=state.name or state.title or state.fetch_url,
        url=state.fetch_url,
        link=state.link,
        updated=state.feed_updated or state.last_success_at,
        authors=state.feed_authors,
        rights=state.feed_rights,
        categories=state.feed_categories,
    )


def published_entries(
    stories: Sequence[Story], source: Callable[[int], SourceInfo]
) -> tuple[PublishedEntry, ...]:
    """Turn stories (representative, other copies) into published entries."""
    entries = []
    for representative, copies in stories:
        data = representative.data
        related = tuple(
            Related(copy.data.link, source(copy.source_id).title)
            for copy in copies
            if copy.data.link and copy.data.link != data.link
        )
        entries.append(
            PublishedEntry(
                id=entry_id(representative),
                title=data.title,
                link=data.link,
                summary=data.summary,
                content=data.content,
                authors=data.authors,
                published=data.published,
                updated=_entry_updated(representative),
                categories=data.categories,
                enclosures=data.enclosures,
                source=source(representative.source_id),
                related=related,
            )
        )
    return tuple(entries)


@dataclass(frozen=True, slots=True)
class Page:
    """Where a document sits in its feed's history."""

    #: None for the subscription document, else the archive page number
    number: int | None
    #: archive pages the feed has
    pages: int
    #: RFC 5005 §2: the subscription document holds the whole history
    complete: bool = False


def document(
    *,
    base_url: str,
    stem: str,
    title: str,
    subtitle: str | None,
    entries: Sequence[PublishedEntry],
    page: Page,
    ext: str,
    hub: str | None = None,
    deleted: Sequence[DeletedEntry] = (),
    ttl: int | None = None,
) -> FeedDocument:
    """Build the document of one format of a feed or of one of its archive pages.

    Every format links its twins (rel ``alternate`` with their media type),
    the RFC 5005 neighbours in the same format, and the WebSub hub (the
    subscription document only). The Atom id is the same for the subscription
    document and its archive pages: they are one logical feed (RFC 5005 §4).
    """

    def path(e: str, number: int | None = page.number) -> str:
        return feed_stem_path(stem, e, number)

    # Twins: the other feed formats. The HTML preview is not listed: every
    # format already names it as its home (Atom's one rel="alternate" text/html).
    links = [
        DocLink("alternate", join(base_url, path(e)), media)
        for e, media in FORMATS.items()
        if e != ext and e != "html"
    ]
    if ext == "html":
        links.append(DocLink("index", base_url))
    if page.number is None:
        if hub:
            links.append(DocLink("hub", hub))
        if page.pages:
            links.append(DocLink("prev-archive", join(base_url, path(ext, page.pages))))
    else:
        links.append(DocLink("current", join(base_url, path(ext, None))))
        if page.number > 1:
            links.append(
                DocLink("prev-archive", join(base_url, path(ext, page.number - 1)))
            )
        if page.number < page.pages:
            links.append(
                DocLink("next-archive", join(base_url, path(ext, page.number + 1)))
            )
    updated = max((e.updated for e in entries), default=EMPTY_FEED_UPDATED)
    for gone in deleted:
        updated = max(updated, gone.when)
    return FeedDocument(
        id=join(base_url, f"{stem}.atom"),
        title=title if page.number is None else f"{title} (archive {page.number})",
        self_url=join(base_url, path(ext)),
        home_url=join(base_url, path("html")),
        updated=updated,
        entries=tuple(entries),
        subtitle=subtitle,
        links=tuple(links),
        complete=page.complete and page.number is None,
        archive=page.number is not None,
        deleted=tuple(deleted) if page.number is None else (),
        ttl=ttl,
    )


def feed_stem_path(stem: str, ext: str, number: int | None) -> str:
    """Path of the subscription document (``number`` None) or an archive page."""
    return f"{stem}.{ext}" if number is None else archive_path(stem, number, ext)


# ---------------------------------------------------------------- retractions


def retractions(
    published: Mapping[str, tuple[str, str, str | None]],
    current: Mapping[str, str],
    archived: Callable[[str], bool],
    lookup: Callable[[str], StoredEntry | None],
) -> list[tuple[str, str | None, str | None]]:
    """Decide which entries left a feed for a reason other than age.

    Args:
        published: entry id -> (story id, entry key, link) last published.
        current: entry id -> story id of the subscription document now.
        archived: whether a story id is in an archive page of the feed (aged out).
        lookup: the stored entry by key, None when it no longer exists.

    Returns:
        ``(entry id, comment, link)`` per retraction (RFC 6721).
    """
    by_story = {story: eid for eid, story in current.items()}
    out: list[tuple[str, str | None, str | None]] = []
    for eid, (story, key, link) in sorted(published.items()):
        if eid in current or archived(story):
            continue
        stored = lookup(key)
        if stored is None:
            comment = "removed by its source"
        elif stored.story_id in by_story and by_story[stored.story_id] != eid:
            comment = f"merged into {by_story[stored.story_id]}"
        elif stored.story_id != story and archived(stored.story_id):
            # moved into a story that already aged out
            continue
        else:
            comment = "no longer selected for this feed"
        out.append((eid, comment, link))
    return out


# ---------------------------------------------------------------- snapshots


def _dt(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _parse_dt(value: Any) -> datetime | None:
    return None if value is None else datetime.fromisoformat(str(value))


def _source_json(s: SourceInfo) -> dict[str, Any]:
    row: dict[str, Any] = {
        "id": s.id,
        "title": s.title,
        "url": s.url,
        "link": s.link,
        "updated": _dt(s.updated),
    }
    # Written only when present, so snapshots and content hashes of sources
    # without them stay as they were before sources kept them.
    if s.authors:
        row["authors"] = [[a.name, a.email, a.uri] for a in s.authors]
    if s.rights is not None:
        row["rights"] = s.rights
    if s.categories:
        row["categories"] = list(s.categories)
    return row


def entries_to_json(entries: Sequence[PublishedEntry]) -> str:
    """Serialize published entries (an archive page snapshot)."""
    rows = []
    for e in entries:
        rows.append(
            {
                "id": e.id,
                "title": e.title,
                "link": e.link,
                "summary": e.summary,
                "content": e.content,
                "authors": [[a.name, a.email, a.uri] for a in e.authors],
                "published": _dt(e.published),
                "updated": _dt(e.updated),
                "categories": list(e.categories),
                "enclosures": [[x.url, x.type, x.length] for x in e.enclosures],
                "source": _source_json(e.source),
                "related": [[r.link, r.source_title] for r in e.related],
            }
        )
    return json.dumps(rows, ensure_ascii=False, separators=(",", ":"))


def entries_from_json(text: str) -> tuple[PublishedEntry, ...]:
    """Read back what ``entries_to_json`` wrote."""
    out = []
    for r in json.loads(text):
        s = r["source"]
        out.append(
            PublishedEntry(
                id=r["id"],
                title=r["title"],
                link=r["link"],
                summary=r["summary"],
                content=r["content"],
                authors=tuple(Author(*a) for a in r["authors"]),
                published=_parse_dt(r["published"]),
                updated=_parse_dt(r["updated"]) or EMPTY_FEED_UPDATED,
                categories=tuple(r["categories"]),
                enclosures=tuple(Enclosure(*x) for x in r["enclosures"]),
                source=SourceInfo(
                    id=s["id"],
                    title=s["title"],
                    url=s["url"],
                    link=s["link"],
                    updated=_parse_dt(s["updated"]),
                    # absent when empty (see _source_json)
                    authors=tuple(Author(*a) for a in s.get("authors", ())),
                    rights=s.get("rights"),
                    categories=tuple(s.get("categories", ())),
                ),
                related=tuple(Related(*x) for x in r["related"]),
            )
        )
    return tuple(out)
