"""Conversion between entry rows and ``feedhub.types`` values; no business logic."""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, NotRequired, TypedDict

from feedhub.storage._db import (
    chunks,
    from_text,
    json_list,
    opt_datetime,
    opt_str,
    opt_text,
    to_text,
)
from feedhub.types import (
    Author,
    AuthorRef,
    Enclosure,
    EntryData,
    EntryUpdate,
    StoredEntry,
    TopicMatch,
)


class AuthorJSON(TypedDict):
    """One element of the ``entries.authors`` / ``sources.feed_authors`` arrays."""

    name: str | None
    email: str | None
    uri: str | None
    #: written only when a cleaning rule found one
    bio: NotRequired[str | None]


class EnclosureJSON(TypedDict):
    """One element of the ``entries.enclosures`` JSON array."""

    url: str
    type: str | None
    length: int | None


ENTRY_COLUMNS = (
    "key, source_id, original_id, link, canonical_link, origin_link, title,"
    " summary, content, authors, published, updated, categories, enclosures,"
    " content_hash, story_id, first_seen_at, last_changed_at"
)

#: entry_key -> [(topic, reason)] in stored order
Topics = dict[str, list[tuple[str, str]]]
#: entry_key -> [(slug, name)] in stored order
Authors = dict[str, list[tuple[str, str]]]


def sort_at(data: EntryData, first_seen_at: datetime) -> str:
    """The entry's feed position: its own date, but never later than first seen.

    Capping at ``first_seen_at`` keeps an entry dated in the future from
    pinning itself to the top of every feed.
    """
    own = data.published or data.updated or first_seen_at
    return to_text(min(own, first_seen_at))


def authors_to_json(authors: Sequence[Author]) -> str:
    """Authors as a JSON array of ``AuthorJSON`` (``entries.authors`` and
    ``sources.feed_authors``)."""
    items = [AuthorJSON(name=a.name, email=a.email, uri=a.uri) for a in authors]
    for item, author in zip(items, authors, strict=True):
        if author.bio:
            item["bio"] = author.bio
    return json.dumps(items, ensure_ascii=False)


def authors_from_json(text: str) -> tuple[Author, ...]:
    """Read back what ``authors_to_json`` wrote."""
    items: list[AuthorJSON] = json.loads(text)
    return tuple(
        Author(name=a["name"], email=a["email"], uri=a["uri"], bio=a.get("bio"))
        for a in items
    )


def entry_params(update: EntryUpdate, source_id: int) -> dict[str, Any]:
    """Columns written for an entry, except the first_seen/last_changed/sort times."""
    data, identity = update.data, update.identity
    enclosures = [
        EnclosureJSON(url=e.url, type=e.type, length=e.length) for e in data.enclosures
    ]
    return {
        "key": identity.key,
        "source_id": source_id,
        "original_id": data.original_id,
        "link": data.link,
        "canonical_link": identity.canonical_link,
        "origin_link": data.origin_link,
        "title": data.title,
        "summary": data.summary,
        "content": data.content,
        "authors": authors_to_json(data.authors),
        "published": opt_text(data.published),
        "updated": opt_text(data.updated),
        "categories": json.dumps(list(data.categories), ensure_ascii=False),
        "enclosures": json.dumps(enclosures, ensure_ascii=False),
        "content_hash": identity.content_hash,
        "story_id": identity.story_id,
    }


def _enclosures(text: str) -> tuple[Enclosure, ...]:
    items: list[EnclosureJSON] = json.loads(text)
    return tuple(
        Enclosure(url=e["url"], type=e["type"], length=e["length"]) for e in items
    )


def entry_from_row(row: sqlite3.Row, topics: Topics, authors: Authors) -> StoredEntry:
    """Build a ``StoredEntry`` from an ``ENTRY_COLUMNS`` row and its memberships."""
    key = str(row["key"])
    data = EntryData(
        original_id=opt_str(row["original_id"]),
        link=opt_str(row["link"]),
        title=str(row["title"]),
        summary=opt_str(row["summary"]),
        content=opt_str(row["content"]),
        authors=authors_from_json(str(row["authors"])),
        published=opt_datetime(row["published"]),
        updated=opt_datetime(row["updated"]),
        categories=tuple(str(c) for c in json.loads(str(row["categories"]))),
        enclosures=_enclosures(str(row["enclosures"])),
        origin_link=opt_str(row["origin_link"]),
    )
    return StoredEntry(
        key=key,
        source_id=int(row["source_id"]),
        data=data,
        canonical_link=opt_str(row["canonical_link"]),
        content_hash=str(row["content_hash"]),
        story_id=str(row["story_id"]),
        first_seen_at=from_text(row["first_seen_at"]),
        last_changed_at=from_text(row["last_changed_at"]),
        topics=tuple(topic for topic, _ in topics.get(key, ())),
        authors=tuple(AuthorRef(slug=s, name=n) for s, n in authors.get(key, ())),
    )


def load_memberships(
    conn: sqlite3.Connection, keys: Sequence[str]
) -> tuple[Topics, Authors]:
    """Return the stored topics and authors of ``keys``, in stored order."""
    topics: Topics = {}
    authors: Authors = {}
    for chunk in chunks(keys):
        param = (json_list(chunk),)
        for row in conn.execute(
            "SELECT entry_key, topic, reason FROM entry_topics"
            " WHERE entry_key IN (SELECT value FROM json_each(?))"
            " ORDER BY entry_key, position",
            param,
        ):
            topics.setdefault(str(row[0]), []).append((str(row[1]), str(row[2])))
        for row in conn.execute(
            "SELECT entry_key, slug, name FROM entry_authors"
            " WHERE entry_key IN (SELECT value FROM json_each(?))"
            " ORDER BY entry_key, position",
            param,
        ):
            authors.setdefault(str(row[0]), []).append((str(row[1]), str(row[2])))
    return topics, authors


def select_entries(
    conn: sqlite3.Connection,
    where: str,
    params: Sequence[object] | Mapping[str, object],
) -> list[StoredEntry]:
    """Run ``SELECT <entry columns> FROM entries WHERE <where>`` as StoredEntry.

    Args:
        conn: connection inside a transaction.
        where: SQL after ``WHERE`` (may end in ORDER BY / LIMIT); a constant.
        params: its parameters.
    """
    rows = conn.execute(
        f"SELECT {ENTRY_COLUMNS} FROM entries WHERE {where}", params
    ).fetchall()
    topics, authors = load_memberships(conn, [str(row["key"]) for row in rows])
    return [entry_from_row(row, topics, authors) for row in rows]


def normalize_topics(topics: Iterable[TopicMatch]) -> list[tuple[str, str]]:
    """Topic memberships as stored: the first match per topic, in given order."""
    seen: dict[str, str] = {}
    for match in topics:
        seen.setdefault(match.topic, match.reason)
    return list(seen.items())


def normalize_authors(authors: Iterable[AuthorRef]) -> list[tuple[str, str]]:
    """Author memberships as stored: the first ref per slug, in given order."""
    seen: dict[str, str] = {}
    for ref in authors:
        seen.setdefault(ref.slug, ref.name)
    return list(seen.items())


_IRI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:[^\s<>\"{}|\\^`]+$")


def published_id(key: str, original_id: str | None) -> str:
    """The atom:id of an entry: its original id when that is an IRI, else a URN."""
    if original_id and _IRI.match(original_id):
        return original_id
    return f"urn:feedhub:entry:{key}"
