"""Wire the pipeline stages to storage: poll sources, apply rules, render feeds.

This is the imperative shell: every decision is made by a pure stage
(parse, normalize, dedupe, curate, schedule, publish); this module only moves
values between them, the network and the database.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import re
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from feedhub import curate, dedupe, normalize, parse, publish, schedule
from feedhub.config import config_fingerprint
from feedhub.exceptions import FetchError, ParseError
from feedhub.fetch import Fetcher
from feedhub.storage import Storage
from feedhub.types import (
    AuthorRef,
    Config,
    EntryUpdate,
    FeedData,
    FeedDocument,
    FeedKind,
    FeedRef,
    FetchRequest,
    FetchResult,
    PollResult,
    PollStatus,
    PublishedEntry,
    Related,
    SourceConfig,
    SourceInfo,
    SourceState,
    StoredEntry,
    TopicMatch,
    UpdateCounts,
)

log = logging.getLogger(__name__)

#: atom:updated of a feed with no entries yet; any fixed instant keeps it stable
EMPTY_FEED_UPDATED = datetime(1970, 1, 1, tzinfo=UTC)
_IRI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:[^\s<>\"{}|\\^`]+$")


class FetcherLike(Protocol):
    """What the pipeline needs from a fetcher (``fetch.Fetcher`` or a fake)."""

    async def fetch(self, request: FetchRequest) -> FetchResult: ...


# ---------------------------------------------------------------------------
# Polling
# ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Prepared:
    feed: FeedData
    entries: tuple[EntryUpdate, ...]
    warning: str | None


def prepare_update(
    result: FetchResult,
    source_id: int,
    source_topics: tuple[str, ...],
    rules: curate.TopicRules,
) -> _Prepared:
    """Parse, normalize, identify and curate one fetched body.

    Pure CPU work, run in a worker process when there is more than one core.

    Raises:
        ParseError: the body is not a feed.
    """
    parsed = parse.parse(result.body, url=result.final_url, headers=result.headers)
    feed = normalize.normalize(parsed)
    updates: dict[str, EntryUpdate] = {}
    for entry in feed.entries:
        identity = dedupe.identify(source_id, entry)
        if identity.key in updates:
            # the same id twice in one document: the first (newest) copy wins
            continue
        updates[identity.key] = EntryUpdate(
            data=entry,
            identity=identity,
            topics=curate.match_topics(rules, entry, source_topics),
            authors=curate.author_refs(entry),
        )
    return _Prepared(feed, tuple(updates.values()), parsed.warning)


def _source_configs(config: Config) -> dict[str, SourceConfig]:
    return {source.url: source for source in config.sources}


def _next_check(
    config: Config,
    state: SourceState,
    now: datetime,
    *,
    ttl: int | None = None,
    error_count: int = 0,
) -> datetime:
    source = _source_configs(config).get(state.url)
    interval = config.polling.interval
    if source is not None and source.interval is not None:
        interval = source.interval
    return schedule.next_check_at(
        now,
        source_id=state.id,
        interval=interval,
        min_interval=min(config.polling.min_interval, interval),
        max_interval=config.polling.max_interval,
        ttl_minutes=ttl,
        error_count=error_count,
    )


async def _poll_one(
    storage: Storage,
    config: Config,
    fetcher: FetcherLike,
    state: SourceState,
    rules: curate.TopicRules,
    now: datetime,
    executor: Executor | None,
) -> PollResult:
    source = _source_configs(config).get(state.url)
    topics = source.topics if source is not None else ()
    request = FetchRequest(state.fetch_url, state.etag, state.last_modified)
    try:
        result = await fetcher.fetch(request)
        if result.not_modified:
            storage.record_poll(
                state.id,
                now=now,
                status=PollStatus.NOT_MODIFIED,
                http_status=result.status,
                next_check_at=_next_check(config, state, now),
                etag=result.etag,
                last_modified=result.last_modified,
            )
            log.debug("not modified source=%s url=%s", state.id, state.fetch_url)
            return PollResult(
                state.id, state.url, PollStatus.NOT_MODIFIED, http_status=304
            )
        if executor is None:
            prepared = prepare_update(result, state.id, topics, rules)
        else:
            loop = asyncio.get_running_loop()
            prepared = await loop.run_in_executor(
                executor, prepare_update, result, state.id, topics, rules
            )
    except (FetchError, ParseError) as e:
        errors = state.error_count + 1
        status = e.status if isinstance(e, FetchError) else None
        storage.record_poll(
            state.id,
            now=now,
            status=PollStatus.ERROR,
            http_status=status,
            next_check_at=_next_check(config, state, now, error_count=errors),
            error=str(e),
        )
        log.warning(
            "poll failed source=%s url=%s status=%s error=%s",
            state.id,
            state.fetch_url,
            status,
            e,
        )
        return PollResult(
            state.id, state.url, PollStatus.ERROR, error=str(e), http_status=status
        )
    if prepared.warning:
        log.warning(
            "parse warning source=%s url=%s warning=%s",
            state.id,
            state.fetch_url,
            prepared.warning,
        )
    counts = storage.record_poll(
        state.id,
        now=now,
        status=PollStatus.OK,
        http_status=result.status,
        next_check_at=_next_check(config, state, now, ttl=prepared.feed.ttl),
        etag=result.etag,
        last_modified=result.last_modified,
        feed=prepared.feed,
        entries=prepared.entries,
    )
    log.info(
        "polled source=%s url=%s status=200 new=%d updated=%d",
        state.id,
        state.fetch_url,
        counts.new,
        counts.updated,
    )
    return PollResult(
        state.id, state.url, PollStatus.OK, counts=counts, http_status=200
    )


async def poll(
    storage: Storage,
    config: Config,
    fetcher: FetcherLike,
    *,
    clock: Callable[[], datetime],
    force: bool = False,
    executor: Executor | None = None,
    stop: threading.Event | None = None,
    on_result: Callable[[PollResult], None] | None = None,
) -> tuple[PollResult, ...]:
    """Poll every due source (every source with ``force``) once.

    One failing source is recorded and never stops the others. Each source's
    result is stored in one transaction. When ``stop`` is set, fetches still
    in flight are cancelled and nothing of theirs is written.

    Args:
        storage: where state and entries live.
        config: the current configuration.
        fetcher: does the HTTP.
        clock: returns the current aware UTC time; read once, so every
            entry first seen in one run has the same ``first_seen_at`` and
            ties between copies are decided by the documented rule, not by
            which fetch finished first.
        force: ignore ``next_check_at``.
        executor: a process pool for parsing; None parses inline.
        stop: set to abandon the run promptly (shutdown).
        on_result: called after each source is stored (progress display).

    Returns:
        One PollResult per source polled to completion.
    """
    now = clock()
    storage.sync_sources(config.sources, now)
    apply_rules(storage, config)
    states = storage.get_sources() if force else storage.due_sources(now)
    if not states:
        return ()
    rules = curate.compile_rules(config.topics)
    limit = asyncio.Semaphore(max(1, config.polling.concurrency))
    results: list[PollResult] = []

    async def one(state: SourceState) -> None:
        async with limit:
            if stop is not None and stop.is_set():
                return
            result = await _poll_one(
                storage, config, fetcher, state, rules, now, executor
            )
        results.append(result)
        if on_result is not None:
            on_result(result)

    tasks = [asyncio.create_task(one(state)) for state in states]
    watcher = asyncio.create_task(_cancel_on_stop(stop, tasks))
    try:
        await asyncio.gather(*tasks, return_exceptions=False)
    except asyncio.CancelledError:
        if stop is None or not stop.is_set():
            raise
        log.info("poll stopped: %d of %d sources done", len(results), len(states))
    finally:
        watcher.cancel()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return tuple(results)


async def _cancel_on_stop(
    stop: threading.Event | None, tasks: Sequence[asyncio.Task[None]]
) -> None:
    if stop is None:
        return
    while not stop.is_set():
        await asyncio.sleep(0.1)
    for task in tasks:
        task.cancel()


# ---------------------------------------------------------------------------
# Rules
# ---------------------------------------------------------------------------

_RULES_META_KEY = "rules_fingerprint"


def apply_rules(storage: Storage, config: Config, *, force: bool = False) -> int:
    """Re-evaluate topic and author membership of every stored entry when the
    curation part of the config changed since the database last used it.

    Returns:
        How many entries changed membership.
    """
    fingerprint = config_fingerprint(config)
    if not force and storage.get_meta(_RULES_META_KEY) == fingerprint:
        return 0
    rules = curate.compile_rules(config.topics)
    topics_by_source = {
        state.id: _source_configs(config).get(state.url)
        for state in storage.get_sources()
    }
    changed = 0
    batch: list[tuple[str, tuple[TopicMatch, ...], tuple[AuthorRef, ...]]] = []
    for stored in storage.iter_entries():
        source = topics_by_source.get(stored.source_id)
        source_topics = source.topics if source is not None else ()
        batch.append(
            (
                stored.key,
                curate.match_topics(rules, stored.data, source_topics),
                curate.author_refs(stored.data),
            )
        )
        if len(batch) >= 1000:
            changed += storage.set_memberships(batch)
            batch = []
    if batch:
        changed += storage.set_memberships(batch)
    storage.set_meta(_RULES_META_KEY, fingerprint)
    if changed:
        log.info("rules changed: %d entries re-filed", changed)
    return changed


# ---------------------------------------------------------------------------
# Publishing
# ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Rendered:
    """One rendered feed, ready to serve or write."""

    ref: FeedRef
    body: bytes
    updated: datetime


def feed_path(kind: FeedKind, slug: str) -> str:
    """Return the path of a feed under base_url, e.g. ``topics/ai.atom``."""
    if kind is FeedKind.ALL:
        return "all.atom"
    return f"{kind.value}/{slug}.atom"


def list_feeds(storage: Storage, config: Config) -> tuple[FeedRef, ...]:
    """Every published feed: all, each configured topic, each author with entries."""
    counts = {slug: n for slug, _name, n in storage.feed_refs(FeedKind.TOPIC)}
    refs = [
        FeedRef(FeedKind.ALL, "all", "All entries", feed_path(FeedKind.ALL, "all"), n)
        for _slug, _name, n in storage.feed_refs(FeedKind.ALL)
    ] or [FeedRef(FeedKind.ALL, "all", "All entries", "all.atom", 0)]
    for topic in config.topics:
        refs.append(
            FeedRef(
                FeedKind.TOPIC,
                topic.slug,
                topic.title,
                feed_path(FeedKind.TOPIC, topic.slug),
                counts.get(topic.slug, 0),
            )
        )
    for slug, name, n in storage.feed_refs(FeedKind.AUTHOR):
        refs.append(
            FeedRef(FeedKind.AUTHOR, slug, name, feed_path(FeedKind.AUTHOR, slug), n)
        )
    return tuple(refs)


def find_feed(
    storage: Storage, config: Config, kind: FeedKind, slug: str
) -> FeedRef | None:
    """Return the feed of that kind and slug, or None when it does not exist."""
    if kind is FeedKind.ALL:
        return FeedRef(FeedKind.ALL, "all", "All entries", "all.atom")
    if kind is FeedKind.TOPIC:
        for topic in config.topics:
            if topic.slug == slug:
                return FeedRef(kind, slug, topic.title, feed_path(kind, slug))
        return None
    for author_slug, name, n in storage.feed_refs(FeedKind.AUTHOR):
        if author_slug == slug:
            return FeedRef(kind, slug, name, feed_path(kind, slug), n)
    return None


def _entry_id(stored: StoredEntry) -> str:
    original = stored.data.original_id
    if original and _IRI.match(original):
        return original  # RFC 4287 4.2.6: keep the original atom:id
    # An RSS guid like "1234" is not an IRI; derive a stable one from our key.
    return f"urn:feedhub:entry:{stored.key}"


def _entry_updated(stored: StoredEntry) -> datetime:
    data = stored.data
    updated = data.updated or data.published or stored.first_seen_at
    if stored.last_changed_at > stored.first_seen_at:
        # we stored a change the feed did not date: tell readers it changed
        updated = max(updated, stored.last_changed_at)
    return updated


def _source_info(state: SourceState | None, fallback_url: str) -> SourceInfo:
    if state is None:
        return SourceInfo(id=fallback_url, title=fallback_url, url=fallback_url)
    return SourceInfo(
        id=state.feed_id or state.fetch_url,
        title=state.name or state.title or state.fetch_url,
        url=state.fetch_url,
        link=state.link,
        updated=state.feed_updated or state.last_success_at,
    )


def build_document(storage: Storage, config: Config, ref: FeedRef) -> FeedDocument:
    """Select a feed's stories and turn them into a FeedDocument."""
    stories = storage.feed_stories(ref.kind, ref.slug, config.publish.entries_per_feed)
    sources: dict[int, SourceState | None] = {}

    def source(source_id: int) -> SourceInfo:
        if source_id not in sources:
            sources[source_id] = storage.get_source(source_id)
        return _source_info(sources[source_id], f"urn:feedhub:source:{source_id}")

    entries = []
    for representative, copies in stories:
        data = representative.data
        related = tuple(
            Related(copy.data.link, source(copy.source_id).title)
            for copy in copies
            if copy.data.link and copy.data.link != data.link
        )
        entries.append(
            PublishedEntry(
                id=_entry_id(representative),
                title=data.title,
                link=data.link,
                summary=data.summary,
                content=data.content,
                authors=data.authors,
                published=data.published,
                updated=_entry_updated(representative),
                categories=data.categories,
                enclosures=data.enclosures,
                source=source(representative.source_id),
                related=related,
            )
        )
    base = config.server.base_url
    updated = max((e.updated for e in entries), default=EMPTY_FEED_UPDATED)
    return FeedDocument(
        id=base + ref.path,
        title=ref.title,
        self_url=base + ref.path,
        home_url=base,
        updated=updated,
        entries=tuple(entries),
    )


