"""Publishing end to end: archives, retractions, WebSub, static export, serving,
and real readers (newsboat, sfeed) subscribing to every kind of feed."""

from __future__ import annotations

import asyncio
import gzip
import json
import os
import shutil
import sqlite3
import subprocess
import threading
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs

import brotli
import pytest
from click.testing import CliRunner
from starlette.testclient import TestClient

from feedhub import pipeline
from feedhub.cli import cli
from feedhub.server import create_app
from feedhub.storage import Storage
from feedhub.types import (
    Config,
    FeedKind,
    FetchResult,
    Match,
    PollingConfig,
    PublishConfig,
    ServerConfig,
    SourceConfig,
    TopicConfig,
)
from tests.conftest import running_app
from tests.fakes import FakeFetcher
from tests.test_publish import PageParser

A = "{http://www.w3.org/2005/Atom}"
FH = "{http://purl.org/syndication/history/1.0}"
AT = "{http://purl.org/atompub/tombstones/1.0}"
T0 = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
SOURCE_URL = "http://src.test/feed"


def rss(numbers: range | list[int], *, extra: str = "", channel: str = "") -> bytes:
    """An RSS source with one item per number; odd ones have an author.

    ``channel`` is inserted into ``<channel>`` before the items.
    """
    items = []
    for i in numbers:
        date = format_datetime(T0 - timedelta(hours=i), usegmt=True)
        author = f"<dc:creator>Writer {i % 3}</dc:creator>" if i % 2 else ""
        items.append(
            f"<item><title>AI story {i}{extra}</title>"
            f"<link>https://src.test/{i}</link><guid>https://src.test/{i}</guid>"
            f"<pubDate>{date}</pubDate>{author}"
            f"<description>&lt;p&gt;Body {i} about AI&lt;/p&gt;</description></item>"
        )
    return (
        '<?xml version="1.0"?><rss version="2.0" '
        'xmlns:dc="http://purl.org/dc/elements/1.1/"><channel><title>Source</title>'
        "<link>https://src.test/</link><description>d</description>"
        + channel
        + "".join(items)
        + "</channel></rss>"
    ).encode()


def make_config(base_url: str = "http://hub.test/", **publish) -> Config:
    # the whole backlog of the new source is published (see dedupe's backlog)
    settings = {
        "entries_per_feed": 4,
        "archive_page_size": 3,
        "backlog_per_new_source": None,
    } | publish
    return Config(
        path=None,
        database=":memory:",
        server=ServerConfig(base_url=base_url),
        polling=PollingConfig(workers=1),
        publish=PublishConfig(**settings),
        # entries join the topic by its rule, so a rule change can drop them
        sources=(SourceConfig(SOURCE_URL, name="Source"),),
        topics=(TopicConfig("ai", "AI", Match(any=("AI",)), "About AI"),),
    )


@dataclass
class Site:
    storage: Storage
    config: Config
    generation: int = 0
    pings: list[tuple[str, list[str]]] = field(default_factory=list)

    def poll(self, body: bytes, now: datetime = T0) -> pipeline.RefreshResult:
        self.generation += 1
        fetcher = FakeFetcher(
            {
                SOURCE_URL: FetchResult(
                    SOURCE_URL, SOURCE_URL, 200, {}, body, etag=f'"{self.generation}"'
                )
            }
        )
        asyncio.run(
            pipeline.poll(
                self.storage, self.config, fetcher, clock=lambda: now, force=True
            )
        )
        return self.refresh(now)

    def refresh(self, now: datetime = T0) -> pipeline.RefreshResult:
        return pipeline.refresh_feeds(
            self.storage,
            self.config,
            now=now,
            ping=lambda hub, urls: self.pings.append((hub, list(urls))),
        )

    def ref(self, kind: FeedKind = FeedKind.TOPIC, slug: str = "ai"):
        ref = pipeline.find_feed(self.storage, self.config, kind, slug)
        assert ref is not None
        return ref

    def atom(self, ref=None) -> ET.Element:
        body = pipeline.render_feed(self.storage, self.config, ref or self.ref()).body
        return ET.fromstring(body)

    def archive(self, number: int, ref=None) -> bytes:
        page = pipeline.render_archive(
            self.storage, self.config, ref or self.ref(), number
        )
        assert page is not None
        return page.body


