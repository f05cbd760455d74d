"""SQL of named views (``feeds:``): their stored definitions and stories.

A view's stories live in ``story_views`` like a topic's in ``story_topics``;
``refresh_views`` rebuilds them for the stories ``refresh_stories`` touched.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Collection
from typing import Any, TypedDict

from feedhub.storage._db import json_list
from feedhub.types import ViewConfig

__all__ = [
    "MATCHING_KEYS",
    "ViewJSON",
    "definition_of",
    "refresh_views",
    "stored_views",
    "view_sql",
]

#: entry keys matching an FTS5 expression (one index search)
MATCHING_KEYS = (
    "SELECT d.entry_key FROM entry_search AS f"
    " JOIN search_docs AS d ON d.docid = f.rowid WHERE entry_search MATCH :fts"
)


class ViewJSON(TypedDict):
    """A view's definition as stored in ``views.definition``."""

    topics: list[str]
    authors: list[str]
    #: source URLs as configured
    sources: list[str]
    #: FTS5 expression, or None
    fts: str | None


def definition_of(view: ViewConfig, fts: str | None) -> ViewJSON:
    return ViewJSON(
        topics=list(view.topics),
        authors=list(view.authors),
        sources=list(view.sources),
        fts=fts,
    )


def view_sql(definition: ViewJSON, *, some: bool) -> tuple[str, dict[str, Any]]:
    """``INSERT INTO story_views`` for one view (``:view``).

    An entry belongs to the view when it meets every condition the view sets
    (any of its topics, any of its authors, any of its sources, the query);
    a story belongs when any of its copies does, like a topic feed.

    Args:
        definition: the view.
        some: restrict to the stories in ``:ids`` (a JSON list); the query is
            then tested per entry rather than by one search over the index.
    """
    # a blocked copy (block rules, storage._curation) is published nowhere
    where = ["e.blocked = 0"]
    params: dict[str, Any] = {}
    if some:
        where.append("s.story_id IN (SELECT value FROM json_each(:ids))")
    if definition["topics"]:
        where.append(
            "EXISTS (SELECT 1 FROM entry_topics AS t WHERE t.entry_key = e.key"
            " AND t.topic IN (SELECT value FROM json_each(:topics)))"
        )
        params["topics"] = json_list(definition["topics"])
    if definition["authors"]:
        where.append(
            "EXISTS (SELECT 1 FROM entry_authors AS a WHERE a.entry_key = e.key"
            " AND a.slug IN (SELECT value FROM json_each(:authors)))"
        )
        params["authors"] = json_list(definition["authors"])
    if definition["sources"]:
        where.append(
            "e.source_id IN (SELECT id FROM sources"
            " WHERE url IN (SELECT value FROM json_each(:sources)))"
        )
        params["sources"] = json_list(definition["sources"])
    if definition["fts"]:
        if some:
            where.append(
                "EXISTS (SELECT 1 FROM search_docs AS d JOIN entry_search AS f"
                " ON f.rowid = d.docid WHERE d.entry_key = e.key"
                " AND entry_search MATCH :fts)"
            )
        else:
            where.append(f"e.key IN ({MATCHING_KEYS})")
        params["fts"] = definition["fts"]
    sql = (
        "INSERT OR IGNORE INTO story_views (view, story_id, sort_at, rep_key)"
        " SELECT DISTINCT :view, s.story_id, s.sort_at, s.rep_key"
        " FROM stories AS s JOIN entries AS e ON e.story_id = s.story_id"
        f" WHERE {' AND '.join(where)}"
    )
    return sql, params


def stored_views(conn: sqlite3.Connection) -> dict[str, ViewJSON]:
    return {
        str(row[0]): json.loads(str(row[1]))
        for row in conn.execute("SELECT slug, definition FROM views ORDER BY slug")
    }


def refresh_views(conn: sqlite3.Connection, story_ids: Collection[str]) -> None:
    """Rebuild the view memberships of ``story_ids`` after ``refresh_stories``.

    Their ``stories`` rows were just replaced, which removed their
    ``story_views`` rows (ON DELETE CASCADE); this puts back those that still
    belong. Called inside the write transaction.
    """
    if not story_ids:
        return
    views = stored_views(conn)
    if not views:
        return
    ids = json_list(sorted(story_ids))
    for slug, definition in views.items():
        sql, params = view_sql(definition, some=True)
        conn.execute(sql, {**params, "view": slug, "ids": ids})
