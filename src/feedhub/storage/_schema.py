"""The database schema as an append-only, versioned set of sqlite-utils migrations.

Never edit a migration that has shipped: append a new one. Every migration runs
inside the transaction ``migrate`` opens, so none may be ``transactional=False``.
"""

from __future__ import annotations

import sqlite3

from sqlite_utils.db import Database
from sqlite_utils.migrations import Migrations

from feedhub.exceptions import StorageError
from feedhub.storage._rows import published_id

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


_POLLING = (
    # Poll bookkeeping of issue 4 (see ``types.SourceHealth``).
    "ALTER TABLE sources ADD COLUMN body_hash TEXT",
    "ALTER TABLE sources ADD COLUMN retry_after_until TEXT",
    "ALTER TABLE sources ADD COLUMN failing_since TEXT",
    "ALTER TABLE sources ADD COLUMN dead_since TEXT",
    "ALTER TABLE sources ADD COLUMN gone_at TEXT",
    "ALTER TABLE sources ADD COLUMN redirect_to TEXT",
    "ALTER TABLE sources ADD COLUMN redirect_count INTEGER NOT NULL DEFAULT 0",
    "ALTER TABLE sources ADD COLUMN feed_interval REAL",
    "ALTER TABLE sources ADD COLUMN skip_hours TEXT NOT NULL DEFAULT '[]'",
    "ALTER TABLE sources ADD COLUMN skip_days TEXT NOT NULL DEFAULT '[]'",
    # Retry-After with retry_after_scope "host": no request to the host before.
    """
    CREATE TABLE host_holds (
        host TEXT PRIMARY KEY,
        until TEXT NOT NULL
    ) WITHOUT ROWID
    """,
    """
    CREATE TABLE source_events (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        source_id INTEGER NOT NULL REFERENCES sources (id),
        at TEXT NOT NULL,
        kind TEXT NOT NULL CHECK (kind IN ('moved', 'gone', 'dead', 'revived')),
        detail TEXT NOT NULL DEFAULT ''
    )
    """,
    "CREATE INDEX source_events_at ON source_events (at)",
)


@MIGRATIONS()
def m002_polling(db: Database) -> None:
    """Add poll bookkeeping: body hash, holds, failure run, redirects, events."""
    for statement in _POLLING:
        db.execute(statement)


_PUBLISHING = (
    # Feeds (keys "all", "topics/<slug>", "authors/<slug>") whose stories
    # changed since the last publish pass; filled by triggers on the derived
    # story tables, so the pass costs O(changes), not O(feeds).
    "CREATE TABLE dirty_feeds (feed TEXT PRIMARY KEY) WITHOUT ROWID",
    """
    CREATE TRIGGER dirty_all_ins AFTER INSERT ON stories BEGIN
        INSERT OR IGNORE INTO dirty_feeds (feed) VALUES ('all');
    END
    """,
    """
    CREATE TRIGGER dirty_all_del AFTER DELETE ON stories BEGIN
        INSERT OR IGNORE INTO dirty_feeds (feed) VALUES ('all');
    END
    """,
    """
    CREATE TRIGGER dirty_topic_ins AFTER INSERT ON story_topics BEGIN
        INSERT OR IGNORE INTO dirty_feeds (feed) VALUES ('topics/' || NEW.topic);
    END
    """,
    """
    CREATE TRIGGER dirty_topic_del AFTER DELETE ON story_topics BEGIN
        INSERT OR IGNORE INTO dirty_feeds (feed) VALUES ('topics/' || OLD.topic);
    END
    """,
    """
    CREATE TRIGGER dirty_author_ins AFTER INSERT ON story_authors BEGIN
        INSERT OR IGNORE INTO dirty_feeds (feed) VALUES ('authors/' || NEW.slug);
    END
    """,
    """
    CREATE TRIGGER dirty_author_del AFTER DELETE ON story_authors BEGIN
        INSERT OR IGNORE INTO dirty_feeds (feed) VALUES ('authors/' || OLD.slug);
    END
    """,
    "INSERT OR IGNORE INTO dirty_feeds (feed) VALUES ('all')",
    "INSERT OR IGNORE INTO dirty_feeds (feed)"
    " SELECT DISTINCT 'topics/' || topic FROM story_topics",
    "INSERT OR IGNORE INTO dirty_feeds (feed)"
    " SELECT DISTINCT 'authors/' || slug FROM story_authors",
    # RFC 5005 archive pages: frozen snapshots of published entries (JSON), so
    # a page never changes once written.
    """
    CREATE TABLE archive_pages (
        feed TEXT NOT NULL,
        page INTEGER NOT NULL,
        created_at TEXT NOT NULL,
        entries TEXT NOT NULL,
        PRIMARY KEY (feed, page)
    ) WITHOUT ROWID
    """,
    """
    CREATE TABLE archive_stories (
        feed TEXT NOT NULL,
        story_id TEXT NOT NULL,
        page INTEGER NOT NULL,
        -- the entry the page published for the story, to retract it later
        entry_id TEXT NOT NULL,
        entry_key TEXT NOT NULL,
        link TEXT,
        PRIMARY KEY (feed, story_id)
    ) WITHOUT ROWID
    """,
    # What the subscription document of each feed carried at the last pass.
    """
    CREATE TABLE published_entries (
        feed TEXT NOT NULL,
        entry_id TEXT NOT NULL,
        story_id TEXT NOT NULL,
        entry_key TEXT NOT NULL,
        link TEXT,
        PRIMARY KEY (feed, entry_id)
    ) WITHOUT ROWID
    """,
    # RFC 6721 retractions, kept for publish.retraction_period.
    """
    CREATE TABLE retractions (
        feed TEXT NOT NULL,
        entry_id TEXT NOT NULL,
        retracted_at TEXT NOT NULL,
        comment TEXT,
        link TEXT,
        PRIMARY KEY (feed, entry_id)
    ) WITHOUT ROWID
    """,
    "CREATE INDEX retractions_at ON retractions (retracted_at)",
    # Content hash of each feed's subscription document at the last pass:
    # WebSub pings and static files are only for feeds whose hash changed.
    """
    CREATE TABLE feed_hashes (
        feed TEXT PRIMARY KEY,
        hash TEXT NOT NULL,
        changed_at TEXT NOT NULL
    ) WITHOUT ROWID
    """,
)