@pytest.fixture
def site() -> Iterator[Site]:
    with Storage(":memory:") as storage:
        yield Site(storage, make_config(hub="https://websub.test/"))


def ids(root: ET.Element) -> list[str]:
    return [e.findtext(f"{A}id") or "" for e in root.findall(f"{A}entry")]


def link(root: ET.Element, rel: str) -> str | None:
    for element in root.findall(f"{A}link"):
        if element.get("rel") == rel:
            return element.get("href")
    return None


# --------------------------------------------------------------------------
# RFC 5005 history
# --------------------------------------------------------------------------


def test_small_feed_is_complete_and_has_no_archive(site):
    site.poll(rss(range(5)))
    root = site.atom()
    assert root.find(f"{FH}complete") is not None
    assert link(root, "prev-archive") is None
    assert len(ids(root)) == 5


def test_backfill_walks_prev_archive_to_the_whole_history(site):
    site.poll(rss(range(20)))
    root = site.atom()
    assert root.find(f"{FH}complete") is None
    current = ids(root)
    # between entries_per_feed and entries_per_feed + archive_page_size - 1
    assert 4 <= len(current) <= 6
    seen = list(current)
    href = link(root, "prev-archive")
    pages = 0
    while href is not None:
        number = int(href.rsplit("/", 1)[1].removesuffix(".atom"))
        page = ET.fromstring(site.archive(number))
        assert page.find(f"{FH}archive") is not None
        assert link(page, "current") == "http://hub.test/topics/ai.atom"
        assert len(ids(page)) == 3
        seen += ids(page)
        href = link(page, "prev-archive")
        pages += 1
    assert pages == 5
    assert sorted(seen) == sorted(f"https://src.test/{i}" for i in range(20))
    assert len(seen) == len(set(seen))
    # newest first across pages: the oldest entries are on page 1
    assert ids(ET.fromstring(site.archive(1))) == [
        f"https://src.test/{i}" for i in (17, 18, 19)
    ]


def test_archive_pages_never_change_once_written(site):
    site.poll(rss(range(12)))
    first = site.archive(1)
    # the source later edits an archived entry and adds new ones
    site.poll(rss(range(12), extra=" (edited)"), T0 + timedelta(hours=1))
    site.poll(rss(range(-8, 12), extra=" (edited)"), T0 + timedelta(hours=2))
    again = ET.fromstring(site.archive(1))
    assert ids(again) == ids(ET.fromstring(first))
    assert [e.findtext(f"{A}title") for e in again.findall(f"{A}entry")] == [
        e.findtext(f"{A}title") for e in ET.fromstring(first).findall(f"{A}entry")
    ]
    # only a next-archive link was added when page 2 appeared
    assert link(again, "next-archive") == "http://hub.test/topics/ai/archive/2.atom"


def test_archive_pages_are_served_with_long_caching(site):
    site.poll(rss(range(12)))
    client = TestClient(create_app(site.storage, site.config, recheck=0))
    for ext in ("atom", "rss", "json", "html"):
        response = client.get(f"/topics/ai/archive/1.{ext}")
        assert response.status_code == 200, ext
        assert "max-age=31536000" in response.headers["cache-control"]
    assert client.get("/topics/ai/archive/99.atom").status_code == 404
    assert client.get("/all/archive/1.atom").status_code == 200


# --------------------------------------------------------------------------
# RFC 6721 retractions
# --------------------------------------------------------------------------


def test_entry_blocked_by_a_new_rule_is_retracted_for_a_while(site):
    site.poll(rss(range(3)))
    blocked = replace(
        site.config,
        topics=(
            TopicConfig("ai", "AI", Match(any=("AI",), none=("story 1",)), "About AI"),
        ),
    )
    site.config = blocked
    pipeline.apply_rules(site.storage, blocked)
    result = site.refresh(T0 + timedelta(hours=1))
    assert result.retracted == 1
    assert "topics/ai" in result.changed
    root = site.atom()
    (gone,) = root.findall(f"{AT}deleted-entry")
    assert gone.get("ref") == "https://src.test/1"
    assert gone.get("when") == "2026-11-20T13:00:00Z"
    assert gone.findtext(f"{AT}comment") == "no longer selected for this feed"
    assert "https://src.test/1" not in ids(root)
    # the all feed still has it: nothing to retract there
    assert site.atom(site.ref(FeedKind.ALL, "all")).find(f"{AT}deleted-entry") is None
    # a later pass with no change keeps it, and it expires after the period
    assert site.refresh(T0 + timedelta(days=2)).retracted == 0
    assert site.atom().find(f"{AT}deleted-entry") is not None
    expired = site.refresh(T0 + timedelta(days=31))
    assert "topics/ai" in expired.changed
    assert site.atom().find(f"{AT}deleted-entry") is None


