"""Story assignment at ingest: re-keyed feeds, tombstones, backlog, stories."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import pytest
from click.testing import CliRunner

from feedhub import pipeline
from feedhub.cli import cli
from feedhub.storage import Storage
from feedhub.types import (
    Config,
    DedupeConfig,
    FeedKind,
    FetchResult,
    PollingConfig,
    PublishConfig,
    SourceConfig,
    StoryRule,
)
from tests.fakes import FakeFetcher

NOW = datetime(2025, 7, 14, 12, 0, tzinfo=UTC)
A, B, C = "http://a.test/feed", "http://b.test/feed", "http://c.test/feed"
SEED = Path(__file__).parent / "data" / "dedupe" / "seed-openai-delay-story.txt"
FEEDS = Path(__file__).parent / "data" / "feeds"


def item(
    guid: str | None,
    title: str,
    link: str | None = None,
    *,
    hours: float = 0,
    body: str = "",
    orig: str | None = None,
) -> dict[str, Any]:
    return {
        "guid": guid,
        "title": title,
        "link": link,
        "date": NOW + timedelta(hours=hours),
        "body": body or f"<p>{title}. {LOREM}</p>",
        "orig": orig,
    }


LOREM = (
    "The quarterly figures surprised analysts in several markets, and the board "
    "said it would review its outlook before the annual meeting in the autumn."
)


def rss(*items: dict[str, Any]) -> bytes:
    parts = []
    for it in items:
        fields = [f"<title>{escape(it['title'])}</title>"]
        if it["guid"] is not None:
            fields.append(f'<guid isPermaLink="false">{escape(it["guid"])}</guid>')
        if it["link"] is not None:
            fields.append(f"<link>{escape(it['link'])}</link>")
        if it["orig"] is not None:
            fields.append(
                f"<feedburner:origLink>{escape(it['orig'])}</feedburner:origLink>"
            )
        fields.append(f"<pubDate>{format_datetime(it['date'])}</pubDate>")
        fields.append(f"<content:encoded><![CDATA[{it['body']}]]></content:encoded>")
        parts.append("<item>" + "".join(fields) + "</item>")
    return (
        '<?xml version="1.0"?><rss version="2.0"'
        ' xmlns:content="http://purl.org/rss/1.0/modules/content/"'
        ' xmlns:feedburner="http://rssnamespace.org/feedburner/ext/1.0">'
        "<channel><title>t</title><link>http://x.test/</link>"
        + "".join(parts)
        + "</channel></rss>"
    ).encode()


def config(*urls: str, backlog: int | None = 10, **dedupe: Any) -> Config:
    return Config(
        path=None,
        database=":memory:",
        polling=PollingConfig(workers=1),
        publish=PublishConfig(backlog_per_new_source=backlog),
        sources=tuple(SourceConfig(url, name=url.split("/")[2]) for url in urls),
        dedupe=DedupeConfig(**dedupe),
    )


def poll(storage: Storage, cfg: Config, bodies: dict[str, bytes], at: datetime = NOW):
    fetcher = FakeFetcher(
        {url: FetchResult(url, url, 200, {}, body) for url, body in bodies.items()}
    )
    results = asyncio.run(
        pipeline.poll(storage, cfg, fetcher, clock=lambda: at, force=True)
    )
    return {r.url: r.counts for r in results}


def published(storage: Storage) -> list[tuple[str, list[str]]]:
    stories = storage.feed_stories(FeedKind.ALL, "all", 1000)
    return [
        (rep.data.title, sorted(c.data.title for c in copies))
        for rep, copies in stories
    ]


@pytest.fixture
def storage():
    with Storage(":memory:") as s:
        yield s


# ---------------------------------------------------------------- within a source


def test_re_polling_never_duplicates(storage):
    cfg = config(A)
    body = rss(item("1", "One", "http://a.test/1"), item("2", "Two", "http://a.test/2"))
    assert poll(storage, cfg, {A: body})[A].new == 2
    # the same entries in a rebuilt document (other bytes): nothing new
    rebuilt = body.replace(b"<title>t</title>", b"<title>t2</title>")
    counts = poll(storage, cfg, {A: rebuilt}, NOW + timedelta(hours=1))[A]
    assert (counts.new, counts.updated, counts.unchanged) == (0, 0, 2)
    assert len(published(storage)) == 2


def test_a_re_keyed_feed_updates_instead_of_duplicating(storage):
    cfg = config(A)
    poll(storage, cfg, {A: rss(item("old-1", "One", "http://a.test/1"))})
    (before,) = storage.find_entries("old-1")
    # blog migration: every guid changes, links and titles do not
    rekeyed = rss(item("new-1", "One (edited)", "http://a.test/1"))
    counts = poll(storage, cfg, {A: rekeyed}, NOW + timedelta(hours=1))[A]
    assert (counts.new, counts.updated) == (0, 1)
    (after,) = storage.find_entries("http://a.test/1")
    assert after.key == before.key and after.story_id == before.story_id
    assert after.data.title == "One (edited)" and after.data.original_id == "new-1"
    assert storage.aliases_of(before.key)
    # the next poll finds it by its new id (the alias), even if the link moves
    moved = rss(item("new-1", "One (edited)", "http://a.test/one"))
    counts = poll(storage, cfg, {A: moved}, NOW + timedelta(hours=2))[A]
    assert (counts.new, counts.updated) == (0, 1)
    assert len(published(storage)) == 1


def test_a_title_edit_is_an_update(storage):
    cfg = config(A)
    poll(storage, cfg, {A: rss(item("1", "Typo in titel", "http://a.test/1"))})
    counts = poll(storage, cfg, {A: rss(item("1", "Typo in title", "http://a.test/1"))})
    assert (counts[A].new, counts[A].updated) == (0, 1)
    assert published(storage) == [("Typo in title", [])]


def test_a_guid_reused_later_for_another_link_keeps_the_first_entry(storage):
    cfg = config(A)
    poll(storage, cfg, {A: rss(item("same", "First", "http://a.test/1"))})
    (first,) = storage.find_entries("http://a.test/1")
    both = rss(
        item("same", "Second", "http://a.test/2", hours=1),
        item("same", "First", "http://a.test/1"),
    )
    counts = poll(storage, cfg, {A: both}, NOW + timedelta(hours=1))[A]
    assert counts.new == 1
    assert storage.find_entries("http://a.test/1")[0].key == first.key
    assert sorted(t for t, _ in published(storage)) == ["First", "Second"]


def test_purged_entries_leave_tombstones_and_never_come_back(storage):
    cfg = config(A)
    body = rss(item("1", "One", "http://a.test/1"), item("2", "Two", "http://a.test/2"))
    poll(storage, cfg, {A: body})
    (one,) = storage.find_entries("1")
    assert storage.purge_entries([one.key], NOW) == 1
    assert storage.tombstones(one.source_id) == (one.key,)
    assert poll(storage, cfg, {A: body}, NOW + timedelta(hours=1))[A].new == 0
    # nor under a new guid for the same link
    rekeyed = rss(
        item("x1", "One", "http://a.test/1"), item("2", "Two", "http://a.test/2")
    )
    assert poll(storage, cfg, {A: rekeyed}, NOW + timedelta(hours=2))[A].new == 0
    assert [t for t, _ in published(storage)] == ["Two"]


def test_templated_entries_of_one_source_never_merge_by_text(storage):
    # every item shares a long template: near-duplicate text, not one story
    cfg = config(A)
    items = [item(str(i), f"Episode {i}", f"http://a.test/{i}") for i in range(4)]
    assert poll(storage, cfg, {A: rss(*items)})[A].new == 4
    assert len(published(storage)) == 4


# ---------------------------------------------------------------- backlog


def backlog_items(n: int, prefix: str, hours: float = -100) -> list[dict[str, Any]]:
    return [
        item(
            f"{prefix}{i}",
            f"Story {i} {prefix}",
            f"http://a.test/{prefix}{i}",
            hours=hours - i,
        )
        for i in range(n)
    ]


def test_a_new_source_publishes_only_its_newest_few(storage):
    cfg = config(A, backlog=3)
    counts = poll(storage, cfg, {A: rss(*backlog_items(8, "p"))})[A]
    assert counts.new == 8  # all stored ...
    titles = [t for t, _ in published(storage)]
    assert titles == ["Story 0 p", "Story 1 p", "Story 2 p"]  # ... the newest published


def test_backlog_all_publishes_everything(storage):
    cfg = config(A, backlog=None)
    poll(storage, cfg, {A: rss(*backlog_items(8, "p"))})
    assert len(published(storage)) == 8


def test_a_source_that_re_keys_everything_does_not_flood(storage):
    cfg = config(A, backlog=2)
    poll(storage, cfg, {A: rss(*backlog_items(3, "p"))})
    assert len(published(storage)) == 2
    # new guids and new links (domain move), old dates: backlog again
    later = NOW + timedelta(hours=1)
    moved = [
        dict(it, guid="m" + it["guid"], link=it["link"] + "?moved")
        for it in backlog_items(3, "p")
    ]
    fresh = item("new", "Really new", "http://a.test/new", hours=0.5)
    poll(storage, cfg, {A: rss(fresh, *moved)}, later)
    titles = [t for t, _ in published(storage)]
    assert titles[0] == "Really new"  # dated after the last poll: never backlog
    # the old two, the new one, and the newest two of the three re-keyed copies
    assert sorted(titles) == [
        "Really new",
        "Story 0 p",
        "Story 0 p",
        "Story 1 p",
        "Story 1 p",
    ]


def test_a_busy_feed_whose_items_all_changed_is_not_backlog(storage):
    cfg = config(A, backlog=2)
    poll(storage, cfg, {A: rss(*backlog_items(2, "p"))})
    later = NOW + timedelta(hours=3)
    fresh = [
        item(f"n{i}", f"New {i}", f"http://a.test/n{i}", hours=1 + i / 10)
        for i in range(5)
    ]
    assert poll(storage, cfg, {A: rss(*fresh)}, later)[A].new == 5
    assert len(published(storage)) == 7


# ---------------------------------------------------------------- across sources


def test_same_canonical_link_is_one_story(storage):
    cfg = config(A, B, C)
    url = "https://news.example/2025/07/story"
    poll(
        storage,
        cfg,
        {
            A: rss(item("a", "Story", url + "?utm_source=rss&fbclid=1")),
            B: rss(item("b", "Story!", "https://feeds.example/r/123", orig=url)),
            C: rss(
                item(
                    "c",
                    "Story (AMP)",
                    "https://www.google.com/amp/s/news.example/2025/07/story/amp",
                )
            ),
        },
    )
    assert len(published(storage)) == 1
    ((rep, copies),) = storage.feed_stories(FeedKind.ALL, "all", 10)
    assert len(copies) == 2
    rules = {m.rule for _, m, _ in storage.story_members(rep.story_id) if m}
    assert rules == {StoryRule.FOUNDED, StoryRule.CANONICAL_LINK}


def seed_bodies() -> tuple[bytes, bytes]:
    vocal = (FEEDS / "seed-rss.xml").read_bytes()
    text = SEED.read_text(encoding="utf-8").split("\n")
    paragraphs = "".join(f"<p>{escape(line)}</p>" for line in text[2:] if line.strip())
    other = rss(
        item(
            "medium-1",
            text[0],
            "https://medium.example/@ramsha/delay",
            hours=-50,
            body=paragraphs,
        )
    )
    return vocal, other


def test_the_seed_story_from_two_platforms_is_one_cleaned_story(storage):
    cfg = config(A, B)
    vocal, other = seed_bodies()
    poll(storage, cfg, {A: vocal, B: other})
    stories = storage.feed_stories(FeedKind.ALL, "all", 50)
    seed = [(r, c) for r, c in stories if "Altman" in r.data.title]
    assert len(seed) == 1
    rep, copies = seed[0]
    assert len(copies) == 1 and {rep.source_id, copies[0].source_id} == {1, 2}
    for copy in (rep, *copies):
        content = copy.data.content or ""
        assert "Safety is not a checkbox" in content
        assert "About the Creator" not in content
        assert "no comments for this story" not in content
        assert "Be the first to respond" not in content
        # curly quotes and the author's own typo are kept
        assert "developrs" in content and "\u2019" in content
    bios = [a.bio for c in (rep, *copies) for a in c.data.authors if a.bio]
    assert bios and all(b.startswith("Ramsha Riaz is a tech") for b in bios)
    members = storage.story_members(rep.story_id)
    matches = [m for _, m, _ in members if m and m.rule is StoryRule.NEAR_DUPLICATE]
    assert matches and matches[0].score is not None and matches[0].score > 0.9


def test_two_different_openai_stories_the_same_day_stay_apart(storage):
    cfg = config(A, B)
    vocal, _ = seed_bodies()
    agent = rss(
        item(
            "agent",
            "OpenAI rolls out ChatGPT agent",
            "https://b.test/agent",
            body="<p>OpenAI on Saturday began rolling out an agent mode for "
            "ChatGPT that can operate a virtual computer on a user's "
            "behalf, clicking through websites and filling in forms. Pro "
            "subscribers get access first, the company said.</p>",
        )
    )
    poll(storage, cfg, {A: vocal, B: agent})
    titles = [t for t, _ in published(storage)]
    assert "OpenAI rolls out ChatGPT agent" in titles
    assert sum("Altman" in t for t in titles) == 1


def test_representative_is_earliest_published_then_preferred_and_id_is_stable(
    storage,
):
    url_a, url_b = "https://a.test/s", "https://b.test/s"
    body = "<p>" + " ".join(f"word{i} sentence" for i in range(80)) + "</p>"
    poll(
        storage,
        config(A),
        {A: rss(item("tag:a,2025:1", "Story", url_a, hours=-1, body=body))},
    )
    cfg = config(A, B)
    a_body = rss(item("tag:a,2025:1", "Story", url_a, hours=-1, body=body))
    ((first, _),) = storage.feed_stories(FeedKind.ALL, "all", 10)
    assert first.published_id == "tag:a,2025:1"
    # B's copy arrives later but was published earlier: it represents the story
    later = NOW + timedelta(hours=1)
    b_body = rss(item("tag:b,2025:9", "Story", url_b, hours=-5, body=body))
    poll(storage, cfg, {A: a_body, B: b_body}, later)
    ((rep, copies),) = storage.feed_stories(FeedKind.ALL, "all", 10)
    assert rep.data.link == url_b and [c.data.link for c in copies] == [url_a]
    assert rep.published_id == "tag:a,2025:1"  # the id subscribers already have
    # a prefer list wins over dates
    preferred = config(A, B, prefer=(A,))
    assert pipeline.apply_prefer(storage, preferred)
    ((rep, _),) = storage.feed_stories(FeedKind.ALL, "all", 10)
    assert rep.data.link == url_a and rep.published_id == "tag:a,2025:1"
    assert not pipeline.apply_prefer(storage, preferred)  # unchanged: no work


# ---------------------------------------------------------------- explain


def test_explain_names_the_rule_and_score(tmp_path, storage):
    db = tmp_path / "feedhub.db"
    yaml = tmp_path / "feeds.yaml"
    yaml.write_text(
        f"database: {db}\nsources:\n  - {{url: '{A}', name: Vocal}}\n"
        f"  - {{url: '{B}', name: Medium}}\n",
        encoding="utf-8",
    )
    from feedhub.config import load_config

    cfg = replace_polling(load_config(yaml))
    vocal, other = seed_bodies()
    with Storage(str(db)) as disk:
        poll(disk, cfg, {A: vocal, B: other})
    runner = CliRunner()
    result = runner.invoke(
        cli,
        ["--config", str(yaml), "explain", "https://medium.example/@ramsha/delay"],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    assert "near-duplicate" in result.output and "jaccard" in result.output
    assert "[representative]" in result.output and "Vocal" in result.output
    as_json = runner.invoke(
        cli,
        ["--config", str(yaml), "explain", "--json", "medium-1"],
        catch_exceptions=False,
    )
    (row,) = json.loads(as_json.output)
    rules = sorted(c["rule"] for c in row["copies"])
    assert rules == ["founded", "near-duplicate"]
    missing = runner.invoke(cli, ["--config", str(yaml), "explain", "nope"])
    assert missing.exit_code == 1 and "no stored entry" in missing.output


def replace_polling(cfg: Config) -> Config:
    from dataclasses import replace

    return replace(cfg, polling=PollingConfig(workers=1))


def test_purge_command_by_link_and_by_age(tmp_path):
    db = tmp_path / "feedhub.db"
    yaml = tmp_path / "feeds.yaml"
    yaml.write_text(f"database: {db}\nsources:\n  - {{url: '{A}'}}\n", encoding="utf-8")
    from feedhub.config import load_config

    cfg = replace_polling(load_config(yaml))
    # the CLI reads the wall clock: date everything relative to it
    wall = datetime.now(UTC)
    shift = (wall - NOW).total_seconds() / 3600
    old = item("1", "Old", "http://a.test/1", hours=shift - 24 * 400)
    recent = item("2", "Recent", "http://a.test/2", hours=shift - 24 * 10)
    other = item("3", "Other", "http://a.test/3", hours=shift - 24 * 400)
    with Storage(str(db)) as disk:
        poll(disk, cfg, {A: rss(old, recent, other)}, wall - timedelta(days=300))
    runner = CliRunner()
    base = ["--config", str(yaml), "purge"]
    result = runner.invoke(cli, [*base, "http://a.test/3?utm_source=x"])
    assert result.exit_code == 0 and "purged 1 entries" in result.output
    result = runner.invoke(cli, [*base, "--older-than", "200d"])
    assert "purged 1 entries" in result.output
    assert runner.invoke(cli, base).exit_code == 2
    assert runner.invoke(cli, [*base, "--older-than", "soon"]).exit_code == 2
    with Storage(str(db)) as disk:
        assert [e.data.title for e in disk.find_entries("2")] == ["Recent"]
        assert len(disk.tombstones(1)) == 2
        # the feed still carries them: they do not come back
        counts = poll(disk, cfg, {A: rss(old, recent, other, item("4", "New", None))})
        assert counts[A].new == 1


def test_the_published_feed_shows_the_story_once_crediting_the_other_outlet(storage):
    import feedparser

    vocal, other = seed_bodies()
    cfg = config(A, B, prefer=(B,))
    poll(storage, cfg, {A: vocal, B: other})
    ref = pipeline.find_feed(storage, cfg, FeedKind.ALL, "all")
    assert ref is not None
    parsed = feedparser.parse(pipeline.render_feed(storage, cfg, ref).body)
    assert not parsed.bozo
    seed = [e for e in parsed.entries if "Altman" in e.title]
    assert len(seed) == 1
    (entry,) = seed
    # B is preferred: its copy represents the story, A's is credited
    assert entry.link == "https://medium.example/@ramsha/delay"
    related = [link.href for link in entry.links if link.rel == "related"]
    assert any("vocal.media" in href for href in related)
    content = entry.content[0].value
    assert "Also reported by" in content and "About the Creator" not in content
    # the id is the one the story was first published under, whoever represents it
    (stored,) = [r for r, _ in storage.feed_stories(FeedKind.ALL, "all", 50)
                 if "Altman" in r.data.title]  # fmt: skip
    assert entry.id == stored.published_id


def test_entries_stored_before_the_index_are_indexed_once(storage):
    vocal, other = seed_bodies()
    cfg = config(A, B)
    poll(storage, config(A), {A: vocal})
    stored = len(list(storage.iter_entries()))
    # as after an upgrade: entries without index rows, no index version
    with storage._write("wipe") as conn:
        conn.execute("DELETE FROM near_buckets")
        conn.execute("DELETE FROM near_entries")
        conn.execute("DELETE FROM meta WHERE key = 'near_index_version'")
    assert storage.near_index_size() == (0, 0)
    assert pipeline.rebuild_near_index(storage, cfg) == stored
    assert storage.near_index_size()[0] == stored
    assert pipeline.rebuild_near_index(storage, cfg) == 0  # done once
    poll(storage, cfg, {A: vocal, B: other}, NOW + timedelta(hours=1))
    assert sum("Altman" in t for t, _ in published(storage)) == 1
