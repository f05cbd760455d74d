"""Per-thread connections, transactions, error wrapping, codecs; no business logic."""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from datetime import UTC, datetime
from typing import Self, TypeVar

from feedhub.exceptions import StorageError
from feedhub.storage._applied import up_to_date
from feedhub.storage._text import register_functions

T = TypeVar("T")

#: Primary result codes that describe the state of the database file or its
#: environment (https://www.sqlite.org/rescode.html). Anything else (SQLITE_ERROR
#: for bad SQL, SQLITE_CONSTRAINT, misuse) is a bug in feedhub and propagates.
_OPERATIONAL_CODES = frozenset(
    {
        sqlite3.SQLITE_PERM,
        sqlite3.SQLITE_BUSY,
        sqlite3.SQLITE_LOCKED,
        sqlite3.SQLITE_NOMEM,
        sqlite3.SQLITE_READONLY,
        sqlite3.SQLITE_INTERRUPT,
        sqlite3.SQLITE_IOERR,
        sqlite3.SQLITE_CORRUPT,
        sqlite3.SQLITE_FULL,
        sqlite3.SQLITE_CANTOPEN,
        sqlite3.SQLITE_PROTOCOL,
        sqlite3.SQLITE_NOTADB,
    }
)

#: rows per ``IN (json_each(?))`` lookup, to bound memory per query
CHUNK = 500


def to_text(value: datetime) -> str:
    """Encode an aware datetime as fixed-width ISO-8601 UTC text (sorts as time).

    Raises:
        ValueError: ``value`` is naive; feedhub stores aware UTC only (STYLE 3).
    """
    if value.utcoffset() is None:
        raise ValueError(f"storage: naive datetime {value!r}; expected aware UTC")
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def opt_text(value: datetime | None) -> str | None:
    """``to_text`` that passes ``None`` through."""
    return None if value is None else to_text(value)


def from_text(value: object) -> datetime:
    """Decode text written by ``to_text`` into an aware UTC datetime."""
    return datetime.fromisoformat(str(value)).astimezone(UTC)


def opt_datetime(value: object) -> datetime | None:
    """``from_text`` that passes ``None`` through."""
    return None if value is None else from_text(value)


def opt_str(value: object) -> str | None:
    """A TEXT column that may be NULL, typed."""
    return None if value is None else str(value)


def opt_int(value: object) -> int | None:
    """An INTEGER column that may be NULL, typed."""
    return None if value is None else int(str(value))


def json_list(values: Sequence[str]) -> str:
    """Encode keys for ``IN (SELECT value FROM json_each(?))`` (no arity limit)."""
    return json.dumps(list(values))


def chunks(values: Sequence[T], size: int = CHUNK) -> Iterator[Sequence[T]]:
    """Split ``values`` into consecutive slices of at most ``size``."""
    for start in range(0, len(values), size):
        yield values[start : start + size]


class _BackupLocked(Exception):
    """The database stayed locked past ``busy_timeout`` during a backup."""


