"""Publishing state: dirty feeds, RFC 5005 archive pages, RFC 6721 retractions."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime

from feedhub.storage._db import StorageBase, from_text, json_list, opt_str, to_text
from feedhub.storage._stories import group_stories
from feedhub.types import DeletedEntry, FeedKind, Story

#: meta key of the feeds a publish pass has taken and not yet finished
_PENDING = "publish_pending"

#: a feed's stories, newest first, minus those already in an archive page
_UNARCHIVED = {
    FeedKind.ALL: "SELECT s.story_id FROM stories AS s WHERE 1",
    FeedKind.TOPIC: "SELECT s.story_id FROM story_topics AS s WHERE s.topic = :slug",
    FeedKind.AUTHOR: "SELECT s.story_id FROM story_authors AS s WHERE s.slug = :slug",
    FeedKind.VIEW: "SELECT s.story_id FROM story_views AS s WHERE s.view = :slug",
}
_NOT_ARCHIVED = (
    " AND NOT EXISTS (SELECT 1 FROM archive_stories AS a"
    " WHERE a.feed = :feed AND a.story_id = s.story_id)"
)


def _unarchived_query(
    kind: FeedKind, slug: str, feed: str, limit: int, oldest_first: bool
) -> tuple[str, dict[str, object]]:
    """The SQL and parameters listing a feed's unarchived story ids, in order."""
    order = "ASC" if oldest_first else "DESC"
    sql = (
        _UNARCHIVED[FeedKind(kind)]
        + _NOT_ARCHIVED
        + f" ORDER BY s.sort_at {order}, s.rep_key {order} LIMIT :limit"
    )
    return sql, {"slug": slug, "feed": feed, "limit": max(0, limit)}


