"""The text the search index holds for an entry's HTML; no business logic.

Registered on every connection as the SQL functions ``feedhub_text`` and
``feedhub_names`` because the search triggers (migration ``m006_search``) call
them. They must stay deterministic: FTS5 removes an entry's old terms by
indexing its old text again, so a change to what they return needs a migration
that rebuilds the index
(``INSERT INTO entry_search (entry_search) VALUES ('rebuild')``).
"""

from __future__ import annotations

import html
import json
import re
import sqlite3

__all__ = ["author_names", "register_functions", "search_text"]

# Comments, then tags with their attributes (quoted values may hold '>').
# Stored HTML was sanitized at ingest, so no script or style text is left.
_MARKUP = re.compile(r"<!--.*?-->|<(?:[^>\"']|\"[^\"]*\"|'[^']*')*>", re.S)


def search_text(value: object) -> str:
    """Plain text of stored HTML: tags dropped (as word breaks), entities decoded."""
    if value is None:
        return ""
    return html.unescape(_MARKUP.sub(" ", str(value)))


def author_names(value: object) -> str:
    """The names in an ``entries.authors`` JSON array, space-separated.

    (A Python function rather than ``json_each``: FTS5 cannot read an
    external-content view that uses a table-valued function.)
    """
    if value is None:
        return ""
    items = json.loads(str(value))
    return " ".join(
        str(item["name"])
        for item in items
        if isinstance(item, dict) and item.get("name")
    )


def register_functions(conn: sqlite3.Connection) -> None:
    """Make the functions the schema's triggers and views call available."""
    conn.create_function("feedhub_text", 1, search_text, deterministic=True)
    conn.create_function("feedhub_names", 1, author_names, deterministic=True)