def test_aging_out_into_an_archive_is_no_retraction(site):
    site.poll(rss(range(5)))
    result = site.poll(rss(range(-10, 5)), T0 + timedelta(hours=1))
    assert result.archived > 0
    assert result.retracted == 0
    assert site.atom().find(f"{AT}deleted-entry") is None


def test_retracted_entry_that_returns_loses_its_retraction(site):
    site.poll(rss(range(3)))
    site.config = replace(
        site.config,
        topics=(
            TopicConfig("ai", "AI", Match(any=("AI",), none=("story 1",)), "About AI"),
        ),
    )
    pipeline.apply_rules(site.storage, site.config)
    site.refresh(T0 + timedelta(hours=1))
    site.config = make_config(hub="https://websub.test/")
    pipeline.apply_rules(site.storage, site.config)
    site.refresh(T0 + timedelta(hours=2))
    root = site.atom()
    assert "https://src.test/1" in ids(root)
    assert root.find(f"{AT}deleted-entry") is None


# --------------------------------------------------------------------------
# WebSub
# --------------------------------------------------------------------------


def test_hub_is_pinged_only_when_a_feed_changed(site):
    site.poll(rss(range(3)))
    assert (
        "https://websub.test/",
        [
            "http://hub.test/topics/ai.atom",
            "http://hub.test/topics/ai.rss",
            "http://hub.test/topics/ai.json",
        ],
    ) in site.pings
    count = len(site.pings)
    # same content polled again (new ETag, same entries): no ping
    site.poll(rss(range(3)), T0 + timedelta(hours=1))
    assert len(site.pings) == count
    assert site.refresh(T0 + timedelta(hours=2)).changed == ()
    assert len(site.pings) == count
    site.poll(rss(range(-1, 3)), T0 + timedelta(hours=3))
    pinged = {urls[0] for _hub, urls in site.pings[count:]}
    assert "http://hub.test/topics/ai.atom" in pinged
    assert "http://hub.test/all.atom" in pinged
    root = site.atom()
    assert link(root, "hub") == "https://websub.test/"


class _Hub(BaseHTTPRequestHandler):
    pings: list[dict[str, list[str]]]

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        size = int(self.headers["Content-Length"])
        form = parse_qs(self.rfile.read(size).decode())
        type(self).pings.append(form)
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


@pytest.fixture
def hub() -> Iterator[tuple[str, list[dict[str, list[str]]]]]:
    pings: list[dict[str, list[str]]] = []
    handler = type("Hub", (_Hub,), {"pings": pings})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hub", pings
    finally:
        server.shutdown()
        server.server_close()


def test_websub_ping_reaches_a_real_hub_only_on_change(hub):
    url, pings = hub
    config = make_config(hub=url)
    with Storage(":memory:") as storage:
        fetcher = FakeFetcher(
            {SOURCE_URL: FetchResult(SOURCE_URL, SOURCE_URL, 200, {}, rss(range(2)))}
        )
        asyncio.run(pipeline.poll(storage, config, fetcher, clock=lambda: T0))
        pipeline.publish_changes(storage, config, now=T0)
        assert {
            "hub.mode": ["publish"],
            "hub.url": [
                "http://hub.test/topics/ai.atom",
                "http://hub.test/topics/ai.rss",
                "http://hub.test/topics/ai.json",
            ],
        } in pings
        count = len(pings)
        pipeline.publish_changes(storage, config, now=T0 + timedelta(hours=1))
        assert len(pings) == count


def test_unreachable_hub_does_not_stop_publishing(site):
    def down(hub, urls):
        raise ConnectionRefusedError("hub down")

    site.poll(rss(range(2)))
    site.generation += 1
    site.storage.mark_feeds_dirty(["topics/ai"])
    result = pipeline.refresh_feeds(site.storage, site.config, now=T0, ping=down)
    assert result.pinged == 0


# --------------------------------------------------------------------------
# Static export
# --------------------------------------------------------------------------


