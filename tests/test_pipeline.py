from __future__ import annotations

import asyncio
import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from feedhub import pipeline
from feedhub.exceptions import FetchError
from feedhub.storage import Storage
from feedhub.types import (
    Config,
    FeedKind,
    FetchRequest,
    FetchResult,
    Match,
    PollingConfig,
    PollStatus,
    SourceConfig,
    TopicConfig,
)
from tests.fakes import FakeFetcher

NOW = datetime(2025, 7, 14, 12, 0, tzinfo=UTC)
DATA = Path(__file__).parent / "data" / "feeds"


def ok(url: str, name: str, etag: str = '"v1"') -> FetchResult:
    return FetchResult(url, url, 200, {}, (DATA / name).read_bytes(), etag=etag)


def make_config(*sources: SourceConfig, topics=()) -> Config:
    return Config(
        path=None,
        database=":memory:",
        polling=PollingConfig(workers=1),
        sources=sources,
        topics=tuple(topics),
    )


AI = TopicConfig("ai", "AI", Match(any=("OpenAI", "AI")))


@pytest.fixture
def storage():
    with Storage(":memory:") as s:
        yield s


def run(storage, config, fetcher, **kwargs):
    return asyncio.run(
        pipeline.poll(storage, config, fetcher, clock=lambda: NOW, **kwargs)
    )


def test_one_failing_source_never_stops_the_others(storage):
    config = make_config(
        SourceConfig("http://a.test/feed"),
        SourceConfig("http://b.test/feed"),
        SourceConfig("http://c.test/feed"),
        topics=[AI],
    )
    fetcher = FakeFetcher(
        {
            "http://a.test/feed": ok("http://a.test/feed", "seed-rss.xml"),
            "http://b.test/feed": FetchError(
                "http://b.test/feed", "500 Server Error", status=500
            ),
            "http://c.test/feed": FetchResult(
                "http://c.test/feed",
                "http://c.test/feed",
                200,
                {},
                b"<html>nope</html>",
            ),
        }
    )
    results = {r.url: r for r in run(storage, config, fetcher)}
    assert results["http://a.test/feed"].status is PollStatus.OK
    assert results["http://a.test/feed"].counts.new >= 4
    assert results["http://b.test/feed"].status is PollStatus.ERROR
    assert "500" in (results["http://b.test/feed"].error or "")
    assert results["http://c.test/feed"].status is PollStatus.ERROR
    assert (results["http://c.test/feed"].error or "").startswith("parse:")
    states = {s.url: s for s in storage.get_sources()}
    failed = states["http://b.test/feed"]
    assert failed.error_count == 1 and failed.last_error
    assert failed.next_check_at is not None and failed.next_check_at > NOW
    assert states["http://a.test/feed"].error_count == 0


def test_repoll_sends_validators_and_changes_nothing(storage):
    url = "http://a.test/feed"
    config = make_config(SourceConfig(url), topics=[AI])
    fetcher = FakeFetcher({url: ok(url, "seed-atom.xml", etag='"abc"')})
    first = run(storage, config, fetcher, force=True)
    second = run(storage, config, fetcher, force=True)
    assert first[0].counts.new > 0
    assert second[0].status is PollStatus.NOT_MODIFIED
    assert fetcher.requests[1] == FetchRequest(url, '"abc"', None)
    # a 200 with the same entries is all unchanged
    fetcher.responses[url] = ok(url, "seed-atom.xml", etag='"other"')
    third = run(storage, config, fetcher, force=True)
    assert third[0].counts.new == 0 and third[0].counts.updated == 0


def test_only_due_sources_are_polled(storage):
    url = "http://a.test/feed"
    config = make_config(SourceConfig(url))
    fetcher = FakeFetcher({url: ok(url, "seed-json.json")})
    assert len(run(storage, config, fetcher)) == 1
    assert run(storage, config, fetcher) == ()
    assert len(fetcher.requests) == 1


