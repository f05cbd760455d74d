"""The database schema as an append-only, versioned set of sqlite-utils migrations.

Never edit a migration that has shipped: append a new one. Every migration runs
inside the transaction ``migrate`` opens, so none may be ``transactional=False``.
"""

from __future__ import annotations

import sqlite3

from sqlite_utils.db import Database
from sqlite_utils.migrations import Migrations

MIGRATIONS = Migrations("feedhub")

# Datetimes are ISO-8601 UTC TEXT with fixed microsecond precision, so that text
# order is time order and indexes on them sort correctly.
_INITIAL = (
    """
    CREATE TABLE sources (
        -- AUTOINCREMENT: ids feed entry keys, so one is never reused (STYLE 3)
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        url TEXT NOT NULL UNIQUE,
        fetch_url TEXT NOT NULL,
        name TEXT,
        added_at TEXT NOT NULL,
        -- NULL while the source is configured; set when config drops it
        removed_at TEXT,
        title TEXT,
        link TEXT,
        feed_id TEXT,
        subtitle TEXT,
        feed_updated TEXT,
        etag TEXT,
        last_modified TEXT,
        last_status TEXT CHECK (last_status IN ('ok', 'not_modified', 'error')),
        last_http_status INTEGER,
        last_polled_at TEXT,
        last_success_at TEXT,
        next_check_at TEXT,
        error_count INTEGER NOT NULL DEFAULT 0,
        last_error TEXT
    )
    """,
    "CREATE INDEX sources_due ON sources (next_check_at) WHERE removed_at IS NULL",
    """
    CREATE TABLE entries (
        key TEXT PRIMARY KEY,
        source_id INTEGER NOT NULL REFERENCES sources (id),
        original_id TEXT,
        link TEXT,
        canonical_link TEXT,
        origin_link TEXT,
        title TEXT NOT NULL,
        summary TEXT,
        content TEXT,
        authors TEXT NOT NULL DEFAULT '[]',
        published TEXT,
        updated TEXT,
        categories TEXT NOT NULL DEFAULT '[]',
        enclosures TEXT NOT NULL DEFAULT '[]',
        content_hash TEXT NOT NULL,
        story_id TEXT NOT NULL,
        first_seen_at TEXT NOT NULL,
        last_changed_at TEXT NOT NULL,
        sort_at TEXT NOT NULL
    )
    """,
    "CREATE INDEX entries_source ON entries (source_id)",
    "CREATE INDEX entries_story ON entries (story_id, first_seen_at, key)",
    "CREATE INDEX entries_original_id ON entries (original_id)",
    "CREATE INDEX entries_link ON entries (link)",
    "CREATE INDEX entries_canonical_link ON entries (canonical_link)",
    """
    CREATE TABLE entry_topics (
        entry_key TEXT NOT NULL REFERENCES entries (key) ON DELETE CASCADE,
        position INTEGER NOT NULL,
        topic TEXT NOT NULL,
        reason TEXT NOT NULL,
        PRIMARY KEY (entry_key, topic)
    ) WITHOUT ROWID
    """,
    "CREATE INDEX entry_topics_topic ON entry_topics (topic)",
    """
    CREATE TABLE entry_authors (
        entry_key TEXT NOT NULL REFERENCES entries (key) ON DELETE CASCADE,
        position INTEGER NOT NULL,
        slug TEXT NOT NULL,
        name TEXT NOT NULL,
        PRIMARY KEY (entry_key, slug)
    ) WITHOUT ROWID
    """,
    "CREATE INDEX entry_authors_slug ON entry_authors (slug)",
    # Derived tables, rebuilt per touched story on every write, so that a feed
    # page is an index range scan of `limit` rows even with 100k+ entries.
    """
    CREATE TABLE stories (
        story_id TEXT PRIMARY KEY,
        rep_key TEXT NOT NULL,
        sort_at TEXT NOT NULL
    ) WITHOUT ROWID
    """,
    "CREATE INDEX stories_order ON stories (sort_at DESC, rep_key)",
    """
    CREATE TABLE story_topics (
        topic TEXT NOT NULL,
        story_id TEXT NOT NULL REFERENCES stories (story_id) ON DELETE CASCADE,
        sort_at TEXT NOT NULL,
        rep_key TEXT NOT NULL,
        PRIMARY KEY (story_id, topic)
    ) WITHOUT ROWID
    """,
    "CREATE INDEX story_topics_order ON story_topics (topic, sort_at DESC, rep_key)",
    """
    CREATE TABLE story_authors (
        slug TEXT NOT NULL,
        story_id TEXT NOT NULL REFERENCES stories (story_id) ON DELETE CASCADE,
        name TEXT NOT NULL,
        sort_at TEXT NOT NULL,
        rep_key TEXT NOT NULL,
        PRIMARY KEY (story_id, slug)
    ) WITHOUT ROWID
    """,
    "CREATE INDEX story_authors_order ON story_authors (slug, sort_at DESC, rep_key)",
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID",
    """
    CREATE TABLE counters (
        name TEXT PRIMARY KEY,
        value INTEGER NOT NULL
    ) WITHOUT ROWID
    """,
    "INSERT INTO counters (name, value) VALUES ('generation', 0)",
)


@MIGRATIONS()
def m001_initial(db: Database) -> None:
    """Create every table and index of the first release."""
    for statement in _INITIAL:
        db.execute(statement)


def migrate(conn: sqlite3.Connection) -> None:
    """Apply pending migrations in one ``BEGIN IMMEDIATE`` transaction.

    Taking the write lock first serializes two processes opening a fresh
    database at once: the second waits, then finds nothing pending.

    Args:
        conn: an open connection in autocommit mode (``isolation_level=None``).
    """
    db = Database(conn, recursive_triggers=False, execute_plugins=False)
    if not MIGRATIONS.pending(db):
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        MIGRATIONS.apply(db)
    except BaseException:
        conn.rollback()
        raise
    conn.commit()