def write_config(tmp_path: Path, **publish) -> Path:
    lines = [
        f"database: {tmp_path / 'db.sqlite'}",
        "server: {base_url: 'http://hub.test/'}",
        "publish: "
        + json.dumps({"entries_per_feed": 4, "archive_page_size": 3} | publish),
        "sources: [{url: 'http://src.test/feed', name: Source, topics: [ai]}]",
        "topics: {ai: {title: AI, match: [AI]}}",
    ]
    path = tmp_path / "feeds.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def seed_database(path: Path, body: bytes) -> None:
    from feedhub.config import load_config

    config = load_config(path)
    with Storage(config.database) as storage:
        fetcher = FakeFetcher(
            {SOURCE_URL: FetchResult(SOURCE_URL, SOURCE_URL, 200, {}, body)}
        )
        asyncio.run(
            pipeline.poll(storage, config, fetcher, clock=lambda: T0, force=True)
        )


def test_publish_out_writes_every_file_once(tmp_path):
    config_path = write_config(tmp_path)
    seed_database(config_path, rss(range(12)))
    out = tmp_path / "site"
    runner = CliRunner()
    first = runner.invoke(
        cli,
        ["--config", str(config_path), "publish", "--out", str(out)],
        catch_exceptions=False,
    )
    assert first.exit_code == 0, first.output
    files = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}
    for ext in ("atom", "rss", "json", "html"):
        assert f"topics/ai.{ext}" in files
        assert f"all.{ext}" in files
        assert f"topics/ai/archive/1.{ext}" in files
        assert f"authors/writer-1.{ext}" in files
    assert {"index.html", "feeds.opml", "topics.opml", "authors.opml"} <= files
    assert not [f for f in files if ".tmp" in f or f.startswith(".")]
    # the files are what the server serves
    with Storage(str(tmp_path / "db.sqlite")) as storage:
        from feedhub.config import load_config

        config = load_config(config_path)
        served = TestClient(create_app(storage, config, recheck=0)).get(
            "/topics/ai.rss", headers={"accept-encoding": "identity"}
        )
    assert served.content == (out / "topics/ai.rss").read_bytes()
    second = runner.invoke(
        cli,
        ["--config", str(config_path), "publish", "--out", str(out)],
        catch_exceptions=False,
    )
    assert " 0 written" in second.output, second.output
    stamp = os.stat(out / "topics/ai.atom").st_mtime_ns
    seed_database(config_path, rss(range(-1, 12)))
    third = runner.invoke(
        cli,
        ["--config", str(config_path), "publish", "--out", str(out)],
        catch_exceptions=False,
    )
    assert " 0 written" not in third.output
    assert os.stat(out / "topics/ai.atom").st_mtime_ns != stamp
    assert b"https://src.test/-1" in (out / "topics/ai.atom").read_bytes()


def test_publish_changes_keeps_out_dir_up_to_date(tmp_path):
    config = make_config(out_dir=str(tmp_path / "site"))
    with Storage(":memory:") as storage:
        fetcher = FakeFetcher(
            {SOURCE_URL: FetchResult(SOURCE_URL, SOURCE_URL, 200, {}, rss(range(2)))}
        )
        asyncio.run(pipeline.poll(storage, config, fetcher, clock=lambda: T0))
        pipeline.publish_changes(storage, config, now=T0, full=True)
    assert (tmp_path / "site/topics/ai.json").exists()
    assert (tmp_path / "site/index.html").exists()


# --------------------------------------------------------------------------
# atom:source
# --------------------------------------------------------------------------

SOURCE_CHANNEL = (
    "<copyright>© 2026 Source &amp; Co.</copyright>"
    "<managingEditor>ed@src.test (Ed Itor)</managingEditor>"
    "<category>News</category><category>Science &amp; Tech</category>"
)


def source_of(root: ET.Element, entry_id: str) -> ET.Element:
    for entry in root.findall(f"{A}entry"):
        if entry.findtext(f"{A}id") == entry_id:
            source = entry.find(f"{A}source")
            assert source is not None
            return source
    raise AssertionError(f"no entry {entry_id}")