@MIGRATIONS()
def m003_publishing(db: Database) -> None:
    """Add publishing state: dirty feeds, archive pages, retractions, hashes."""
    for statement in _PUBLISHING:
        db.execute(statement)


_DEDUPE = (
    # Backlog of a new or re-keyed source: stored, not published as new.
    "ALTER TABLE entries ADD COLUMN hidden INTEGER NOT NULL DEFAULT 0",
    # Re-keyed feeds are matched to their stored entries by link, per source.
    "CREATE INDEX entries_source_link ON entries (source_id, canonical_link)",
    # Keys a re-keyed feed now gives an entry stored under another key.
    """
    CREATE TABLE entry_aliases (
        alias TEXT PRIMARY KEY,
        key TEXT NOT NULL REFERENCES entries (key) ON DELETE CASCADE
    ) WITHOUT ROWID
    """,
    "CREATE INDEX entry_aliases_key ON entry_aliases (key)",
    # Purged entries: never ingested again, by key or by (source, link).
    """
    CREATE TABLE tombstones (
        key TEXT PRIMARY KEY,
        source_id INTEGER NOT NULL,
        canonical_link TEXT,
        purged_at TEXT NOT NULL
    ) WITHOUT ROWID
    """,
    "CREATE INDEX tombstones_link ON tombstones (source_id, canonical_link)",
    # Near-duplicate index: LSH bucket -> entry, the entry named by the first
    # 64 bits of its key (a signed integer) to keep 25 rows per entry small.
    """
    CREATE TABLE near_buckets (
        bucket INTEGER NOT NULL,
        entry INTEGER NOT NULL,
        PRIMARY KEY (bucket, entry)
    ) WITHOUT ROWID
    """,
    # Each entry's buckets, so that its rows can be replaced or deleted.
    "CREATE TABLE near_entries (entry INTEGER PRIMARY KEY, buckets BLOB NOT NULL)",
    # Why each entry is in its story (feedhub explain).
    """
    CREATE TABLE story_matches (
        entry_key TEXT PRIMARY KEY REFERENCES entries (key) ON DELETE CASCADE,
        rule TEXT NOT NULL,
        score REAL,
        matched_key TEXT,
        detail TEXT NOT NULL DEFAULT '',
        decided_at TEXT NOT NULL
    ) WITHOUT ROWID
    """,
    # The atom:id a story is published under, pinned when it is first stored.
    """
    CREATE TABLE story_ids (
        story_id TEXT PRIMARY KEY,
        published_id TEXT NOT NULL,
        founder_key TEXT NOT NULL
    ) WITHOUT ROWID
    """,
    # dedupe.prefer: source id -> rank (0 first); lower rank represents a story.
    """
    CREATE TABLE source_prefer (
        source_id INTEGER PRIMARY KEY,
        rank INTEGER NOT NULL
    )
    """,
)


