"""Sources management: add with autodiscovery, OPML import/export, the sources
table, and the operators' feed at /ops/sources.atom (issue 4)."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import feedparser
import pytest
from click.testing import CliRunner
from starlette.testclient import TestClient

from feedhub import pipeline, subscribe
from feedhub.cli import cli
from feedhub.config import load_config
from feedhub.discover import FeedLink, feed_links, looks_like_html
from feedhub.exceptions import FetchError, ParseError
from feedhub.fetch import Fetcher
from feedhub.opml import Subscription, read_opml, write_opml
from feedhub.server import create_app
from feedhub.storage import Storage
from feedhub.types import (
    Config,
    PollingConfig,
    PollStatus,
    SourceConfig,
    SourceEvent,
    SourceEventKind,
    SourceHealth,
)
from tests.fakes import FakeFetcher, FeedServer

DATA = Path(__file__).parent / "data"
RSS = (DATA / "feeds" / "seed-rss.xml").read_bytes()
ATOM = (DATA / "feeds" / "seed-atom.xml").read_bytes()
T0 = datetime(2025, 7, 14, 12, 0, tzinfo=UTC)

PAGE = b"""<!doctype html><html><head><title>Site</title>
<base href="/blog/">
<link rel="stylesheet" href="/s.css">
<link rel="alternate" type="application/rss+xml" title="RSS" href="feed.rss">
<link rel="Alternate" type="application/atom+xml; charset=utf-8" href="feed.atom">
<link rel="alternate" type="application/atom+xml" href="feed.atom">
<link rel="alternate" type="application/feed+json" href="https://j.example/f.json">
<link rel="alternate" type="text/html" href="/other.html">
<link rel="alternate" type="application/rss+xml" href="javascript:alert(1)">
</head><body><link rel="alternate" type="application/rss+xml" href="/late.rss">
</body></html>"""


# --------------------------------------------------------------------------
# discover
# --------------------------------------------------------------------------


def test_feed_links_prefer_atom_then_rss_then_json():
    assert feed_links(PAGE.decode(), "https://site.example/index.html") == (
        FeedLink("https://site.example/blog/feed.atom", "application/atom+xml"),
        FeedLink("https://site.example/blog/feed.rss", "application/rss+xml", "RSS"),
        FeedLink("https://j.example/f.json", "application/feed+json"),
    )
    assert feed_links("<p>no head</p>", "https://a.example/") == ()


def test_looks_like_html():
    assert looks_like_html(b"{}", "text/html; charset=utf-8")
    assert looks_like_html(b"  <!DOCTYPE html><html>", None)
    assert not looks_like_html(RSS, "application/rss+xml")


# --------------------------------------------------------------------------
# OPML
# --------------------------------------------------------------------------

OPML = b"""<?xml version="1.0"?>
<opml version="2.0"><head><title>mine</title></head><body>
  <outline text="Tech">
    <outline text="AI &amp; ML">
      <outline type="rss" text="Lab" xmlUrl="https://lab.example/feed"
               htmlUrl="https://lab.example/"/>
    </outline>
    <outline type="rss" title="News" text="ignored" xmlUrl="https://news.example/rss"
             category="/world,/tech/gadgets"/>
  </outline>
  <outline type="rss" text="Again" xmlUrl="https://lab.example/feed"/>
  <outline type="rss" text="Bad" xmlUrl="ftp://x.example/feed"/>
  <outline text="empty folder"/>