def test_atom_source_credits_the_source_feeds_rights_categories_author(site):
    body = rss(range(12), channel=SOURCE_CHANNEL).replace(
        b"<guid>https://src.test/0</guid>",
        b"<guid>https://src.test/0</guid><category>Own</category>",
    )
    site.poll(body)
    root = site.atom()
    # entry 0: no author of its own, a category of its own
    source = source_of(root, "https://src.test/0")
    assert source.findtext(f"{A}rights") == "© 2026 Source & Co."
    assert [a.findtext(f"{A}name") for a in source.findall(f"{A}author")] == ["Ed Itor"]
    assert source.find(f"{A}author/{A}email") is not None
    assert source.findall(f"{A}category") == []
    # entry 1: an author of its own (RFC 4287 §4.2.11: only what the entry lacks)
    source = source_of(root, "https://src.test/1")
    assert source.findtext(f"{A}rights") == "© 2026 Source & Co."
    assert source.findall(f"{A}author") == []
    assert [c.get("term") for c in source.findall(f"{A}category")] == [
        "News",
        "Science & Tech",
    ]
    # archive pages are snapshots: they keep the source's metadata too
    page = ET.fromstring(site.archive(1))
    source = source_of(page, "https://src.test/11")
    assert source.findtext(f"{A}rights") == "© 2026 Source & Co."
    assert [c.get("term") for c in source.findall(f"{A}category")] == [
        "News",
        "Science & Tech",
    ]
    frozen = site.archive(1)
    # a new copyright notice is credited from the next poll on
    site.poll(body.replace(b"2026 Source", b"2027 Source"), T0 + timedelta(hours=1))
    source = source_of(site.atom(), "https://src.test/1")
    assert source.findtext(f"{A}rights") == "© 2027 Source & Co."
    assert site.archive(1) == frozen


def test_atom_source_without_source_metadata_has_none(site):
    site.poll(rss(range(2)))
    source = source_of(site.atom(), "https://src.test/0")
    assert source.find(f"{A}rights") is None
    assert source.findall(f"{A}author") == []
    assert source.findall(f"{A}category") == []
    assert source.findtext(f"{A}title") == "Source"


# --------------------------------------------------------------------------
# Serving
# --------------------------------------------------------------------------


@pytest.fixture
def client(site) -> TestClient:
    site.poll(rss(range(12)))
    return TestClient(
        create_app(site.storage, site.config, recheck=0), base_url="http://hub.test/"
    )


def test_every_format_is_served_with_its_media_type(client):
    types = {
        "atom": "application/atom+xml; charset=utf-8",
        "rss": "application/rss+xml; charset=utf-8",
        "json": "application/feed+json; charset=utf-8",
        "html": "text/html; charset=utf-8",
    }
    for stem in ("all", "topics/ai", "authors/writer-1"):
        for ext, media in types.items():
            response = client.get(f"/{stem}.{ext}")
            assert response.status_code == 200, (stem, ext)
            assert response.headers["content-type"] == media
    assert client.get("/topics/ai.xml").status_code == 404
    assert client.get("/topics/nope.rss").status_code == 404


def test_brotli_and_gzip_by_accept_encoding(client):
    plain = client.get("/topics/ai.atom", headers={"accept-encoding": "identity"})
    with client.stream(
        "GET", "/topics/ai.atom", headers={"accept-encoding": "gzip, br"}
    ) as response:
        raw = b"".join(response.iter_raw())
        assert response.headers["content-encoding"] == "br"
        br_etag = response.headers["etag"]
    assert brotli.decompress(raw) == plain.content
    with client.stream(
        "GET", "/topics/ai.atom", headers={"accept-encoding": "br;q=0, gzip"}
    ) as response:
        raw = b"".join(response.iter_raw())
        assert response.headers["content-encoding"] == "gzip"
    assert gzip.decompress(raw) == plain.content
    assert len({plain.headers["etag"], br_etag, response.headers["etag"]}) == 3
    not_modified = client.get(
        "/topics/ai.atom",
        headers={"accept-encoding": "br", "if-none-match": br_etag},
    )
    assert not_modified.status_code == 304
    assert not_modified.content == b""
    assert not_modified.headers.get("content-length") in (None, str(len(raw)))


def test_cache_control_and_rss_ttl_follow_the_poll_interval(client, site):
    response = client.get("/topics/ai.rss")
    assert response.headers["cache-control"] == "public, max-age=900"
    ttl = ET.fromstring(response.content).findtext("channel/ttl")
    assert ttl == "15"