@MIGRATIONS()
def m004_dedupe(db: Database) -> None:
    """Add dedupe state: backlog flag, aliases, tombstones, LSH index, story ids."""
    for statement in _DEDUPE:
        db.execute(statement)
    # Pin the ids stories are already published under: their representative's.
    rows = db.execute(
        "SELECT s.story_id, e.key, e.original_id FROM stories AS s"
        " JOIN entries AS e ON e.key = s.rep_key"
    ).fetchall()
    db.conn.executemany(
        "INSERT INTO story_ids (story_id, published_id, founder_key) VALUES (?, ?, ?)",
        [(story, published_id(key, original), key) for story, key, original in rows],
    )


# RFC 4287 §4.2.6: atom:id is an IRI. Same test as pipeline._entry_id.


_SOURCE_METADATA = (
    # The source feed's own authors (JSON array of {name, email, uri}), rights
    # and categories (JSON array of terms), credited in atom:source
    # (RFC 4287 §4.2.11).
    "ALTER TABLE sources ADD COLUMN feed_authors TEXT NOT NULL DEFAULT '[]'",
    "ALTER TABLE sources ADD COLUMN feed_rights TEXT",
    "ALTER TABLE sources ADD COLUMN feed_categories TEXT NOT NULL DEFAULT '[]'",
)


@MIGRATIONS()
def m005_source_metadata(db: Database) -> None:
    """Add the source feed's authors, rights and categories to ``sources``."""
    for statement in _SOURCE_METADATA:
        db.execute(statement)


def _search_row(row: str) -> str:
    """The values indexed for entry ``row`` (NEW or OLD in a trigger), in the
    column order of ``entry_search``; keep in step with ``search_source``."""
    return (
        f"{row}.title, feedhub_text({row}.summary), feedhub_text({row}.content),"
        f" feedhub_names({row}.authors)"
    )