def render_feed(storage: Storage, config: Config, ref: FeedRef) -> Rendered:
    """Render one feed as Atom bytes."""
    doc = build_document(storage, config, ref)
    return Rendered(ref, publish.render_atom(doc), doc.updated)


def render_index(storage: Storage, config: Config, now: datetime) -> bytes:
    """Render the HTML index page listing every feed."""
    return publish.render_index_html(
        list_feeds(storage, config),
        base_url=config.server.base_url,
        title="feedhub",
        generated_at=now,
    )


def publish_all(
    storage: Storage, config: Config, out_dir: str, *, now: datetime
) -> tuple[int, int]:
    """Write every feed and the index into ``out_dir`` (atomic, only changes).

    Returns:
        (files written, files unchanged)
    """
    written = unchanged = 0
    files: list[tuple[str, bytes]] = [
        ("index.html", render_index(storage, config, now))
    ]
    for ref in list_feeds(storage, config):
        files.append((ref.path, render_feed(storage, config, ref).body))
    for path, body in files:
        target = os.path.join(out_dir, *path.split("/"))
        os.makedirs(os.path.dirname(target), exist_ok=True)
        if publish.write_atomic(target, body):
            written += 1
        else:
            unchanged += 1
    return written, unchanged


def summarize(results: Sequence[PollResult]) -> UpdateCounts:
    """Add up the entry counts of a poll run."""
    return UpdateCounts(
        new=sum(r.counts.new for r in results),
        updated=sum(r.counts.updated for r in results),
        unchanged=sum(r.counts.unchanged for r in results),
    )


