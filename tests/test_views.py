"""Named views (issue 7): ``feeds:`` in feeds.yaml, published at /feeds/{slug}.*,
listed on the index page and in OPML, kept in step with entries and config."""

from __future__ import annotations

import textwrap
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import replace

import pytest
from lxml import etree  # type: ignore[import-untyped]

from feedhub import pipeline
from feedhub.config import parse_config
from feedhub.exceptions import ConfigError
from feedhub.server import create_app
from feedhub.storage import Storage
from feedhub.types import (
    FeedKind,
    FetchResult,
    Match,
    SourceConfig,
    TopicConfig,
    ViewConfig,
)
from tests.conftest import running_app
from tests.test_search import ITEMS, T0, URL_A, URL_B, Store, item, make_config, rss

A = "{http://www.w3.org/2005/Atom}"
PATH = "/srv/hub/feeds.yaml"

CONFIG = """\
sources:
  - url: http://a.test/feed
    name: Outlet A
  - url: http://b.test/feed
topics:
  ai: {title: AI, match: [AI, alignment, model]}
feeds:
  safety-outlets:
    title: AI safety from two outlets
    description: Alignment news
    topics: [ai]
    sources: [Outlet A, "http://B.test/feed"]
    query: '(alignment OR safety) NOT jobs'
  by-ada:
    authors: [ada-lovelace]
"""


def config_of(text: str):
    return parse_config(textwrap.dedent(text), PATH)


# ---------------------------------------------------------------- config


def test_views_are_read():
    config = config_of(CONFIG)
    assert config.feeds == (
        ViewConfig(
            slug="safety-outlets",
            title="AI safety from two outlets",
            topics=("ai",),
            sources=("http://a.test/feed", "http://b.test/feed"),
            query="(alignment OR safety) NOT jobs",
            description="Alignment news",
        ),
        ViewConfig(slug="by-ada", title="by-ada", authors=("ada-lovelace",)),
    )


@pytest.mark.parametrize(
    ("old", "new", "line", "key", "message"),
    [
        ("safety-outlets:", "Safety Outlets:", 8, "feeds.Safety Outlets",
         "cannot be used in a URL"),
        ("topics: [ai]\n", "topics: [ai, robots]\n", 11,
         "feeds.safety-outlets.topics[1]", "topic 'robots' is not declared"),
        ("[Outlet A,", "[Outlet Z,", 12, "feeds.safety-outlets.sources[0]",
         "'Outlet Z' is not a configured source (by URL or name); did you mean "
         "'Outlet A'?"),
        ("http://B.test/feed", "http://c.test/feed", 12,
         "feeds.safety-outlets.sources[1]", "is not a configured source"),
        ("'(alignment OR safety) NOT jobs'", "'alignment OR'", 13,
         "feeds.safety-outlets.query", "invalid query: OR needs a word on each side"),
        ("'(alignment OR safety) NOT jobs'", "'foo:bar'", 13,
         "feeds.safety-outlets.query", "invalid query: unknown field 'foo'"),
        ("[ada-lovelace]", "[Ada Lovelace]", 15, "feeds.by-ada.authors[0]",
         "'Ada Lovelace' is not an author slug; give the slug of the author's "
         "feed (/authors/<slug>.atom), e.g. 'ada-lovelace'"),
        ("authors: [ada-lovelace]", "title: Ada", 15, "feeds.by-ada",
         "a view needs at least one of topics, authors, sources or query"),
        ("    description: Alignment news\n", "    colour: red\n", 10,
         "feeds.safety-outlets.colour", "unknown key 'colour'"),
        ("topics: [ai]\n", "topics: [ai, ai]\n", 11,
         "feeds.safety-outlets.topics[1]", "'ai' is listed twice"),
    ],
)  # fmt: skip
def test_view_errors_name_file_line_and_key(old, new, line, key, message):
    assert old in CONFIG
    with pytest.raises(ConfigError) as caught:
        config_of(CONFIG.replace(old, new, 1))
    error = caught.value
    assert (error.path, error.line, error.key) == (PATH, line, key)
    assert message in error.message
    assert str(error).startswith(f"config: {PATH}:{line}: {key}: ")


def test_no_feeds_section_means_no_views():
    assert config_of("sources: []\n").feeds == ()
    assert config_of("feeds:\n").feeds == ()


# ---------------------------------------------------------------- membership


def view_config(*views: ViewConfig):
    return replace(
        make_config(entries_per_feed=10),
        sources=(SourceConfig(URL_A, name="Outlet A"), SourceConfig(URL_B)),
        topics=(TopicConfig("ai", "AI", Match(any=("AI", "alignment", "model"))),),
        feeds=views,
    )


SAFETY = ViewConfig(
    "safety",
    "AI safety from outlet A",
    topics=("ai",),
    sources=(URL_A,),
    query="(alignment OR safety) NOT jobs",
    description="Alignment news",
)
BY_RIAZ = ViewConfig("by-riaz", "Riaz", authors=("ramsha-riaz",))


@pytest.fixture
def store() -> Iterator[Store]:
    with Storage(":memory:") as storage:
        s = Store(storage, view_config(SAFETY, BY_RIAZ))
        empty = rss(title="B")
        s.served[URL_B] = FetchResult(URL_B, URL_B, 200, {}, empty, etag='"b"')
        s.poll(rss(*ITEMS))
        # outlet B's alignment story is in the topic and matches, but is not
        # from outlet A
        s.poll(
            rss(item(7, "B on alignment", "AI alignment at B"), title="B"), url=URL_B
        )
        yield s