</body></opml>"""


def test_read_opml_folders_categories_and_duplicates():
    assert read_opml(OPML) == (
        Subscription(
            "https://lab.example/feed",
            "Lab",
            "https://lab.example/",
            folders=("Tech", "AI & ML"),
        ),
        Subscription(
            "https://news.example/rss",
            "News",
            folders=("Tech",),
            categories=("world", "gadgets"),
        ),
    )


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"<opml><body>", "not well-formed"),
        (b"<rss/>", "not <opml>"),
        (b"<opml/>", "no <body>"),
        (
            b'<?xml version="1.0"?><!DOCTYPE opml [<!ENTITY a "aaaa">]>'
            b"<opml><body/></opml>",
            "DTDs",
        ),
    ],
)
def test_bad_opml_is_a_parse_error(data, reason):
    with pytest.raises(ParseError, match=reason) as info:
        read_opml(data, "subs.opml")
    assert info.value.url == "subs.opml"


def test_write_opml_round_trips():
    subs = (
        Subscription("https://a.example/f?x=1&y=2", 'A "quoted" <feed>', None, (), ()),
        Subscription(
            "https://b.example/f", None, "https://b.example/", (), ("ai", "news")
        ),
    )
    data = write_opml(subs, title="mine & yours", generated_at=T0)
    assert data.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n<opml version')
    assert read_opml(data) == (
        subs[0],
        Subscription(
            "https://b.example/f",
            "https://b.example/f",
            "https://b.example/",
            (),
            ("ai", "news"),
        ),
    )


def test_plan_import():
    config = Config(
        path=None,
        database=":memory:",
        sources=(SourceConfig("https://NEWS.example/rss"),),
    )
    subs = read_opml(OPML)
    plan, topics, skipped = subscribe.plan_import(config, subs, folder_topics=True)
    assert skipped == ["https://news.example/rss"]
    assert plan == [
        SourceConfig("https://lab.example/feed", "Lab", ("tech", "ai-ml")),
    ]
    assert [(t.slug, t.title) for t in topics] == [
        ("tech", "Tech"),
        ("ai-ml", "AI & ML"),
    ]
    plan, topics, _ = subscribe.plan_import(config, subs, topics=("x",))
    assert plan[0].topics == ("x",) and [t.slug for t in topics] == ["x"]
    assert subscribe.slugify("Ça va? Über-Blog!") == "ca-va-uber-blog"


# --------------------------------------------------------------------------
# check_feed
# --------------------------------------------------------------------------


def local(server: FeedServer) -> PollingConfig:
    return PollingConfig(
        allow_private_networks=(f"127.0.0.1:{server.port}",), per_host_delay=0
    )


def check(server: FeedServer, url: str) -> subscribe.CheckedFeed:
    async def run() -> subscribe.CheckedFeed:
        async with Fetcher(local(server)) as fetcher:
            return await subscribe.check_feed(fetcher, url)

    return asyncio.run(run())


def test_check_feed_direct_and_discovered(feed_server):
    feed = feed_server.put("/feed.rss", RSS, "application/rss+xml")
    checked = check(feed_server, feed)
    assert (checked.url, checked.page, checked.entries) == (feed, None, 5)
    assert checked.title
    page = feed_server.put(
        "/", b'<html><head><link rel="alternate" type="application/atom+xml" '
        b'href="/missing.atom"><link rel="alternate" type="application/rss+xml" '
        b'href="/feed.rss"></head></html>', "text/html",
    )  # fmt: skip
    checked = check(feed_server, page)
    # the Atom link is preferred, but it is a 404: the RSS one is taken
    assert (checked.url, checked.page) == (feed, page)
    empty = feed_server.put("/empty", b"<html><head></head></html>", "text/html")
    with pytest.raises(ParseError, match="no feed"):
        check(feed_server, empty)


def test_check_feed_reports_the_last_failure():
    fetcher = FakeFetcher({"https://a.example/": FetchError("https://a.example/", "x")})
    with pytest.raises(FetchError):
        asyncio.run(subscribe.check_feed(fetcher, "https://a.example/"))


# --------------------------------------------------------------------------
# CLI: add, import, export-opml, sources
# --------------------------------------------------------------------------


def invoke(config: Path, *args: str):
    return CliRunner().invoke(cli, ["--config", str(config), *args])


def write_config(tmp_path: Path, server: FeedServer, extra: str = "") -> Path:
    path = tmp_path / "feeds.yaml"
    path.write_text(
        "# my feeds\n"
        "polling:\n"
        f"  allow_private_networks: ['127.0.0.1:{server.port}']  # the test server\n"
        "  per_host_delay: 0\n"
        "  workers: 1\n"
        "sources:\n"
        "  # nothing yet\n"
        f"{extra}"
        "topics:\n"
        "  ai: {title: AI}\n",
        encoding="utf-8",
    )
    return path


def test_add_discovers_checks_and_appends(tmp_path, feed_server):
    feed_server.put("/feed.atom", ATOM, "application/atom+xml")
    page = feed_server.put(
        "/site", b'<html><head><link rel="alternate" type="application/atom+xml" '
        b'href="/feed.atom"></head><body>hi</body></html>', "text/html",
    )  # fmt: skip
    path = write_config(tmp_path, feed_server)
    before = path.read_text(encoding="utf-8")
    result = invoke(path, "add", page, "--topic", "ai", "--topic", "robots")
    assert result.exit_code == 0, result.output
    assert f"found {feed_server.url('/feed.atom')} on {page}" in result.output
    assert "declared topic 'robots'" in result.output
    config = load_config(path)
    assert config.sources == (
        SourceConfig(feed_server.url("/feed.atom"), None, ("ai", "robots")),
    )
    after = path.read_text(encoding="utf-8")
    assert after.startswith(before.split("sources:")[0])
    assert "# nothing yet" in after and "# the test server" in after
    # adding it again is refused, the file unchanged
    again = invoke(path, "add", feed_server.url("/feed.atom"))
    assert again.exit_code == 1 and "listed twice" in again.output
    assert path.read_text(encoding="utf-8") == after


def test_add_refuses_what_is_not_a_feed(tmp_path, feed_server):
    path = write_config(tmp_path, feed_server)
    before = path.read_text(encoding="utf-8")
    missing = invoke(path, "add", feed_server.url("/nope"))
    assert missing.exit_code == 1 and "404" in missing.output
    bad = invoke(path, "add", feed_server.url("/x"), "--topic", "Not A Slug")
    assert bad.exit_code == 2 and "not-a-slug" in bad.output
    assert path.read_text(encoding="utf-8") == before


def test_import_checks_each_outline_and_export_round_trips(tmp_path, feed_server):
    good = feed_server.put("/good.rss", RSS, "application/rss+xml")
    other = feed_server.put("/other.atom", ATOM, "application/atom+xml")
    opml = tmp_path / "subs.opml"
    opml.write_bytes(
        b'<?xml version="1.0"?><opml version="2.0"><body><outline text="AI">'
        + f'<outline type="rss" text="Good" xmlUrl="{good}"/>'.encode()
        + f'<outline type="rss" text="Gone" xmlUrl="{feed_server.url("/x")}"/>'.encode()
        + b'</outline><outline text="Open Source">'
        + f'<outline type="rss" text="Other" xmlUrl="{other}"/>'.encode()
        + b"</outline></body></opml>"
    )
    path = write_config(tmp_path, feed_server)
    result = invoke(path, "import", str(opml), "--folder-topics")
    assert result.exit_code == 0, result.output
    assert "imported 2 feeds" in result.output and "1 failed" in result.output
    assert "404" in result.output
    config = load_config(path)
    assert [(s.url, s.name, s.topics) for s in config.sources] == [
        (good, "Good", ("ai",)),
        (other, "Other", ("open-source",)),
    ]
    assert [t.slug for t in config.topics] == ["ai", "open-source"]
    again = invoke(path, "import", str(opml))
    assert "imported 0 feeds" in again.output and "2 already there" in again.output

    exported = invoke(path, "export-opml")
    assert exported.exit_code == 0, exported.output
    subs = read_opml(exported.output.encode())
    assert [(s.url, s.title, s.categories) for s in subs] == [
        (good, "Good", ("ai",)),
        (other, "Other", ("open-source",)),
    ]
    out = tmp_path / "out.opml"
    assert invoke(path, "export-opml", "--out", str(out)).exit_code == 0
    assert read_opml(out.read_bytes()) == subs


def test_sources_table_json_and_reset(tmp_path, feed_server):
    ok = feed_server.put("/ok.rss", RSS, "application/rss+xml")
    missing = feed_server.url("/missing.rss")
    path = write_config(
        tmp_path, feed_server, f"  - url: {ok}\n    name: Fine\n  - url: {missing}\n"
    )
    assert invoke(path, "poll").exit_code == 0
    rows = json.loads(invoke(path, "sources", "--json").output)
    assert [(r["status"], r["http_status"], r["errors"]) for r in rows] == [
        ("ok", 200, 0),
        ("failing", 404, 1),
    ]
    assert rows[1]["last_error"] == f"fetch: 404 Not Found ({missing})"
    assert rows[1]["next_poll"] and rows[0]["last_success"]
    table = invoke(path, "sources").output
    for text in ("status", "last error", "Fine", "failing", "404 Not Found"):
        assert text in table
    assert invoke(path, "sources", "--reset", "2").exit_code == 0
    rows = json.loads(invoke(path, "sources", "--json").output)
    assert (rows[1]["errors"], rows[1]["next_poll"]) == (0, None)
    assert invoke(path, "sources", "--reset", "99").exit_code == 1


# --------------------------------------------------------------------------
# /ops/sources.atom
# --------------------------------------------------------------------------


def test_ops_feed_lists_sources_needing_attention():
    config = Config(
        path=None,
        database=":memory:",
        sources=tuple(
            SourceConfig(f"https://{name}.example/feed", name=name.title())
            for name in ("fine", "failing", "gone", "dead", "moved")
        ),
    )
    with Storage(":memory:") as storage:
        storage.sync_sources(config.sources, T0)
        ids = {s.name: s.id for s in storage.get_sources()}
        storage.record_poll(ids["Fine"], now=T0, status=PollStatus.OK)
        storage.record_poll(
            ids["Failing"], now=T0, status=PollStatus.ERROR, http_status=500,
            error="fetch: 500 Internal Server Error",
            health=SourceHealth(failing_since=T0 - timedelta(hours=3)),
        )  # fmt: skip
        storage.record_poll(
            ids["Gone"], now=T0, status=PollStatus.ERROR, http_status=410,
            error="fetch: 410 Gone", health=SourceHealth(failing_since=T0, gone_at=T0),
        )  # fmt: skip
        storage.record_poll(
            ids["Dead"], now=T0, status=PollStatus.ERROR, error="fetch: DNS",
            health=SourceHealth(failing_since=T0 - timedelta(days=9), dead_since=T0),
        )  # fmt: skip
        moved = SourceEvent(SourceEventKind.MOVED, T0, "moved permanently from a to b")
        storage.record_poll(
            ids["Moved"], now=T0, status=PollStatus.OK, fetch_url="https://b.example/",
            health=SourceHealth(events=(moved,)),
        )  # fmt: skip
        client = TestClient(
            create_app(storage, config, clock=lambda: T0), base_url="http://h.test"
        )
        response = client.get("/ops/sources.atom")
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("application/atom+xml")
        parsed = feedparser.parse(response.content)
        assert not parsed.bozo
        titles = {e.title for e in parsed.entries}
        assert titles == {
            "Failing: Failing",
            "Gone: Gone",
            "Dead: Dead",
            "Moved: Moved",
        }
        failing = next(e for e in parsed.entries if e.title == "Failing: Failing")
        assert "500 Internal Server Error" in failing.summary
        assert failing.id.startswith(f"urn:feedhub:source:{ids['Failing']}:failing:")
        etag = response.headers["etag"]
        again = client.get("/ops/sources.atom", headers={"if-none-match": etag})
        assert again.status_code == 304


def test_ops_feed_is_stable_when_all_is_well():
    config = Config(path=None, database=":memory:")
    with Storage(":memory:") as storage:
        first = subscribe.sources_feed(storage, config, T0)
        assert first == subscribe.sources_feed(storage, config, T0 + timedelta(1))
        assert not feedparser.parse(first).entries


def test_pollable_sources_is_what_poll_requests():
    config = Config(
        path=None, database=":memory:", sources=(SourceConfig("https://a.example/"),)
    )
    with Storage(":memory:") as storage:
        storage.sync_sources(config.sources, T0)
        assert len(pipeline.pollable_sources(storage, T0)) == 1
        storage.hold_host("a.example", T0 + timedelta(hours=1))
        assert pipeline.pollable_sources(storage, T0, force=True) == ()