def utcnow() -> datetime:
    """The wall clock, aware UTC (the default ``clock``)."""
    return datetime.now(UTC)


def make_executor(workers: int) -> Executor | None:
    """A process pool for parsing, or None to parse inline.

    Args:
        workers: processes; 0 means one per core; 1 means inline (serial).
    """
    count = workers or (os.cpu_count() or 1)
    if count <= 1:
        return None
    # forkserver: forking a process that already runs threads (server,
    # scheduler) can deadlock in the child
    context = multiprocessing.get_context("forkserver")
    return ProcessPoolExecutor(max_workers=count, mp_context=context)


def poll_once(
    storage: Storage,
    config: Config,
    *,
    force: bool = False,
    executor: Executor | None = None,
    stop: threading.Event | None = None,
    on_result: Callable[[PollResult], None] | None = None,
    clock: Callable[[], datetime] = utcnow,
) -> tuple[PollResult, ...]:
    """Poll due sources once with a real fetcher; blocking (own event loop)."""

    async def run() -> tuple[PollResult, ...]:
        async with Fetcher(config.polling) as fetcher:
            return await poll(
                storage,
                config,
                fetcher,
                clock=clock,
                force=force,
                executor=executor,
                stop=stop,
                on_result=on_result,
            )

    return asyncio.run(run())
