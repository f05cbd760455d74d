"""From feeds.yaml to subscribed feeds: poll real local HTTP sources, serve, read."""

from __future__ import annotations

import socket
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import feedparser
import httpx2 as httpx
import pytest
from click.testing import CliRunner

from feedhub.cli import cli
from feedhub.config import load_config
from feedhub.server import create_app
from feedhub.storage import Storage
from tests.conftest import running_app
from tests.fakes import FeedServer

ATOM = "{http://www.w3.org/2005/Atom}"
STORY = "Sam Altman"


def write_config(tmp_path: Path, server: FeedServer, base_url: str, data: Path) -> Path:
    feeds = data / "feeds"
    rss = server.put(
        "/vocal.xml", (feeds / "seed-rss.xml").read_bytes(), "application/rss+xml"
    )
    atom = server.put(
        "/techwire.atom", (feeds / "seed-atom.xml").read_bytes(), "application/atom+xml"
    )
    jsonfeed = server.put(
        "/osw.json", (feeds / "seed-json.json").read_bytes(), "application/feed+json"
    )
    config = tmp_path / "feeds.yaml"
    config.write_text(
        f"""
database: feedhub.db
server: {{host: 127.0.0.1, port: 0, base_url: "{base_url}"}}
polling:
  interval: 30m
  allow_private_networks: ["127.0.0.1:{server.port}"]
  workers: 1
publish: {{entries_per_feed: 50}}
sources:
  - url: {rss}
  - url: {atom}
    name: Tech Wire
  - url: {jsonfeed}
    topics: [open-source]
topics:
  ai:
    title: Artificial intelligence
    match: {{any: ["artificial intelligence", "AI", "OpenAI", "machine learning"]}}
  ai-safety:
    title: AI safety
    match: {{any: [safety, alignment, misuse, regulation], all: [AI]}}
  openai:
    title: OpenAI
    match: {{any: [OpenAI]}}
  open-source:
    title: Open source
  sport:
    title: Sport
    match: {{any: [football, "premier league"]}}
""",
        encoding="utf-8",
    )
    return config


def poll(config: Path, *args: str) -> str:
    result = CliRunner().invoke(
        cli, ["--config", str(config), "poll", *args], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture
def subscribed(tmp_path, feed_server, free_socket: socket.socket, data_dir):
    host, port = free_socket.getsockname()[:2]
    base_url = f"http://{host}:{port}/"
    config_path = write_config(tmp_path, feed_server, base_url, data_dir)
    output = poll(config_path, "--all")
    config = load_config(config_path)
    storage = Storage(config.database)
    app = create_app(storage, config)
    with running_app(app, free_socket) as url:
        yield {
            "url": url,
            "config": config_path,
            "output": output,
            "server": feed_server,
        }
    storage.close()


def get(url: str, **headers: str) -> httpx.Response:
    return httpx.get(url, headers=headers, timeout=10)


def story_entries(parsed: Any) -> list[Any]:
    return [e for e in parsed.entries if STORY in e.title]


def test_poll_reports_every_source(subscribed):
    assert "polled 3 sources: 3 ok" in subscribed["output"]


def test_topic_feed_carries_the_story_once_with_source_and_clean_content(subscribed):
    url = subscribed["url"] + "topics/ai.atom"
    response = get(url)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/atom+xml")
    parsed = feedparser.parse(response.content)
    assert not parsed.bozo, parsed.get("bozo_exception")
    stories = story_entries(parsed)
    assert len(stories) == 1
    story = stories[0]
    # the earliest-published copy (Vocal, 09:30) represents the story; Tech Wire
    # is credited as a related outlet
    assert story.author == "Ramsha Riaz"
    assert "vocal.media/futurism/sam-altman" in story.link
    related = [link.href for link in story.links if link.rel == "related"]
    assert any("vocal.media" in href and "utm_source" in href for href in related)
    content = story.content[0].value
    assert "<script" not in content and "onclick" not in content
    assert "Safety is not a checkbox" in content
    # the raw XML carries atom:source with the source feed's id, title, updated, link
    root = ET.fromstring(response.content)
    entry = next(
        e
        for e in root.iter(f"{ATOM}entry")
        if STORY in (e.findtext(f"{ATOM}title") or "")
    )
    source = entry.find(f"{ATOM}source")
    assert source is not None
    assert source.findtext(f"{ATOM}title") == "Vocal Media Tech"
    assert source.findtext(f"{ATOM}id")
    assert source.findtext(f"{ATOM}updated")
    assert source.find(f"{ATOM}link") is not None
    # rel="self" is the URL the feed is served at
    selfs = [
        link.get("href")
        for link in root.findall(f"{ATOM}link")
        if link.get("rel") == "self"
    ]
    assert selfs == [url]


def test_original_atom_ids_are_kept(subscribed):
    parsed = feedparser.parse(get(subscribed["url"] + "topics/ai.atom").content)
    ids = {entry.id for entry in parsed.entries}
    assert "tag:techwire.example,2025:ai-inference-energy" in ids
    assert len(ids) == len(parsed.entries)


def test_topic_rules_file_the_story_and_nothing_else(subscribed):
    for slug in ("ai", "ai-safety", "openai"):
        parsed = feedparser.parse(
            get(subscribed["url"] + f"topics/{slug}.atom").content
        )
        assert len(story_entries(parsed)) == 1, slug
    sport = feedparser.parse(get(subscribed["url"] + "topics/sport.atom").content)
    assert [e.title for e in sport.entries] == [
        "Late Winner Sends Riverside United Top as Harbour City Collapse"
        " After the Break"
    ]
    assert not story_entries(sport)


def test_author_feed(subscribed):
    response = get(subscribed["url"] + "authors/ramsha-riaz.atom")
    assert response.status_code == 200
    parsed = feedparser.parse(response.content)
    assert not parsed.bozo
    assert len(story_entries(parsed)) == 1
    assert all(
        "Ramsha Riaz" in [a.get("name") for a in e.authors] for e in parsed.entries
    )


def test_source_topic_and_json_feed_source(subscribed):
    parsed = feedparser.parse(
        get(subscribed["url"] + "topics/open-source.atom").content
    )
    assert parsed.entries
    assert all("opensourceweekly.example" in e.link for e in parsed.entries)


def test_second_poll_changes_nothing_and_readers_get_304(subscribed):
    url = subscribed["url"] + "topics/ai.atom"
    first = get(url)
    etag = first.headers["etag"]
    output = poll(subscribed["config"], "--all")
    assert "0 new, 0 updated" in output
    # the sources were asked conditionally and answered 304
    assert "3 not modified" in output
    again = get(url, **{"If-None-Match": etag})
    assert again.status_code == 304
    assert again.content == b""
    assert get(url).content == first.content


def test_index_lists_every_feed_with_autodiscovery(subscribed):
    response = get(subscribed["url"])
    assert response.status_code == 200
    html = response.text
    for path in (
        "all.atom",
        "topics/ai.atom",
        "topics/sport.atom",
        "authors/ramsha-riaz.atom",
    ):
        assert f'href="{subscribed["url"]}{path}"' in html
    assert html.count('rel="alternate" type="application/atom+xml"') >= 5


def test_unknown_feeds_are_404(subscribed):
    assert get(subscribed["url"] + "topics/nope.atom").status_code == 404
    assert get(subscribed["url"] + "authors/nobody.atom").status_code == 404
    assert get(subscribed["url"] + "healthz").status_code == 200
