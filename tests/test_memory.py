"""Peak memory (issue 4): the ways feedhub holds less at once must not change
what it does. Behaviour only: no sizes are asserted here (see bench/)."""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from feedhub import pipeline
from feedhub.pipeline import _refresh
from feedhub.pipeline._workers import LazyProcessPool, default_workers, make_executor
from feedhub.storage import Storage
from feedhub.types import (
    Config,
    FeedKind,
    FetchRequest,
    FetchResult,
    Match,
    PollingConfig,
    PollStatus,
    PublishConfig,
    ServerConfig,
    SourceConfig,
    Story,
    TopicConfig,
)
from tests.fakes import FakeFetcher

T0 = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def rss(base: str, numbers: range) -> bytes:
    items = "".join(
        f"<item><title>AI story {i}</title><link>{base}{i}</link>"
        f"<guid>{base}{i}</guid>"
        f"<pubDate>{format_datetime(T0 - timedelta(hours=i), usegmt=True)}</pubDate>"
        f"<description>Body {i} about AI from {base}</description></item>"
        for i in numbers
    )
    return (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>S</title>'
        f"<link>{base}</link><description>d</description>{items}</channel></rss>"
    ).encode()


def config(sources: Sequence[str], *, backlog: int | None = None, **polling) -> Config:
    return Config(
        path=None,
        database=":memory:",
        server=ServerConfig(base_url="http://hub.test/"),
        polling=PollingConfig(workers=1, **polling),
        publish=PublishConfig(
            entries_per_feed=4, archive_page_size=3, backlog_per_new_source=backlog
        ),
        sources=tuple(SourceConfig(url) for url in sources),
        topics=(TopicConfig("ai", "AI", Match(any=("AI",))),),
    )


def fetcher(bodies: dict[str, bytes]) -> FakeFetcher:
    return FakeFetcher(
        {url: FetchResult(url, url, 200, {}, body) for url, body in bodies.items()}
    )


def poll(storage: Storage, cfg: Config, bodies: dict[str, bytes]) -> None:
    asyncio.run(
        pipeline.poll(storage, cfg, fetcher(bodies), clock=lambda: T0, force=True)
    )


# --------------------------------------------------------------------------
# Archive pages are frozen one page's stories at a time
# --------------------------------------------------------------------------


def _whole_batch(
    storage: Storage, story_ids: Sequence[str], size: int
) -> Iterator[list[Story]]:
    """The former way: load the whole batch, then cut it into full pages."""
    stories = storage.stories_by_id(story_ids)
    for start in range(0, len(story_ids), size):
        chunk = list(stories[start : start + size])
        if len(chunk) < size:
            break
        yield chunk


def _archives(storage: Storage, cfg: Config) -> dict[str, list[list[str]]]:
    """Every feed's archive pages, as the entry ids each page lists."""
    pages: dict[str, list[list[str]]] = {}
    for ref in pipeline.list_feeds(storage, cfg):
        key = pipeline.feed_key(ref)
        for number in range(1, storage.archive_page_count(key) + 1):
            doc = pipeline.build_archive(storage, cfg, ref, number)
            assert doc is not None
            pages.setdefault(key, []).append([e.id for e in doc.entries])
    return pages


@pytest.mark.parametrize("batch", [1, 2, 20])
@pytest.mark.parametrize("backlog", [None, 25])
def test_pages_frozen_page_by_page_are_the_pages_of_the_whole_batch(
    monkeypatch: pytest.MonkeyPatch, batch: int, backlog: int | None
) -> None:
    # two sources, so that stories interleave; with a backlog limit the
    # oldest entries of each source are hidden and their stories skipped
    bodies = {
        "http://a.test/feed": rss("https://a.test/", range(40)),
        "http://b.test/feed": rss("https://b.test/", range(5, 38)),
    }
    cfg = config(list(bodies), backlog=backlog)
    monkeypatch.setattr(_refresh, "_FREEZE_BATCH", batch)
    found: list[dict[str, list[list[str]]]] = []
    results = []
    for pages in (_whole_batch, _refresh._full_pages):
        monkeypatch.setattr(_refresh, "_full_pages", pages)
        with Storage(":memory:") as storage:
            poll(storage, cfg, bodies)
            results.append(pipeline.refresh_feeds(storage, cfg, now=T0))
            found.append(_archives(storage, cfg))
    assert results[0].archived > 1
    assert found[0]["all"] and found[0]["topics/ai"]
    assert found[1] == found[0]
    assert results[1] == results[0]


def test_story_ids_list_what_unarchived_stories_loads() -> None:
    bodies = {"http://a.test/feed": rss("https://a.test/", range(30))}
    cfg = config(list(bodies), backlog=20)
    with Storage(":memory:") as storage:
        poll(storage, cfg, bodies)
        for oldest_first in (False, True):
            stories = storage.unarchived_stories(
                FeedKind.ALL, "all", "all", 25, oldest_first=oldest_first
            )
            ids = storage.unarchived_story_ids(
                FeedKind.ALL, "all", "all", 25, oldest_first=oldest_first
            )
            loaded = storage.stories_by_id(ids)
            assert loaded == stories
            assert [rep.story_id for rep, _ in loaded] == list(ids)
            assert len(ids) == 20  # the visible ones (backlog)
        assert storage.stories_by_id([]) == ()
        # an id with no story (purged meanwhile) is left out, the order kept
        assert storage.stories_by_id([ids[2], "gone", ids[0]]) == (
            storage.stories_by_id([ids[2]]) + storage.stories_by_id([ids[0]])
        )


