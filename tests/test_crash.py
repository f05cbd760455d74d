"""Crash safety (issue 8): SIGKILL ``feedhub run`` at random moments, restart it,
and check after every kill that nothing committed is lost or half written.

One test, about a minute: 250 generated feeds on a local server, each a sliding
window of 12 entries whose titles all carry the feed's version, so that a
source update stored in part is visible as entries of two versions.
"""

from __future__ import annotations

import random
import re
import sqlite3
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import httpx2 as httpx

from feedhub.storage import Storage
from tests import crashkit
from tests.crashkit import Feeds

SEED = 20261205
FEEDS = 250
KILLS = 32
ATOM = "{http://www.w3.org/2005/Atom}"
_TITLE = re.compile(r"^Feed (\d+) item (\d+) v(\d+)$")


def connect(db: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(db, timeout=10, isolation_level=None)
    conn.execute("PRAGMA busy_timeout = 10000")
    return conn


def entry_keys(db: Path) -> set[str]:
    """The keys committed so far (read while the daemon writes: WAL)."""
    if not db.exists():
        return set()
    conn = connect(db)
    try:
        return {str(r[0]) for r in conn.execute("SELECT key FROM entries")}
    except sqlite3.OperationalError:  # no tables yet: the first migration runs
        return set()
    finally:
        conn.close()


def check_store(db: Path, feeds: Feeds, committed: set[str]) -> dict[int, int]:
    """Every invariant that must hold between two runs; returns feed -> version."""
    conn = connect(db)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
        if "entries" not in tables:  # killed before the first migration committed
            assert not committed
            return {}
        keys = {str(r[0]) for r in conn.execute("SELECT key FROM entries")}
        # no committed entry lost
        assert committed <= keys, f"lost {len(committed - keys)} committed entries"
        # no duplicate: one entry per (source, guid), one story per published id
        assert not conn.execute(
            "SELECT source_id, original_id FROM entries"
            " GROUP BY source_id, original_id HAVING count(*) > 1"
        ).fetchall()
        assert not conn.execute(
            "SELECT published_id FROM story_ids GROUP BY published_id"
            " HAVING count(*) > 1"
        ).fetchall()
        # derived story rows written in the same transaction as the entries:
        # a story is listed exactly when it has a visible copy (not backlog)
        columns = {r[1] for r in conn.execute("PRAGMA table_info(entries)")}
        visible = "e.hidden = 0" + (
            " AND e.blocked = 0" if "blocked" in columns else ""
        )
        assert not conn.execute(
            f"SELECT 1 FROM entries AS e WHERE {visible} AND NOT EXISTS"
            " (SELECT 1 FROM stories AS s WHERE s.story_id = e.story_id)"
        ).fetchall()
        assert not conn.execute(
            "SELECT 1 FROM stories AS s WHERE NOT EXISTS (SELECT 1 FROM entries"
            f" AS e WHERE e.story_id = s.story_id AND {visible})"
        ).fetchall()
        # every source update all or nothing: its newest version complete, its
        # validator from that same version
        stored: dict[int, dict[int, int]] = {}
        for (text,) in conn.execute("SELECT title FROM entries"):
            match = _TITLE.match(text)
            assert match, text
            feed, item, version = map(int, match.groups())
            stored.setdefault(feed, {})[item] = version
        etags = {
            int(url.rsplit("/f", 1)[1].removesuffix(".xml")): tag
            for url, tag in conn.execute("SELECT url, etag FROM sources")
            if "/f" in url
        }
        versions: dict[int, int] = {}
        for feed, tag in etags.items():
            items = stored.get(feed, {})
            if not items:
                assert tag is None, (feed, tag)
                continue
            newest = max(items.values())
            window = {item: items.get(item) for item in crashkit.window(newest)}
            assert set(window.values()) == {newest}, (feed, newest, window)
            assert tag == crashkit.etag(newest), (feed, newest, tag)
            assert newest <= feeds.versions[feed]
            versions[feed] = newest
        return versions
    finally:
        conn.close()


def atom_ids(url: str) -> set[str]:
    response = httpx.get(url, timeout=10)
    assert response.status_code == 200, url
    root = ET.fromstring(response.content)
    return {e.findtext(f"{ATOM}id") or "" for e in root.iter(f"{ATOM}entry")}


def check_published(db: Path, base: str) -> None:
    """Served feeds and the publishing state agree with the stored stories."""
    conn = connect(db)
    try:
        assert conn.execute("SELECT count(*) FROM retractions").fetchone() == (0,)
        feeds = {"all": "SELECT story_id FROM stories"}
        for topic in crashkit.TOPICS:
            feeds[f"topics/{topic}"] = (
                f"SELECT story_id FROM story_topics WHERE topic = '{topic}'"
            )
        for feed, members in feeds.items():
            ids = {
                str(r[0]): str(r[1])
                for r in conn.execute(
                    "SELECT story_id, published_id FROM story_ids"
                    f" WHERE story_id IN ({members})"
                )
            }
            archived = {
                str(r[0])
                for r in conn.execute(
                    "SELECT story_id FROM archive_stories WHERE feed = ?", (feed,)
                )
            }
            recorded = {
                str(r[0])
                for r in conn.execute(
                    "SELECT entry_id FROM published_entries WHERE feed = ?", (feed,)
                )
            }
            served = atom_ids(f"{base}{feed}.atom")
            current = {ids[s] for s in set(ids) - archived}
            # each story exactly once: in an archive page or in the document
            assert archived <= set(ids), feed
            assert served == current, (feed, len(served), len(current))
            assert recorded == served, (feed, len(recorded), len(served))
    finally:
        conn.close()


def test_sigkill_at_random_moments_loses_and_duplicates_nothing(tmp_path):
    rng = random.Random(SEED)
    started = time.monotonic()
    db = tmp_path / "feedhub.db"
    log = tmp_path / "feedhub.log"
    committed: set[str] = set()
    kills = after_requests = with_lost_updates = lost_updates = 0
    with crashkit.serve(Feeds(FEEDS)) as feeds:
        port = crashkit.free_port()
        config = crashkit.write_config(
            tmp_path / "feeds.yaml",
            feeds,
            port,
            "publish: {backlog_per_new_source: all}\n",
        )
        for _round in range(KILLS):
            # some feeds change between runs, so every run has writes to do
            feeds.bump(rng.sample(range(FEEDS), FEEDS // 4))
            seen, life = feeds.requests, len(feeds.served)
            process = crashkit.start(config, log)
            try:
                if rng.random() < 0.25:
                    # early: imports, migrations, the first fetches
                    time.sleep(rng.uniform(0.2, 1.5))
                else:
                    crashkit.wait_for(
                        lambda: feeds.requests > seen or process.poll() is not None,  # noqa: B023
                        timeout=30,
                    )
                    assert process.poll() is None, log.read_text()[-2000:]
                    after_requests += 1
                    time.sleep(rng.uniform(0.0, 1.0))
                committed |= entry_keys(db)
            finally:
                crashkit.kill(process)
            kills += 1
            versions = check_store(db, feeds, committed)
            with feeds.lock:
                served = set(feeds.served[life:])
            # bodies fetched in this run whose update did not commit
            lost = sum(v > versions.get(f, -1) for f, v in served)
            with_lost_updates += lost > 0
            lost_updates += lost
        kill_phase = time.monotonic() - started
        # a last run, left alone: it catches up, publishes, and agrees
        process = crashkit.start(config, log)
        try:
            target = list(feeds.versions)

            def caught_up() -> bool:
                try:
                    versions = check_store(db, feeds, committed)
                except (AssertionError, sqlite3.OperationalError):
                    return False
                return all(versions.get(f) == v for f, v in enumerate(target))

            crashkit.wait_for(caught_up, timeout=90, step=0.5)
            base = f"http://127.0.0.1:{port}/"

            def settled() -> bool:
                try:
                    check_published(db, base)
                except (AssertionError, httpx.HTTPError, sqlite3.OperationalError):
                    return False
                return True

            crashkit.wait_for(settled, timeout=30, step=0.5)
            check_published(db, base)
        finally:
            crashkit.kill(process)
    conn = connect(db)
    entries = conn.execute("SELECT count(*) FROM entries").fetchone()[0]
    conn.close()
    print(
        f"\ncrash: kills={kills} after_requests={after_requests} "
        f"kills_with_updates_in_flight={with_lost_updates} "
        f"updates_rolled_back={lost_updates} entries={entries} "
        f"kill_phase={kill_phase:.1f}s total={time.monotonic() - started:.1f}s"
    )
    assert kills >= 30
    assert with_lost_updates > 0  # some kills did land in the middle of writes
    assert entries >= FEEDS * crashkit.WINDOW


def test_a_publish_pass_cut_short_hands_its_feeds_to_the_next():
    # take_dirty_feeds empties dirty_feeds; a SIGKILL before the pass ends
    # must not lose the feeds it took (their retractions, pings, hashes)
    with Storage(":memory:") as storage:
        storage.take_dirty_feeds()
        storage.finish_dirty_feeds()
        storage.mark_feeds_dirty(["all", "topics/a"])
        assert storage.take_dirty_feeds() == ("all", "topics/a")
        # the pass dies here; a poll meanwhile dirties another feed
        storage.mark_feeds_dirty(["topics/b"])
        assert storage.take_dirty_feeds() == ("all", "topics/a", "topics/b")
        storage.finish_dirty_feeds()
        assert storage.take_dirty_feeds() == ()