def test_cached_responses_do_not_touch_the_database(site):
    site.poll(rss(range(3)))
    app = create_app(site.storage, site.config, recheck=3600)
    client = TestClient(app)
    assert client.get("/topics/ai.atom").status_code == 200
    reads = []
    real = site.storage.generation

    def counting() -> int:
        reads.append(1)
        value: int = real()
        return value

    site.storage.generation = counting
    try:
        for _ in range(5):
            assert client.get("/topics/ai.atom").status_code == 200
    finally:
        del site.storage.generation
    assert reads == []


def test_head_and_304_on_every_kind(client):
    for path in ("/", "/feeds.opml", "/topics/ai.json", "/topics/ai/archive/1.html"):
        get = client.get(path, headers={"accept-encoding": "identity"})
        head = client.head(path, headers={"accept-encoding": "identity"})
        assert head.status_code == 200 and head.content == b""
        assert head.headers["content-length"] == str(len(get.content))
        again = client.get(path, headers={"if-none-match": get.headers["etag"]})
        assert again.status_code == 304, path


def test_index_page_for_people(client):
    page = client.get("/")
    parser = PageParser()
    parser.feed(page.text)
    parser.close()
    assert "script" not in parser.tags
    hrefs = [a["href"] for a in parser.anchors]
    for stem in ("all", "topics/ai", "authors/writer-1"):
        for ext in ("html", "atom", "rss", "json"):
            assert f"http://hub.test/{stem}.{ext}" in hrefs
    assert "http://hub.test/feeds.opml" in hrefs
    text = " ".join(parser.text)
    assert "12 entries" in text
    assert "AI story 0" in text  # newest headline
    assert "About AI" in text


def test_opml_subscribes_to_every_feed(client):
    for path in ("/opml", "/feeds.opml"):
        root = ET.fromstring(client.get(path).content)
        urls = {o.get("xmlUrl") for o in root.iter("outline")}
        assert {
            "http://hub.test/all.atom",
            "http://hub.test/topics/ai.atom",
            "http://hub.test/authors/writer-1.atom",
        } <= urls
    topics = ET.fromstring(client.get("/topics.opml").content)
    assert {o.get("xmlUrl") for o in topics.iter("outline")} == {
        "http://hub.test/topics/ai.atom"
    }
    assert client.get("/nothing.opml").status_code == 404


# --------------------------------------------------------------------------
# Real readers
# --------------------------------------------------------------------------

NEWSBOAT = shutil.which("newsboat")
SFEED = shutil.which("sfeed")


@pytest.fixture
def served(free_socket) -> Iterator[tuple[str, list[str]]]:
    """A real server on 127.0.0.1 with every kind of feed; yields base, paths."""
    host, port = free_socket.getsockname()[:2]
    base = f"http://{host}:{port}/"
    config = make_config(base)
    with Storage(":memory:") as storage:
        fetcher = FakeFetcher(
            {
                SOURCE_URL: FetchResult(
                    SOURCE_URL, SOURCE_URL, 200, {}, rss(range(12), extra=" &amp; co")
                )
            }
        )
        asyncio.run(pipeline.poll(storage, config, fetcher, clock=lambda: T0))
        pipeline.refresh_feeds(storage, config, now=T0)
        paths = [
            f"{stem}.{ext}"
            for stem in ("all", "topics/ai", "authors/writer-1", "topics/ai/archive/1")
            for ext in ("atom", "rss")
        ]
        with running_app(create_app(storage, config), free_socket) as url:
            yield url, paths


@pytest.mark.skipif(
    NEWSBOAT is None, reason="newsboat not installed (apt-get install newsboat)"
)
def test_newsboat_subscribes_to_every_kind_of_feed(served, tmp_path):
    base, paths = served
    home = tmp_path / "nb"
    home.mkdir()
    (home / "config").write_text("reload-threads 1\n")
    env = dict(
        os.environ, HOME=str(home), XDG_CONFIG_HOME=str(home), XDG_DATA_HOME=str(home)
    )
    assert NEWSBOAT is not None
    cmd = [NEWSBOAT, "-u", "urls", "-c", "cache.db", "-C", "config", "-x", "reload"]

    def items(path: str) -> list[tuple[str, str, str, str, int]]:
        # one cache per feed: newsboat keeps a single item per guid
        (home / "urls").write_text(f'"{base}{path}"\n')
        done = subprocess.run(cmd, cwd=home, env=env, capture_output=True, timeout=120)
        assert done.returncode == 0, done.stderr
        with sqlite3.connect(home / "cache.db") as db:
            rows: list[tuple[str, str, str, str, int]] = db.execute(
                "SELECT guid, title, url, author, pubDate FROM rss_item"
                " WHERE feedurl = ? AND deleted = 0",
                (base + path,),
            ).fetchall()
        return rows

    for path in paths:
        first = items(path)
        assert first, path
        for guid, title, url, author, date in first:
            assert guid and title and url and author and date > 0, (path, guid)
            assert "&amp;" not in title and "& co" in title
        if "archive" in path:
            assert len(first) == 3
        # a second refresh with no change delivers nothing new
        assert sorted(items(path)) == sorted(first)
        (home / "cache.db").unlink()


