"""Poll sources: fetch, hand bodies to the parse workers, store the results."""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import hashlib
import logging
import queue
import threading
import time
from array import array
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, Future
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, TypeVar
from urllib.parse import urlsplit

from feedhub import __version__, authors, curate, schedule
from feedhub import pipeline as _pipeline
from feedhub.exceptions import FetchError, ParseError
from feedhub.fetch import Fetcher
from feedhub.pipeline._stories import _source_configs, apply_rules, record_entries
from feedhub.storage import Storage
from feedhub.types import (
    Config,
    FetchRequest,
    FetchResult,
    PollResult,
    PollStatus,
    SourceConfig,
    SourceHealth,
    SourceState,
    UpdateCounts,
)

log = logging.getLogger("feedhub.pipeline")  # one logger name for the package
_T = TypeVar("_T")


class FetcherLike(Protocol):
    """What the pipeline needs from a fetcher (``fetch.Fetcher`` or a fake)."""

    async def fetch(self, request: FetchRequest) -> FetchResult: ...


class PollRecorder(Protocol):
    """Where the poller reports each source's poll (metrics); optional.

    Called on the event loop thread: implementations must be quick and must
    not block (counting in memory is fine, I/O is not).
    """

    def poll_started(self) -> None:
        """A source's poll begins (fetch in flight)."""

    def poll_finished(self, result: PollResult | None, seconds: float) -> None:
        """A source's poll ended after ``seconds``; ``result`` None: cancelled."""

    def fetched(self, seconds: float) -> None:
        """One HTTP fetch (redirects and body included) took ``seconds``."""


class _TimedFetcher:
    """A fetcher that reports each fetch's duration to a recorder."""

    def __init__(self, fetcher: FetcherLike, recorder: PollRecorder) -> None:
        self._fetcher = fetcher
        self._recorder = recorder

    async def fetch(self, request: FetchRequest) -> FetchResult:
        started = time.monotonic()
        try:
            return await self._fetcher.fetch(request)
        finally:
            self._recorder.fetched(time.monotonic() - started)


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
            "source %s",
            event.kind.value,
            extra={
                "source": state.id,
                "url": state.fetch_url,
                "event": event.kind.value,
                "detail": event.detail,
            },
        )


def _log_poll(state: SourceState, result: PollResult, seconds: float) -> None:
    """One line per fetch, with the same fields in text and JSON (logs.py)."""
    fields: dict[str, Any] = {
        "source": state.id,
        "url": state.fetch_url,
        "status": result.http_status,
        "outcome": result.status.value,
        "ms": round(seconds * 1000),
        "new": result.counts.new,
        "updated": result.counts.updated,
    }
    if result.status is PollStatus.ERROR:
        fields["error"] = result.error
        log.warning("poll failed", extra=fields)
    else:
        log.info("polled", extra=fields)


#: a group commit takes at most this many waiting units of work ...
GROUP_UNITS = 64
#: ... and stops taking more once its transaction is this old (seconds), so
#: the write lock is held briefly and results are not held back for long
GROUP_SECONDS = 0.25


