"""Retention (issue 8): limits, tombstones that keep purged entries out and
expire, retractions, incremental vacuum, ``feedhub retention`` and the job."""

from __future__ import annotations

import asyncio
import json
import signal
import sqlite3
import subprocess
import sys
import textwrap
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from click.testing import CliRunner

from feedhub import pipeline
from feedhub.cli import cli
from feedhub.config import parse_config
from feedhub.exceptions import ConfigError
from feedhub.storage import Storage
from feedhub.types import (
    Config,
    FeedKind,
    FetchResult,
    PollingConfig,
    PublishConfig,
    RetentionConfig,
    SourceConfig,
)
from tests import crashkit
from tests.fakes import FakeFetcher, FeedServer
from tests.test_daemon import free_port, try_get

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
URL = "http://a.test/feed.xml"
DAY = 86400.0


def rss(items: list[int], dated: datetime = NOW, body: str = "") -> bytes:
    """An RSS document with items numbered as given, item n dated n hours ago."""
    parts = []
    for n in items:
        when = format_datetime(dated - timedelta(hours=n))
        parts.append(
            f"<item><guid>https://a.test/{n}</guid><link>https://a.test/{n}</link>"
            f"<title>Story number {n} {body}</title><pubDate>{when}</pubDate>"
            f"<description>Text of story {n}. {body}</description></item>"
        )
    return (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>A</title>'
        f"<link>https://a.test/</link>{''.join(parts)}</channel></rss>"
    ).encode()


def make_config(retention: RetentionConfig | None = None) -> Config:
    return Config(
        path=None,
        database=":memory:",
        polling=PollingConfig(workers=1),
        publish=PublishConfig(backlog_per_new_source=None),
        sources=(SourceConfig(URL),),
        retention=retention or RetentionConfig(),
    )


def poll(storage: Storage, config: Config, body: bytes, at: datetime) -> None:
    tag = f'"{hash(body)}"'
    fetcher = FakeFetcher({URL: FetchResult(URL, URL, 200, {}, body, etag=tag)})
    asyncio.run(pipeline.poll(storage, config, fetcher, clock=lambda: at, force=True))


def links(storage: Storage) -> set[str]:
    return {e.data.link or "" for e in storage.iter_entries()}


def numbered(*ns: int) -> set[str]:
    return {f"https://a.test/{n}" for n in ns}


@pytest.fixture
def storage():
    with Storage(":memory:") as s:
        yield s


# ---------------------------------------------------------------- config


def test_config_reads_both_limits():
    config = parse_config(
        "retention: {max_age: 180d, max_entries_per_source: 5000}\n", "/x/feeds.yaml"
    )
    assert config.retention == RetentionConfig(180 * DAY, 5000)


@pytest.mark.parametrize(
    "text", ["", "retention:\n", "retention: {max_age: null}\n", "retention: {}\n"]
)
def test_config_absent_or_null_keeps_everything(text):
    assert parse_config(text, "/x/feeds.yaml").retention == RetentionConfig()


@pytest.mark.parametrize(
    ("body", "key", "words"),
    [
        ("max_ages: 1d", "retention.max_ages", "did you mean 'max_age'"),
        ("max_age: soon", "retention.max_age", "not a duration"),
        ("max_age: 10m", "retention.max_age", "out of range 1h..36500d"),
        ("max_age: 40000d", "retention.max_age", "out of range"),
        ("max_entries_per_source: 0", "retention.max_entries_per_source", "range"),
        ("max_entries_per_source: many", "retention.max_entries_per_source", "whole"),
        ("max_entries_per_source: 1.5", "retention.max_entries_per_source", "whole"),
    ],
)
def test_config_errors_name_file_line_and_key(body, key, words):
    text = textwrap.dedent(
        f"""\
        database: x.db
        retention:
          {body}
        """
    )
    with pytest.raises(ConfigError) as info:
        parse_config(text, "/srv/feeds.yaml")
    message = str(info.value)
    assert message.startswith("config: /srv/feeds.yaml:3: ")
    assert key in message and words in message


# ---------------------------------------------------------------- limits


