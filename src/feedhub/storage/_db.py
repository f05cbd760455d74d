"""Per-thread connections, transactions, error wrapping, codecs; no business logic."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from datetime import UTC, datetime
from typing import Self, TypeVar

from feedhub.exceptions import StorageError
from feedhub.storage._schema import migrate

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
                if not self._memory:
                    # WAL lets the server thread read while the poller writes;
                    # it is persistent, so setting it once per open suffices.
                    conn.execute("PRAGMA journal_mode = WAL")
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
        """
        with self._guard, self._wrap(what):
            conn = self._connection()
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
                conn.commit()
            except BaseException:
                if conn.in_transaction:
                    conn.rollback()
                raise

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