class _Writer:
    """Run a poll's storage writes on one thread, off the event loop.

    One writer keeps SQLite single-writer; off the loop, a slow transaction
    never stalls the fetches in flight (nor eats into their deadlines).

    Group commit (issue 4): the units of work waiting when the thread comes
    round are run in one ``Storage.batch()`` transaction, each in its own
    savepoint, so one commit (WAL append, FTS5 segment flush) serves many
    sources. Each unit stays all or nothing: one that raises is rolled back
    alone and the others commit. A unit's result is handed back only after
    its transaction has committed.
    """

    def __init__(
        self,
        storage: Storage,
        *,
        units: int | None = None,
        seconds: float | None = None,
    ) -> None:
        self._storage = storage
        self._units = max(1, GROUP_UNITS if units is None else units)
        self._seconds = GROUP_SECONDS if seconds is None else seconds
        self._queue: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread = threading.Thread(
            target=self._run, name="feedhub-writer", daemon=True
        )
        self._thread.start()
        #: near-duplicate candidates' shingles for this run; only the writer
        #: thread touches it (see dedupe.choose_story)
        self.shingle_cache: dict[tuple[str, str], array[int]] = {}
        #: transactions committed and units run (tests, metrics)
        self.commits = 0
        self.units = 0

    async def call(self, work: Callable[[], _T]) -> _T:
        """Run ``work`` on the writer thread, after the writes queued before it.

        Cancelling the caller before the unit starts skips it; once started,
        it runs to its commit (or rollback) and the result is dropped.
        """
        loop = asyncio.get_running_loop()
        future: Future[_T] = Future()
        waiter: asyncio.Future[_T] = loop.create_future()
        waiter.add_done_callback(lambda w: future.cancel() if w.cancelled() else None)
        self._queue.put((work, future, loop, waiter))
        return await waiter

    def close(self) -> None:
        """Wait for the writes already submitted, then stop the thread."""
        self._queue.put(None)
        self._thread.join()
        log.debug("writer: %d units in %d commits", self.units, self.commits)

    def _run(self) -> None:
        stopping = False
        while not stopping:
            item = self._queue.get()
            if item is None:
                return
            group = [item]
            done: list[tuple[_Job, bool, Any]] = []
            try:
                with self._storage.batch("group commit"):
                    started = time.monotonic()
                    while True:
                        job = group[-1]
                        if job[1].set_running_or_notify_cancel():
                            done.append((job, *self._unit(job[0])))
                        if (
                            len(group) >= self._units
                            or time.monotonic() - started >= self._seconds
                        ):
                            break
                        try:
                            nxt = self._queue.get_nowait()
                        except queue.Empty:
                            break
                        if nxt is None:
                            stopping = True
                            break
                        group.append(nxt)
            except BaseException as e:  # BEGIN or COMMIT failed: nothing stored
                _hand_back([(job, False, e) for job in group if not job[1].done()])
                continue
            self.commits += 1
            self.units += len(done)
            _hand_back(done)

    def _unit(self, work: Callable[[], Any]) -> tuple[bool, Any]:
        """Run one unit in its own savepoint; (True, result) or (False, error)."""
        try:
            with self._storage.batch("write"):
                return True, work()
        except BaseException as e:  # handed to the awaiting coroutine
            return False, e


#: a unit of work for the writer: the work, its future (cancelled before it
#: starts: skipped), and the event loop and awaitable of the caller
_Job = tuple[
    Callable[[], Any], Future[Any], asyncio.AbstractEventLoop, "asyncio.Future[Any]"
]


def _hand_back(results: Sequence[tuple[_Job, bool, Any]]) -> None:
    """Settle the callers' futures: one wake-up of each event loop per group
    commit, not one per unit (a 304 re-poll of 10,000 sources is 10,000 units).
    """
    by_loop: dict[asyncio.AbstractEventLoop, list[tuple[_Job, bool, Any]]] = {}
    for result in results:
        by_loop.setdefault(result[0][2], []).append(result)
    for loop, settled in by_loop.items():
        try:
            loop.call_soon_threadsafe(_settle, settled)
        except RuntimeError:  # the loop is closed: nobody awaits these any more
            pass


def _settle(results: Sequence[tuple[_Job, bool, Any]]) -> None:
    for (_, _, _, waiter), ok, value in results:
        if waiter.done():  # cancelled while the unit ran
            continue
        if ok:
            waiter.set_result(value)
        else:
            waiter.set_exception(value)


async def _record_failure(
    storage: Storage,
    writer: _Writer,
    config: Config,
    state: SourceState,
    error: FetchError | ParseError,
    now: datetime,
    source: SourceConfig | None,
    http_status: int | None = None,
) -> PollResult:
    polling = config.polling
    # a body that fails to parse came with a status too (a 200): keep it
    status = error.status if isinstance(error, FetchError) else http_status
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
    _log_events(state, health)
    return PollResult(
        state.id, state.url, PollStatus.ERROR, error=str(error), http_status=status
    )


