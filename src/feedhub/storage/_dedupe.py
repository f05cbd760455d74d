"""Dedupe state: re-keyed entries, tombstones, the LSH index, story matches."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import struct
from collections.abc import Callable, Container, Iterable, Sequence
from dataclasses import replace
from datetime import datetime

from feedhub.storage._db import (
    StorageBase,
    chunks,
    from_text,
    json_list,
    opt_datetime,
    opt_str,
    to_text,
)
from feedhub.storage._rows import select_entries
from feedhub.storage._stories import refresh_all_stories, refresh_stories
from feedhub.types import (
    EntryData,
    EntryUpdate,
    Fingerprint,
    StoredEntry,
    StoryMatch,
    StoryRule,
)

#: most entries ``near_candidates`` reads from one bucket (those with the
#: highest entry numbers: an arbitrary but stable choice)
BUCKET_READ = 64

#: incoming key -> (stored key, story id)
Known = dict[str, tuple[str, str]]


def entry_number(key: str) -> int:
    """The entry's number in the LSH index: the first 64 bits of its key, signed.

    Keys are sha256 hex (``dedupe.entry_key``); any other key is hashed first,
    and is then not found back by ``near_candidates``.
    """
    try:
        value = int(key[:16], 16)
    except ValueError:
        value = int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest())
    return value - (1 << 64) if value >= 1 << 63 else value


def _unindex(conn: sqlite3.Connection, numbers: Sequence[int]) -> None:
    """Remove entries from the near-duplicate index (one query per chunk)."""
    for chunk in chunks(list(numbers)):
        rows = conn.execute(
            "SELECT entry, buckets FROM near_entries"
            " WHERE entry IN (SELECT value FROM json_each(?))",
            (json.dumps(chunk),),
        ).fetchall()
        if not rows:
            continue
        pairs = []
        for number, blob in rows:
            data = bytes(blob)
            buckets = struct.unpack(f"<{len(data) // 8}q", data)
            pairs += [(bucket, number) for bucket in buckets]
        conn.executemany(
            "DELETE FROM near_buckets WHERE bucket = ? AND entry = ?", pairs
        )
        conn.executemany(
            "DELETE FROM near_entries WHERE entry = ?", [(row[0],) for row in rows]
        )


def _index(
    conn: sqlite3.Connection, fingerprints: Iterable[tuple[str, Fingerprint]]
) -> None:
    """Index entries by their buckets, replacing what they had (a few
    statements for the whole batch, not a few per entry)."""
    # the last fingerprint of a number wins, as if indexed one by one
    latest = {entry_number(key): fp for key, fp in fingerprints}
    if not latest:
        return
    _unindex(conn, list(latest))
    rows = []
    pairs = []
    for number, fingerprint in latest.items():
        buckets = sorted(set(fingerprint.buckets))
        rows.append((number, struct.pack(f"<{len(buckets)}q", *buckets)))
        pairs += [(bucket, number) for bucket in buckets]
    conn.executemany("INSERT INTO near_entries (entry, buckets) VALUES (?, ?)", rows)
    conn.executemany(
        "INSERT OR IGNORE INTO near_buckets (bucket, entry) VALUES (?, ?)", pairs
    )


def record_dedupe(
    conn: sqlite3.Connection,
    entries: Sequence[EntryUpdate],
    written: Iterable[str],
    now: datetime,
) -> None:
    """Store what dedupe decided for the entries just inserted or changed.

    For each written entry: its LSH buckets (replacing old ones), its story
    match, its backlog flag (set only on insert, by the caller's choice: a
    hidden entry stays hidden). For every entry: the alias a re-keyed feed
    gives it.

    Args:
        conn: inside the poll's transaction.
        entries: the poll's updates.
        written: keys inserted or changed by this poll.
        now: when.
    """
    written = set(written)
    now_text = to_text(now)
    indexed: list[tuple[str, Fingerprint]] = []
    for update in entries:
        key = update.identity.key
        if update.alias and update.alias != key:
            conn.execute(
                "INSERT OR IGNORE INTO entry_aliases (alias, key) VALUES (?, ?)",
                (update.alias, key),
            )
        if key not in written:
            continue
        if update.hidden:
            conn.execute("UPDATE entries SET hidden = 1 WHERE key = ?", (key,))
        if update.fingerprint is not None:
            indexed.append((key, update.fingerprint))
        if update.match is not None:
            match = update.match
            conn.execute(
                "INSERT INTO story_matches"
                " (entry_key, rule, score, matched_key, detail, decided_at)"
                " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (entry_key) DO UPDATE SET"
                " rule = excluded.rule, score = excluded.score,"
                " matched_key = excluded.matched_key, detail = excluded.detail,"
                " decided_at = excluded.decided_at",
                (key, match.rule.value, match.score, match.matched_key,
                 match.detail, now_text),
            )  # fmt: skip
    _index(conn, indexed)


class DedupeMixin(StorageBase):
    """Lookups for story assignment at ingest, purging, and ``explain``."""

    def resolve_entries(
        self, source_id: int, incoming: Sequence[tuple[str, str | None]]
    ) -> tuple[Known, frozenset[str], bool]:
        """Find which incoming entries are already stored, perhaps under another key.

        An incoming key is known when it is stored, when it is an alias of a
        stored key, or (a re-keyed feed: new id, same link) when a stored
        entry of the same source has its canonical link and is not itself in
        ``incoming``. Each stored entry is claimed at most once.

        Args:
            source_id: the source polled.
            incoming: ``(key, canonical link)`` per entry of the document.

        Returns:
            ``(known, tombstoned, has_entries)``: incoming key -> (stored key,
            story id); the incoming keys that were purged (by key, alias or
            link); whether the source has any stored entry or tombstone.
        """
        keys = [key for key, _ in incoming]
        known: Known = {}
        tombstoned: set[str] = set()
        with self._read("resolve_entries") as conn:
            for chunk in chunks(keys):
                param = (json_list(chunk),)
                for row in conn.execute(
                    "SELECT key, story_id FROM entries"
                    " WHERE key IN (SELECT value FROM json_each(?))",
                    param,
                ):
                    known[str(row[0])] = (str(row[0]), str(row[1]))
                for row in conn.execute(
                    "SELECT a.alias, e.key, e.story_id FROM entry_aliases AS a"
                    " JOIN entries AS e ON e.key = a.key"
                    " WHERE a.alias IN (SELECT value FROM json_each(?))",
                    param,
                ):
                    known.setdefault(str(row[0]), (str(row[1]), str(row[2])))
                tombstoned.update(
                    str(row[0])
                    for row in conn.execute(
                        "SELECT key FROM tombstones"
                        " WHERE key IN (SELECT value FROM json_each(?))",
                        param,
                    )
                )
            claimed = {stored for stored, _ in known.values()} | set(keys)
            for key, link in incoming:
                if key in known or key in tombstoned or not link:
                    continue
                row = conn.execute(
                    "SELECT key, story_id FROM entries"
                    " WHERE source_id = ? AND canonical_link = ?"
                    " ORDER BY first_seen_at, key",
                    (source_id, link),
                ).fetchall()
                free = [r for r in row if str(r[0]) not in claimed]
                if free:
                    known[key] = (str(free[0][0]), str(free[0][1]))
                    claimed.add(str(free[0][0]))
                elif (
                    not row
                    and conn.execute(
                        "SELECT 1 FROM tombstones"
                        " WHERE source_id = ? AND canonical_link = ?",
                        (source_id, link),
                    ).fetchone()
                ):
                    tombstoned.add(key)
            has_entries = (
                conn.execute(
                    "SELECT EXISTS (SELECT 1 FROM entries WHERE source_id = ?)"
                    " OR EXISTS (SELECT 1 FROM tombstones WHERE source_id = ?)",
                    (source_id, source_id),
                ).fetchone()[0]
                == 1
            )
        return known, frozenset(tombstoned), has_entries

    def stories_of_links(self, links: Sequence[str]) -> dict[str, StoredEntry]:
        """Return, per canonical link, the first-seen stored copy with that link."""
        found: dict[str, StoredEntry] = {}
        with self._read("stories_of_links") as conn:
            for chunk in chunks(sorted(set(links))):
                for entry in select_entries(
                    conn,
                    "canonical_link IN (SELECT value FROM json_each(?))"
                    " ORDER BY first_seen_at DESC, key DESC",
                    (json_list(chunk),),
                ):
                    if entry.canonical_link:
                        found[entry.canonical_link] = entry
        return found

    def near_candidates(
        self,
        buckets: Sequence[int],
        limit: int = 10,
        *,
        cached: Container[tuple[str, str]] = (),
        text: int | None = None,
        keep: Callable[[int, str, bool], bool] | None = None,
    ) -> tuple[StoredEntry, ...]:
        """Return stored entries sharing at least one LSH bucket, most shared first.

        At most ``BUCKET_READ`` entries are read from each bucket, so the cost
        is bounded by the number of buckets, not by how many entries are
        stored, even when a bucket fills up (a wire story carried by hundreds
        of outlets, a boilerplate text posted again and again): any
        ``BUCKET_READ`` members of such a bucket lead to its story as well.
        One query finds the candidates' heads, a second loads in full only
        those whose shingles the caller does not hold.

        Args:
            buckets: the new entry's ``Fingerprint.buckets``.
            limit: most candidates returned.
            cached: ``(key, content_hash)`` of the copies whose shingles the
                caller holds (``dedupe.choose_story``'s cache): those come
                with title, dates and identity only (no summary, content,
                authors, categories, enclosures or memberships).
            text: how many of the leading ``buckets`` are text buckets
                (``Fingerprint.text``); None: all are.
            keep: called with each candidate's source id, title and whether
                it shares a text bucket, before anything else of it is
                loaded; candidates it refuses are left out. Up to three times
                ``limit`` candidates are looked at, so that refused ones leave
                room for others.
        """
        if not buckets:
            return ()
        firsts = len(buckets) if text is None else text
        with self._read("near_candidates") as conn:
            rows = conn.execute(
                # per bucket, only the BUCKET_READ entries with the highest
                # numbers: the bound is the BUCKET_READ-th number, one index
                # seek and a short walk away, then a range of the primary key
                "WITH b AS (SELECT value AS bucket, min(key) < ? AS text"
                " FROM json_each(?) GROUP BY value),"
                " near AS (SELECT nb.entry, count(*) AS shared,"
                " max(b.text) AS by_text FROM b"
                " JOIN near_buckets AS nb ON nb.bucket = b.bucket"
                " AND nb.entry >= coalesce((SELECT entry FROM near_buckets"
                " WHERE bucket = b.bucket ORDER BY entry DESC LIMIT 1 OFFSET ?),"
                " -9223372036854775808)"
                " GROUP BY nb.entry ORDER BY shared DESC, nb.entry LIMIT ?)"
                " SELECT e.key, e.source_id, e.original_id, e.link, e.title,"
                " e.published, e.updated, e.canonical_link, e.content_hash,"
                " e.story_id, e.first_seen_at, e.last_changed_at, near.by_text"
                " FROM near JOIN entries AS e"
                # the entries whose key starts with the entry number's 16 hex
                # digits (see entry_number): a range of the primary key
                " ON e.key >= printf('%016x', near.entry)"
                " AND e.key < printf('%016x', near.entry) || 'g'"
                " ORDER BY near.shared DESC, near.entry, e.key",
                (
                    firsts,
                    json.dumps(list(buckets)),
                    BUCKET_READ - 1,
                    limit if keep is None else 3 * limit,
                ),
            ).fetchall()
            if keep is not None:
                rows = [row for row in rows if keep(row[1], row[4], bool(row[12]))]
            heads = [(row, _head(row)) for row in rows[:limit]]
            wanted = [
                str(row[0])
                for row, _ in heads
                if (str(row[0]), str(row[8])) not in cached
            ]
            full = (
                {
                    entry.key: entry
                    for entry in select_entries(
                        conn,
                        "key IN (SELECT value FROM json_each(?))",
                        (json_list(wanted),),
                    )
                }
                if wanted
                else {}
            )
        return tuple(full.get(str(row[0])) or head for row, head in heads)

    def purge_entries(self, keys: Sequence[str], now: datetime) -> int:
        """Delete entries, leaving tombstones so that they are never ingested again.

        A tombstone names the key, every alias of it, and the (source,
        canonical link), so a re-keyed copy of a purged entry stays out too.

        Returns:
            How many entries were deleted.
        """
        now_text = to_text(now)
        deleted = 0
        with self._write("purge_entries") as conn:
            stories: set[str] = set()
            for chunk in chunks(list(keys)):
                param = (json_list(chunk),)
                rows = conn.execute(
                    "SELECT key, source_id, canonical_link, story_id FROM entries"
                    " WHERE key IN (SELECT value FROM json_each(?))",
                    param,
                ).fetchall()
                aliases = conn.execute(
                    "SELECT a.alias, e.source_id, e.canonical_link"
                    " FROM entry_aliases AS a JOIN entries AS e ON e.key = a.key"
                    " WHERE a.key IN (SELECT value FROM json_each(?))",
                    param,
                ).fetchall()
                conn.executemany(
                    "INSERT OR REPLACE INTO tombstones"
                    " (key, source_id, canonical_link, purged_at) VALUES (?, ?, ?, ?)",
                    [(r[0], r[1], r[2], now_text) for r in [*rows, *aliases]],
                )
                _unindex(conn, [entry_number(str(r[0])) for r in rows])
                conn.execute(
                    "DELETE FROM entries WHERE key IN (SELECT value FROM json_each(?))",
                    param,
                )
                stories.update(str(r[3]) for r in rows)
                deleted += len(rows)
            refresh_stories(conn, stories)
            if deleted:
                self._bump(conn)
        return deleted

    def index_entries(self, fingerprints: Sequence[tuple[str, Fingerprint]]) -> None:
        """Replace the near-duplicate index rows of stored entries (a rebuild)."""
        with self._write("index_entries") as conn:
            _index(conn, fingerprints)

    def entries_older_than(self, before: datetime) -> tuple[str, ...]:
        """Return the keys of entries first seen and dated before ``before``."""
        text = to_text(before)
        with self._read("entries_older_than") as conn:
            rows = conn.execute(
                "SELECT key FROM entries WHERE first_seen_at < ?"
                " AND coalesce(published, updated, first_seen_at) < ? ORDER BY key",
                (text, text),
            ).fetchall()
        return tuple(str(row[0]) for row in rows)

    def tombstones(self, source_id: int) -> tuple[str, ...]:
        """Return the keys purged from ``source_id``, sorted."""
        with self._read("tombstones") as conn:
            rows = conn.execute(
                "SELECT key FROM tombstones WHERE source_id = ? ORDER BY key",
                (source_id,),
            ).fetchall()
        return tuple(str(row[0]) for row in rows)

    def set_preferred_sources(self, source_ids: Sequence[int]) -> bool:
        """Store ``dedupe.prefer`` (first wins); re-pick representatives on a change.

        Returns:
            True when the preference changed.
        """
        wanted = [(source_id, rank) for rank, source_id in enumerate(source_ids)]
        with self._write("set_preferred_sources") as conn:
            stored = [
                (int(r[0]), int(r[1]))
                for r in conn.execute(
                    "SELECT source_id, rank FROM source_prefer ORDER BY rank"
                )
            ]
            if stored == wanted:
                return False
            conn.execute("DELETE FROM source_prefer")
            conn.executemany(
                "INSERT INTO source_prefer (source_id, rank) VALUES (?, ?)", wanted
            )
            refresh_all_stories(conn)
            self._bump(conn)
        return True

    # ------------------------------------------------------------ explain

    def story_members(
        self, story_id: str
    ) -> tuple[tuple[StoredEntry, StoryMatch | None, bool], ...]:
        """Return every copy of a story with why it joined and whether it is hidden.

        The representative comes first (with ``published_id`` set when the
        story is listed), then the others in the order feedhub saw them.
        """
        with self._read("story_members") as conn:
            entries = select_entries(
                conn, "story_id = ? ORDER BY first_seen_at, key", (story_id,)
            )
            keys = json_list([e.key for e in entries])
            matches = {
                str(r[0]): StoryMatch(
                    StoryRule(str(r[1])),
                    None if r[2] is None else float(r[2]),
                    opt_str(r[3]),
                    str(r[4]),
                )
                for r in conn.execute(
                    "SELECT entry_key, rule, score, matched_key, detail"
                    " FROM story_matches"
                    " WHERE entry_key IN (SELECT value FROM json_each(?))",
                    (keys,),
                )
            }
            hidden = {
                str(r[0])
                for r in conn.execute(
                    "SELECT key FROM entries WHERE hidden = 1"
                    " AND key IN (SELECT value FROM json_each(?))",
                    (keys,),
                )
            }
            rep = conn.execute(
                "SELECT s.rep_key, i.published_id FROM stories AS s"
                " LEFT JOIN story_ids AS i ON i.story_id = s.story_id"
                " WHERE s.story_id = ?",
                (story_id,),
            ).fetchone()
        result: list[tuple[StoredEntry, StoryMatch | None, bool]] = []
        for entry in entries:
            if rep is not None and entry.key == rep[0]:
                entry = _with_id(entry, opt_str(rep[1]))
                result.insert(0, (entry, matches.get(entry.key), entry.key in hidden))
            else:
                result.append((entry, matches.get(entry.key), entry.key in hidden))
        return tuple(result)

    def aliases_of(self, key: str) -> tuple[str, ...]:
        """Return the other keys a re-keyed feed gave entry ``key``."""
        with self._read("aliases_of") as conn:
            rows = conn.execute(
                "SELECT alias FROM entry_aliases WHERE key = ? ORDER BY alias", (key,)
            ).fetchall()
        return tuple(str(r[0]) for r in rows)

    def near_index_size(self) -> tuple[int, int]:
        """Return ``(indexed entries, bucket rows)`` of the near-duplicate index."""
        with self._read("near_index_size") as conn:
            entries = conn.execute("SELECT count(*) FROM near_entries").fetchone()[0]
            rows = conn.execute("SELECT count(*) FROM near_buckets").fetchone()[0]
        return int(entries), int(rows)


def _head(row: sqlite3.Row) -> StoredEntry:
    """A candidate without its text: what scoring reads besides the shingles."""
    return StoredEntry(
        key=str(row[0]),
        source_id=int(row[1]),
        data=EntryData(
            original_id=opt_str(row[2]),
            link=opt_str(row[3]),
            title=str(row[4]),
            published=opt_datetime(row[5]),
            updated=opt_datetime(row[6]),
        ),
        canonical_link=opt_str(row[7]),
        content_hash=str(row[8]),
        story_id=str(row[9]),
        first_seen_at=from_text(row[10]),
        last_changed_at=from_text(row[11]),
    )


def _with_id(entry: StoredEntry, published: str | None) -> StoredEntry:
    return replace(entry, published_id=published)