def view_titles(store: Store, slug: str) -> list[str]:
    stories = pipeline.view_stories(store.storage, slug, 50)
    return [rep.data.title for rep, _copies in stories]


def test_view_combines_topics_sources_and_query(store):
    assert view_titles(store, "safety") == ["Lab delays model over safety"]
    assert view_titles(store, "by-riaz") == ["Lab delays model over safety"]


def test_view_follows_entry_updates(store):
    # the story stops matching the query; a new one starts
    store.poll(
        rss(
            item(1, "Lab ships model", "AI news only.", "Ramsha Riaz"),
            item(6, "AI alignment paper", "About AI."),
            *ITEMS[1:],
        )
    )
    assert view_titles(store, "safety") == ["AI alignment paper"]
    result = pipeline.refresh_feeds(store.storage, store.config, now=T0)
    assert "feeds/safety" in result.changed


def test_view_follows_purge(store):
    (entry,) = store.storage.find_entries("https://a.test/1")
    pipeline.purge(store.storage, store.config, [entry.key], now=T0)
    assert view_titles(store, "safety") == []
    assert view_titles(store, "by-riaz") == []


def test_view_follows_config_changes(store):
    wider = replace(SAFETY, sources=(URL_A, URL_B))
    store.config = replace(store.config, feeds=(wider,))
    assert pipeline.apply_views(store.storage, store.config)
    assert view_titles(store, "safety") == [
        "Lab delays model over safety",
        "B on alignment",
    ]
    assert view_titles(store, "by-riaz") == []
    # applying the same views again changes nothing
    before = store.storage.generation()
    assert not pipeline.apply_views(store.storage, store.config)
    assert store.storage.generation() == before


def test_view_feed_document(store):
    ref = pipeline.find_feed(store.storage, store.config, FeedKind.VIEW, "safety")
    assert ref is not None and ref.path == "feeds/safety.atom"
    assert pipeline.find_feed(store.storage, store.config, FeedKind.VIEW, "x") is None
    root = etree.fromstring(pipeline.render_feed(store.storage, store.config, ref).body)
    assert root.findtext(f"{A}id") == "http://hub.test/feeds/safety.atom"
    assert root.findtext(f"{A}title") == "AI safety from outlet A"
    assert root.findtext(f"{A}subtitle") == "Alignment news"
    assert [e.findtext(f"{A}title") for e in root.findall(f"{A}entry")] == [
        "Lab delays model over safety"
    ]


# ---------------------------------------------------------------- HTTP


@pytest.fixture
def served(store, free_socket) -> Iterator[str]:
    app = create_app(store.storage, store.config, recheck=0)
    with running_app(app, free_socket) as base:
        yield base


def fetch(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


@pytest.mark.parametrize("ext", ["atom", "rss", "json", "html"])
def test_view_is_served_in_every_format(served, ext):
    status, body = fetch(f"{served}feeds/safety.{ext}")
    assert status == 200
    assert b"Lab delays model over safety" in body
    assert b"B on alignment" not in body


def test_unknown_view_is_404(served):
    assert fetch(f"{served}feeds/nope.atom")[0] == 404


def test_views_are_on_the_index_page_and_in_opml(served):
    status, body = fetch(served)
    assert status == 200
    page = body.decode()
    assert '<section id="feeds">' in page
    assert "AI safety from outlet A" in page
    assert "http://hub.test/feeds/safety.atom" in page
    assert "http://hub.test/views.opml" in page
    for group in ("feeds", "views"):
        status, body = fetch(f"{served}{group}.opml")
        assert status == 200
        outlines = {
            o.get("xmlUrl"): o.get("text") for o in ET.fromstring(body).iter("outline")
        }
        assert outlines["http://hub.test/feeds/safety.atom"] == (
            "AI safety from outlet A"
        )
        assert "http://hub.test/feeds/by-riaz.atom" in outlines
    _, body = fetch(f"{served}topics.opml")
    assert b"feeds/safety" not in body


def test_views_are_written_by_publish_all(store, tmp_path):
    pipeline.publish_all(store.storage, store.config, str(tmp_path), now=T0)
    for ext in ("atom", "rss", "json", "html"):
        assert (tmp_path / "feeds" / f"safety.{ext}").exists()
    assert (tmp_path / "views.opml").exists()


def test_view_selector_agrees_with_the_stored_view(store):
    # what `feedhub plan` uses to say what a view would hold under new rules
    test = pipeline.view_selector(store.storage, SAFETY)
    chosen = {
        e.story_id
        for e in store.storage.iter_entries()
        if test(e, e.topics, [a.slug for a in e.authors])
    }
    stored = {
        rep.story_id for rep, _c in pipeline.view_stories(store.storage, "safety", 50)
    }
    assert chosen == stored and chosen
    # under a rule that files nothing in "ai", nothing would be in the view
    assert not any(test(e, (), ()) for e in store.storage.iter_entries())


def test_entry_leaving_a_view_is_retracted_from_it(store):
    pipeline.refresh_feeds(store.storage, store.config, now=T0)
    store.poll(
        rss(item(1, "Lab ships model", "AI news only.", "Ramsha Riaz"), *ITEMS[1:])
    )
    result = pipeline.refresh_feeds(store.storage, store.config, now=T0)
    assert result.retracted >= 1
    ref = pipeline.find_feed(store.storage, store.config, FeedKind.VIEW, "safety")
    assert ref is not None
    body = pipeline.render_feed(store.storage, store.config, ref).body
    root = etree.fromstring(body)
    deleted = root.findall("{http://purl.org/atompub/tombstones/1.0}deleted-entry")
    assert [d.get("ref") for d in deleted] == ["https://a.test/1"]
