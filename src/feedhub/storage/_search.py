"""Full-text search over entries (SQLite FTS5) and named views; mixed into ``Storage``.

The index (``entry_search``) is kept in step with ``entries`` by triggers
(migration ``m006_search``), so every write path (poll, purge, retention)
updates it in the same transaction. Named views (``feeds:``) are stored like
topics: their definitions in ``views``, their stories in ``story_views``,
rebuilt for the touched stories by ``refresh_views`` whenever
``refresh_stories`` runs.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence

from feedhub.exceptions import QueryError
from feedhub.storage._db import StorageBase, json_list
from feedhub.storage._stories import group_stories
from feedhub.storage._views import MATCHING_KEYS, definition_of, stored_views, view_sql
from feedhub.types import Story, ViewConfig

__all__ = ["SearchMixin"]


#: matches above which a search walks the stories newest first instead of
#: looking every match up (measured: 100k matches took 0.4 s to look up)
DENSE = 5000
#: stories examined per step of that walk
_WALK_PAGE = 1000

# The newest stories with a (not blocked) copy among a few matching docids.
# A blocked copy (block rules) is published nowhere, as in topics and views.
_FEW = """
SELECT s.story_id FROM stories AS s WHERE s.story_id IN (
    SELECT e.story_id FROM search_docs AS d JOIN entries AS e ON e.key = d.entry_key
    WHERE d.docid IN (SELECT value FROM json_each(:docids)) AND e.blocked = 0)
ORDER BY s.sort_at DESC, s.rep_key LIMIT :limit
"""
# One step of the walk: the next stories in feed order (sort_at DESC, rep_key).
# ("sort_at <=" lets the index seek; the NOT skips the rows already seen.)
_NEXT_STORIES = """
SELECT story_id, sort_at, rep_key FROM stories
WHERE sort_at <= :sort_at AND NOT (sort_at = :sort_at AND rep_key <= :after)
ORDER BY sort_at DESC, rep_key LIMIT :page
"""
_COPIES = """
SELECT e.story_id, d.docid FROM entries AS e
JOIN search_docs AS d ON d.entry_key = e.key
WHERE e.story_id IN (SELECT value FROM json_each(:ids)) AND e.blocked = 0
"""


def _walk_stories(conn: sqlite3.Connection, fts: str, limit: int) -> list[str]:
    """The newest ``limit`` matching stories when matches are many.

    Looking each match up costs as much as there are matches; walking the
    stories newest first and testing their copies against the set of matching
    docids stops after a few pages, since many matches mean a dense share.
    """
    matching = {
        int(row[0])
        for row in conn.execute(
            "SELECT rowid FROM entry_search WHERE entry_search MATCH ?", (fts,)
        )
    }
    found: list[str] = []
    after: tuple[str, str] | None = None
    while len(found) < limit:
        if after is None:
            page = conn.execute(
                "SELECT story_id, sort_at, rep_key FROM stories"
                " ORDER BY sort_at DESC, rep_key LIMIT ?",
                (_WALK_PAGE,),
            ).fetchall()
        else:
            page = conn.execute(
                _NEXT_STORIES,
                {"sort_at": after[0], "after": after[1], "page": _WALK_PAGE},
            ).fetchall()
        if not page:
            break
        ids = [str(row[0]) for row in page]
        hits = {
            str(row[0])
            for row in conn.execute(_COPIES, {"ids": json_list(ids)})
            if int(row[1]) in matching
        }
        found += [sid for sid in ids if sid in hits]
        after = (str(page[-1][1]), str(page[-1][2]))
    return found[:limit]


def _fts_error(e: sqlite3.OperationalError) -> bool:
    # FTS5 reports a query it cannot parse as plain SQLITE_ERROR ("fts5:
    # syntax error near ...", "unterminated string"); locks and I/O errors
    # carry other codes and stay storage errors
    return (getattr(e, "sqlite_errorcode", 0) & 0xFF) == sqlite3.SQLITE_ERROR


class SearchMixin(StorageBase):
    """Search queries and named views."""

    def search_stories(self, fts: str, limit: int) -> tuple[Story, ...]:
        """Return the newest stories with a copy matching a search, with their copies.

        Args:
            fts: an FTS5 MATCH expression (``config.parse_query(...).fts``).
            limit: most stories returned.

        Returns:
            ``(representative, other copies)`` per story, newest first, in the
            order of every other feed.

        Raises:
            QueryError: FTS5 refused the expression.
        """
        if limit <= 0:
            return ()
        with self._read("search_stories") as conn:
            try:
                docids = [
                    int(row[0])
                    for row in conn.execute(
                        "SELECT rowid FROM entry_search WHERE entry_search MATCH ?"
                        " LIMIT ?",
                        (fts, DENSE + 1),
                    )
                ]
                if len(docids) > DENSE:
                    ids = _walk_stories(conn, fts, limit)
                else:
                    ids = [
                        str(row[0])
                        for row in conn.execute(
                            _FEW, {"docids": json.dumps(docids), "limit": limit}
                        )
                    ]
            except sqlite3.OperationalError as e:
                if not _fts_error(e):
                    raise
                raise QueryError(f"the index cannot run this query ({e})") from e
            return tuple(group_stories(conn, ids))

    def search_keys(self, fts: str) -> tuple[str, ...]:
        """Return the keys of every entry matching a search, in key order."""
        with self._read("search_keys") as conn:
            try:
                rows = conn.execute(
                    f"{MATCHING_KEYS} ORDER BY d.entry_key", {"fts": fts}
                ).fetchall()
            except sqlite3.OperationalError as e:
                if not _fts_error(e):
                    raise
                raise QueryError(f"the index cannot run this query ({e})") from e
        return tuple(str(row[0]) for row in rows)

    def set_views(self, views: Sequence[tuple[ViewConfig, str | None]]) -> bool:
        """Store the named views and rebuild the stories of those that changed.

        Args:
            views: each view with the FTS5 expression of its ``query`` (None
                when it has none).

        Returns:
            True when any view was added, changed or removed.
        """
        wanted = {view.slug: definition_of(view, fts) for view, fts in views}
        with self._write("set_views") as conn:
            stored = stored_views(conn)
            changed = False
            for slug in sorted(set(stored) - set(wanted)):
                conn.execute("DELETE FROM story_views WHERE view = ?", (slug,))
                conn.execute("DELETE FROM views WHERE slug = ?", (slug,))
                changed = True
            for slug, definition in wanted.items():
                if stored.get(slug) == definition:
                    continue
                conn.execute(
                    "INSERT INTO views (slug, definition) VALUES (?, ?)"
                    " ON CONFLICT (slug) DO UPDATE"
                    " SET definition = excluded.definition",
                    (slug, json.dumps(definition, ensure_ascii=False)),
                )
                conn.execute("DELETE FROM story_views WHERE view = ?", (slug,))
                sql, params = view_sql(definition, some=False)
                conn.execute(sql, {**params, "view": slug})
                changed = True
            if changed:
                self._bump(conn)
        return changed