def sfeed_lines(data: bytes) -> list[list[str]]:
    assert SFEED is not None
    done = subprocess.run([SFEED], input=data, capture_output=True, timeout=60)
    assert done.returncode == 0
    return [line.split("\t") for line in done.stdout.decode().splitlines()]


@pytest.mark.skipif(SFEED is None, reason="sfeed not installed (apt-get install sfeed)")
def test_sfeed_reads_every_kind_of_feed(served):
    import urllib.request

    base, paths = served
    for path in paths:
        with urllib.request.urlopen(base + path, timeout=10) as response:
            data = response.read()
        lines = sfeed_lines(data)
        assert lines, path
        for fields in lines:
            # sfeed(5): timestamp, title, link, content, content-type, id, author
            timestamp, title, url, _content, _ctype, entry_id, author = fields[:7]
            assert timestamp.isdigit() and title and url and entry_id and author, (
                path,
                fields[:7],
            )
        # a second read of the unchanged feed yields exactly the same entries
        with urllib.request.urlopen(base + path, timeout=10) as response:
            assert sfeed_lines(response.read()) == lines


# --------------------------------------------------------------------------
# Configuration
# --------------------------------------------------------------------------


def test_publish_section_of_feeds_yaml(tmp_path):
    from feedhub.config import parse_config
    from feedhub.exceptions import ConfigError

    text = (
        "publish: {archive_page_size: 20, retraction_period: 7d, "
        "hub: 'https://websub.test/', out_dir: site, site_title: My hub}"
    )
    config = parse_config(text, str(tmp_path / "feeds.yaml"))
    assert config.publish.archive_page_size == 20
    assert config.publish.retraction_period == 7 * 86400
    assert config.publish.hub == "https://websub.test/"
    assert config.publish.out_dir == str(tmp_path / "site")
    assert config.publish.site_title == "My hub"
    defaults = parse_config("publish: {hub: null}", str(tmp_path / "feeds.yaml"))
    assert defaults.publish.hub is None and defaults.publish.out_dir is None
    with pytest.raises(ConfigError, match=r"publish\.hub: 'ftp://x' is not an http"):
        parse_config("publish: {hub: 'ftp://x'}", str(tmp_path / "feeds.yaml"))
    with pytest.raises(ConfigError, match=r"publish\.archive_page_size"):
        parse_config("publish: {archive_page_size: 0}", str(tmp_path / "feeds.yaml"))


def test_purged_entry_is_retracted_from_every_feed_it_was_in(site):
    site.poll(rss(range(3)))
    (entry,) = site.storage.find_entries("https://src.test/1")
    assert site.storage.purge_entries([entry.key], T0) == 1
    result = site.refresh(T0 + timedelta(minutes=5))
    assert result.retracted == 3  # all, topics/ai, authors/writer-1
    for ref in (site.ref(), site.ref(FeedKind.ALL, "all")):
        (gone,) = site.atom(ref).findall(f"{AT}deleted-entry")
        assert gone.get("ref") == "https://src.test/1"
        assert gone.findtext(f"{AT}comment") == "removed by its source"
        assert gone.find(f"{A}link").get("href") == "https://src.test/1"
    # the author had no other entry: the feed stays, empty, to say so
    author = site.ref(FeedKind.AUTHOR, "writer-1")
    assert ids(site.atom(author)) == []
    assert site.atom(author).find(f"{AT}deleted-entry") is not None
    site.refresh(T0 + timedelta(days=40))
    assert (
        pipeline.find_feed(site.storage, site.config, FeedKind.AUTHOR, "writer-1")
        is None
    )