class PublishingMixin(StorageBase):
    """What the publish pass reads and records besides entries and stories."""

    # ------------------------------------------------------------ dirty feeds

    def take_dirty_feeds(self) -> tuple[str, ...]:
        """Return the feeds whose stories changed since the last finished pass.

        They move from ``dirty_feeds`` to a pending list in the same
        transaction, and stay pending until ``finish_dirty_feeds``: a pass that
        dies half-way (SIGKILL, power loss) hands them to the next one instead
        of losing their retractions and WebSub pings (issue 8).
        """
        with self._write("take_dirty_feeds") as conn:
            feeds = {str(r[0]) for r in conn.execute("SELECT feed FROM dirty_feeds")}
            row = conn.execute(
                "SELECT value FROM meta WHERE key = ?", (_PENDING,)
            ).fetchone()
            if row is not None:
                feeds.update(str(feed) for feed in json.loads(row[0]))
            conn.execute("DELETE FROM dirty_feeds")
            if feeds:
                conn.execute(
                    "INSERT INTO meta (key, value) VALUES (?, ?)"
                    " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    (_PENDING, json_list(sorted(feeds))),
                )
        return tuple(sorted(feeds))

    def finish_dirty_feeds(self) -> None:
        """Forget the feeds ``take_dirty_feeds`` handed out: the pass is done."""
        with self._write("finish_dirty_feeds") as conn:
            conn.execute("DELETE FROM meta WHERE key = ?", (_PENDING,))

    def mark_feeds_dirty(self, feeds: Sequence[str]) -> None:
        """Have the next publish pass look at ``feeds`` (e.g. after a failure)."""
        with self._write("mark_feeds_dirty") as conn:
            conn.executemany(
                "INSERT OR IGNORE INTO dirty_feeds (feed) VALUES (?)",
                [(feed,) for feed in feeds],
            )

    # ------------------------------------------------------------ stories

    def unarchived_stories(
        self,
        kind: FeedKind,
        slug: str,
        feed: str,
        limit: int,
        *,
        oldest_first: bool = False,
    ) -> tuple[Story, ...]:
        """Return a feed's stories not in any archive page, with all their copies.

        Args:
            kind: which story table selects the feed.
            slug: topic or author slug (ignored for ALL).
            feed: the feed key archive pages are recorded under.
            limit: most stories returned.
            oldest_first: oldest first (to freeze a page) instead of newest.

        Returns:
            ``(representative, other copies oldest first)`` per story.
        """
        sql, params = _unarchived_query(kind, slug, feed, limit, oldest_first)
        with self._read("unarchived_stories") as conn:
            story_ids = [str(row[0]) for row in conn.execute(sql, params)]
            return tuple(group_stories(conn, story_ids))

    def unarchived_story_ids(
        self,
        kind: FeedKind,
        slug: str,
        feed: str,
        limit: int,
        *,
        oldest_first: bool = False,
    ) -> tuple[str, ...]:
        """The ids ``unarchived_stories`` would load, in its order, and only them.

        A first publish pass freezes hundreds of archive pages: listing their
        ids, then loading one page's stories at a time (``stories_by_id``),
        keeps one page in memory instead of a whole batch (issue 4).
        """
        sql, params = _unarchived_query(kind, slug, feed, limit, oldest_first)
        with self._read("unarchived_story_ids") as conn:
            return tuple(str(row[0]) for row in conn.execute(sql, params))

    def stories_by_id(self, story_ids: Sequence[str]) -> tuple[Story, ...]:
        """Load stories with all their copies, in the order of ``story_ids``.

        Returns:
            ``(representative, other copies oldest first)`` per story; a story
            whose copies are all hidden is left out, as ``unarchived_stories``
            leaves it out.
        """
        with self._read("stories_by_id") as conn:
            return tuple(group_stories(conn, story_ids))

    def count_unarchived(self, kind: FeedKind, slug: str, feed: str) -> int:
        """Count a feed's stories not in any archive page."""
        sql = _UNARCHIVED[FeedKind(kind)].replace(
            "SELECT s.story_id", "SELECT count(*)"
        )
        with self._read("count_unarchived") as conn:
            row = conn.execute(
                sql + _NOT_ARCHIVED, {"slug": slug, "feed": feed}
            ).fetchone()
        return int(row[0])

    def newest_headlines(self, kind: FeedKind) -> dict[str, tuple[str, str | None]]:
        """Return ``slug -> (title, link)`` of the newest story of each feed of kind."""
        kind = FeedKind(kind)
        with self._read("newest_headlines") as conn:
            if kind is FeedKind.ALL:
                rows = conn.execute(
                    "SELECT 'all', e.title, e.link FROM stories AS s"
                    " JOIN entries AS e ON e.key = s.rep_key"
                    " ORDER BY s.sort_at DESC, s.rep_key LIMIT 1"
                ).fetchall()
            else:
                table, column = {
                    FeedKind.TOPIC: ("story_topics", "topic"),
                    FeedKind.AUTHOR: ("story_authors", "slug"),
                    FeedKind.VIEW: ("story_views", "view"),
                }[kind]
                rows = conn.execute(
                    f"SELECT g.{column}, e.title, e.link FROM ("
                    f"  SELECT {column}, max(sort_at) AS newest FROM {table}"
                    f"  GROUP BY {column}) AS m"
                    f" JOIN {table} AS g ON g.{column} = m.{column}"
                    "  AND g.sort_at = m.newest"
                    " JOIN entries AS e ON e.key = g.rep_key"
                    f" ORDER BY g.{column}, g.rep_key"
                ).fetchall()
        out: dict[str, tuple[str, str | None]] = {}
        for slug, title, link in rows:
            out.setdefault(str(slug), (str(title), opt_str(link)))
        return out

    # ------------------------------------------------------------ archives

    def archive_page_count(self, feed: str) -> int:
        """Return the number of the newest archive page of ``feed`` (0: none)."""
        with self._read("archive_page_count") as conn:
            row = conn.execute(
                "SELECT coalesce(max(page), 0) FROM archive_pages WHERE feed = ?",
                (feed,),
            ).fetchone()
        return int(row[0])

    def freeze_archive_page(
        self,
        feed: str,
        stories: Sequence[tuple[str, str, str, str | None]],
        entries: str,
        now: datetime,
    ) -> int:
        """Record a new, immutable archive page of ``feed``.

        Args:
            feed: the feed key.
            stories: ``(story id, entry id, entry key, link)`` the page holds;
                they leave the subscription document for good.
            entries: the page's entries as the caller serialized them (JSON).
            now: creation time.

        Returns:
            The new page's number (1 is the oldest).
        """
        with self._write("freeze_archive_page") as conn:
            row = conn.execute(
                "SELECT coalesce(max(page), 0) + 1 FROM archive_pages WHERE feed = ?",
                (feed,),
            ).fetchone()
            page = int(row[0])
            conn.execute(
                "INSERT INTO archive_pages (feed, page, created_at, entries)"
                " VALUES (?, ?, ?, ?)",
                (feed, page, to_text(now), entries),
            )
            conn.executemany(
                "INSERT OR IGNORE INTO archive_stories"
                " (feed, story_id, page, entry_id, entry_key, link)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                [(feed, sid, page, eid, key, link) for sid, eid, key, link in stories],
            )
            self._bump(conn)
        return page

    def archive_page(self, feed: str, page: int) -> tuple[datetime, str] | None:
        """Return ``(created_at, entries JSON)`` of one archive page, or None."""
        with self._read("archive_page") as conn:
            row = conn.execute(
                "SELECT created_at, entries FROM archive_pages"
                " WHERE feed = ? AND page = ?",
                (feed, page),
            ).fetchone()
        return None if row is None else (from_text(row[0]), str(row[1]))

    def archived_story_ids(self, feed: str, story_ids: Sequence[str]) -> set[str]:
        """Return which of ``story_ids`` are in an archive page of ``feed``."""
        with self._read("archived_story_ids") as conn:
            rows = conn.execute(
                "SELECT story_id FROM archive_stories WHERE feed = ?"
                " AND story_id IN (SELECT value FROM json_each(?))",
                (feed, json_list(list(story_ids))),
            ).fetchall()
        return {str(r[0]) for r in rows}

    def archived_gone(
        self, kind: FeedKind, slug: str, feed: str
    ) -> dict[str, tuple[str, str, str | None]]:
        """Archived stories no longer in the feed: entry id -> (story, key, link)."""
        member = {
            FeedKind.ALL: "SELECT 1 FROM stories AS s WHERE s.story_id = a.story_id",
            FeedKind.TOPIC: "SELECT 1 FROM story_topics AS s"
            " WHERE s.topic = :slug AND s.story_id = a.story_id",
            FeedKind.AUTHOR: "SELECT 1 FROM story_authors AS s"
            " WHERE s.slug = :slug AND s.story_id = a.story_id",
            FeedKind.VIEW: "SELECT 1 FROM story_views AS s"
            " WHERE s.view = :slug AND s.story_id = a.story_id",
        }[FeedKind(kind)]
        with self._read("archived_gone") as conn:
            rows = conn.execute(
                "SELECT a.entry_id, a.story_id, a.entry_key, a.link"
                " FROM archive_stories AS a"
                f" WHERE a.feed = :feed AND NOT EXISTS ({member})",
                {"feed": feed, "slug": slug},
            ).fetchall()
        return {str(r[0]): (str(r[1]), str(r[2]), opt_str(r[3])) for r in rows}

    def forget_archived(self, feed: str, story_ids: Sequence[str]) -> None:
        """Stop treating ``story_ids`` as archived in ``feed`` (after a retraction)."""
        with self._write("forget_archived") as conn:
            conn.execute(
                "DELETE FROM archive_stories WHERE feed = ?"
                " AND story_id IN (SELECT value FROM json_each(?))",
                (feed, json_list(list(story_ids))),
            )

    # ------------------------------------------------------------ retractions

    def published_entries(self, feed: str) -> dict[str, tuple[str, str, str | None]]:
        """Return ``entry id -> (story id, entry key, link)`` last published."""
        with self._read("published_entries") as conn:
            rows = conn.execute(
                "SELECT entry_id, story_id, entry_key, link FROM published_entries"
                " WHERE feed = ?",
                (feed,),
            ).fetchall()
        return {str(r[0]): (str(r[1]), str(r[2]), opt_str(r[3])) for r in rows}

    def record_published(
        self,
        feed: str,
        entries: Sequence[tuple[str, str, str, str | None]],
        retracted: Sequence[tuple[str, str | None, str | None]],
        now: datetime,
    ) -> None:
        """Store what a feed's subscription document now carries, and retractions.

        Entries published again lose their retraction.

        Args:
            feed: the feed key.
            entries: ``(entry id, story id, entry key, link)`` now published.
            retracted: ``(entry id, comment, link)`` that left the feed.
            now: time of the retraction.
        """
        with self._write("record_published") as conn:
            conn.execute("DELETE FROM published_entries WHERE feed = ?", (feed,))
            conn.executemany(
                "INSERT OR REPLACE INTO published_entries"
                " (feed, entry_id, story_id, entry_key, link) VALUES (?, ?, ?, ?, ?)",
                [(feed, *row) for row in entries],
            )
            cursor = conn.execute(
                "DELETE FROM retractions WHERE feed = ?"
                " AND entry_id IN (SELECT value FROM json_each(?))",
                (feed, json_list([row[0] for row in entries])),
            )
            changed = cursor.rowcount > 0
            conn.executemany(
                "INSERT OR REPLACE INTO retractions"
                " (feed, entry_id, retracted_at, comment, link) VALUES (?, ?, ?, ?, ?)",
                [(feed, ref, to_text(now), c, link) for ref, c, link in retracted],
            )
            if changed or retracted:
                self._bump(conn)

    def retractions(self, feed: str) -> tuple[DeletedEntry, ...]:
        """Return a feed's retractions, newest first."""
        with self._read("retractions") as conn:
            rows = conn.execute(
                "SELECT entry_id, retracted_at, comment, link FROM retractions"
                " WHERE feed = ? ORDER BY retracted_at DESC, entry_id",
                (feed,),
            ).fetchall()
        return tuple(
            DeletedEntry(str(r[0]), from_text(r[1]), opt_str(r[2]), opt_str(r[3]))
            for r in rows
        )

    def prune_retractions(self, before: datetime) -> tuple[str, ...]:
        """Forget retractions older than ``before``; return the feeds affected."""
        with self._write("prune_retractions") as conn:
            feeds = [
                str(r[0])
                for r in conn.execute(
                    "SELECT DISTINCT feed FROM retractions WHERE retracted_at < ?",
                    (to_text(before),),
                )
            ]
            if feeds:
                conn.execute(
                    "DELETE FROM retractions WHERE retracted_at < ?", (to_text(before),)
                )
                self._bump(conn)
        return tuple(feeds)

    # ------------------------------------------------------------ hashes

    def feed_hash(self, feed: str) -> str | None:
        """Return the content hash recorded for ``feed``, or None."""
        with self._read("feed_hash") as conn:
            row = conn.execute(
                "SELECT hash FROM feed_hashes WHERE feed = ?", (feed,)
            ).fetchone()
        return None if row is None else str(row[0])

    def set_feed_hash(self, feed: str, digest: str, now: datetime) -> None:
        """Record ``feed``'s content hash."""
        with self._write("set_feed_hash") as conn:
            conn.execute(
                "INSERT INTO feed_hashes (feed, hash, changed_at) VALUES (?, ?, ?)"
                " ON CONFLICT (feed) DO UPDATE SET hash = excluded.hash,"
                " changed_at = excluded.changed_at",
                (feed, digest, to_text(now)),
            )

    def latest_feed_change(self) -> datetime | None:
        """Return when any feed's content hash last changed, or None."""
        with self._read("latest_feed_change") as conn:
            row = conn.execute("SELECT max(changed_at) FROM feed_hashes").fetchone()
        return None if row is None or row[0] is None else from_text(row[0])
