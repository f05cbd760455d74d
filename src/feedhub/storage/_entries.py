"""Entries: upsert by key, topic/author memberships, and lookups."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from datetime import datetime

from feedhub.storage._curation import record_curation
from feedhub.storage._db import StorageBase, chunks, from_text, json_list, to_text
from feedhub.storage._dedupe import record_dedupe
from feedhub.storage._rows import (
    Authors,
    Topics,
    entry_params,
    load_memberships,
    normalize_authors,
    normalize_topics,
    select_entries,
    sort_at,
)
from feedhub.storage._stories import refresh_stories
from feedhub.types import AuthorRef, EntryUpdate, StoredEntry, TopicMatch, UpdateCounts

_INSERT = """
INSERT INTO entries (
    key, source_id, original_id, link, canonical_link, origin_link, title,
    summary, content, authors, published, updated, categories, enclosures,
    content_hash, story_id, first_seen_at, last_changed_at, sort_at
) VALUES (
    :key, :source_id, :original_id, :link, :canonical_link, :origin_link, :title,
    :summary, :content, :authors, :published, :updated, :categories, :enclosures,
    :content_hash, :story_id, :now, :now, :sort_at
)
"""

# first_seen_at is deliberately absent: it is when feedhub first stored the entry.
_UPDATE = """
UPDATE entries SET
    source_id = :source_id, original_id = :original_id, link = :link,
    canonical_link = :canonical_link, origin_link = :origin_link, title = :title,
    summary = :summary, content = :content, authors = :authors,
    published = :published, updated = :updated, categories = :categories,
    enclosures = :enclosures, content_hash = :content_hash, story_id = :story_id,
    last_changed_at = :now, sort_at = :sort_at
