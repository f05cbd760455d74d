from __future__ import annotations

import asyncio
import dataclasses
import gzip
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any

import brotli
import httpx2 as httpx
import pytest
from starlette.testclient import TestClient

from feedhub import pipeline
from feedhub.server import LiveConfig, _Cache, create_app
from feedhub.storage import Storage
from feedhub.types import (
    Config,
    Match,
    PollingConfig,
    ServerConfig,
    SourceConfig,
    TopicConfig,
)
from tests.conftest import running_app
from tests.fakes import FakeFetcher
from tests.test_pipeline import NOW, ok

BASE = "http://feeds.test/"


@pytest.fixture
def config() -> Config:
    return Config(
        path=None,
        database=":memory:",
        server=ServerConfig(base_url=BASE),
        polling=PollingConfig(workers=1),
        sources=(SourceConfig("http://a.test/feed"),),
        topics=(TopicConfig("ai", "AI", Match(any=("OpenAI",))),),
    )


@pytest.fixture
def storage(config):
    with Storage(":memory:") as s:
        url = "http://a.test/feed"
        asyncio.run(
            pipeline.poll(
                s,
                config,
                FakeFetcher({url: ok(url, "seed-rss.xml")}),
                clock=lambda: NOW,
            )
        )
        yield s


def client(storage, config, health=None) -> TestClient:
    return TestClient(create_app(storage, config, health=health), base_url=BASE)