def test_pages_skip_stories_that_cannot_be_loaded() -> None:
    # a story listed, then gone before its page is loaded, is skipped and the
    # page is filled from the next ones, as when the whole batch was loaded
    bodies = {"http://a.test/feed": rss("https://a.test/", range(30))}
    cfg = config(list(bodies))
    with Storage(":memory:") as storage:
        poll(storage, cfg, bodies)
        ids = list(
            storage.unarchived_story_ids(
                FeedKind.ALL, "all", "all", 30, oldest_first=True
            )
        )
        listed = ids[:3] + ["gone-1", "gone-2"] + ids[3:10] + ["gone-3"] + ids[10:]
        pages = list(_refresh._full_pages(storage, listed, 7))
        whole = list(_whole_batch(storage, listed, 7))
    assert [len(page) for page in pages] == [7] * (len(ids) // 7)
    assert [rep.story_id for page in pages for rep, _ in page] == ids[: 7 * len(pages)]
    assert pages == whole


# --------------------------------------------------------------------------
# A poll keeps ``concurrency`` sources in flight, in order, without a task
# per source
# --------------------------------------------------------------------------


class CountingFetcher:
    """Records the order fetches start in and the most in flight at once."""

    def __init__(self, bodies: dict[str, bytes]) -> None:
        self.inner = fetcher(bodies)
        self.started: list[str] = []
        self.in_flight = 0
        self.most = 0

    async def fetch(self, request: FetchRequest) -> FetchResult:
        self.started.append(request.url)
        self.in_flight += 1
        self.most = max(self.most, self.in_flight)
        try:
            await asyncio.sleep(0.001)
            return await self.inner.fetch(request)
        finally:
            self.in_flight -= 1


@pytest.mark.parametrize("concurrency", [1, 3, 50])
def test_poll_keeps_concurrency_sources_in_flight_in_order(concurrency: int) -> None:
    bodies = {
        f"http://s{n}.test/feed": rss(f"https://s{n}.test/", range(2))
        for n in range(12)
    }
    cfg = config(list(bodies), concurrency=concurrency)
    counting = CountingFetcher(bodies)
    with Storage(":memory:") as storage:
        storage.sync_sources(cfg.sources, T0)
        order = [
            s.fetch_url for s in pipeline.pollable_sources(storage, T0, force=True)
        ]
        results = asyncio.run(
            pipeline.poll(storage, cfg, counting, clock=lambda: T0, force=True)
        )
    assert counting.started == order
    assert counting.most == min(concurrency, len(bodies))
    assert sorted(r.url for r in results) == sorted(bodies)
    assert {r.status for r in results} == {PollStatus.OK}


def test_stopping_a_poll_starts_no_further_source() -> None:
    bodies = {
        f"http://s{n}.test/feed": rss(f"https://s{n}.test/", range(2))
        for n in range(10)
    }
    cfg = config(list(bodies), concurrency=2)
    stop = threading.Event()

    class Stopping(CountingFetcher):
        async def fetch(self, request: FetchRequest) -> FetchResult:
            if len(self.started) == 3:
                stop.set()
            return await super().fetch(request)

    counting = Stopping(bodies)
    with Storage(":memory:") as storage:
        results = asyncio.run(
            pipeline.poll(
                storage, cfg, counting, clock=lambda: T0, force=True, stop=stop
            )
        )
    assert 3 <= len(counting.started) < len(bodies)
    assert len(results) < len(bodies)


# --------------------------------------------------------------------------
# Parse processes: one per core but one, the main process's
# --------------------------------------------------------------------------


@pytest.mark.parametrize(("cores", "expected"), [(1, 0), (2, 1), (4, 3), (16, 15)])
def test_default_workers_leave_a_core_to_the_main_process(
    cores: int, expected: int
) -> None:
    assert default_workers(cores) == expected


def test_default_pool_size_and_explicit_counts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("os.cpu_count", lambda: 2)
    pool = make_executor(0)
    assert isinstance(pool, LazyProcessPool) and not pool.started
    pool.shutdown()
    monkeypatch.setattr("os.cpu_count", lambda: 1)
    assert make_executor(0) is None  # one core: parse inline
    assert make_executor(1) is None  # serial, whatever the cores
    explicit = make_executor(3)
    assert isinstance(explicit, LazyProcessPool)
    explicit.shutdown()


def test_a_single_parse_process_parses_a_poll() -> None:
    bodies = {
        f"http://s{n}.test/feed": rss(f"https://s{n}.test/", range(3)) for n in range(4)
    }
    cfg = config(list(bodies))
    pool = LazyProcessPool(1)
    try:
        with Storage(":memory:") as storage:
            results = asyncio.run(
                pipeline.poll(
                    storage,
                    cfg,
                    fetcher(bodies),
                    clock=lambda: T0,
                    force=True,
                    executor=pool,
                )
            )
            stored = storage.feed_refs(FeedKind.ALL)
        assert pool.started
        assert {r.status for r in results} == {PollStatus.OK}
        assert sum(r.counts.new for r in results) == 12
        assert sum(n for _slug, _title, n in stored) == 12
        # one process did it all
        pids = {pool.submit(os.getpid).result() for _ in range(4)}
        assert len(pids) == 1 and os.getpid() not in pids
    finally:
        pool.shutdown()
