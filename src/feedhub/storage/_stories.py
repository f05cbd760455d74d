"""Stories (copies of one article, grouped by story_id) and feed queries on them."""

from __future__ import annotations

import sqlite3
from collections.abc import Collection
from datetime import datetime

from feedhub.storage._db import StorageBase, json_list
from feedhub.storage._rows import select_entries
from feedhub.types import FeedKind, StoredEntry

_IDS = "(SELECT value FROM json_each(:ids))"

# The representative of a story is its earliest-seen copy, so the id feedhub
# publishes for it stays put when a later copy joins. Copies first seen in the
# same poll run (one `now` per run) are ranked by the earliest published, then
# key, so the choice never depends on which fetch finished first.
_REFRESH = (
    f"DELETE FROM stories WHERE story_id IN {_IDS}",
    f"""
    INSERT INTO stories (story_id, rep_key, sort_at)
    SELECT story_id, key, sort_at FROM (
        SELECT story_id, key, sort_at, row_number() OVER (
            PARTITION BY story_id
            ORDER BY first_seen_at, coalesce(published, updated, first_seen_at), key
        ) AS rank
        FROM entries WHERE story_id IN {_IDS}
    ) WHERE rank = 1
    """,
    f"""
    INSERT INTO story_topics (topic, story_id, sort_at, rep_key)
    SELECT DISTINCT t.topic, s.story_id, s.sort_at, s.rep_key
    FROM stories AS s
    JOIN entries AS e ON e.story_id = s.story_id
    JOIN entry_topics AS t ON t.entry_key = e.key
    WHERE s.story_id IN {_IDS}
    """,
    f"""
    INSERT INTO story_authors (slug, story_id, name, sort_at, rep_key)
    SELECT a.slug, s.story_id, min(a.name), s.sort_at, s.rep_key
    FROM stories AS s
    JOIN entries AS e ON e.story_id = s.story_id
    JOIN entry_authors AS a ON a.entry_key = e.key
    WHERE s.story_id IN {_IDS}
    GROUP BY s.story_id, a.slug
    """,
)


def _rank(entry: StoredEntry) -> tuple[datetime, datetime, str]:
    dated = entry.data.published or entry.data.updated or entry.first_seen_at
    return (entry.first_seen_at, dated, entry.key)


def refresh_stories(conn: sqlite3.Connection, story_ids: Collection[str]) -> None:
    """Rebuild the derived story rows of ``story_ids`` from their entries.

    Deleting ``stories`` rows cascades to ``story_topics`` and ``story_authors``
    (``foreign_keys`` is ON on every connection).
    """
    if not story_ids:
        return
    params = {"ids": json_list(sorted(story_ids))}
    for statement in _REFRESH:
        conn.execute(statement, params)


class StoriesMixin(StorageBase):
    """Feed queries: one item per story, newest first."""

    def feed_stories(
        self, kind: FeedKind, slug: str, limit: int
    ) -> tuple[tuple[StoredEntry, tuple[StoredEntry, ...]], ...]:
        """Return the newest stories of one feed with all their copies.

        A story's position is its representative's sort time, i.e.
        ``min(coalesce(published, updated, first_seen_at), first_seen_at)``,
        descending, then the representative's key.

        Args:
            kind: TOPIC selects stories with any copy in topic ``slug``; AUTHOR
                any copy by author ``slug``; ALL every story (``slug`` ignored).
            slug: topic or author slug.
            limit: most stories returned.

        Returns:
            ``(representative, other copies oldest first)`` per story.
        """
        kind = FeedKind(kind)
        if limit <= 0:
            return ()
        with self._read("feed_stories") as conn:
            if kind is FeedKind.ALL:
                cursor = conn.execute(
                    "SELECT story_id FROM stories"
                    " ORDER BY sort_at DESC, rep_key LIMIT ?",
                    (limit,),
                )
            elif kind is FeedKind.TOPIC:
                cursor = conn.execute(
                    "SELECT story_id FROM story_topics WHERE topic = ?"
                    " ORDER BY sort_at DESC, rep_key LIMIT ?",
                    (slug, limit),
                )
            else:
                cursor = conn.execute(
                    "SELECT story_id FROM story_authors WHERE slug = ?"
                    " ORDER BY sort_at DESC, rep_key LIMIT ?",
                    (slug, limit),
                )
            story_ids = [str(row[0]) for row in cursor]
            copies = select_entries(
                conn,
                "story_id IN (SELECT value FROM json_each(?))",
                (json_list(story_ids),),
            )
        by_story: dict[str, list[StoredEntry]] = {}
        for entry in sorted(copies, key=_rank):
            by_story.setdefault(entry.story_id, []).append(entry)
        return tuple(
            (by_story[sid][0], tuple(by_story[sid][1:]))
            for sid in story_ids
            if sid in by_story
        )

    def feed_refs(self, kind: FeedKind) -> tuple[tuple[str, str, int], ...]:
        """Return ``(slug, display name, story count)`` per non-empty feed of ``kind``.

        Topic display names are their slugs (titles live in the config); an
        author's is the name on their newest story. ALL always yields
        ``(("all", "All entries", n),)``.
        """
        kind = FeedKind(kind)
        with self._read("feed_refs") as conn:
            if kind is FeedKind.ALL:
                row = conn.execute("SELECT count(*) FROM stories").fetchone()
                return (("all", "All entries", int(row[0])),)
            if kind is FeedKind.TOPIC:
                rows = conn.execute(
                    "SELECT topic, topic, count(*) FROM story_topics"
                    " GROUP BY topic ORDER BY topic"
                ).fetchall()
            else:
                # Counting walks the covering index; the display name is one
                # index seek per author, to the newest story's row.
                rows = conn.execute(
                    "SELECT g.slug, (SELECT x.name FROM story_authors AS x"
                    "  WHERE x.slug = g.slug ORDER BY x.sort_at DESC, x.rep_key"
                    "  LIMIT 1), count(*)"
                    " FROM story_authors AS g GROUP BY g.slug ORDER BY g.slug"
                ).fetchall()
        return tuple((str(r[0]), str(r[1]), int(r[2])) for r in rows)