def _poll_state(
    config: Config,
    state: SourceState,
    now: datetime,
    source: SourceConfig | None,
    result: FetchResult,
    health: SourceHealth,
    moved: str | None,
    freshness: float | None,
) -> dict[str, Any]:
    """The poll-state keywords of ``record_poll`` after a successful fetch
    (200 or 304): validators, next check, health and a confirmed move."""
    return {
        "http_status": result.status,
        "next_check_at": _next_check(
            config, state, now, source=source, health=health, freshness=freshness
        ),
        "etag": result.etag,
        "last_modified": result.last_modified,
        "fetch_url": moved,
        "health": health,
    }


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
    http_status: int | None = None
    try:
        result = await fetcher.fetch(request)
        http_status = result.status
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
                **_poll_state(config, state, now, source, result, health, moved, fresh),
            )
            await writer.call(unchanged)
            _log_events(state, health)
            return PollResult(
                state.id,
                state.url,
                PollStatus.NOT_MODIFIED,
                http_status=result.status,
            )
        # looked up through the package at call time, so that replacing
        # ``pipeline.prepare_update`` (tests) takes effect here too
        prepare_update = _pipeline.prepare_update
        # compiled once per authors: section (compile_authors is cached)
        author_rules = authors.compile_authors(config.authors)
        # what topic rules may know besides the entry (curate.decide)
        context = curate.EntryContext(source_url=state.url, seen_at=now)
        if executor is None:
            prepared = prepare_update(
                result, state.id, topics, rules, config.dedupe, author_rules, context
            )
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
                author_rules,
                context,
            )
    except (FetchError, ParseError) as e:
        return await _record_failure(
            storage, writer, config, state, e, now, source, http_status
        )
    except RecursionError as e:
        # A reaction to this document (nested deeper than the stack allows,
        # or a bug that its shape triggers): this source fails, the run goes on.
        log.error(
            "recursion",
            extra={"source": state.id, "url": state.fetch_url},
            exc_info=e,
        )
        error = ParseError(state.fetch_url, "document nested too deeply to process")
        return await _record_failure(
            storage, writer, config, state, error, now, source, http_status
        )
    # parsed: the body is not needed any more, and the source may now wait a
    # while for the writer (issue 4: ~100 KB less per source waiting)
    result = dataclasses.replace(result, body=b"")
    if prepared.warning:
        log.warning(
            "parse warning",
            extra={
                "source": state.id,
                "url": state.fetch_url,
                "warning": prepared.warning,
            },
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
        shingle_cache=writer.shingle_cache,
        status=PollStatus.OK,
        feed=prepared.feed,
        **_poll_state(config, state, now, source, result, health, moved, fresh),
    )
    counts = await writer.call(store)
    _log_events(state, health)
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
    recorder: PollRecorder | None = None,
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
        recorder: told when each source's poll starts and ends (metrics).

    Returns:
        One PollResult per source polled to completion.
    """
    now = clock()
    storage.sync_sources(config.sources, now)
    apply_rules(storage, config)
    states = pollable_sources(storage, now, force=force)
    if not states:
        return ()
    rules = curate.compile_rules(config.topics, config.block)
    results: list[PollResult] = []
    # once per run: a lookup per source would make a run O(sources²)
    configured = _source_configs(config)
    writer = _Writer(storage)
    if recorder is not None:
        fetcher = _TimedFetcher(fetcher, recorder)

    async def one(state: SourceState) -> None:
        started = time.monotonic()
        if recorder is not None:
            recorder.poll_started()
        result: PollResult | None = None
        try:
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
        finally:
            seconds = time.monotonic() - started
            if recorder is not None:
                recorder.poll_finished(result, seconds)
        _log_poll(state, result, seconds)
        results.append(result)
        if on_result is not None:
            on_result(result)

    # ``concurrency`` runners taking the sources in order, rather than one
    # task per source waiting on a semaphore: the same sources in flight in
    # the same order, without a pending task per source (~1.5 KiB each, so
    # ~15 MiB at ten thousand sources; issue 4)
    pending = iter(states)

    async def runner() -> None:
        for state in pending:
            if stop is not None and stop.is_set():
                return
            await one(state)

    runners = min(len(states), max(1, config.polling.concurrency))
    tasks = [asyncio.create_task(runner()) for _ in range(runners)]
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


def summarize(results: Sequence[PollResult]) -> UpdateCounts:
    """Add up the entry counts of a poll run."""
    return UpdateCounts(
        new=sum(r.counts.new for r in results),
        updated=sum(r.counts.updated for r in results),
        unchanged=sum(r.counts.unchanged for r in results),
        merged=sum(r.counts.merged for r in results),
    )


def utcnow() -> datetime:
    """The wall clock, aware UTC (the default ``clock``)."""
    return datetime.now(UTC)


def poll_once(
    storage: Storage,
    config: Config,
    *,
    force: bool = False,
    executor: Executor | None = None,
    stop: threading.Event | None = None,
    on_result: Callable[[PollResult], None] | None = None,
    clock: Callable[[], datetime] = utcnow,
    recorder: PollRecorder | None = None,
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
                recorder=recorder,
            )

    return asyncio.run(run())
