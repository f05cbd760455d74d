"""Sources: configured feeds, their poll state, and recording one poll."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from datetime import datetime

from feedhub.storage._db import (
    StorageBase,
    from_text,
    opt_datetime,
    opt_int,
    opt_str,
    opt_text,
    to_text,
)
from feedhub.storage._entries import upsert_entries
from feedhub.storage._rows import authors_from_json, authors_to_json
from feedhub.storage._stories import refresh_stories
from feedhub.types import (
    EntryUpdate,
    FeedData,
    PollStatus,
    SourceConfig,
    SourceEvent,
    SourceEventKind,
    SourceHealth,
    SourceState,
    UpdateCounts,
)

_SELECT = (
    "SELECT s.*,"
    " (SELECT count(*) FROM entries AS e WHERE e.source_id = s.id) AS entry_count"
    " FROM sources AS s"
)


def _source_from_row(row: sqlite3.Row) -> SourceState:
    status = opt_str(row["last_status"])
    return SourceState(
        id=int(row["id"]),
        url=str(row["url"]),
        fetch_url=str(row["fetch_url"]),
        name=opt_str(row["name"]),
        title=opt_str(row["title"]),
        link=opt_str(row["link"]),
        feed_id=opt_str(row["feed_id"]),
        subtitle=opt_str(row["subtitle"]),
        feed_updated=opt_datetime(row["feed_updated"]),
        etag=opt_str(row["etag"]),
        last_modified=opt_str(row["last_modified"]),
        last_status=None if status is None else PollStatus(status),
        last_http_status=opt_int(row["last_http_status"]),
        last_polled_at=opt_datetime(row["last_polled_at"]),
        last_success_at=opt_datetime(row["last_success_at"]),
        next_check_at=opt_datetime(row["next_check_at"]),
        error_count=int(row["error_count"]),
        last_error=opt_str(row["last_error"]),
        entry_count=int(row["entry_count"]),
        health=_health_from_row(row),
        feed_authors=authors_from_json(str(row["feed_authors"])),
        feed_rights=opt_str(row["feed_rights"]),
        feed_categories=tuple(str(c) for c in json.loads(str(row["feed_categories"]))),
    )


def _health_from_row(row: sqlite3.Row) -> SourceHealth:
    interval = row["feed_interval"]
    return SourceHealth(
        body_hash=opt_str(row["body_hash"]),
        retry_after_until=opt_datetime(row["retry_after_until"]),
        failing_since=opt_datetime(row["failing_since"]),
        dead_since=opt_datetime(row["dead_since"]),
        gone_at=opt_datetime(row["gone_at"]),
        redirect_to=opt_str(row["redirect_to"]),
        redirect_count=int(row["redirect_count"]),
        feed_interval=None if interval is None else float(interval),
        skip_hours=tuple(int(h) for h in json.loads(str(row["skip_hours"]))),
        skip_days=tuple(int(d) for d in json.loads(str(row["skip_days"]))),
    )


def _health_changes(health: SourceHealth) -> dict[str, object]:
    return {
        "body_hash": health.body_hash,
        "retry_after_until": opt_text(health.retry_after_until),
        "failing_since": opt_text(health.failing_since),
        "dead_since": opt_text(health.dead_since),
        "gone_at": opt_text(health.gone_at),
        "redirect_to": health.redirect_to,
        "redirect_count": health.redirect_count,
        "feed_interval": health.feed_interval,
        "skip_hours": json.dumps(list(health.skip_hours)),
        "skip_days": json.dumps(list(health.skip_days)),
    }


class SourcesMixin(StorageBase):
    """Source configuration sync, poll scheduling state and poll recording."""

    def sync_sources(self, sources: Sequence[SourceConfig], now: datetime) -> None:
        """Make the stored sources match the configured ones, matched by URL.

        New URLs are inserted; known ones get the configured name and are
        reactivated (same id) if they had been dropped. Stored sources missing
        from ``sources`` become inactive: kept with their entries, but no
        longer polled or listed by ``get_sources``.

        Args:
            sources: the configured sources; for a repeated URL the last wins.
            now: when the sync happens.
        """
        wanted = {source.url: source for source in sources}
        now_text = to_text(now)
        with self._write("sync_sources") as conn:
            stored = {
                str(row["url"]): row
                for row in conn.execute("SELECT id, url, name, removed_at FROM sources")
            }
            visible = False
            for url, source in wanted.items():
                row = stored.get(url)
                if row is None:
                    conn.execute(
                        "INSERT INTO sources (url, fetch_url, name, added_at)"
                        " VALUES (?, ?, ?, ?)",
                        (url, url, source.name, now_text),
                    )
                elif row["name"] != source.name or row["removed_at"] is not None:
                    conn.execute(
                        "UPDATE sources SET name = ?, removed_at = NULL WHERE id = ?",
                        (source.name, row["id"]),
                    )
                    # the name is credited in published entries (atom:source)
                    visible = visible or row["name"] != source.name
            for url, row in stored.items():
                if url not in wanted and row["removed_at"] is None:
                    conn.execute(
                        "UPDATE sources SET removed_at = ? WHERE id = ?",
                        (now_text, row["id"]),
                    )
            if visible:
                self._bump(conn)

    def get_sources(self) -> tuple[SourceState, ...]:
        """Return the active sources, ordered by id."""
        with self._read("get_sources") as conn:
            rows = conn.execute(
                f"{_SELECT} WHERE s.removed_at IS NULL ORDER BY s.id"
            ).fetchall()
        return tuple(_source_from_row(row) for row in rows)

    def get_source(self, source_id: int) -> SourceState | None:
        """Return source ``source_id``, active or not, or ``None``."""
        with self._read("get_source") as conn:
            row = conn.execute(f"{_SELECT} WHERE s.id = ?", (source_id,)).fetchone()
        return None if row is None else _source_from_row(row)

    def source_info(self, source_id: int) -> SourceState | None:
        """Alias of ``get_source``, for crediting a source in published feeds."""
        return self.get_source(source_id)

    def due_sources(self, now: datetime) -> tuple[SourceState, ...]:
        """Return active sources due at ``now``: unchecked first, then oldest due.

        Retired sources (410 Gone) are never due.
        """
        now_text = to_text(now)
        with self._read("due_sources") as conn:
            # NULLs sort first in ascending order in SQLite.
            rows = conn.execute(
                f"{_SELECT} WHERE s.removed_at IS NULL AND s.gone_at IS NULL"
                " AND (s.next_check_at IS NULL OR s.next_check_at <= ?)"
                " ORDER BY s.next_check_at, s.id",
                (now_text,),
            ).fetchall()
        return tuple(_source_from_row(row) for row in rows)

    def record_poll(
        self,
        source_id: int,
        *,
        now: datetime,
        status: PollStatus,
        http_status: int | None = None,
        next_check_at: datetime | None = None,
        etag: str | None = None,
        last_modified: str | None = None,
        error: str | None = None,
        fetch_url: str | None = None,
        feed: FeedData | None = None,
        entries: Sequence[EntryUpdate] = (),
        health: SourceHealth | None = None,
    ) -> UpdateCounts:
        """Store the outcome of one poll in a single transaction (all or nothing).

        Always stores last_status, last_http_status, last_polled_at=now and
        next_check_at; ``fetch_url``, when given, is polled from now on.

        - OK: validators as given (``None`` clears a validator the server
          stopped sending), feed metadata when ``feed`` is given,
          last_success_at=now, error_count=0, last_error=None, and upserts
          ``entries`` (see ``upsert_entries``), replacing their memberships.
        - NOT_MODIFIED: the source answered, so last_success_at=now and the
          error counter resets; validators are updated only when given,
          since a 304 repeats them (RFC 9110 §15.4.5).
        - ERROR: error_count += 1 and last_error=error; validators and
          entries are untouched.

        ``health``, when given, replaces the source's whole ``SourceHealth``
        and its ``events`` are appended to the event log, in this transaction.

        Bumps the generation when entries, memberships or feed metadata changed.

        Returns:
            How many entries were new, updated and unchanged.

        Raises:
            KeyError: no source has id ``source_id``.
            ValueError: ``feed`` or ``entries`` given with a status other than
                OK, or a naive datetime.
            StorageError: the database is locked, read-only or corrupt.
        """
        if status is not PollStatus.OK and (feed is not None or entries):
            raise ValueError("storage: feed and entries are stored only with ok")
        now_text = to_text(now)
        changes: dict[str, object] = {
            "last_status": status.value,
            "last_http_status": http_status,
            "last_polled_at": now_text,
            "next_check_at": opt_text(next_check_at),
        }
        if fetch_url is not None:
            changes["fetch_url"] = fetch_url
        if health is not None:
            changes.update(_health_changes(health))
        counts = UpdateCounts()
        with self._write("record_poll") as conn:
            row = conn.execute(
                "SELECT * FROM sources WHERE id = ?", (source_id,)
            ).fetchone()
            if row is None:
                raise KeyError(f"storage: no source with id {source_id}")
            visible = False
            if status is PollStatus.OK:
                changes.update(
                    etag=etag,
                    last_modified=last_modified,
                    last_success_at=now_text,
                    error_count=0,
                    last_error=None,
                )
                if feed is not None:
                    metadata: dict[str, object] = {
                        "title": feed.title,
                        "link": feed.link,
                        "feed_id": feed.id,
                        "subtitle": feed.subtitle,
                        "feed_updated": opt_text(feed.updated),
                        # credited in atom:source (RFC 4287 §4.2.11)
                        "feed_authors": authors_to_json(feed.authors),
                        "feed_rights": feed.rights,
                        "feed_categories": json.dumps(
                            list(feed.categories), ensure_ascii=False
                        ),
                    }
                    visible = any(row[k] != v for k, v in metadata.items())
                    changes.update(metadata)
                counts, dirty = upsert_entries(conn, source_id, entries, now)
                refresh_stories(conn, dirty)
                visible = visible or bool(dirty)
            elif status is PollStatus.NOT_MODIFIED:
                changes.update(last_success_at=now_text, error_count=0, last_error=None)
                if etag is not None:
                    changes["etag"] = etag
                if last_modified is not None:
                    changes["last_modified"] = last_modified
            else:
                changes.update(
                    error_count=int(row["error_count"]) + 1, last_error=error
                )
            assignments = ", ".join(f"{column} = :{column}" for column in changes)
            conn.execute(
                f"UPDATE sources SET {assignments} WHERE id = :source_id",
                {**changes, "source_id": source_id},
            )
            for event in health.events if health is not None else ():
                conn.execute(
                    "INSERT INTO source_events (source_id, at, kind, detail)"
                    " VALUES (?, ?, ?, ?)",
                    (source_id, to_text(event.at), event.kind.value, event.detail),
                )
            if visible:
                self._bump(conn)
        return counts

    def source_events(self, limit: int = 100) -> tuple[SourceEvent, ...]:
        """Return the newest ``limit`` source events, newest first."""
        with self._read("source_events") as conn:
            rows = conn.execute(
                "SELECT source_id, at, kind, detail FROM source_events"
                " ORDER BY at DESC, id DESC LIMIT ?",
                (limit,),
            ).fetchall()
        return tuple(
            SourceEvent(
                kind=SourceEventKind(str(row["kind"])),
                at=from_text(row["at"]),
                detail=str(row["detail"]),
                source_id=int(row["source_id"]),
            )
            for row in rows
        )

    def hold_host(self, host: str, until: datetime) -> None:
        """Request nothing from ``host`` before ``until`` (Retry-After, host scope).

        A later hold replaces an earlier one only when it ends later.
        """
        with self._write("hold_host") as conn:
            conn.execute(
                "INSERT INTO host_holds (host, until) VALUES (?, ?)"
                " ON CONFLICT (host) DO UPDATE SET until = max(until, excluded.until)",
                (host, to_text(until)),
            )

    def host_holds(self, now: datetime) -> dict[str, datetime]:
        """Return the hosts held beyond ``now``, with the end of each hold."""
        with self._read("host_holds") as conn:
            rows = conn.execute(
                "SELECT host, until FROM host_holds WHERE until > ?", (to_text(now),)
            ).fetchall()
        return {str(row["host"]): from_text(row["until"]) for row in rows}

    def reset_source(self, source_id: int) -> None:
        """Forget a source's failures, holds and retirement: poll it at the next run.

        Raises:
            KeyError: no source has id ``source_id``.
        """
        changes = _health_changes(SourceHealth())
        changes.update(next_check_at=None, error_count=0)
        assignments = ", ".join(f"{column} = :{column}" for column in changes)
        with self._write("reset_source") as conn:
            cursor = conn.execute(
                f"UPDATE sources SET {assignments} WHERE id = :source_id",
                {**changes, "source_id": source_id},
            )
            if cursor.rowcount == 0:
                raise KeyError(f"storage: no source with id {source_id}")
