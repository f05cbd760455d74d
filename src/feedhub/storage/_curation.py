"""Storage of curation: topic memberships in bulk, block flags, decision logs."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from typing import Any

from feedhub.storage._db import StorageBase, chunks, json_list
from feedhub.storage._rows import (
    Authors,
    Topics,
    load_memberships,
    normalize_authors,
    normalize_topics,
)
from feedhub.storage._stories import refresh_stories
from feedhub.types import AuthorRef, Curation, TopicDecision, TopicMatch

__all__ = ["CurationMixin", "log_from_json", "log_to_json", "record_curation"]

#: ``(entry key, topics, authors, decision log)`` as ``set_curation`` takes them
CurationUpdate = tuple[str, tuple[TopicMatch, ...], tuple[AuthorRef, ...], Curation]


def log_to_json(curation: Curation) -> str:
    """The compact JSON stored in ``entry_decisions.log``."""
    data: dict[str, Any] = {}
    if curation.blocked is not None:
        data["b"] = curation.blocked
    if curation.decisions:
        data["d"] = [[d.topic, int(d.selected), d.reason] for d in curation.decisions]
    if curation.language:
        data["l"] = curation.language
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


def log_from_json(text: str) -> Curation:
    """Read back what ``log_to_json`` wrote."""
    data = json.loads(text)
    return Curation(
        blocked=data.get("b"),
        decisions=tuple(
            TopicDecision(str(t), bool(s), str(r)) for t, s, r in data.get("d", ())
        ),
        language=data.get("l"),
    )


def record_curation(
    conn: sqlite3.Connection, items: Sequence[tuple[str, Curation]]
) -> set[str]:
    """Store decision logs and block flags; write only what changed.

    Returns:
        The keys whose block flag changed (their stories need a refresh).
    """
    flipped: set[str] = set()
    for chunk in chunks(items):
        param = (json_list([key for key, _ in chunk]),)
        logs = {
            str(r[0]): str(r[1])
            for r in conn.execute(
                "SELECT entry_key, log FROM entry_decisions"
                " WHERE entry_key IN (SELECT value FROM json_each(?))",
                param,
            )
        }
        blocked = {
            str(r[0]): bool(r[1])
            for r in conn.execute(
                "SELECT key, blocked FROM entries"
                " WHERE key IN (SELECT value FROM json_each(?))",
                param,
            )
        }
        writes: list[tuple[str, str]] = []
        flips: list[tuple[int, str]] = []
        for key, curation in chunk:
            if key not in blocked:
                continue  # not stored (purged meanwhile)
            text = log_to_json(curation)
            if logs.get(key) != text:
                writes.append((key, text))
                logs[key] = text
            now_blocked = curation.blocked is not None
            if blocked[key] != now_blocked:
                flips.append((int(now_blocked), key))
                blocked[key] = now_blocked
                flipped.add(key)
        conn.executemany(
            "INSERT INTO entry_decisions (entry_key, log) VALUES (?, ?)"
            " ON CONFLICT (entry_key) DO UPDATE SET log = excluded.log",
            writes,
        )
        conn.executemany("UPDATE entries SET blocked = ? WHERE key = ?", flips)
    return flipped


def _replace_rows(
    conn: sqlite3.Connection,
    table: str,
    columns: str,
    new: dict[str, list[tuple[str, str]]],
) -> None:
    """Replace the membership rows of ``new``'s keys in one pass per statement."""
    if not new:
        return
    conn.executemany(
        f"DELETE FROM {table} WHERE entry_key = ?", [(key,) for key in new]
    )
    conn.executemany(
        f"INSERT INTO {table} (entry_key, position, {columns}) VALUES (?, ?, ?, ?)",
        [(key, i, a, b) for key, rows in new.items() for i, (a, b) in enumerate(rows)],
    )