WHERE key = :key
"""

#: batch size of ``iter_entries``
_PAGE = 500


def replace_memberships(
    conn: sqlite3.Connection,
    key: str,
    topics: Sequence[TopicMatch],
    authors: Sequence[AuthorRef],
    current_topics: Topics,
    current_authors: Authors,
) -> bool:
    """Replace the topics and authors of entry ``key``; write only on a difference.

    ``current_topics`` / ``current_authors`` hold what is stored and are
    updated in place, so one batch may name the same key twice.

    Returns:
        True when anything changed.
    """
    new_topics = normalize_topics(topics)
    new_authors = normalize_authors(authors)
    changed = False
    # a key absent from ``current_*`` has no rows to delete (a new entry)
    if new_topics != current_topics.get(key, []):
        if key in current_topics:
            conn.execute("DELETE FROM entry_topics WHERE entry_key = ?", (key,))
        conn.executemany(
            "INSERT INTO entry_topics (entry_key, position, topic, reason)"
            " VALUES (?, ?, ?, ?)",
            [(key, i, topic, reason) for i, (topic, reason) in enumerate(new_topics)],
        )
        current_topics[key] = new_topics
        changed = True
    if new_authors != current_authors.get(key, []):
        if key in current_authors:
            conn.execute("DELETE FROM entry_authors WHERE entry_key = ?", (key,))
        conn.executemany(
            "INSERT INTO entry_authors (entry_key, position, slug, name)"
            " VALUES (?, ?, ?, ?)",
            [(key, i, slug, name) for i, (slug, name) in enumerate(new_authors)],
        )
        current_authors[key] = new_authors
        changed = True
    return changed


def upsert_entries(
    conn: sqlite3.Connection,
    source_id: int,
    entries: Sequence[EntryUpdate],
    now: datetime,
) -> tuple[UpdateCounts, set[str]]:
    """Insert new entries, update changed ones, and replace their memberships.

    An entry is new when its key is not stored, changed when its content_hash
    differs, else unchanged (its row is not written). Memberships are replaced
    in every case, since curation rules may have changed.

    Returns:
        The counts, and the story ids whose derived rows need a refresh.
    """
    now_text = to_text(now)
    keys = [update.identity.key for update in entries]
    # key -> (content_hash, story_id, first_seen_at)
    stored: dict[str, tuple[str, str, datetime]] = {}
    for chunk in chunks(keys):
        for row in conn.execute(
            "SELECT key, content_hash, story_id, first_seen_at FROM entries"
            " WHERE key IN (SELECT value FROM json_each(?))",
            (json_list(chunk),),
        ):
            stored[str(row[0])] = (str(row[1]), str(row[2]), from_text(row[3]))
    topics, authors = load_memberships(conn, keys)
    new = updated = unchanged = 0
    dirty: set[str] = set()
    written: set[str] = set()
    for update in entries:
        identity = update.identity
        old = stored.get(identity.key)
        params = entry_params(update, source_id)
        params["now"] = now_text
        if old is None:
            params["sort_at"] = sort_at(update.data, now)
            conn.execute(_INSERT, params)
            stored[identity.key] = (identity.content_hash, identity.story_id, now)
            dirty.add(identity.story_id)
            written.add(identity.key)
            new += 1
        elif old[0] != identity.content_hash:
            params["sort_at"] = sort_at(update.data, old[2])
            conn.execute(_UPDATE, params)
            stored[identity.key] = (identity.content_hash, identity.story_id, old[2])
            dirty.update((old[1], identity.story_id))
            written.add(identity.key)
            updated += 1
        else:
            unchanged += 1
        if replace_memberships(
            conn, identity.key, update.topics, update.authors, topics, authors
        ):
            dirty.add(stored[identity.key][1])
    # decision logs and block flags (storage._curation); a flag that flips
    # changes where the entry's story is published
    logs = [(u.identity.key, u.curation) for u in entries if u.curation is not None]
    dirty.update(stored[key][1] for key in record_curation(conn, logs))
    record_dedupe(conn, entries, written, now)
    return UpdateCounts(new=new, updated=updated, unchanged=unchanged), dirty


class EntriesMixin(StorageBase):
    """Entry lookups and membership updates."""

    def get_entry(self, key: str) -> StoredEntry | None:
        """Return the entry stored under ``key``, or ``None``."""
        with self._read("get_entry") as conn:
            found = select_entries(conn, "key = ?", (key,))
        return found[0] if found else None

    def find_entries(self, ref: str) -> tuple[StoredEntry, ...]:
        """Return entries whose key, original id, link or canonical link is ``ref``.

        Oldest first (first_seen_at, then key).
        """
        with self._read("find_entries") as conn:
            found = select_entries(
                conn,
                "key = :r OR original_id = :r OR link = :r OR canonical_link = :r"
                " ORDER BY first_seen_at, key",
                {"r": ref},
            )
        return tuple(found)

    def iter_entries(self) -> Iterator[StoredEntry]:
        """Yield every entry in key order, fetched in pages.

        Each page is its own short read, so no transaction stays open between
        pages and the caller may write (e.g. ``set_memberships``) meanwhile.
        """
        after: str | None = None
        while True:
            with self._read("iter_entries") as conn:
                if after is None:
                    page = select_entries(conn, "1 ORDER BY key LIMIT ?", (_PAGE,))
                else:
                    page = select_entries(
                        conn, "key > ? ORDER BY key LIMIT ?", (after, _PAGE)
                    )
            yield from page
            if len(page) < _PAGE:
                return
            after = page[-1].key

    def set_memberships(
        self,
        updates: Sequence[tuple[str, tuple[TopicMatch, ...], tuple[AuthorRef, ...]]],
    ) -> int:
        """Replace the topics and authors of many entries in one transaction.

        Keys not stored are skipped. Bumps the generation when anything changed.

        Args:
            updates: ``(entry key, topics, authors)`` triples.

        Returns:
            How many of the entries' memberships changed.
        """
        changed = 0
        dirty: set[str] = set()
        with self._write("set_memberships") as conn:
            for chunk in chunks(updates):
                keys = [key for key, _, _ in chunk]
                story_of = {
                    str(row[0]): str(row[1])
                    for row in conn.execute(
                        "SELECT key, story_id FROM entries"
                        " WHERE key IN (SELECT value FROM json_each(?))",
                        (json_list(keys),),
                    )
                }
                topics, authors = load_memberships(conn, keys)
                for key, new_topics, new_authors in chunk:
                    if key not in story_of:
                        continue
                    if replace_memberships(
                        conn, key, new_topics, new_authors, topics, authors
                    ):
                        changed += 1
                        dirty.add(story_of[key])
            refresh_stories(conn, dirty)
            if changed:
                self._bump(conn)
        return changed
