"""Whether a database has every migration, read without importing sqlite-utils.

sqlite-utils (and the migration code in ``_schema``) costs a command ~20 ms and
~9 MiB to import; most opens find nothing to migrate, so ``Storage`` imports
them only when this says a migration is pending.
"""

from __future__ import annotations

import sqlite3

#: the migrations of ``_schema.MIGRATIONS``, in order (a test checks they agree)
NAMES = (
    "m001_initial",
    "m002_polling",
    "m003_publishing",
    "m004_dedupe",
    "m005_source_metadata",
    "m006_search",
    "m007_curation",
    "m008_retention",
)


def up_to_date(conn: sqlite3.Connection) -> bool:
    """Whether every migration in ``NAMES`` is recorded as applied.

    Reads the table sqlite-utils' ``Migrations`` keeps (``_sqlite_migrations``,
    one row per applied migration of each migration set).
    """
    try:
        rows = conn.execute(
            "SELECT name FROM _sqlite_migrations WHERE migration_set = 'feedhub'"
        ).fetchall()
    except sqlite3.OperationalError:  # no such table: a new database
        return False
    return {str(row[0]) for row in rows}.issuperset(NAMES)