class CurationMixin(StorageBase):
    """Bulk re-filing of entries (rule changes) and the decision log."""

    def set_curation(self, updates: Sequence[CurationUpdate]) -> int:
        """Store many entries' topics, authors and decision logs at once.

        One transaction; only rows that differ from what is stored are
        written (``executemany``), and only the stories of entries whose
        topics, authors or block flag changed are rebuilt (a new reason for
        the same topics is stored, but publishes nothing new). Keys not stored
        are skipped. Bumps the generation when anything changed.

        Returns:
            How many entries changed membership (topics, authors or block).
        """
        changed: set[str] = set()
        with self._write("set_curation") as conn:
            story_of: dict[str, str] = {}
            topics_new: dict[str, list[tuple[str, str]]] = {}
            authors_new: dict[str, list[tuple[str, str]]] = {}
            for chunk in chunks(updates, 2000):
                keys = [u[0] for u in chunk]
                for row in conn.execute(
                    "SELECT key, story_id FROM entries"
                    " WHERE key IN (SELECT value FROM json_each(?))",
                    (json_list(keys),),
                ):
                    story_of[str(row[0])] = str(row[1])
                topics, authors = load_memberships(conn, keys)
                changed |= _diff(
                    chunk, story_of, topics, authors, topics_new, authors_new
                )
            _replace_rows(conn, "entry_topics", "topic, reason", topics_new)
            _replace_rows(conn, "entry_authors", "slug, name", authors_new)
            changed |= record_curation(
                conn, [(key, c) for key, _t, _a, c in updates if key in story_of]
            )
            dirty = {story_of[key] for key in changed}
            for ids in chunks(sorted(dirty), 5000):
                refresh_stories(conn, ids)
            if changed:
                self._bump(conn)
        return len(changed)

    def curation_of(self, key: str) -> Curation | None:
        """Return the decision log of entry ``key``; None when none is stored."""
        with self._read("curation_of") as conn:
            row = conn.execute(
                "SELECT log FROM entry_decisions WHERE entry_key = ?", (key,)
            ).fetchone()
        return None if row is None else log_from_json(str(row[0]))

    def entry_languages(self) -> dict[str, str]:
        """Return the stored source-feed language of every entry that has one."""
        with self._read("entry_languages") as conn:
            rows = conn.execute(
                "SELECT entry_key, json_extract(log, '$.l') FROM entry_decisions"
                " WHERE json_extract(log, '$.l') IS NOT NULL"
            ).fetchall()
        return {str(r[0]): str(r[1]) for r in rows}

    def entry_flags(self) -> tuple[set[str], set[str]]:
        """Return the keys of hidden (backlog) entries and of blocked entries."""
        with self._read("entry_flags") as conn:
            rows = conn.execute(
                "SELECT key, hidden, blocked FROM entries WHERE hidden OR blocked"
            ).fetchall()
        hidden = {str(r[0]) for r in rows if r[1]}
        return hidden, {str(r[0]) for r in rows if r[2]}

    def story_memberships(self) -> dict[str, set[str]]:
        """Return the story ids of every published feed, by feed key.

        Keys as in ``dirty_feeds``: "all", "topics/<slug>", "authors/<slug>",
        "feeds/<view>". One snapshot; for ``feedhub plan``.
        """
        feeds: dict[str, set[str]] = {"all": set()}
        with self._read("story_memberships") as conn:
            for (story,) in conn.execute("SELECT story_id FROM stories"):
                feeds["all"].add(str(story))
            for sql in (
                "SELECT 'topics/' || topic, story_id FROM story_topics",
                "SELECT 'authors/' || slug, story_id FROM story_authors",
                "SELECT 'feeds/' || view, story_id FROM story_views",
            ):
                for feed, story in conn.execute(sql):
                    feeds.setdefault(str(feed), set()).add(str(story))
        return feeds


def _diff(
    chunk: Sequence[CurationUpdate],
    story_of: dict[str, str],
    topics: Topics,
    authors: Authors,
    topics_new: dict[str, list[tuple[str, str]]],
    authors_new: dict[str, list[tuple[str, str]]],
) -> set[str]:
    """Collect the memberships of ``chunk`` that differ from the stored ones.

    Returns:
        The keys whose topics (not only their reasons) or authors changed.
    """
    moved: set[str] = set()
    for key, new_topics, new_authors, _c in chunk:
        if key not in story_of:
            continue
        rows = normalize_topics(new_topics)
        old = topics.get(key, [])
        if rows != old:
            topics_new[key] = rows
            if [t for t, _r in rows] != [t for t, _r in old]:
                moved.add(key)
        rows = normalize_authors(new_authors)
        if rows != authors.get(key, []):
            authors_new[key] = rows
            moved.add(key)
    return moved
