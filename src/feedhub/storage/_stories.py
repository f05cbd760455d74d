"""Stories (copies of one article, grouped by story_id) and feed queries on them."""

from __future__ import annotations

import sqlite3
from collections.abc import Collection, Sequence
from dataclasses import replace
from datetime import datetime

from feedhub.storage._db import StorageBase, chunks, json_list, opt_str
from feedhub.storage._rows import published_id, select_entries
from feedhub.storage._views import refresh_views
from feedhub.types import FeedKind, StoredEntry, Story

_IDS = "(SELECT value FROM json_each(:ids))"

# The representative of a story is chosen by the documented rule: a copy from
# the source listed first in `dedupe.prefer`, else the earliest published
# (published, else updated, else first seen), then the earliest seen, then
# key. Backlog copies (hidden) never represent a story, and a story with only
# hidden copies is not listed. Blocked copies (a block rule took them) count
# for nothing: no representative, no topic, no author. The story's place in a
# feed is its earliest visible copy's sort time, so a later copy joining never
# moves it up.
# The atom:id a story is published under is pinned in story_ids the first
# time it is listed, so it survives a change of representative.
_REFRESH = (
    f"DELETE FROM stories WHERE story_id IN {_IDS}",
    f"""
    INSERT INTO stories (story_id, rep_key, sort_at)
    SELECT story_id, key, first_sort FROM (
        SELECT e.story_id, e.key,
            min(e.sort_at) OVER (PARTITION BY e.story_id) AS first_sort,
            row_number() OVER (
                PARTITION BY e.story_id
                ORDER BY coalesce(p.rank, 1000000000),
                    coalesce(e.published, e.updated, e.first_seen_at),
                    e.first_seen_at, e.key
            ) AS rank
        FROM entries AS e LEFT JOIN source_prefer AS p ON p.source_id = e.source_id
        WHERE e.story_id IN {_IDS} AND e.hidden = 0 AND e.blocked = 0
    ) WHERE rank = 1
    """,
    f"""
    INSERT INTO story_topics (topic, story_id, sort_at, rep_key)
    SELECT DISTINCT t.topic, s.story_id, s.sort_at, s.rep_key
    FROM stories AS s
    JOIN entries AS e ON e.story_id = s.story_id
    JOIN entry_topics AS t ON t.entry_key = e.key
    WHERE s.story_id IN {_IDS} AND e.blocked = 0
    """,
    f"""
    INSERT INTO story_authors (slug, story_id, name, sort_at, rep_key)
    SELECT a.slug, s.story_id, min(a.name), s.sort_at, s.rep_key
    FROM stories AS s
    JOIN entries AS e ON e.story_id = s.story_id
    JOIN entry_authors AS a ON a.entry_key = e.key
    WHERE s.story_id IN {_IDS} AND e.blocked = 0
    GROUP BY s.story_id, a.slug
    """,
)

_UNPINNED = f"""
SELECT s.story_id, e.key, e.original_id FROM stories AS s
JOIN entries AS e ON e.key = s.rep_key
WHERE s.story_id IN {_IDS}
AND NOT EXISTS (SELECT 1 FROM story_ids AS i WHERE i.story_id = s.story_id)
ORDER BY e.first_seen_at, e.key
"""

# Another story already published under this original id (through one of its
# entries that carries it; entries_original_id makes this a lookup).
_ID_TAKEN = """
SELECT 1 FROM entries AS o JOIN story_ids AS i ON i.story_id = o.story_id
WHERE o.original_id = :id AND o.story_id <> :story AND i.published_id = :id
LIMIT 1
"""


def refresh_stories(conn: sqlite3.Connection, story_ids: Collection[str]) -> None:
    """Rebuild the derived story rows of ``story_ids`` from their entries.

    Deleting ``stories`` rows cascades to ``story_topics`` and ``story_authors``
    (``foreign_keys`` is ON on every connection). Stories listed for the first
    time get their published id pinned.
    """
    if not story_ids:
        return
    params = {"ids": json_list(sorted(story_ids))}
    for statement in _REFRESH:
        conn.execute(statement, params)
    conn.executemany(
        "INSERT INTO story_ids (story_id, published_id, founder_key) VALUES (?, ?, ?)",
        _pins(conn, conn.execute(_UNPINNED, params).fetchall()),
    )
    # named views (feeds:) are derived like story_topics (see storage._views)
    refresh_views(conn, story_ids)


