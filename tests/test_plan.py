"""``feedhub plan``: what a rule edit would change, without changing anything."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from feedhub import pipeline
from feedhub.config import load_config
from feedhub.storage import Storage
from feedhub.types import FeedKind
from tests.fakes import FeedServer
from tests.test_rules import AD, FOOTBALL, README, SEED_TITLE, invoke, write_config

#: the README rules edited: ai-safety wants "regulation" in the title (the
#: seed story leaves it), and the block rule takes the football report
#: instead of the sponsored post
#: named views follow the rules too: one by topic, one by search query
VIEWS = """
feeds:
  safety-news: {title: Safety news, topics: [ai-safety]}
  derby-or-ads: {title: Derby or ads, query: 'Arsenal OR sponsored'}
"""
RULES = README + VIEWS
EDITED = RULES.replace(
    "- any: [safety, alignment, misuse, regulation]", "- title: [regulation]"
).replace("  - title: {regex: '^\\W*sponsored\\b'}", "  - title: [Arsenal]")


@pytest.fixture
def site(tmp_path: Path, feed_server: FeedServer) -> dict[str, Any]:
    config = tmp_path / "feeds.yaml"
    write_config(config, feed_server, rules=RULES)
    invoke(config, "poll", "--all")
    return {"config": config, "server": feed_server}


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_plan_lists_what_would_appear_and_disappear(site) -> None:
    write_config(site["config"], site["server"], rules=EDITED)
    out = invoke(site["config"], "plan").output
    assert "rules changed since they were last applied:" in out
    assert "topic ai-safety: match changed" in out
    assert "block: changed" in out
    assert "topics/ai-safety (AI safety): +0 -1" in out
    assert f"  - {SEED_TITLE}  https://news.example/seed" in out
    assert "all (All entries): +1 -1" in out
    assert f"  + {AD}  https://news.example/ad" in out
    assert f"  - {FOOTBALL}  https://news.example/football" in out
    assert "feeds/safety-news (Safety news): +0 -1" in out
    assert "feeds/derby-or-ads (Derby or ads): +1 -1" in out


def test_plan_changes_nothing(site) -> None:
    config = load_config(site["config"])
    db = Path(config.database)
    with Storage(config.database) as storage:
        generation = storage.generation()
    before = digest(db)
    write_config(site["config"], site["server"], rules=EDITED)
    result = invoke(site["config"], "plan", "--json")
    assert json.loads(result.output)["feeds"]
    assert digest(db) == before
    with Storage(config.database) as storage:
        assert storage.generation() == generation
        assert SEED_TITLE in {
            rep.data.title
            for rep, _ in storage.feed_stories(FeedKind.TOPIC, "ai-safety", 9)
        }


def test_plan_predicts_what_apply_rules_does(site) -> None:
    write_config(site["config"], site["server"], rules=EDITED)
    config = load_config(site["config"])
    with Storage(config.database) as storage:
        planned = pipeline.plan(storage, config)
        before = storage.story_memberships()
        pipeline.apply_rules(storage, config)
        after = storage.story_memberships()
    predicted = {
        f.feed: ({p.story_id for p in f.appear}, {p.story_id for p in f.disappear})
        for f in planned.feeds
    }
    actual = {
        feed: (after.get(feed, set()) - before.get(feed, set()),
               before.get(feed, set()) - after.get(feed, set()))
        for feed in set(before) | set(after)
        if before.get(feed, set()) != after.get(feed, set())
    }  # fmt: skip
    assert predicted == actual
    assert planned.known and planned.entries == 4


def test_plan_json_and_limit(site) -> None:
    write_config(site["config"], site["server"], rules=EDITED)
    data = json.loads(invoke(site["config"], "plan", "--json", "--limit", "1").output)
    assert data["known"] is True
    feeds = {f["feed"]: f for f in data["feeds"]}
    assert feeds["all"]["appearing"] == 1 and feeds["all"]["disappearing"] == 1
    assert feeds["all"]["appear"] == [
        {
            "story": feeds["all"]["appear"][0]["story"],
            "entry": feeds["all"]["appear"][0]["entry"],
            "title": AD,
            "link": "https://news.example/ad",
        }
    ]
    assert feeds["topics/ai-safety"]["disappear"][0]["title"] == SEED_TITLE


def test_plan_with_nothing_changed(site) -> None:
    out = invoke(site["config"], "plan").output
    assert "rules unchanged since they were last applied" in out
    assert "no feed would change (4 entries checked)" in out


def test_plan_on_a_database_without_a_record_of_its_rules(site) -> None:
    config = load_config(site["config"])
    with Storage(config.database) as storage:
        with storage._write("test") as conn:
            conn.execute("DELETE FROM meta WHERE key = 'curation_config'")
        planned = pipeline.plan(storage, config)
    assert not planned.known
    assert planned.rule_changes[0].startswith("no record of the rules last applied")
    assert planned.feeds == ()