def test_per_source_interval_override(storage):
    url = "http://a.test/feed"
    config = make_config(SourceConfig(url, interval=7200))
    run(storage, config, FakeFetcher({url: ok(url, "seed-json.json")}))
    (state,) = storage.get_sources()
    assert state.next_check_at is not None
    assert state.next_check_at - NOW >= timedelta(seconds=7200)


def test_stop_abandons_in_flight_fetches(storage):
    url = "http://slow.test/feed"
    config = make_config(SourceConfig(url))
    stop = threading.Event()

    class Slow:
        async def fetch(self, request):
            stop.set()
            await asyncio.sleep(30)
            raise AssertionError("not cancelled")

    results = run(storage, config, Slow(), stop=stop)
    assert results == ()
    (state,) = storage.get_sources()
    assert state.last_status is None


def test_rules_change_refiles_stored_entries(storage):
    url = "http://a.test/feed"
    config = make_config(SourceConfig(url), topics=[AI])
    run(storage, config, FakeFetcher({url: ok(url, "seed-rss.xml")}))
    before = storage.feed_stories(FeedKind.TOPIC, "ai", 50)
    assert before
    sport = TopicConfig("sport", "Sport", Match(any=("football",)))
    changed = replace(
        config, topics=(replace(AI, match=Match(any=("nothing-matches-this",))), sport)
    )
    assert pipeline.apply_rules(storage, changed) > 0
    assert storage.feed_stories(FeedKind.TOPIC, "ai", 50) == ()
    assert storage.feed_stories(FeedKind.TOPIC, "sport", 50)
    # unchanged rules: nothing to do
    assert pipeline.apply_rules(storage, changed) == 0


def test_duplicate_ids_in_one_document_are_told_apart_by_link(storage):
    # issue 6: a feed that gives two different entries one guid keeps both;
    # the same guid and link twice is one entry
    url = "http://a.test/feed"
    body = b"""<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>
    <item><guid>same</guid><title>first</title><link>http://a.test/1</link></item>
    <item><guid>same</guid><title>second</title><link>http://a.test/2</link></item>
    <item><guid>same</guid><title>second</title><link>http://a.test/2</link></item>
    </channel></rss>"""
    config = make_config(SourceConfig(url))
    fetcher = FakeFetcher({url: FetchResult(url, url, 200, {}, body)})
    (result,) = run(storage, config, fetcher)
    assert result.status is PollStatus.OK
    assert result.counts.new == 2


def test_render_feed_is_valid_and_uses_derived_ids_for_non_iri_guids(storage):
    import feedparser

    url = "http://a.test/feed"
    config = make_config(SourceConfig(url, name="Vocal"), topics=[AI])
    run(storage, config, FakeFetcher({url: ok(url, "seed-rss.xml")}))
    ref = pipeline.find_feed(storage, config, FeedKind.TOPIC, "ai")
    assert ref is not None
    rendered = pipeline.render_feed(storage, config, ref)
    parsed = feedparser.parse(rendered.body)
    assert not parsed.bozo
    assert parsed.entries
    for entry in parsed.entries:
        assert entry.id.startswith("urn:feedhub:entry:")
        assert entry.source.title == "Vocal"
    assert pipeline.find_feed(storage, config, FeedKind.TOPIC, "nope") is None
    assert pipeline.find_feed(storage, config, FeedKind.AUTHOR, "nobody") is None


def test_publish_all_writes_only_changes(storage, tmp_path):
    url = "http://a.test/feed"
    config = make_config(SourceConfig(url), topics=[AI])
    run(storage, config, FakeFetcher({url: ok(url, "seed-rss.xml")}))
    written, unchanged = pipeline.publish_all(storage, config, str(tmp_path), now=NOW)
    assert written >= 3 and unchanged == 0
    assert (tmp_path / "topics" / "ai.atom").exists()
    assert (tmp_path / "authors" / "ramsha-riaz.atom").exists()
    assert pipeline.publish_all(storage, config, str(tmp_path), now=NOW) == (0, written)