_SEARCH = (
    # Issue 7. Stable integer ids for the index: entries' implicit rowids may
    # change on VACUUM (retention runs one), an INTEGER PRIMARY KEY never does.
    "CREATE TABLE search_docs (docid INTEGER PRIMARY KEY, entry_key TEXT NOT NULL"
    " UNIQUE)",
    # What the index holds per entry: plain text (feedhub_text drops tags and
    # decodes entities) and author names (feedhub_names; see storage._text).
    # External content: no second copy of the text is stored; 'rebuild'
    # reads this view.
    """
    CREATE VIEW search_source AS
    SELECT d.docid AS docid, e.title AS title,
        feedhub_text(e.summary) AS summary, feedhub_text(e.content) AS content,
        feedhub_names(e.authors) AS author
    FROM search_docs AS d JOIN entries AS e ON e.key = d.entry_key
    """,
    # unicode61 with remove_diacritics 2: case-insensitive, accents folded
    """
    CREATE VIRTUAL TABLE entry_search USING fts5(
        title, summary, content, author,
        content = 'search_source', content_rowid = 'docid',
        tokenize = 'unicode61 remove_diacritics 2'
    )
    """,
    # Triggers keep the index in step with every write to entries, whichever
    # code path makes it (poll, purge, retention). FTS5 forgets a row's terms
    # when given its old values again ('delete').
    f"""
    CREATE TRIGGER search_insert AFTER INSERT ON entries BEGIN
        INSERT INTO search_docs (entry_key) VALUES (NEW.key);
        INSERT INTO entry_search (rowid, title, summary, content, author)
        SELECT docid, {_search_row("NEW")}
        FROM search_docs WHERE entry_key = NEW.key;
    END
    """,
    f"""
    CREATE TRIGGER search_update
    AFTER UPDATE OF key, title, summary, content, authors ON entries BEGIN
        INSERT INTO entry_search
            (entry_search, rowid, title, summary, content, author)
        SELECT 'delete', docid, {_search_row("OLD")}
        FROM search_docs WHERE entry_key = OLD.key;
        UPDATE search_docs SET entry_key = NEW.key
        WHERE entry_key = OLD.key AND NEW.key <> OLD.key;
        INSERT INTO entry_search (rowid, title, summary, content, author)
        SELECT docid, {_search_row("NEW")}
        FROM search_docs WHERE entry_key = NEW.key;
    END
    """,
    f"""
    CREATE TRIGGER search_delete AFTER DELETE ON entries BEGIN
        INSERT INTO entry_search
            (entry_search, rowid, title, summary, content, author)
        SELECT 'delete', docid, {_search_row("OLD")}
        FROM search_docs WHERE entry_key = OLD.key;
        DELETE FROM search_docs WHERE entry_key = OLD.key;
    END
    """,
    # Named views (feeds: in feeds.yaml): their definitions as last applied,
    # and their stories, kept like story_topics by storage._stories.
    "CREATE TABLE views (slug TEXT PRIMARY KEY, definition TEXT NOT NULL)"
    " WITHOUT ROWID",
    """
    CREATE TABLE story_views (
        view TEXT NOT NULL,
        story_id TEXT NOT NULL REFERENCES stories (story_id) ON DELETE CASCADE,
        sort_at TEXT NOT NULL,
        rep_key TEXT NOT NULL,
        PRIMARY KEY (story_id, view)
    ) WITHOUT ROWID
    """,
    "CREATE INDEX story_views_order ON story_views (view, sort_at DESC, rep_key)",
    """
    CREATE TRIGGER dirty_view_ins AFTER INSERT ON story_views BEGIN
        INSERT OR IGNORE INTO dirty_feeds (feed) VALUES ('feeds/' || NEW.view);
    END
    """,
    """
    CREATE TRIGGER dirty_view_del AFTER DELETE ON story_views BEGIN
        INSERT OR IGNORE INTO dirty_feeds (feed) VALUES ('feeds/' || OLD.view);
    END
    """,
    # Index what is already stored.
    "INSERT INTO search_docs (entry_key) SELECT key FROM entries ORDER BY key",
    "INSERT INTO entry_search (entry_search) VALUES ('rebuild')",
)


@MIGRATIONS()
def m006_search(db: Database) -> None:
    """Add the full-text index of entries (SQLite FTS5) and named views."""
    try:
        db.execute("CREATE VIRTUAL TABLE temp.fts5_probe USING fts5(x)")
        db.execute("DROP TABLE temp.fts5_probe")
    except sqlite3.OperationalError as e:
        raise StorageError(
            f"storage: this Python's SQLite {sqlite3.sqlite_version} lacks FTS5, "
            "which search needs; use a Python whose sqlite3 has it (CPython "
            f"builds normally do) ({e})"
        ) from e
    for statement in _SEARCH:
        db.execute(statement)


_CURATION = (
    # Blocked by a global block rule: stored, explained, published nowhere.
    "ALTER TABLE entries ADD COLUMN blocked INTEGER NOT NULL DEFAULT 0",
    # The decision log of each entry (feedhub explain): one compact JSON
    # object per entry, {"b": block reason, "d": [[topic, 0|1, reason]],
    # "l": language}, rewritten only when it changes.
    """
    CREATE TABLE entry_decisions (
        entry_key TEXT PRIMARY KEY REFERENCES entries (key) ON DELETE CASCADE,
        log TEXT NOT NULL
    ) WITHOUT ROWID
    """,
)


@MIGRATIONS()
def m007_curation(db: Database) -> None:
    """Add the block flag and the per-entry decision log of topic rules."""
    for statement in _CURATION:
        db.execute(statement)


_RETENTION = (
    # When a parsed document of the tombstone's source last lacked the entry
    # (NULL: still carried, or not polled since). A tombstone only has to
    # outlive the source's own window: see storage._retention.
    "ALTER TABLE tombstones ADD COLUMN missing_since TEXT",
    # retention.max_entries_per_source: a source's newest entries by index.
    "CREATE INDEX entries_source_sort ON entries (source_id, sort_at, key)",
)


@MIGRATIONS()
def m008_retention(db: Database) -> None:
    """Add what retention needs: tombstone expiry and a per-source date index."""
    for statement in _RETENTION:
        db.execute(statement)