def test_count_limit_purges_the_oldest_and_they_never_come_back(storage):
    config = make_config(RetentionConfig(max_entries_per_source=4))
    poll(storage, config, rss(list(range(10))), NOW)
    assert len(links(storage)) == 10
    assert pipeline.retention_keys(storage, config, NOW) != []

    result = pipeline.apply_retention(storage, config, now=NOW)

    assert result.purged == 6
    # item n is n hours old: the newest four are 0..3
    assert links(storage) == numbered(0, 1, 2, 3)
    # the feed still carries all ten, plus a new one: only the new one enters
    later = NOW + timedelta(hours=1)
    poll(storage, config, rss([-1, *range(10)], dated=NOW, body="v2"), later)
    assert links(storage) == numbered(-1, 0, 1, 2, 3)
    assert pipeline.apply_retention(storage, config, now=later).purged == 1
    assert links(storage) == numbered(-1, 0, 1, 2)


def test_age_limit_needs_both_first_seen_and_dated_long_ago(storage):
    config = make_config(RetentionConfig(max_age=180 * DAY))
    then = NOW - timedelta(days=200)
    poll(storage, config, rss([1, 2], dated=then), then)
    # first seen now, but dated 200 days ago: kept for max_age from now
    poll(storage, config, rss([1, 2, 30, 31], dated=then, body="v2"), NOW)
    # first seen 200 days ago and dated just now (edited): kept
    assert pipeline.apply_retention(storage, config, now=NOW).purged == 2
    assert links(storage) == numbered(30, 31)
    state = storage.get_sources()[0]
    assert len(storage.tombstones(state.id)) == 2


def test_without_limits_nothing_is_purged(storage):
    config = make_config()
    poll(storage, config, rss(list(range(5))), NOW - timedelta(days=3000))
    result = pipeline.apply_retention(storage, config, now=NOW)
    assert result.purged == 0
    assert len(links(storage)) == 5


def test_purged_entries_are_retracted_from_published_feeds(storage):
    config = make_config(RetentionConfig(max_entries_per_source=2))
    poll(storage, config, rss([0, 1, 2, 3]), NOW)
    pipeline.refresh_feeds(storage, config, now=NOW)
    published = storage.published_entries("all")
    assert len(published) == 4

    pipeline.apply_retention(storage, config, now=NOW)
    pipeline.refresh_feeds(storage, config, now=NOW)

    retracted = {d.ref for d in storage.retractions("all")}
    gone = {ref for ref, (_s, _k, link) in published.items() if link in numbered(2, 3)}
    assert retracted == gone and len(gone) == 2
    assert len(storage.published_entries("all")) == 2
    ref = pipeline.find_feed(storage, config, FeedKind.ALL, "all")
    assert ref is not None
    xml = pipeline.render_feed(storage, config, ref, "atom")
    assert b"deleted-entry" in xml.body
    assert b"Story number 3" not in xml.body and b"Story number 0" in xml.body


# ---------------------------------------------------------------- tombstones


def test_tombstones_expire_once_the_feed_has_lacked_them_long_enough(storage):
    config = make_config(RetentionConfig(max_entries_per_source=2))
    poll(storage, config, rss([0, 1, 2, 3]), NOW)
    pipeline.apply_retention(storage, config, now=NOW)
    source_id = storage.get_sources()[0].id
    assert len(storage.tombstones(source_id)) == 2
    # still carried: not missing, never expires
    t1 = NOW + timedelta(days=1)
    poll(storage, config, rss([0, 1, 2, 3], body="v2"), t1)
    assert set(storage.missing_tombstones(source_id).values()) == {None}
    # the window moves on: both missing since t2
    t2 = NOW + timedelta(days=2)
    poll(storage, config, rss([0, 1], body="v3"), t2)
    assert set(storage.missing_tombstones(source_id).values()) == {t2}
    # one comes back for a while: present again, the other stays missing
    t3 = NOW + timedelta(days=20)
    poll(storage, config, rss([0, 1, 2], body="v4"), t3)
    missing = storage.missing_tombstones(source_id)
    assert sorted(missing.values(), key=str) == [t2, None]
    assert links(storage) == numbered(0, 1)

    grace = timedelta(seconds=pipeline.TOMBSTONE_GRACE)
    kept = pipeline.apply_retention(storage, config, now=t2 + grace - timedelta(1))
    assert kept.tombstones_dropped == 0
    dropped = pipeline.apply_retention(storage, config, now=t2 + grace + timedelta(1))
    assert dropped.tombstones_dropped == 1
    assert storage.tombstone_count() == 1


def test_manual_purge_tombstones_expire_without_retention(storage):
    config = make_config()
    poll(storage, config, rss([0, 1]), NOW)
    keys = [e.key for e in storage.iter_entries()]
    pipeline.purge(storage, config, keys[:1], now=NOW)
    poll(storage, config, rss([5], body="v2"), NOW + timedelta(days=1))
    later = NOW + timedelta(days=40)
    result = pipeline.apply_retention(storage, config, now=later)
    assert result.tombstones_dropped == 1
    assert storage.tombstone_count() == 0