class StorageBase:
    """Connection handling shared by the storage mixins, plus generation and meta.

    File databases get one connection per thread (STYLE 5), created on first
    use in that thread; they are opened with ``check_same_thread=False`` only so
    that ``close()`` can close them all from the closing thread. ``":memory:"``
    databases are private to one connection, so there is exactly one, shared by
    every thread, and an ``RLock`` serializes all calls; it is meant for tests
    and single-threaded tools, not for a serving daemon.

    Args:
        path: database file path, or ``":memory:"``.
        busy_timeout: seconds to wait for another connection's lock before
            failing with ``StorageError`` (SQLite ``busy_timeout``).

    Raises:
        StorageError: the file cannot be opened, is not a database, or is locked.
    """

    def __init__(self, path: str, *, busy_timeout: float = 5.0) -> None:
        self._path = path
        self._busy_timeout = busy_timeout
        self._memory = path == ":memory:"
        self._local = threading.local()
        self._conns: list[sqlite3.Connection] = []
        self._conns_lock = threading.Lock()
        self._closed = False
        self._guard: AbstractContextManager[object] = (
            threading.RLock() if self._memory else nullcontext()
        )
        self._shared: sqlite3.Connection | None = None
        with self._wrap("open"):
            conn = self._connect()
            try:
                # Takes effect only while the file has no tables, i.e. for a
                # new database; an older one is converted by ``vacuum()``
                # (retention frees pages with PRAGMA incremental_vacuum).
                # Only then is it set: on a used file the pragma still
                # rewrites the header, and read-only commands (feedhub plan)
                # must leave the file byte for byte as it was.
                empty = conn.execute("SELECT 1 FROM sqlite_master LIMIT 1")
                if empty.fetchone() is None:
                    conn.execute("PRAGMA auto_vacuum = INCREMENTAL")
                if not self._memory:
                    # WAL lets the server thread read while the poller writes;
                    # it is persistent, so setting it once per open suffices.
                    conn.execute("PRAGMA journal_mode = WAL")
                if not up_to_date(conn):
                    # the migration code (and sqlite-utils) only when needed
                    from feedhub.storage._schema import migrate  # noqa: PLC0415

                    migrate(conn)
            except BaseException:
                conn.close()
                raise
        conn.row_factory = sqlite3.Row
        if self._memory:
            self._shared = conn
            self._conns.append(conn)
        else:
            # Holding no connection between calls keeps the constructing thread
            # from pinning a lock; every thread opens its own on first use.
            conn.close()

    def close(self) -> None:
        """Close every connection; later calls raise ``StorageError``."""
        self._closed = True
        with self._conns_lock:
            conns, self._conns = self._conns, []
        for conn in conns:
            conn.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ------------------------------------------------------------ connections

    def _connect(self) -> sqlite3.Connection:
        # isolation_level=None: the driver never opens transactions behind our
        # back; _read/_write issue BEGIN / BEGIN IMMEDIATE explicitly.
        conn = sqlite3.connect(
            self._path,
            timeout=self._busy_timeout,
            isolation_level=None,
            check_same_thread=False,
        )
        try:
            conn.execute("PRAGMA foreign_keys = ON")
            # NORMAL is durable across application crashes in WAL mode and
            # avoids an fsync per commit (https://www.sqlite.org/pragma.html).
            conn.execute("PRAGMA synchronous = NORMAL")
            # the search index triggers call feedhub_text (migration m006)
            register_functions(conn)
        except BaseException:
            conn.close()
            raise
        return conn

    def _connection(self) -> sqlite3.Connection:
        if self._closed:
            raise StorageError(f"storage: database is closed ({self._path})")
        if self._shared is not None:
            return self._shared
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connect()
            conn.row_factory = sqlite3.Row
            self._local.conn = conn
            with self._conns_lock:
                self._conns.append(conn)
        return conn

    @contextmanager
    def _wrap(self, what: str) -> Iterator[None]:
        try:
            yield
        except sqlite3.Error as e:
            code = getattr(e, "sqlite_errorcode", None)
            if code is not None and code & 0xFF in _OPERATIONAL_CODES:
                raise StorageError(f"storage: {what}: {e} ({self._path})") from e
            raise

    @contextmanager
    def _read(self, what: str) -> Iterator[sqlite3.Connection]:
        """Run reads in one deferred transaction, so they see one snapshot."""
        with self._guard, self._wrap(what):
            conn = self._connection()
            if self._depth():
                # inside batch(): read the batch's own writes, in its snapshot
                yield conn
                return
            conn.execute("BEGIN")
            try:
                yield conn
            finally:
                if conn.in_transaction:
                    conn.rollback()

    @contextmanager
    def _write(self, what: str) -> Iterator[sqlite3.Connection]:
        """Run writes in one ``BEGIN IMMEDIATE`` transaction: all or nothing.

        IMMEDIATE takes the write lock up front, so a busy database waits
        ``busy_timeout`` instead of failing on a read-to-write upgrade.
        Inside ``batch()`` it is a savepoint of the batch's transaction: still
        all or nothing, committed with the batch.
        """
        with self.batch(what):
            yield self._connection()

    def _depth(self) -> int:
        """How deeply this thread is nested in ``batch()`` (0: not in one)."""
        return int(getattr(self._local, "depth", 0))

    @contextmanager
    def batch(self, what: str = "batch") -> Iterator[None]:
        """Join this thread's writes into one transaction; re-entrant.

        The outermost ``batch()`` runs ``BEGIN IMMEDIATE`` ... ``COMMIT``;
        every nested one (each ``_write`` of a storage method included) is a
        ``SAVEPOINT``: when its block raises, only its own changes are rolled
        back and the exception propagates, so the caller may catch it and let
        the rest of the batch commit. Reads inside a batch see its writes.
        One commit for many units of work is the point: a commit (WAL append,
        FTS5 segment flush) costs far more than a small write (issue 4).

        Raises:
            StorageError: the database is locked, read-only or corrupt.
        """
        with self._guard, self._wrap(what):
            conn = self._connection()
            depth = self._depth()
            self._local.depth = depth + 1
            try:
                if depth:
                    if not conn.in_transaction:
                        # SQLite rolled the whole batch back (e.g. disk full):
                        # a write now would autocommit on its own
                        raise StorageError(f"storage: {what}: batch was rolled back")
                    name = f"batch{depth}"
                    conn.execute(f"SAVEPOINT {name}")
                    try:
                        yield
                    except BaseException:
                        if conn.in_transaction:
                            conn.execute(f"ROLLBACK TO {name}")
                            conn.execute(f"RELEASE {name}")
                        raise
                    conn.execute(f"RELEASE {name}")
                    return
                conn.execute("BEGIN IMMEDIATE")
                try:
                    yield
                    if not conn.in_transaction:
                        raise StorageError(f"storage: {what}: batch was rolled back")
                    conn.commit()
                except BaseException:
                    if conn.in_transaction:
                        conn.rollback()
                    raise
            finally:
                self._local.depth = depth

    @contextmanager
    def bulk(self, what: str = "bulk") -> Iterator[None]:
        """A ``batch()`` for loading many entries at once (benchmarks, imports).

        The full-text index is not kept row by row: its insert trigger is
        suspended, and the entries inserted inside are indexed at the end, in
        the same transaction, by one set-based insert in docid order (what
        the trigger would have written, for a fraction of the cost); and this
        connection's page cache is raised, since a big load touches every
        index page. Updates and deletes still go through their triggers (an
        entry inserted and changed inside is indexed once, as it ends up).
        Readers see nothing until the commit.

        Raises:
            StorageError: the database is locked, read-only or corrupt.
        """
        with self.batch(what):
            conn = self._connection()
            row = conn.execute(
                "SELECT sql FROM sqlite_master"
                " WHERE type = 'trigger' AND name = 'search_insert'"
            ).fetchone()
            cache = conn.execute("PRAGMA cache_size").fetchone()[0]
            conn.execute("PRAGMA cache_size = -262144")  # 256 MiB
            try:
                if row is not None:
                    last = conn.execute(
                        "SELECT coalesce(max(docid), 0) FROM search_docs"
                    ).fetchone()[0]
                    conn.execute("DROP TRIGGER search_insert")
                yield
                if row is not None:
                    conn.execute(str(row[0]))
                    conn.execute(
                        "INSERT INTO search_docs (entry_key) SELECT key FROM entries"
                        " WHERE key NOT IN (SELECT entry_key FROM search_docs)"
                        " ORDER BY key"
                    )
                    # search_source: the indexed values (migration m006)
                    conn.execute(
                        "INSERT INTO entry_search"
                        " (rowid, title, summary, content, author)"
                        " SELECT docid, title, summary, content, author"
                        " FROM search_source WHERE docid > ? ORDER BY docid",
                        (last,),
                    )
            finally:
                conn.execute(f"PRAGMA cache_size = {int(cache)}")

    @staticmethod
    def _bump(conn: sqlite3.Connection) -> None:
        conn.execute("UPDATE counters SET value = value + 1 WHERE name = 'generation'")

    # ------------------------------------------------------------ meta

    def generation(self) -> int:
        """Return the change counter, bumped by every write to published data."""
        with self._read("generation") as conn:
            row = conn.execute(
                "SELECT value FROM counters WHERE name = 'generation'"
            ).fetchone()
        return int(row[0])

    def get_meta(self, key: str) -> str | None:
        """Return the value stored under ``key``, or ``None``."""
        with self._read("get_meta") as conn:
            row = conn.execute(
                "SELECT value FROM meta WHERE key = ?", (key,)
            ).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        """Store ``value`` under ``key``, replacing any previous value."""
        with self._write("set_meta") as conn:
            conn.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?)"
                " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (key, value),
            )

    def integrity_check(self) -> str:
        """Return the result of ``PRAGMA integrity_check``: ``"ok"`` when healthy."""
        with self._read("integrity_check") as conn:
            rows = conn.execute("PRAGMA integrity_check").fetchall()
        return "\n".join(str(row[0]) for row in rows)

    def _backup_deadline(self) -> Callable[[int, int, int], None]:
        """A backup progress callback failing once the source stayed locked
        longer than ``busy_timeout``: Python's backup loop retries a busy
        step forever (it never applies the connection's timeout)."""
        deadline = time.monotonic() + self._busy_timeout

        def progress(status: int, remaining: int, total: int) -> None:
            busy = status in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
            if busy and time.monotonic() > deadline:
                raise _BackupLocked

        return progress

    def backup(self, path: str, *, force: bool = False) -> str:
        """Copy the database into the file ``path`` with SQLite's online backup.

        Safe while another process (``feedhub run``) writes: the copy is one
        consistent snapshot (WAL readers do not block the writer, nor it
        them). It is written beside ``path``, checked, switched to a rollback
        journal (one self-contained file) and only then renamed over ``path``.

        Args:
            path: the backup file to create.
            force: replace ``path`` if it exists.

        Returns:
            ``PRAGMA integrity_check`` of the copy: ``"ok"``.

        Raises:
            StorageError: ``path`` exists (without ``force``), cannot be
                written, or the copy fails its integrity check.
        """
        if os.path.lexists(path) and not force:
            raise StorageError(
                f"storage: backup: {path} exists; pass --force to replace it"
            )
        temp = f"{path}.{os.getpid()}.tmp"
        try:
            # opened outside _wrap: a failure here is the backup file's
            # (a missing or read-only directory), not the database's
            try:
                target = sqlite3.connect(temp, isolation_level=None)
            except sqlite3.Error as e:
                raise StorageError(f"storage: backup: cannot write {path}: {e}") from e
            with self._guard, self._wrap("backup"):
                try:
                    source = self._shared or sqlite3.connect(
                        self._path, timeout=self._busy_timeout
                    )
                except BaseException:
                    target.close()
                    raise
                try:
                    source.backup(target, progress=self._backup_deadline())
                    # the copy inherits WAL mode; a backup should be one file
                    target.execute("PRAGMA journal_mode = DELETE")
                    rows = target.execute("PRAGMA integrity_check").fetchall()
                finally:
                    target.close()
                    if source is not self._shared:
                        source.close()
            result = "\n".join(str(row[0]) for row in rows)
            if result != "ok":
                raise StorageError(f"storage: backup: copy is damaged: {result}")
            os.replace(temp, path)
        except _BackupLocked as e:
            raise StorageError(
                f"storage: backup: database is locked ({self._path})"
            ) from e
        except OSError as e:
            raise StorageError(f"storage: backup: cannot write {path}: {e}") from e
        finally:
            if os.path.exists(temp):
                os.remove(temp)
        return result
