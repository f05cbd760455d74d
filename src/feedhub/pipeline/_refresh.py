"""Publish passes: freeze archives, record retractions, ping hubs, write the site."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, timedelta

from feedhub import __version__, publish
from feedhub.exceptions import FeedhubError
from feedhub.pipeline._publishing import (
    _FREEZE_BATCH,
    FEED_FORMATS,
    OPML_GROUPS,
    Pinger,
    RefreshResult,
    _archive_document,
    _Current,
    _current,
    _document,
    _render,
    _slug_title,
    _source_lookup,
    feed_key,
    feed_path,
    find_feed,
    list_feeds,
    render_authors_index,
    render_index,
    render_opml,
)
from feedhub.storage import Storage
from feedhub.types import (
    Config,
    FeedDocument,
    FeedKind,
    FeedRef,
    SourceInfo,
    Story,
)

log = logging.getLogger("feedhub.pipeline")  # one logger name for the package


def _ref_for_key(
    storage: Storage, config: Config, key: str, authors: dict[str, str]
) -> FeedRef | None:
    kind_text, _, slug = key.partition("/")
    if key == "all":
        return find_feed(storage, config, FeedKind.ALL, "all")
    if kind_text == FeedKind.TOPIC.value:
        return find_feed(storage, config, FeedKind.TOPIC, slug)
    if kind_text == FeedKind.VIEW.value:
        return find_feed(storage, config, FeedKind.VIEW, slug)
    if kind_text == FeedKind.AUTHOR.value:
        if not authors:
            authors.update(
                (s, name) for s, name, _n in storage.feed_refs(FeedKind.AUTHOR)
            )
        kind = FeedKind.AUTHOR
        if slug in authors:
            return FeedRef(kind, slug, authors[slug], feed_path(kind, slug))
        if storage.published_entries(key) or storage.retractions(key):
            # the author's last entry left: its retraction must still be told
            return FeedRef(kind, slug, _slug_title(slug), feed_path(kind, slug))
    return None


def _freeze(
    storage: Storage,
    config: Config,
    ref: FeedRef,
    now: datetime,
    source: Callable[[int], SourceInfo],
) -> int:
    """Freeze full archive pages of the oldest unarchived stories (RFC 5005 §4)."""
    key = feed_key(ref)
    keep = config.publish.entries_per_feed
    size = config.publish.archive_page_size
    frozen = 0
    count = storage.count_unarchived(ref.kind, ref.slug, key)
    while count >= keep + size:
        pages = min((count - keep) // size, _FREEZE_BATCH)
        story_ids = storage.unarchived_story_ids(
            ref.kind, ref.slug, key, pages * size, oldest_first=True
        )
        done = 0
        for chunk in _full_pages(storage, story_ids, size):
            # like every feed document, a page lists its newest entry first
            entries = publish.published_entries(tuple(reversed(chunk)), source)
            storage.freeze_archive_page(
                key,
                [
                    (rep.story_id, entry.id, rep.key, rep.data.link)
                    for (rep, _copies), entry in zip(
                        reversed(chunk), entries, strict=True
                    )
                ],
                publish.entries_to_json(entries),
                now,
            )
            done += 1
        if not done:
            break
        frozen += done
        count = storage.count_unarchived(ref.kind, ref.slug, key)
    return frozen


def _full_pages(
    storage: Storage, story_ids: Sequence[str], size: int
) -> Iterator[list[Story]]:
    """The stories of ``story_ids`` cut into pages of ``size``, in order, loaded
    one page's worth at a time; a last page short of ``size`` is not given.

    A first pass over a big feed freezes hundreds of pages: loading a whole
    batch of them at once held ~30 MiB of stories (issue 4, peak memory).
    A listed story that cannot be loaded (gone since it was listed, or every
    copy hidden) is skipped and the page filled from the next ones, as
    slicing the whole loaded batch did, so the pages are the same.
    """
    page: list[Story] = []
    start = 0
    while start < len(story_ids):
        wanted = size - len(page)
        page.extend(storage.stories_by_id(story_ids[start : start + wanted]))
        start += wanted
        if len(page) == size:
            yield page
            page = []


def _retract(storage: Storage, ref: FeedRef, cur: _Current, now: datetime) -> int:
    """Record retractions for entries that left the feed (RFC 6721)."""
    key = feed_key(ref)
    published = storage.published_entries(key)
    current = {publish.entry_id(rep): rep.story_id for rep, _c in cur.stories}
    rows = [
        (publish.entry_id(rep), rep.story_id, rep.key, rep.data.link)
        for rep, _c in cur.stories
    ]
    known: dict[str, bool] = {}

    def archived(story_id: str) -> bool:
        if story_id not in known:
            known[story_id] = bool(storage.archived_story_ids(key, [story_id]))
        return known[story_id]

    retracted = publish.retractions(published, current, archived, storage.get_entry)
    # entries of archive pages that left the feed since: the page keeps them
    # (it never changes), the subscription document announces the retraction
    gone = storage.archived_gone(ref.kind, ref.slug, key)
    left = {story for story, _k, _l in gone.values()}

    def still_archived(story_id: str) -> bool:
        return story_id not in left and archived(story_id)

    late = publish.retractions(gone, current, still_archived, storage.get_entry)
    retracted += late
    unchanged = {r[0]: (r[1], r[2], r[3]) for r in rows} == published
    if retracted or not unchanged:
        storage.record_published(key, rows, retracted, now)
    if gone:
        storage.forget_archived(key, sorted(left))
    for ref_id, comment, _link in retracted:
        log.info("retracted", extra={"feed": key, "entry": ref_id, "reason": comment})
    return len(retracted)


def _fingerprint(doc: FeedDocument) -> str:
    """A hash of everything a feed's documents say, without rendering them.

    Serializing the entries is much cheaper than running feedgen and lxml, and
    changes exactly when any format's bytes (hence its ETag) change.
    """
    state = json.dumps(
        [
            doc.title,
            doc.subtitle,
            [[x.rel, x.href] for x in doc.links],
            doc.complete,
            [[d.ref, d.when.isoformat(), d.comment, d.link] for d in doc.deleted],
        ]
    )
    digest = hashlib.sha256(state.encode("utf-8"))
    digest.update(publish.entries_to_json(doc.entries).encode("utf-8", "replace"))
    return digest.hexdigest()


def refresh_feeds(
    storage: Storage,
    config: Config,
    *,
    now: datetime,
    ping: Pinger | None = None,
    feeds: Sequence[str] | None = None,
) -> RefreshResult:
    """Bring the publishing state of changed feeds up to date; run after a poll.

    For each feed whose stories changed (tracked by the database): freeze full
    RFC 5005 archive pages of its oldest entries, record RFC 6721 retractions
    of entries that left it for another reason than age, and compare its
    content hash with the last one; only feeds whose document changed are
    reported, and, with a hub configured, pinged (WebSub).

    Args:
        storage: the database.
        config: the configuration.
        now: the current time, aware UTC.
        ping: sends WebSub pings; None sends none.
        feeds: feed keys to refresh besides the changed ones.

    Returns:
        What changed.
    """
    dirty = set(storage.take_dirty_feeds()) | set(feeds or ())
    cutoff = now - timedelta(seconds=config.publish.retraction_period)
    dirty.update(storage.prune_retractions(cutoff))
    authors: dict[str, str] = {}
    source = _source_lookup(storage)
    changed: list[str] = []
    archived = retracted = pinged = 0
    for key in sorted(dirty):
        ref = _ref_for_key(storage, config, key, authors)
        if ref is None:
            continue
        try:
            archived += _freeze(storage, config, ref, now, source)
            cur = _current(storage, config, ref, source)
            retracted += _retract(storage, ref, cur, now)
            digest = _fingerprint(_document(storage, config, ref, "atom", cur))
        except FeedhubError:
            # try again on the next pass rather than lose the change
            storage.mark_feeds_dirty([key])
            log.exception("publish pass failed", extra={"feed": key})
            continue
        if storage.feed_hash(key) != digest:
            storage.set_feed_hash(key, digest, now)
            changed.append(key)
    hub = config.publish.hub
    if hub and ping is not None:
        base = config.server.base_url
        for key in changed:
            urls = [publish.join(base, f"{key}.{ext}") for ext in FEED_FORMATS]
            try:
                ping(hub, urls)
                pinged += 1
            except OSError as e:
                log.warning(
                    "websub ping failed",
                    extra={"hub": hub, "feed": key, "error": str(e)},
                )
    if changed or archived or retracted:
        log.info(
            "published",
            extra={
                "changed": len(changed),
                "archived": archived,
                "retracted": retracted,
                "pinged": pinged,
            },
        )
    # only now: a pass cut short hands its feeds to the next one
    storage.finish_dirty_feeds()
    return RefreshResult(tuple(changed), archived, retracted, pinged)


def publish_changes(
    storage: Storage,
    config: Config,
    *,
    now: datetime,
    full: bool = False,
    ping: Pinger | None = None,
) -> RefreshResult:
    """The publish pass to run after every poll.

    Runs ``refresh_feeds`` (pinging the hub, when one is configured, with
    ``ping`` or else ``websub_ping``) and, with ``publish.out_dir`` set,
    rewrites the files of the feeds that changed (every file with ``full``).
    """
    if config.publish.hub:
        ping = ping or websub_ping
    result = refresh_feeds(storage, config, now=now, ping=ping)
    out_dir = config.publish.out_dir
    if out_dir and (full or result.changed):
        only = None if full else result.changed
        written, _unchanged = publish_all(storage, config, out_dir, now=now, only=only)
        log.info("static site updated", extra={"out_dir": out_dir, "written": written})
    return result


def websub_ping(hub: str, urls: Sequence[str], *, timeout: float = 10.0) -> None:
    """POST a WebSub publish notification (``hub.mode=publish``) for ``urls``.

    WebSub leaves the publisher-to-hub call to the hub; ``hub.mode=publish``
    with one ``hub.url`` per topic is what the common hubs accept.

    Raises:
        OSError: the hub could not be reached or answered an error.
    """
    form = [("hub.mode", "publish")] + [("hub.url", url) for url in urls]
    data = urllib.parse.urlencode(form).encode("ascii")
    request = urllib.request.Request(
        hub,
        data=data,
        method="POST",
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "User-Agent": f"feedhub/{__version__}",
        },
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        response.read()


def publish_all(
    storage: Storage,
    config: Config,
    out_dir: str,
    *,
    now: datetime,
    only: Sequence[str] | None = None,
) -> tuple[int, int]:
    """Write the site into ``out_dir``: every feed in every format, its archive
    pages, the index, the authors index and the OPML files (atomic renames,
    unchanged files kept).

    Args:
        storage: the database.
        config: the configuration.
        out_dir: the directory (created when missing).
        now: the current time.
        only: feed keys to write; None writes every feed. The index and OPML
            are always written.

    Returns:
        (files written, files unchanged)
    """
    written = unchanged = 0

    def write(path: str, body: bytes) -> None:
        nonlocal written, unchanged
        target = os.path.join(out_dir, *path.split("/"))
        # Atomic (readers see the old or the new file) but not fsynced: the
        # site is regenerated from the database, and a file a crash cut short
        # differs from its next rendering, so it gets rewritten. fsync per file
        # was more than half the time of a full export.
        if publish.write_atomic(target, body, durable=False):
            written += 1
        else:
            unchanged += 1

    write("index.html", render_index(storage, config, now))
    write("authors/index.html", render_authors_index(storage, config, now))
    for group in OPML_GROUPS:
        write(f"{group}.opml", render_opml(storage, config, group, now))
    wanted = None if only is None else set(only)
    source = _source_lookup(storage)
    for ref in list_feeds(storage, config):
        key = feed_key(ref)
        if wanted is not None and key not in wanted:
            continue
        cur = _current(storage, config, ref, source)
        for ext in publish.FORMATS:
            doc = _document(storage, config, ref, ext, cur)
            write(f"{key}.{ext}", _render(doc, ext))
        pages = storage.archive_page_count(key)
        for number in range(1, pages + 1):
            paths = {e: publish.archive_path(key, number, e) for e in publish.FORMATS}
            # only the newest two pages can change (next-archive appears)
            if number < pages - 1 and all(
                os.path.exists(os.path.join(out_dir, *p.split("/")))
                for p in paths.values()
            ):
                unchanged += len(paths)
                continue
            page = storage.archive_page(key, number)
            if page is None:
                continue
            entries = publish.entries_from_json(page[1])
            for ext, path in paths.items():
                doc = _archive_document(config, ref, number, pages, entries, ext)
                write(path, _render(doc, ext))
    return written, unchanged