# ---------------------------------------------------------------- vacuum


def test_new_database_is_incremental_and_retention_shrinks_it(tmp_path):
    path = tmp_path / "feedhub.db"
    padding = "x" * 4000
    config = make_config(RetentionConfig(max_entries_per_source=1))
    with Storage(str(path)) as storage:
        assert storage.auto_vacuum() == "incremental"
        poll(storage, config, rss(list(range(300)), body=padding), NOW)
        storage.vacuum()  # start from a compact file
        size = path.stat().st_size
        result = pipeline.apply_retention(storage, config, now=NOW)
        assert result.purged == 299
        assert result.pages_freed > 0
        assert storage.free_pages() == 0
        with sqlite3.connect(path) as conn:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        assert path.stat().st_size < size / 2
        assert storage.integrity_check() == "ok"


def test_vacuum_converts_an_older_database(tmp_path):
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE legacy (x)")  # tables exist: mode is fixed
    config = make_config(RetentionConfig(max_entries_per_source=1))
    with Storage(str(path)) as storage:
        assert storage.auto_vacuum() == "none"
        poll(storage, config, rss(list(range(50)), body="y" * 2000), NOW)
        result = pipeline.apply_retention(storage, config, now=NOW)
        assert result.purged == 49 and result.pages_freed == 0
        assert storage.free_pages() > 0
        storage.vacuum()
        assert storage.auto_vacuum() == "incremental"
        assert storage.free_pages() == 0
        assert len(links(storage)) == 1


def test_migration_keeps_tombstones_of_an_older_database(tmp_path):
    path = str(tmp_path / "x.db")
    with Storage(path) as storage:
        poll(storage, make_config(), rss([0, 1]), NOW)
        key = next(storage.iter_entries()).key
        storage.purge_entries([key], NOW)
    with sqlite3.connect(path) as conn:
        names = [r[0] for r in conn.execute("SELECT name FROM _sqlite_migrations")]
        columns = [r[1] for r in conn.execute("PRAGMA table_info(tombstones)")]
    assert "m008_retention" in names and "missing_since" in columns


# ---------------------------------------------------------------- cli and daemon


def test_cli_retention_dry_run_then_apply(tmp_path):
    config_path = tmp_path / "feeds.yaml"
    config_path.write_text(
        f"sources:\n  - url: {URL}\nretention: {{max_entries_per_source: 3}}\n"
    )
    with Storage(str(tmp_path / "feedhub.db")) as storage:
        poll(storage, make_config(), rss(list(range(8))), NOW)
    runner = CliRunner()
    base = ["--config", str(config_path), "retention"]
    dry = runner.invoke(cli, [*base, "--dry-run"], catch_exceptions=False)
    assert dry.exit_code == 0, dry.output
    assert "would purge 5 entries" in dry.output
    done = runner.invoke(cli, [*base, "--vacuum"], catch_exceptions=False)
    assert done.exit_code == 0, done.output
    assert "purged 5 entries" in done.output
    assert "auto_vacuum: incremental" in done.output
    with Storage(str(tmp_path / "feedhub.db")) as storage:
        assert len(links(storage)) == 3


def test_run_applies_retention_and_retracts(tmp_path, feed_server: FeedServer):
    url = feed_server.put("/a.xml", rss(list(range(6))))
    port = free_port()
    config = tmp_path / "feeds.yaml"
    config.write_text(
        f"server: {{host: 127.0.0.1, port: {port}}}\n"
        "polling: {allow_private_networks: true, workers: 1}\n"
        f"sources:\n  - url: {url}\n"
        "retention: {max_entries_per_source: 2}\n"
    )
    log = tmp_path / "feedhub.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "feedhub", "--config", str(config), "run"],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        feed = f"http://127.0.0.1:{port}/all.json"

        def trimmed():
            response = try_get(feed)
            if response is None or response.status_code != 200:
                return None
            items = json.loads(response.content)["items"]
            return items if len(items) == 2 else None

        try:
            items = crashkit.wait_for(trimmed, timeout=60, step=0.1)
        except AssertionError as e:
            raise AssertionError(log.read_text()[-3000:]) from e
        assert {i["url"] for i in items} == numbered(0, 1)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert "retention purged=4" in log.read_text()
    with Storage(str(tmp_path / "feedhub.db")) as storage:
        assert links(storage) == numbered(0, 1)
        assert storage.tombstone_count() == 4