@pytest.mark.skipif(shutil.which("jing") is None, reason="jing not installed")
def test_every_served_atom_document_is_schema_valid(site, tmp_path):
    from tests.test_publish_formats import jing_errors

    site.poll(rss(range(12), extra=" &amp; co", channel=SOURCE_CHANNEL))
    site.config = replace(
        site.config,
        topics=(
            TopicConfig("ai", "AI", Match(any=("AI",), none=("story 1",)), "About AI"),
        ),
    )
    pipeline.apply_rules(site.storage, site.config)
    assert site.refresh(T0 + timedelta(hours=1)).retracted == 1
    client = TestClient(create_app(site.storage, site.config, recheck=0))
    paths = ["/all.atom", "/topics/ai.atom", "/authors/writer-1.atom"]
    paths += ["/topics/ai/archive/1.atom", "/all/archive/2.atom"]
    bodies = [client.get(path).content for path in paths]
    assert all(body.startswith(b"<?xml") for body in bodies)
    assert jing_errors(bodies, tmp_path) == ""
    assert b"deleted-entry" in client.get("/topics/ai.atom").content


def test_response_cache_is_bounded(site, monkeypatch):
    site.poll(rss(range(3)))
    renders = []
    real = pipeline.render_feed

    def counting(*args, **kwargs):
        renders.append(args[3] if len(args) > 3 else kwargs.get("ext"))
        return real(*args, **kwargs)

    monkeypatch.setattr(pipeline, "render_feed", counting)
    # room for about one document: each new path evicts the previous one
    client = TestClient(create_app(site.storage, site.config, cache_bytes=1))
    for _ in range(2):
        client.get("/topics/ai.atom")
        client.get("/topics/ai.rss")
    assert renders == ["atom", "rss", "atom", "rss"]
    roomy = TestClient(create_app(site.storage, site.config))
    renders.clear()
    for _ in range(2):
        roomy.get("/topics/ai.atom")
        roomy.get("/topics/ai.rss")
    assert renders == ["atom", "rss"]


def test_feedhub_run_keeps_out_dir_up_to_date(tmp_path, feed_server):
    import signal
    import sys
    import time

    from tests.test_daemon import free_port, try_get, wait_for

    url = feed_server.put("/feed.xml", rss(range(6)), "application/rss+xml")
    port = free_port()
    config = tmp_path / "feeds.yaml"
    config.write_text(
        f"server: {{host: 127.0.0.1, port: {port}}}\n"
        "polling: {allow_private_networks: true, workers: 1, min_interval: 1s,"
        " interval: 1s}\n"
        "publish: {out_dir: site, backlog_per_new_source: all}\n"
        f"sources:\n  - url: {url}\n"
        "topics: {ai: {title: AI, match: [AI]}}\n"
    )
    site = tmp_path / "site"
    with (tmp_path / "run.log").open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "feedhub", "--config", str(config), "run"],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for(lambda: (site / "topics/ai.json").exists())
        for name in ("index.html", "feeds.opml", "all.atom", "topics/ai.rss"):
            assert (site / name).exists(), name
        assert b"https://src.test/5" in (site / "topics/ai.atom").read_bytes()
        # the source publishes a new entry: the next poll rewrites the files
        feed_server.put("/feed.xml", rss(range(-1, 6)), "application/rss+xml")
        wait_for(
            lambda: b"https://src.test/-1" in (site / "topics/ai.atom").read_bytes()
        )
        served = try_get(f"http://127.0.0.1:{port}/topics/ai.atom")
        assert served is not None
        assert served.content == (site / "topics/ai.atom").read_bytes()
        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
        assert time.monotonic() - started < 10
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_archived_entry_removed_later_is_retracted_and_its_page_kept(site):
    site.poll(rss(range(12)))
    page = site.archive(1)
    assert b"https://src.test/11" in page
    (entry,) = site.storage.find_entries("https://src.test/11")
    site.storage.purge_entries([entry.key], T0)
    result = site.refresh(T0 + timedelta(hours=1))
    assert result.retracted >= 1
    (gone,) = site.atom().findall(f"{AT}deleted-entry")
    assert gone.get("ref") == "https://src.test/11"
    assert gone.findtext(f"{AT}comment") == "removed by its source"
    assert site.archive(1) == page  # archive pages never change
    # announced once, not on every pass
    assert site.refresh(T0 + timedelta(hours=2)).retracted == 0