def _pins(
    conn: sqlite3.Connection, unpinned: Sequence[tuple[object, object, object]]
) -> list[tuple[str, str, str]]:
    """The ids to pin for new stories: each one's original id, unless another
    story is already published under it. Sources do reuse ids (template ids,
    per-site numbering), and readers keep one entry per id (RFC 4287 4.1.1):
    the later story gets a URN of its own instead."""
    pins: list[tuple[str, str, str]] = []
    pinned_now: set[str] = set()
    for story, key, original in unpinned:
        pid = published_id(str(key), opt_str(original))
        if pid == original and (
            pid in pinned_now
            or conn.execute(_ID_TAKEN, {"id": pid, "story": str(story)}).fetchone()
        ):
            pid = published_id(str(key), None)
        pinned_now.add(pid)
        pins.append((str(story), pid, str(key)))
    return pins


def refresh_all_stories(conn: sqlite3.Connection) -> None:
    """Rebuild every story's derived rows (after ``dedupe.prefer`` changed)."""
    ids = [str(row[0]) for row in conn.execute("SELECT DISTINCT story_id FROM entries")]
    for chunk in chunks(ids, 5000):
        refresh_stories(conn, chunk)


def _seen(entry: StoredEntry) -> tuple[datetime, str]:
    return (entry.first_seen_at, entry.key)


def group_stories(conn: sqlite3.Connection, story_ids: Sequence[str]) -> list[Story]:
    """Load listed stories with their copies, in the order of ``story_ids``.

    The representative is the one ``refresh_stories`` chose, carrying the
    story's pinned ``published_id``; the other copies (hidden ones included,
    so every outlet is credited) follow in the order feedhub saw them.
    Stories not listed (all copies hidden) are left out.
    """
    if not story_ids:
        return []
    ids = json_list(story_ids)
    reps = {
        str(row[0]): (str(row[1]), str(row[2]))
        for row in conn.execute(
            "SELECT s.story_id, s.rep_key, coalesce(i.published_id, '')"
            " FROM stories AS s LEFT JOIN story_ids AS i ON i.story_id = s.story_id"
            " WHERE s.story_id IN (SELECT value FROM json_each(?))",
            (ids,),
        )
    }
    copies = select_entries(
        conn, "story_id IN (SELECT value FROM json_each(?))", (ids,)
    )
    by_story: dict[str, list[StoredEntry]] = {}
    for entry in sorted(copies, key=_seen):
        by_story.setdefault(entry.story_id, []).append(entry)
    stories: list[Story] = []
    for sid in story_ids:
        if sid not in reps or sid not in by_story:
            continue
        rep_key, pinned = reps[sid]
        members = by_story[sid]
        rep = next((e for e in members if e.key == rep_key), members[0])
        others = tuple(e for e in members if e is not rep)
        stories.append((replace(rep, published_id=pinned or None), others))
    return stories


class StoriesMixin(StorageBase):
    """Feed queries: one item per story, newest first."""

    def feed_stories(
        self, kind: FeedKind, slug: str, limit: int
    ) -> tuple[tuple[StoredEntry, tuple[StoredEntry, ...]], ...]:
        """Return the newest stories of one feed with all their copies.

        A story's position is its earliest visible copy's sort time, i.e.
        ``min(coalesce(published, updated, first_seen_at), first_seen_at)``,
        descending, then the representative's key. The representative is
        chosen by the rule of ``refresh_stories`` and carries the story's
        pinned ``published_id``.

        Args:
            kind: TOPIC selects stories with any copy in topic ``slug``; AUTHOR
                any copy by author ``slug``; ALL every story (``slug`` ignored).
            slug: topic or author slug.
            limit: most stories returned.

        Returns:
            ``(representative, other copies in the order seen)`` per story.
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
            elif kind is FeedKind.VIEW:
                cursor = conn.execute(
                    "SELECT story_id FROM story_views WHERE view = ?"
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
            return tuple(group_stories(conn, story_ids))

    def feed_refs(self, kind: FeedKind) -> tuple[tuple[str, str, int], ...]:
        """Return ``(slug, display name, story count)`` per non-empty feed of ``kind``.

        Topic and view display names are their slugs (titles live in the
        config); an author's is the name on their newest story. ALL always yields
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
            elif kind is FeedKind.VIEW:
                # like topics: titles live in the config
                rows = conn.execute(
                    "SELECT view, view, count(*) FROM story_views"
                    " GROUP BY view ORDER BY view"
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