def test_feed_has_strong_etag_last_modified_and_cache_control(storage, config):
    response = client(storage, config).get(
        "/topics/ai.atom", headers={"accept-encoding": "identity"}
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/atom+xml; charset=utf-8"
    etag = response.headers["etag"]
    assert etag.startswith('"') and not etag.startswith("W/")
    assert response.headers["last-modified"].endswith("GMT")
    assert "max-age=" in response.headers["cache-control"]
    assert response.headers["vary"] == "Accept-Encoding"


def test_if_none_match_gives_304_without_body(storage, config):
    c = client(storage, config)
    etag = c.get("/topics/ai.atom").headers["etag"]
    response = c.get("/topics/ai.atom", headers={"if-none-match": etag})
    assert response.status_code == 304
    assert response.content == b""
    assert response.headers["etag"] == etag
    assert (
        "content-length" not in response.headers
        or response.headers["content-length"] != "0"
    )
    # a weak form of the same tag also matches (weak comparison, RFC 9110 13.1.2)
    assert (
        c.get("/topics/ai.atom", headers={"if-none-match": "W/" + etag}).status_code
        == 304
    )
    assert (
        c.get("/topics/ai.atom", headers={"if-none-match": '"other"'}).status_code
        == 200
    )


def test_if_modified_since(storage, config):
    c = client(storage, config)
    last_modified = c.get("/topics/ai.atom").headers["last-modified"]
    assert (
        c.get(
            "/topics/ai.atom", headers={"if-modified-since": last_modified}
        ).status_code
        == 304
    )
    old = format_datetime(datetime(2000, 1, 1, tzinfo=UTC), usegmt=True)
    assert (
        c.get("/topics/ai.atom", headers={"if-modified-since": old}).status_code == 200
    )
    assert (
        c.get("/topics/ai.atom", headers={"if-modified-since": "garbage"}).status_code
        == 200
    )


def test_first_rendering_is_dated_no_earlier_than_the_server_start(storage, config):
    # After a restart the feed may hold an older-dated entry it did not show
    # before; dated by its newest entry, it would answer 304 to a client's
    # If-Modified-Since and the client would miss that entry.
    started = datetime.now(UTC).replace(microsecond=0)
    response = client(storage, config).get("/topics/ai.atom")
    last_modified = parsedate_to_datetime(response.headers["last-modified"])
    assert last_modified >= started
    before = format_datetime(started.replace(year=started.year - 1), usegmt=True)
    again = client(storage, config).get(
        "/topics/ai.atom", headers={"if-modified-since": before}
    )
    assert again.status_code == 200


def test_gzip_when_asked_with_its_own_etag(storage, config):
    c = client(storage, config)
    plain = c.get("/topics/ai.atom", headers={"accept-encoding": "identity"})
    zipped = c.get("/topics/ai.atom", headers={"accept-encoding": "gzip"})
    assert zipped.headers["content-encoding"] == "gzip"
    assert zipped.content == plain.content  # httpx decodes it
    assert zipped.headers["etag"] != plain.headers["etag"]
    assert "content-encoding" not in plain.headers
    refused = c.get("/topics/ai.atom", headers={"accept-encoding": "gzip;q=0"})
    assert "content-encoding" not in refused.headers


def test_head_has_headers_and_no_body(storage, config):
    c = client(storage, config)
    get = c.get("/topics/ai.atom", headers={"accept-encoding": "identity"})
    head = c.head("/topics/ai.atom", headers={"accept-encoding": "identity"})
    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["content-length"] == str(len(get.content))
    assert head.headers["etag"] == get.headers["etag"]


def test_unknown_feed_404(storage, config):
    c = client(storage, config)
    assert c.get("/topics/unknown.atom").status_code == 404
    assert c.get("/authors/nobody.atom").status_code == 404
    assert c.get("/no/such/path").status_code == 404
    assert c.get("/authors/ramsha-riaz.atom").status_code == 200
    assert c.get("/all.atom").status_code == 200


def test_cached_until_the_database_changes(storage, config, monkeypatch):
    calls = []
    real = pipeline.render_feed

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(pipeline, "render_feed", counting)
    c = client(storage, config)
    first = c.get("/topics/ai.atom")
    c.get("/topics/ai.atom")
    assert len(calls) == 1
    storage.set_memberships([])  # no change: no new generation
    c.get("/topics/ai.atom")
    assert len(calls) == 1
    assert first.status_code == 200


def test_index_page(storage, config):
    response = client(storage, config).get("/")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert f'href="{BASE}topics/ai.atom"' in response.text


def test_healthz(storage, config):
    assert client(storage, config).get("/healthz").json()["status"] == "ok"
    sick = client(storage, config, health=lambda: "no poll for 999s")
    response = sick.get("/healthz")
    assert response.status_code == 503
    assert response.json()["scheduler"] == "no poll for 999s"


def test_gzip_body_is_real_gzip(storage, config):
    c = client(storage, config)
    with c.stream(
        "GET", "/topics/ai.atom", headers={"accept-encoding": "gzip"}
    ) as response:
        raw = b"".join(response.iter_raw())
    assert gzip.decompress(raw).startswith(b"<?xml")


# --------------------------------------------------------------------------
# Readers and the writer (issue 8): stale-while-revalidate, one rendering
# --------------------------------------------------------------------------

OTHER = "http://b.test/feed"


def write_elsewhere(storage: Storage, config: Config) -> None:
    """Store a second source's entries: "all" changes, the author feed not."""
    more = dataclasses.replace(config, sources=(*config.sources, SourceConfig(OTHER)))
    fetcher = FakeFetcher({OTHER: ok(OTHER, "rss20-full.xml")})
    asyncio.run(pipeline.poll(storage, more, fetcher, clock=lambda: NOW))


class Gate:
    """Wraps a function so that calls wait until ``release()``; counts them."""

    def __init__(self, real: Callable[..., Any]) -> None:
        self.real = real
        self.calls = 0
        self.entered = threading.Event()
        self.opened = threading.Event()

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.calls += 1
        self.entered.set()
        assert self.opened.wait(30), "gate never opened"
        return self.real(*args, **kwargs)

    def release(self) -> None:
        self.opened.set()


def fetch_in_thread(url: str) -> tuple[threading.Thread, list[httpx.Response]]:
    out: list[httpx.Response] = []
    thread = threading.Thread(
        target=lambda: out.append(httpx.get(url, timeout=30)), daemon=True
    )
    thread.start()
    return thread, out


def test_readers_get_the_previous_rendering_while_one_renders(
    storage, config, free_socket, monkeypatch
):
    # stale=0: the first reader after a change waits for the fresh rendering;
    # the readers arriving meanwhile get the previous one instead of waiting
    # or rendering the same document again
    app = create_app(storage, config, recheck=0, stale=0)
    with running_app(app, free_socket) as base:
        url = base + "all.atom"
        before = httpx.get(url, timeout=30)
        write_elsewhere(storage, config)
        gate = Gate(pipeline.render_feed)
        monkeypatch.setattr(pipeline, "render_feed", gate)
        first, answer = fetch_in_thread(url)
        assert gate.entered.wait(30)
        try:
            for _ in range(3):
                meanwhile = httpx.get(url, timeout=30)
                assert meanwhile.status_code == 200
                assert meanwhile.headers["etag"] == before.headers["etag"]
                assert meanwhile.content == before.content
        finally:
            gate.release()
            first.join(30)
        fresh = answer[0]
        assert fresh.status_code == 200
        assert fresh.headers["etag"] != before.headers["etag"]
        assert gate.calls == 1
        # once re-rendered, the old validator never gets a 304
        again = httpx.get(
            url, headers={"if-none-match": before.headers["etag"]}, timeout=30
        )
        assert again.status_code == 200
        assert again.headers["etag"] == fresh.headers["etag"]
        assert gate.calls == 1


def test_with_stale_no_reader_waits_for_a_rendering(
    storage, config, free_socket, monkeypatch
):
    app = create_app(storage, config, recheck=0, stale=3600)
    with running_app(app, free_socket) as base:
        url = base + "all.atom"
        before = httpx.get(url, timeout=30)
        write_elsewhere(storage, config)
        gate = Gate(pipeline.render_feed)
        monkeypatch.setattr(pipeline, "render_feed", gate)
        try:
            # the gate is closed: these are answered without the rendering
            for _ in range(3):
                meanwhile = httpx.get(url, timeout=30)
                assert meanwhile.headers["etag"] == before.headers["etag"]
            assert gate.entered.wait(30)
        finally:
            gate.release()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            fresh = httpx.get(url, timeout=30)
            if fresh.headers["etag"] != before.headers["etag"]:
                break
            time.sleep(0.02)
        assert fresh.headers["etag"] != before.headers["etag"]
        assert gate.calls == 1


def test_readers_do_not_wait_for_the_generation_read(
    storage, config, free_socket, monkeypatch
):
    app = create_app(storage, config, recheck=0.01)
    with running_app(app, free_socket) as base:
        url = base + "topics/ai.atom"
        before = httpx.get(url, timeout=30)
        gate = Gate(storage.generation)
        monkeypatch.setattr(storage, "generation", gate)
        time.sleep(0.05)  # past recheck: the next request re-reads it
        try:
            served = httpx.get(url, timeout=30)
            assert served.headers["etag"] == before.headers["etag"]
            assert gate.entered.wait(30)  # read started, not awaited
        finally:
            gate.release()


def test_a_reload_is_never_served_stale(storage, config):
    live = LiveConfig(config)
    c = TestClient(create_app(storage, live, recheck=0, stale=3600), base_url=BASE)
    before = c.get("/topics/ai.atom")
    other = "http://elsewhere.test/"
    live.swap(dataclasses.replace(config, server=ServerConfig(base_url=other)))
    after = c.get("/topics/ai.atom")
    assert after.headers["etag"] != before.headers["etag"]
    assert other.encode() in after.content


def test_unchanged_document_keeps_validators_without_recompressing(
    storage, config, monkeypatch
):
    compressed: list[int] = []
    real = brotli.compress

    def counting(*args: Any, **kwargs: Any) -> bytes:
        compressed.append(1)
        value: bytes = real(*args, **kwargs)
        return value

    monkeypatch.setattr(brotli, "compress", counting)
    c = TestClient(create_app(storage, config, recheck=0), base_url=BASE)
    path = "/authors/ramsha-riaz.atom"
    before = c.get(path, headers={"accept-encoding": "br"})
    assert before.headers["content-encoding"] == "br"
    everything = c.get("/all.atom")
    generation = storage.generation()
    write_elsewhere(storage, config)
    assert storage.generation() > generation
    assert c.get("/all.atom").headers["etag"] != everything.headers["etag"]
    compressed.clear()
    # re-rendered for the new generation: the same bytes keep their ETag and
    # Last-Modified, and their compressed bodies are not built again
    again = c.get(path, headers={"accept-encoding": "br"})
    assert again.content == before.content
    assert again.headers["etag"] == before.headers["etag"]
    assert again.headers["last-modified"] == before.headers["last-modified"]
    assert compressed == []
    conditional = c.get(
        path,
        headers={"accept-encoding": "br", "if-none-match": before.headers["etag"]},
    )
    assert conditional.status_code == 304


def test_an_older_rendering_finishing_last_never_replaces_a_newer():
    cache = _Cache(1 << 20)
    newer = cache.put(
        "/x.atom", 2, (b"new" * 300, "application/atom+xml", NOW, 60), NOW
    )
    late = cache.put("/x.atom", 1, (b"old" * 300, "application/atom+xml", NOW, 60), NOW)
    assert late is newer
    assert cache.items["/x.atom"] is newer
