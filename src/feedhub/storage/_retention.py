"""Retention: entries beyond the limits, tombstone expiry, freeing pages.

Tombstones (``purge_entries``) keep a purged entry from being ingested again
while its source's feed still carries it. Feeds are sliding windows: once a
parsed document no longer carries an entry, it almost never comes back. So
each parse records, per tombstone of the source, since when the documents
have lacked it (``missing_since``; a document carrying it again clears it),
and ``drop_tombstones`` forgets tombstones missing for long enough. A source
answering 304 keeps its tombstones: its document, hence its window, has not
moved. This bounds tombstones by what the sources' windows carried recently.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from feedhub.storage._db import StorageBase, json_list, opt_datetime, to_text

__all__ = ["RetentionMixin"]

#: ``PRAGMA auto_vacuum`` values (https://www.sqlite.org/pragma.html#pragma_auto_vacuum)
_AUTO_VACUUM = {0: "none", 1: "full", 2: "incremental"}


class RetentionMixin(StorageBase):
    """Retention queries and writes."""

    def entries_over_limit(self, max_entries: int) -> tuple[str, ...]:
        """Return the keys of entries beyond the newest ``max_entries`` of their source.

        Newest by feed position (``sort_at``, then key), the order feeds use.
        """
        keys: list[str] = []
        with self._read("entries_over_limit") as conn:
            crowded = [
                int(row[0])
                for row in conn.execute(
                    "SELECT source_id FROM entries GROUP BY source_id"
                    " HAVING count(*) > ? ORDER BY source_id",
                    (max_entries,),
                )
            ]
            for source_id in crowded:
                keys += (
                    str(row[0])
                    for row in conn.execute(
                        "SELECT key FROM entries WHERE source_id = ?"
                        " ORDER BY sort_at DESC, key DESC LIMIT -1 OFFSET ?",
                        (source_id, max_entries),
                    )
                )
        return tuple(keys)

    def note_tombstones(
        self,
        source_id: int,
        document: Sequence[tuple[str, str | None]],
        now: datetime,
    ) -> None:
        """Record which of a source's tombstones a freshly parsed document carries.

        A tombstone the document carries (by key or by canonical link) is
        present again; one it lacks is missing since ``now`` unless it was
        missing already. Writes nothing when the source has no tombstones.

        Args:
            source_id: the source polled.
            document: ``(key, canonical link)`` of every entry of the document.
            now: the time of the poll.
        """
        with self._read("note_tombstones") as conn:
            row = conn.execute(
                "SELECT EXISTS (SELECT 1 FROM tombstones WHERE source_id = ?)",
                (source_id,),
            ).fetchone()
        if not row[0]:
            return
        keys = json_list([key for key, _ in document])
        links = json_list(sorted({link for _, link in document if link}))
        carried = (
            "(key IN (SELECT value FROM json_each(:keys))"
            " OR canonical_link IN (SELECT value FROM json_each(:links)))"
        )
        params = {"source": source_id, "keys": keys, "links": links}
        with self._write("note_tombstones") as conn:
            conn.execute(
                "UPDATE tombstones SET missing_since = NULL WHERE source_id = :source"
                f" AND missing_since IS NOT NULL AND {carried}",
                params,
            )
            conn.execute(
                "UPDATE tombstones SET missing_since = :now WHERE source_id = :source"
                f" AND missing_since IS NULL AND NOT {carried}",
                {**params, "now": to_text(now)},
            )

    def drop_tombstones(self, missing_before: datetime) -> int:
        """Forget tombstones whose source's documents lack them since before then.

        Returns:
            How many tombstones were deleted.
        """
        with self._write("drop_tombstones") as conn:
            cursor = conn.execute(
                "DELETE FROM tombstones WHERE missing_since < ?",
                (to_text(missing_before),),
            )
        return max(0, cursor.rowcount)

    def tombstone_count(self) -> int:
        """Return how many tombstones are stored."""
        with self._read("tombstone_count") as conn:
            row = conn.execute("SELECT count(*) FROM tombstones").fetchone()
        return int(row[0])

    def missing_tombstones(self, source_id: int) -> dict[str, datetime | None]:
        """Return ``key -> missing_since`` for the tombstones of ``source_id``."""
        with self._read("missing_tombstones") as conn:
            rows = conn.execute(
                "SELECT key, missing_since FROM tombstones WHERE source_id = ?",
                (source_id,),
            ).fetchall()
        return {str(r[0]): opt_datetime(r[1]) for r in rows}

    # ------------------------------------------------------------ free pages

    def auto_vacuum(self) -> str:
        """Return the database's ``auto_vacuum`` mode: none, full or incremental."""
        with self._read("auto_vacuum") as conn:
            row = conn.execute("PRAGMA auto_vacuum").fetchone()
        return _AUTO_VACUUM.get(int(row[0]), str(row[0]))

    def free_pages(self) -> int:
        """Return how many pages of the file are unused (``freelist_count``)."""
        with self._read("free_pages") as conn:
            row = conn.execute("PRAGMA freelist_count").fetchone()
        return int(row[0])

    def incremental_vacuum(self, pages: int, *, step: int = 1000) -> int:
        """Give up to ``pages`` unused pages back to the file system.

        Works only on a database in ``auto_vacuum = incremental`` mode (new
        databases are; ``vacuum()`` converts an older one); returns 0 on any
        other. Runs ``step`` pages per statement, each its own short write, so
        that the write lock is never held long.

        Returns:
            How many pages were freed.
        """
        if self.auto_vacuum() != "incremental":
            return 0
        freed = 0
        while freed < pages:
            with self._guard, self._wrap("incremental_vacuum"):
                conn = self._connection()
                before = int(conn.execute("PRAGMA freelist_count").fetchone()[0])
                if before == 0:
                    break
                count = min(step, pages - freed)
                # fetchall: the statement frees one page per step of its cursor
                conn.execute(f"PRAGMA incremental_vacuum({int(count)})").fetchall()
                after = int(conn.execute("PRAGMA freelist_count").fetchone()[0])
            if after >= before:
                break
            freed += before - after
        return freed

    def vacuum(self) -> None:
        """Rebuild the file (``VACUUM``) in ``auto_vacuum = incremental`` mode.

        Converts a database created before feedhub set that mode at creation.
        Rewrites the whole file: it needs as much free disk space again and
        holds the write lock meanwhile (readers go on, in WAL mode).
        """
        with self._guard, self._wrap("vacuum"):
            conn = self._connection()
            conn.execute("PRAGMA auto_vacuum = INCREMENTAL")
            conn.execute("VACUUM")
