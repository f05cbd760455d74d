"""Wire the pipeline stages to storage: poll sources, apply rules, render feeds.

This is the imperative shell: every decision is made by a pure stage
(parse, normalize, dedupe, curate, schedule, publish); this module only moves
values between them, the network and the database.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
import logging
import multiprocessing
import os
import threading
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, TypeVar
from urllib.parse import urlsplit

from feedhub import (
    __version__,
    clean,
    curate,
    dedupe,
    normalize,
    parse,
    publish,
    schedule,
)
from feedhub.config import config_fingerprint
from feedhub.exceptions import FeedhubError, FetchError, ParseError
from feedhub.fetch import Fetcher
from feedhub.storage import Storage
from feedhub.types import (
    AuthorRef,
    Config,
    DedupeConfig,
    EntryData,
    EntryUpdate,
    FeedData,
    FeedDocument,
    FeedKind,
    FeedRef,
    FetchRequest,
    FetchResult,
    Fingerprint,
    PollResult,
    PollStatus,
    PublishedEntry,
    SourceConfig,
    SourceHealth,
    SourceInfo,
    SourceState,
    StoredEntry,
    StoryMatch,
    StoryRule,
    TopicMatch,
    UpdateCounts,
)

log = logging.getLogger(__name__)
_T = TypeVar("_T")

#: atom:updated of a feed with no entries yet; any fixed instant keeps it stable
EMPTY_FEED_UPDATED = publish.EMPTY_FEED_UPDATED


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
    dedupe_config: DedupeConfig | None = None,
) -> _Prepared:
    """Parse, normalize, clean, identify, fingerprint and curate one fetched body.

    Pure CPU work, run in a worker process when there is more than one core.
    Entries sharing an id but not a link are told apart by their link.

    Raises:
        ParseError: the body is not a feed.
    """
    config = dedupe_config or DedupeConfig()
    parsed = parse.parse(result.body, url=result.final_url, headers=result.headers)
    feed = normalize.normalize(parsed)
    cleaning = clean.compile_rules(config.clean_rules, config.clean_disable)
    entries = [clean.clean_entry(entry, cleaning) for entry in feed.entries]
    links_of: dict[str, set[str | None]] = {}
    for entry in entries:
        if entry.original_id:
            links_of.setdefault(entry.original_id, set()).add(entry.link)
    updates: dict[str, EntryUpdate] = {}
    for entry in entries:
        shared = entry.original_id is not None and len(links_of[entry.original_id]) > 1
        identity = dedupe.identify(
            source_id,
            entry,
            extra_params=config.tracking_params,
            amp=config.amp,
            by_link=shared,
        )
        if identity.key in updates:
            # the same id and link twice in one document: the first (newest) wins
            continue
        updates[identity.key] = EntryUpdate(
            data=entry,
            identity=identity,
            topics=curate.match_topics(rules, entry, source_topics),
            authors=curate.author_refs(entry),
            fingerprint=dedupe.fingerprint(entry) if config.near_duplicates else None,
        )
    cleaned = replace(feed, entries=tuple(entries))
    return _Prepared(cleaned, tuple(updates.values()), parsed.warning)


def assign_stories(
    storage: Storage,
    config: Config,
    state: SourceState,
    entries: Sequence[EntryUpdate],
    now: datetime,
) -> tuple[EntryUpdate, ...]:
    """Decide each entry's stored key, story and backlog flag before it is stored.

    Known entries (same key, an alias, or a re-keyed id with the same link)
    keep their stored key and story; purged ones are dropped. A new entry
    joins the story of a stored copy with its canonical link (copies in the
    same document included), else of the best near-duplicate from another
    source (``dedupe.choose_story``), else founds its own.

    The poller runs it on its writer thread right before ``record_poll``
    (``record_entries``), so no other write of this process interleaves.
    """
    if not entries:
        return ()
    dd = config.dedupe
    known, tombstoned, has_entries = storage.resolve_entries(
        state.id, [(u.identity.key, u.identity.canonical_link) for u in entries]
    )
    kept: list[EntryUpdate] = []
    fresh: list[EntryUpdate] = []
    claimed: set[str] = set()
    for update in entries:
        key = update.identity.key
        if key in tombstoned:
            continue
        if key not in known:
            fresh.append(update)
            continue
        stored_key, story = known[key]
        if stored_key in claimed:
            continue  # two ids of one entry in one document: the first wins
        claimed.add(stored_key)
        identity = replace(update.identity, key=stored_key, story_id=story)
        alias = key if stored_key != key else None
        kept.append(replace(update, identity=identity, alias=alias))
    hidden = dedupe.backlog(
        [u.data for u in fresh],
        limit=config.publish.backlog_per_new_source,
        first_poll=not has_entries,
        all_new=not kept,
        last_success=state.last_success_at,
    )
    by_link = storage.stories_of_links(
        [u.identity.canonical_link for u in fresh if u.identity.canonical_link]
    )
    for index, update in enumerate(fresh):
        story, match = _story_for(storage, dd, update, by_link, state.id, now)
        identity = replace(update.identity, story_id=story)
        update = replace(update, identity=identity, match=match, hidden=index in hidden)
        kept.append(update)
        stored = StoredEntry(
            key=identity.key,
            source_id=state.id,
            data=update.data,
            canonical_link=identity.canonical_link,
            content_hash=identity.content_hash,
            story_id=story,
            first_seen_at=now,
            last_changed_at=now,
        )
        if identity.canonical_link:
            by_link.setdefault(identity.canonical_link, stored)
    return tuple(kept)


def record_entries(
    storage: Storage,
    config: Config,
    state: SourceState,
    entries: Sequence[EntryUpdate],
    now: datetime,
    **kwargs: Any,
) -> UpdateCounts:
    """``assign_stories`` then ``storage.record_poll`` with the result.

    Run as one unit on the poll's writer thread, so that no other write lands
    between the story lookups and the write that relies on them.
    """
    assigned = assign_stories(storage, config, state, entries, now)
    return storage.record_poll(state.id, now=now, entries=assigned, **kwargs)


def _story_for(
    storage: Storage,
    dd: DedupeConfig,
    update: EntryUpdate,
    by_link: dict[str, StoredEntry],
    source_id: int,
    now: datetime,
) -> tuple[str, StoryMatch]:
    """The story a new entry joins, and why (see ``assign_stories``)."""
    link = update.identity.canonical_link
    if link and link in by_link:
        twin = by_link[link]
        return twin.story_id, StoryMatch(
            StoryRule.CANONICAL_LINK, 1.0, twin.key, f"same canonical link {link}"
        )
    buckets = update.fingerprint.buckets if update.fingerprint else ()
    if dd.near_duplicates and buckets:
        # Only copies from other sources: a source does not syndicate itself,
        # and its entries often share a template (podcast notes, release
        # announcements) that would look like near-duplicate text.
        candidates = [
            entry
            for entry in storage.near_candidates(buckets)
            if entry.source_id != source_id
        ]
        found = dedupe.choose_story(update.data, now, candidates, dd)
        if found is not None:
            return found[0].story_id, found[1]
    return update.identity.story_id, StoryMatch(StoryRule.FOUNDED, detail="new story")


def _source_configs(config: Config) -> dict[str, SourceConfig]:
    return {source.url: source for source in config.sources}


def _next_check(
    config: Config,
    state: SourceState,
    now: datetime,
    *,
    source: SourceConfig | None = None,
    health: SourceHealth | None = None,
    error_count: int = 0,
    freshness: float | None = None,
    retry_after: float | None = None,
) -> datetime:
    interval = config.polling.interval
    if source is not None and source.interval is not None:
        interval = source.interval
    health = health or state.health
    return schedule.next_check_at(
        now,
        source_id=state.id,
        interval=interval,
        min_interval=min(config.polling.min_interval, interval),
        max_interval=config.polling.max_interval,
        error_count=error_count,
        feed_interval=health.feed_interval,
        freshness=freshness,
        retry_after=retry_after,
        skip_hours=health.skip_hours,
        skip_days=health.skip_days,
    )


def body_hash(body: bytes) -> str:
    """Hash a fetched body to recognize a byte-identical 200 (not parsed again).

    Salted with feedhub's version, so an upgrade parses every feed once more.
    """
    digest = hashlib.sha256(__version__.encode() + b"\n")
    digest.update(body)
    return digest.hexdigest()


def host_of(url: str) -> str:
    """The host a Retry-After hold with scope "host" applies to."""
    return (urlsplit(url).hostname or "").rstrip(".")


def pollable_sources(
    storage: Storage, now: datetime, *, force: bool = False
) -> tuple[SourceState, ...]:
    """The sources a poll run at ``now`` requests: due ones, or all with ``force``.

    Even with ``force``, a retired source (410) and a source or host held by
    Retry-After are left alone: the publisher asked, and ``--all`` is ours.
    """
    states = storage.get_sources() if force else storage.due_sources(now)
    holds = storage.host_holds(now)
    return tuple(
        state
        for state in states
        if state.health.gone_at is None
        and not (
            state.health.retry_after_until is not None
            and state.health.retry_after_until > now
        )
        and host_of(state.fetch_url) not in holds
    )


def _log_events(state: SourceState, health: SourceHealth) -> None:
    for event in health.events:
        log.warning(
            "source %s source=%s url=%s detail=%s",
            event.kind.value,
            state.id,
            state.fetch_url,
            event.detail,
        )


class _Writer:
    """Run a poll's storage writes on one thread, off the event loop.

    One writer keeps SQLite single-writer; off the loop, a slow transaction
    never stalls the fetches in flight (nor eats into their deadlines).
    """

    def __init__(self) -> None:
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="feedhub-writer")

    async def call(self, work: Callable[[], _T]) -> _T:
        """Run ``work`` on the writer thread, after the writes queued before it."""
        return await asyncio.get_running_loop().run_in_executor(self._pool, work)

    def close(self) -> None:
        """Wait for the writes already submitted, then stop the thread."""
        self._pool.shutdown(wait=True)


async def _record_failure(
    storage: Storage,
    writer: _Writer,
    config: Config,
    state: SourceState,
    error: FetchError | ParseError,
    now: datetime,
    source: SourceConfig | None,
) -> PollResult:
    polling = config.polling
    status = error.status if isinstance(error, FetchError) else None
    retry = error.retry_after if isinstance(error, FetchError) else None
    wait = retry_until = None
    if retry is not None:
        wait = min(retry, polling.retry_after_max)
        retry_until = now + timedelta(seconds=wait)
        if polling.retry_after_scope == "host":
            hold = functools.partial(
                storage.hold_host, host_of(state.fetch_url), retry_until
            )
            await writer.call(hold)
            retry_until = None
    # RFC 9110 §15.5.11: 410 Gone is permanent; we stop asking.
    health = schedule.after_failure(
        state.health,
        now,
        error=str(error),
        dead_after=polling.dead_after,
        gone=status == 410,
        retry_until=retry_until,
    )
    store = functools.partial(
        storage.record_poll,
        state.id,
        now=now,
        status=PollStatus.ERROR,
        http_status=status,
        next_check_at=_next_check(
            config,
            state,
            now,
            source=source,
            health=health,
            error_count=state.error_count + 1,
            retry_after=wait,
        ),
        error=str(error),
        health=health,
    )
    await writer.call(store)
    log.warning(
        "poll failed source=%s url=%s status=%s error=%s",
        state.id,
        state.fetch_url,
        status,
        error,
    )
    _log_events(state, health)
    return PollResult(
        state.id, state.url, PollStatus.ERROR, error=str(error), http_status=status
    )


async def _poll_one(
    storage: Storage,
    writer: _Writer,
    config: Config,
    fetcher: FetcherLike,
    state: SourceState,
    rules: curate.TopicRules,
    now: datetime,
    executor: Executor | None,
    source: SourceConfig | None = None,
) -> PollResult:
    topics = source.topics if source is not None else ()
    request = FetchRequest(state.fetch_url, state.etag, state.last_modified)
    try:
        result = await fetcher.fetch(request)
        fresh = schedule.freshness(result.headers, now)
        digest = None if result.not_modified else body_hash(result.body)
        if result.not_modified or digest == state.health.body_hash:
            # 304, or a 200 byte-identical to the last body stored: nothing
            # to parse (the server just ignores conditional requests)
            health, moved = schedule.after_success(
                state.health,
                now,
                fetch_url=state.fetch_url,
                permanent_redirect=result.permanent_redirect,
            )
            unchanged = functools.partial(
                storage.record_poll,
                state.id,
                now=now,
                status=PollStatus.NOT_MODIFIED,
                http_status=result.status,
                next_check_at=_next_check(
                    config, state, now, source=source, health=health, freshness=fresh
                ),
                etag=result.etag,
                last_modified=result.last_modified,
                fetch_url=moved,
                health=health,
            )
            await writer.call(unchanged)
            _log_events(state, health)
            log.debug(
                "not modified source=%s url=%s status=%s",
                state.id,
                state.fetch_url,
                result.status,
            )
            return PollResult(
                state.id,
                state.url,
                PollStatus.NOT_MODIFIED,
                http_status=result.status,
            )
        if executor is None:
            prepared = prepare_update(result, state.id, topics, rules, config.dedupe)
        else:
            loop = asyncio.get_running_loop()
            prepared = await loop.run_in_executor(
                executor,
                prepare_update,
                result,
                state.id,
                topics,
                rules,
                config.dedupe,
            )
    except (FetchError, ParseError) as e:
        return await _record_failure(storage, writer, config, state, e, now, source)
    except RecursionError as e:
        # A reaction to this document (nested deeper than the stack allows,
        # or a bug that its shape triggers): this source fails, the run goes on.
        log.error("recursion source=%s url=%s", state.id, state.fetch_url, exc_info=e)
        error = ParseError(state.fetch_url, "document nested too deeply to process")
        return await _record_failure(storage, writer, config, state, error, now, source)
    if prepared.warning:
        log.warning(
            "parse warning source=%s url=%s warning=%s",
            state.id,
            state.fetch_url,
            prepared.warning,
        )
    health, moved = schedule.after_success(
        state.health,
        now,
        fetch_url=state.fetch_url,
        permanent_redirect=result.permanent_redirect,
        body_hash=digest,
        feed=prepared.feed,
    )
    store = functools.partial(
        record_entries,
        storage,
        config,
        state,
        prepared.entries,
        now,
        status=PollStatus.OK,
        http_status=result.status,
        next_check_at=_next_check(
            config, state, now, source=source, health=health, freshness=fresh
        ),
        etag=result.etag,
        last_modified=result.last_modified,
        fetch_url=moved,
        feed=prepared.feed,
        health=health,
    )
    counts = await writer.call(store)
    _log_events(state, health)
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
        force: ignore ``next_check_at`` (never a Retry-After hold or a 410).
        executor: a process pool for parsing; None parses inline.
        stop: set to abandon the run promptly (shutdown).
        on_result: called after each source is stored (progress display).

    Returns:
        One PollResult per source polled to completion.
    """
    now = clock()
    storage.sync_sources(config.sources, now)
    apply_rules(storage, config)
    states = pollable_sources(storage, now, force=force)
    if not states:
        return ()
    rules = curate.compile_rules(config.topics)
    limit = asyncio.Semaphore(max(1, config.polling.concurrency))
    results: list[PollResult] = []
    # once per run: a lookup per source would make a run O(sources²)
    configured = _source_configs(config)
    writer = _Writer()

    async def one(state: SourceState) -> None:
        async with limit:
            if stop is not None and stop.is_set():
                return
            result = await _poll_one(
                storage,
                writer,
                config,
                fetcher,
                state,
                rules,
                now,
                executor,
                configured.get(state.url),
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
        writer.close()
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
_NEAR_META_KEY = "near_index_version"


def rebuild_near_index(storage: Storage, config: Config, *, force: bool = False) -> int:
    """Index stored entries for near-duplicate search when the scheme changed.

    Entries stored before the index existed (or under another
    ``dedupe.INDEX_VERSION``) are cleaned and fingerprinted again; their
    stored content is left as it is. Runs once, before the first poll that
    needs it; about 0.5 ms per entry.

    Returns:
        How many entries were indexed.
    """
    if not force and storage.get_meta(_NEAR_META_KEY) == dedupe.INDEX_VERSION:
        return 0
    dd = config.dedupe
    rules = clean.compile_rules(dd.clean_rules, dd.clean_disable)
    done = 0
    batch: list[tuple[str, Fingerprint]] = []
    for stored in storage.iter_entries():
        batch.append(
            (stored.key, dedupe.fingerprint(clean.clean_entry(stored.data, rules)))
        )
        if len(batch) >= 1000:
            storage.index_entries(batch)
            done += len(batch)
            batch = []
    storage.index_entries(batch)
    done += len(batch)
    storage.set_meta(_NEAR_META_KEY, dedupe.INDEX_VERSION)
    if done:
        log.info("near-duplicate index rebuilt: %d entries", done)
    return done


def apply_prefer(storage: Storage, config: Config) -> bool:
    """Store ``dedupe.prefer`` as source ids; representatives change with it.

    Returns:
        True when the preference changed (every story was re-ranked).
    """
    ids = {state.url: state.id for state in storage.get_sources()}
    wanted = [ids[url] for url in config.dedupe.prefer if url in ids]
    return storage.set_preferred_sources(wanted)


def apply_rules(storage: Storage, config: Config, *, force: bool = False) -> int:
    """Re-evaluate topic and author membership of every stored entry when the
    curation part of the config changed since the database last used it.

    Also stores ``dedupe.prefer``, which picks story representatives, and
    indexes stored entries for near-duplicate search when that is needed.

    Returns:
        How many entries changed membership.
    """
    apply_prefer(storage, config)
    rebuild_near_index(storage, config)
    fingerprint = config_fingerprint(config)
    if not force and storage.get_meta(_RULES_META_KEY) == fingerprint:
        return 0
    rules = curate.compile_rules(config.topics)
    configured = _source_configs(config)  # once: not once per source
    topics_by_source = {
        state.id: configured.get(state.url) for state in storage.get_sources()
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

#: seconds readers may cache an archive page: its entries never change
ARCHIVE_MAX_AGE = 365 * 86400
#: archive pages frozen per query while catching up on a long history
_FREEZE_BATCH = 20
#: the subscription-document formats; HTML is the preview page
FEED_FORMATS = ("atom", "rss", "json")

#: ``ping(hub, urls)``: tell a WebSub hub these topic URLs changed
Pinger = Callable[[str, Sequence[str]], None]


@dataclass(frozen=True, slots=True)
class Rendered:
    """One rendered document, ready to serve or write."""

    ref: FeedRef
    body: bytes
    updated: datetime
    #: media type without parameters
    media_type: str = publish.ATOM_TYPE
    #: seconds readers may cache it (Cache-Control max-age)
    max_age: int = 0


@dataclass(frozen=True, slots=True)
class RefreshResult:
    """What one publish pass changed."""

    #: feed keys ("all", "topics/ai") whose subscription document changed
    changed: tuple[str, ...] = ()
    #: RFC 5005 archive pages frozen
    archived: int = 0
    #: RFC 6721 retractions recorded
    retracted: int = 0
    #: WebSub pings sent
    pinged: int = 0


def cache_seconds(config: Config) -> int:
    """Seconds a reader may cache a subscription document (max-age, RSS ttl).

    Half the shortest poll interval, between one minute and one hour: a reader
    never misses a poll's news by more than that.
    """
    intervals = [config.polling.interval]
    intervals += [s.interval for s in config.sources if s.interval]
    return int(min(3600.0, max(60.0, min(intervals) / 2)))


def feed_path(kind: FeedKind, slug: str, ext: str = "atom") -> str:
    """Return the path of a feed under base_url, e.g. ``topics/ai.atom``."""
    return publish.feed_path(kind, slug, ext)


def feed_key(ref: FeedRef) -> str:
    """The key a feed's publishing state is stored under, e.g. ``topics/ai``."""
    return publish.feed_stem(ref.kind, ref.slug)


def list_feeds(storage: Storage, config: Config) -> tuple[FeedRef, ...]:
    """Every published feed: all, each configured topic, each author with entries.

    Each carries its entry count and newest headline.
    """
    counts = {slug: n for slug, _name, n in storage.feed_refs(FeedKind.TOPIC)}
    newest = {kind: storage.newest_headlines(kind) for kind in FeedKind}

    def ref(
        kind: FeedKind, slug: str, title: str, n: int, about: str | None
    ) -> FeedRef:
        title_link = newest[kind].get(slug)
        return FeedRef(
            kind,
            slug,
            title,
            feed_path(kind, slug),
            n,
            newest_title=title_link[0] if title_link else None,
            newest_link=title_link[1] if title_link else None,
            description=about,
        )

    total = sum(n for _s, _t, n in storage.feed_refs(FeedKind.ALL))
    refs = [ref(FeedKind.ALL, "all", "All entries", total, None)]
    for topic in config.topics:
        refs.append(
            ref(
                FeedKind.TOPIC,
                topic.slug,
                topic.title,
                counts.get(topic.slug, 0),
                topic.description,
            )
        )
    for slug, name, n in storage.feed_refs(FeedKind.AUTHOR):
        refs.append(ref(FeedKind.AUTHOR, slug, name, n, None))
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
                return FeedRef(
                    kind,
                    slug,
                    topic.title,
                    feed_path(kind, slug),
                    description=topic.description,
                )
        return None
    for author_slug, name, n in storage.feed_refs(FeedKind.AUTHOR):
        if author_slug == slug:
            return FeedRef(kind, slug, name, feed_path(kind, slug), n)
    if storage.retractions(f"{kind.value}/{slug}"):
        # every entry was retracted: keep serving the feed so that its
        # subscribers learn it (RFC 6721) until the retractions expire
        return FeedRef(kind, slug, _slug_title(slug), feed_path(kind, slug))
    return None


def _slug_title(slug: str) -> str:
    return " ".join(part.capitalize() for part in slug.split("-"))


def _source_lookup(storage: Storage) -> Callable[[int], SourceInfo]:
    cache: dict[int, SourceInfo] = {}

    def source(source_id: int) -> SourceInfo:
        if source_id not in cache:
            cache[source_id] = publish.source_info(
                storage.get_source(source_id), f"urn:feedhub:source:{source_id}"
            )
        return cache[source_id]

    return source


@dataclass(frozen=True, slots=True)
class _Current:
    stories: tuple[tuple[StoredEntry, tuple[StoredEntry, ...]], ...]
    entries: tuple[PublishedEntry, ...]
    pages: int
    complete: bool


def _current(
    storage: Storage,
    config: Config,
    ref: FeedRef,
    source: Callable[[int], SourceInfo] | None = None,
) -> _Current:
    """The subscription document's stories: every one not yet archived.

    Between ``entries_per_feed`` and ``entries_per_feed + archive_page_size - 1``
    once the feed has history; a page is frozen when a full one is older.
    """
    key = feed_key(ref)
    limit = config.publish.entries_per_feed + config.publish.archive_page_size - 1
    stories = storage.unarchived_stories(ref.kind, ref.slug, key, limit + 1)
    overflow = len(stories) > limit
    stories = stories[:limit]
    pages = storage.archive_page_count(key)
    entries = publish.published_entries(stories, source or _source_lookup(storage))
    # RFC 5005 §2: complete only when nothing was ever archived or cut off
    return _Current(stories, entries, pages, not overflow and pages == 0)


def _document(
    storage: Storage, config: Config, ref: FeedRef, ext: str, cur: _Current
) -> FeedDocument:
    key = feed_key(ref)
    return publish.document(
        base_url=config.server.base_url,
        stem=key,
        title=ref.title,
        subtitle=ref.description,
        entries=cur.entries,
        page=publish.Page(None, cur.pages, cur.complete),
        ext=ext,
        hub=config.publish.hub,
        deleted=storage.retractions(key),
        ttl=max(1, cache_seconds(config) // 60),
    )


def build_document(
    storage: Storage, config: Config, ref: FeedRef, ext: str = "atom"
) -> FeedDocument:
    """Select a feed's newest unarchived stories and build one format's document."""
    return _document(storage, config, ref, ext, _current(storage, config, ref))


def build_archive(
    storage: Storage, config: Config, ref: FeedRef, number: int, ext: str = "atom"
) -> FeedDocument | None:
    """Build RFC 5005 archive page ``number`` of a feed; None when it does not exist."""
    key = feed_key(ref)
    page = storage.archive_page(key, number)
    if page is None:
        return None
    entries = publish.entries_from_json(page[1])
    pages = storage.archive_page_count(key)
    return _archive_document(config, ref, number, pages, entries, ext)


def _archive_document(
    config: Config,
    ref: FeedRef,
    number: int,
    pages: int,
    entries: Sequence[PublishedEntry],
    ext: str,
) -> FeedDocument:
    return publish.document(
        base_url=config.server.base_url,
        stem=feed_key(ref),
        title=ref.title,
        subtitle=ref.description,
        entries=entries,
        page=publish.Page(number, pages),
        ext=ext,
    )


def _render(doc: FeedDocument, ext: str) -> bytes:
    if ext == "atom":
        return publish.render_atom(doc)
    if ext == "rss":
        return publish.render_rss(doc)
    if ext == "json":
        return publish.render_json_feed(doc)
    # the page's time is its newest entry's, so unchanged pages stay unchanged
    return publish.render_feed_html(doc, generated_at=doc.updated)


def render_feed(
    storage: Storage, config: Config, ref: FeedRef, ext: str = "atom"
) -> Rendered:
    """Render one format (atom, rss, json, html) of a feed's subscription document."""
    doc = build_document(storage, config, ref, ext)
    return Rendered(
        ref, _render(doc, ext), doc.updated, publish.FORMATS[ext], cache_seconds(config)
    )


def render_archive(
    storage: Storage, config: Config, ref: FeedRef, number: int, ext: str = "atom"
) -> Rendered | None:
    """Render one format of archive page ``number``; None when there is none."""
    doc = build_archive(storage, config, ref, number, ext)
    if doc is None:
        return None
    return Rendered(
        ref, _render(doc, ext), doc.updated, publish.FORMATS[ext], ARCHIVE_MAX_AGE
    )


def _site_time(storage: Storage, now: datetime) -> datetime:
    # the last time a feed changed, so an unchanged site renders identically
    return storage.latest_feed_change() or now


def render_index(storage: Storage, config: Config, now: datetime) -> bytes:
    """Render the HTML index page listing every feed."""
    return publish.render_index_html(
        list_feeds(storage, config),
        base_url=config.server.base_url,
        title=config.publish.site_title,
        generated_at=_site_time(storage, now),
    )


#: OPML files: name -> the feed kinds they list
OPML_GROUPS: dict[str, tuple[FeedKind, ...]] = {
    "feeds": (FeedKind.ALL, FeedKind.TOPIC, FeedKind.AUTHOR),
    "all": (FeedKind.ALL,),
    "topics": (FeedKind.TOPIC,),
    "authors": (FeedKind.AUTHOR,),
}


def render_opml(storage: Storage, config: Config, group: str, now: datetime) -> bytes:
    """Render the OPML subscription list of one group (see ``OPML_GROUPS``)."""
    kinds = OPML_GROUPS[group]
    refs = [r for r in list_feeds(storage, config) if r.kind in kinds]
    suffix = "" if group == "feeds" else f": {group}"
    return publish.render_opml(
        refs,
        base_url=config.server.base_url,
        title=f"{config.publish.site_title}{suffix}",
        generated_at=_site_time(storage, now),
    )


def _ref_for_key(
    storage: Storage, config: Config, key: str, authors: dict[str, str]
) -> FeedRef | None:
    kind_text, _, slug = key.partition("/")
    if key == "all":
        return find_feed(storage, config, FeedKind.ALL, "all")
    if kind_text == FeedKind.TOPIC.value:
        return find_feed(storage, config, FeedKind.TOPIC, slug)
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
        stories = storage.unarchived_stories(
            ref.kind, ref.slug, key, pages * size, oldest_first=True
        )
        done = 0
        for start in range(0, pages * size, size):
            chunk = stories[start : start + size]
            if len(chunk) < size:
                break
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
        log.info("retracted feed=%s entry=%s reason=%s", key, ref_id, comment)
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
            log.exception("publish pass failed feed=%s", key)
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
                log.warning("websub ping failed hub=%s feed=%s error=%s", hub, key, e)
    if changed or archived or retracted:
        log.info(
            "published changed=%d archived=%d retracted=%d pinged=%d",
            len(changed),
            archived,
            retracted,
            pinged,
        )
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
        log.info("static site updated out_dir=%s written=%d", out_dir, written)
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
    pages, the index and the OPML files (atomic renames, unchanged files kept).

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


def summarize(results: Sequence[PollResult]) -> UpdateCounts:
    """Add up the entry counts of a poll run."""
    return UpdateCounts(
        new=sum(r.counts.new for r in results),
        updated=sum(r.counts.updated for r in results),
        unchanged=sum(r.counts.unchanged for r in results),
    )


def purge(
    storage: Storage,
    config: Config,
    refs: Sequence[str] = (),
    *,
    older_than: float | None = None,
    now: datetime,
) -> int:
    """Delete entries for good, leaving tombstones so they are never ingested again.

    Args:
        storage: the database.
        config: for the link canonicalization rules (refs may be any variant).
        refs: entry keys, guids or links (see ``explain``).
        older_than: also purge entries first seen and dated more than this
            many seconds before ``now``.
        now: the current time.

    Returns:
        How many entries were deleted.
    """
    keys = {found.key for ref in refs for found in explain(storage, config, ref)}
    if older_than is not None:
        keys.update(storage.entries_older_than(now - timedelta(seconds=older_than)))
    return storage.purge_entries(sorted(keys), now) if keys else 0


# ---------------------------------------------------------------------------
# Explain
# ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ExplainedCopy:
    """One copy of a story, as ``feedhub explain`` shows it."""

    entry: StoredEntry
    #: the source's display name
    source: str
    #: why it joined the story; None for entries stored before dedupe recorded it
    match: StoryMatch | None
    #: backlog of a new or re-keyed source: stored, not published as new
    hidden: bool
    representative: bool
    #: other keys a re-keyed feed gave it
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Explanation:
    """Which story an entry belongs to, and why."""

    #: the entry the reference named
    key: str
    story_id: str
    #: atom:id the story is published under; None while it is not listed
    published_id: str | None
    #: how the representative was chosen
    representative_rule: str
    copies: tuple[ExplainedCopy, ...]


def explain(storage: Storage, config: Config, ref: str) -> tuple[Explanation, ...]:
    """Say which story each entry named by ``ref`` belongs to and why.

    Args:
        storage: the database.
        config: for ``dedupe.prefer`` and the link canonicalization rules.
        ref: an entry key, original id (guid), link, or any URL whose
            canonical form is an entry's canonical link.

    Returns:
        One explanation per matching entry (several sources may carry the
        link); empty when nothing matches.
    """
    found = storage.find_entries(ref)
    if not found:
        canonical = dedupe.canonical_link(
            EntryData(original_id=None, link=ref, title=""),
            config.dedupe.tracking_params,
            amp=config.dedupe.amp,
        )
        if canonical:
            found = storage.find_entries(canonical)
    names: dict[int, str] = {}
    ranks = {url: i for i, url in enumerate(config.dedupe.prefer)}

    def name(source_id: int) -> str:
        if source_id not in names:
            state = storage.get_source(source_id)
            names[source_id] = (
                (state.name or state.title or state.url) if state else str(source_id)
            )
        return names[source_id]

    result = []
    for entry in found:
        members = storage.story_members(entry.story_id)
        copies = tuple(
            ExplainedCopy(
                entry=member,
                source=name(member.source_id),
                match=match,
                hidden=hidden,
                representative=member.published_id is not None,
                aliases=storage.aliases_of(member.key),
            )
            for member, match, hidden in members
        )
        rep = next((c for c in copies if c.representative), None)
        rule = "not published: every copy is backlog"
        if rep is not None:
            state = storage.get_source(rep.entry.source_id)
            url = state.url if state else ""
            rule = (
                f"preferred source (dedupe.prefer #{ranks[url] + 1})"
                if url in ranks
                else "earliest published copy"
            )
        result.append(
            Explanation(
                key=entry.key,
                story_id=entry.story_id,
                published_id=rep.entry.published_id if rep else None,
                representative_rule=rule,
                copies=copies,
            )
        )
    return tuple(result)


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
