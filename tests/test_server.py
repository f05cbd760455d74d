from __future__ import annotations

import asyncio
import gzip
from datetime import UTC, datetime
from email.utils import format_datetime

import pytest
from starlette.testclient import TestClient

from feedhub import pipeline
from feedhub.server import create_app
from feedhub.storage import Storage
from feedhub.types import (
    Config,
    Match,
    PollingConfig,
    ServerConfig,
    SourceConfig,
    TopicConfig,
)
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
