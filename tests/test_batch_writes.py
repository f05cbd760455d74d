"""Group commit (issue 4): ``Storage.batch()`` and the poll writer built on it.

Each unit of work in a batch stays all or nothing (the crash-safety contract),
one failing unit never undoes the others, and results are handed back only
once their transaction has committed.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest

from feedhub.exceptions import StorageError
from feedhub.pipeline._poll import _Writer
from feedhub.storage import Storage
from feedhub.types import PollStatus, SourceConfig
from tests.fakes import FakeFetcher
from tests.test_pipeline import AI, make_config, ok, run
from tests.test_storage import T0, A, entry, poll


def committed_meta(path: Path, key: str) -> str | None:
    """What another connection sees: only committed rows."""
    conn = sqlite3.connect(path)
    try:
        row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    finally:
        conn.close()
    return None if row is None else str(row[0])


@pytest.fixture
def db(tmp_path: Path) -> Any:
    path = tmp_path / "feedhub.sqlite"
    with Storage(str(path)) as storage:
        yield storage, path


def test_batch_commits_its_writes_together(db: Any) -> None:
    storage, path = db
    with storage.batch():
        storage.set_meta("a", "1")
        storage.set_meta("b", "2")
        # not committed yet: invisible to another connection ...
        assert committed_meta(path, "a") is None
        # ... but this thread reads its own batch's writes
        assert storage.get_meta("a") == "1"
    assert committed_meta(path, "a") == "1"
    assert committed_meta(path, "b") == "2"


def test_failing_unit_is_rolled_back_alone(db: Any) -> None:
    storage, path = db
    with storage.batch():
        storage.set_meta("before", "1")
        with pytest.raises(RuntimeError), storage.batch():
            storage.set_meta("bad", "1")
            raise RuntimeError("this unit fails")
        storage.set_meta("after", "1")
    assert committed_meta(path, "before") == "1"
    assert committed_meta(path, "bad") is None
    assert committed_meta(path, "after") == "1"


def test_exception_in_outer_batch_rolls_back_everything(db: Any) -> None:
    storage, path = db
    with pytest.raises(RuntimeError), storage.batch():
        storage.set_meta("a", "1")
        raise RuntimeError("boom")
    assert committed_meta(path, "a") is None
    storage.set_meta("c", "3")  # the connection is usable again
    assert committed_meta(path, "c") == "3"


def test_batch_on_memory_database() -> None:
    with Storage(":memory:") as storage:
        with storage.batch():
            storage.set_meta("a", "1")
            with pytest.raises(ValueError), storage.batch():
                storage.set_meta("b", "2")
                raise ValueError
        assert storage.get_meta("a") == "1"
        assert storage.get_meta("b") is None


def run_grouped(storage: Storage, work: list[Any], **kwargs: Any) -> tuple[Any, ...]:
    """Queue ``work`` behind a blocked first unit, then release the writer.

    Everything is queued before the first unit returns, and the group's age
    limit is far away, so how units group is deterministic.
    """
    gate = threading.Event()

    async def main() -> tuple[Any, ...]:
        writer = _Writer(storage, seconds=600, **kwargs)
        try:
            first = asyncio.ensure_future(writer.call(gate.wait))
            await asyncio.sleep(0)  # the writer thread now waits in unit one
            rest = [asyncio.ensure_future(writer.call(u)) for u in work]
            await asyncio.sleep(0)
            gate.set()
            results = await asyncio.gather(first, *rest, return_exceptions=True)
        finally:
            writer.close()
        return (writer.commits, writer.units, *results[1:])

    return asyncio.run(main())


def test_writer_groups_waiting_units_into_one_commit(db: Any) -> None:
    storage, path = db

    def write(key: str) -> Any:
        def unit() -> str:
            storage.set_meta(key, "v")
            return key

        return unit

    def fails() -> None:
        storage.set_meta("bad", "v")
        raise KeyError("bad unit")

    commits, units, *results = run_grouped(
        storage, [write("a"), fails, write("b"), write("c")]
    )
    assert results[0] == "a" and results[2:] == ["b", "c"]
    assert isinstance(results[1], KeyError)
    assert units == 5
    assert commits == 1  # all five units, the failed one rolled back alone
    for key in "abc":
        assert committed_meta(path, key) == "v"
    assert committed_meta(path, "bad") is None


def test_writer_bounds_a_group(db: Any) -> None:
    storage, path = db

    def write(key: str) -> Any:
        return lambda: storage.set_meta(key, "v")

    commits, units, *_ = run_grouped(
        storage, [write(str(i)) for i in range(6)], units=2
    )
    assert units == 7
    assert commits == 4  # 7 units, at most 2 per commit
    assert all(committed_meta(path, str(i)) == "v" for i in range(6))


def test_writer_fails_every_unit_of_a_group_it_cannot_commit(db: Any) -> None:
    storage, path = db
    locked = Storage(str(path), busy_timeout=0.05)
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")

    async def main() -> list[Any]:
        writer = _Writer(locked)
        try:
            calls = [writer.call(lambda: locked.set_meta("x", "1")) for _ in range(3)]
            return await asyncio.gather(*calls, return_exceptions=True)
        finally:
            writer.close()

    try:
        results = asyncio.run(main())
    finally:
        holder.close()
        locked.close()
    assert all(isinstance(r, StorageError) for r in results)
    assert committed_meta(path, "x") is None


def test_bulk_load_leaves_the_search_index_in_step(tmp_path: Path) -> None:
    path = str(tmp_path / "bulk.sqlite")
    with Storage(path) as storage:
        storage.sync_sources([SourceConfig(url=A)], T0)
        poll(storage, 1, T0, entry("before", title="Zebra crossing"))
        with storage.bulk():
            poll(storage, 1, T0, entry("k1", title="Zebra stripes"))
            poll(storage, 1, T0, entry("k2", title="Quokka smiles"))
            # suspended inside: the rows are not indexed yet
            assert set(storage.search_keys("quokka")) == set()
        assert set(storage.search_keys("zebra")) == {"before", "k1"}
        assert set(storage.search_keys("quokka")) == {"k2"}
        # the trigger is back: later inserts are indexed one by one again
        poll(storage, 1, T0, entry("k3", title="Quokka again"))
        assert set(storage.search_keys("quokka")) == {"k2", "k3"}
        # a second load indexes only its own rows, each as it ends up
        with storage.bulk():
            poll(storage, 1, T0, entry("k4", title="Walrus"))
            poll(storage, 1, T0, entry("k4", title="Narwhal", content_hash="h2"))
        assert set(storage.search_keys("walrus")) == set()
        assert set(storage.search_keys("narwhal")) == {"k4"}
        assert set(storage.search_keys("zebra")) == {"before", "k1"}
        with storage._write("check") as conn:  # FTS5's own consistency check
            conn.execute(
                "INSERT INTO entry_search (entry_search, rank)"
                " VALUES ('integrity-check', 1)"
            )


def test_failed_bulk_load_keeps_the_trigger(tmp_path: Path) -> None:
    path = str(tmp_path / "bulk.sqlite")
    with Storage(path) as storage:
        storage.sync_sources([SourceConfig(url=A)], T0)
        with pytest.raises(RuntimeError), storage.bulk():
            poll(storage, 1, T0, entry("k1", title="Zebra stripes"))
            raise RuntimeError
        assert storage.get_entry("k1") is None
        poll(storage, 1, T0, entry("k2", title="Zebra"))
        assert set(storage.search_keys("zebra")) == {"k2"}


def poll_many(
    tmp_path: Path, name: str, monkeypatch: pytest.MonkeyPatch, units: int
) -> tuple[Any, ...]:
    """Poll 12 sources (the same documents under other URLs, so their entries
    join stories across sources) with at most ``units`` per commit."""
    from feedhub.pipeline import _poll

    monkeypatch.setattr(_poll, "GROUP_UNITS", units)
    names = ["seed-rss.xml", "seed-atom.xml", "seed-json.json"]
    urls = [f"http://s{i}.test/feed" for i in range(12)]
    fetcher = FakeFetcher({u: ok(u, names[i % 3]) for i, u in enumerate(urls)})
    config = make_config(*(SourceConfig(u) for u in urls), topics=[AI])
    with Storage(str(tmp_path / name)) as storage:
        results = run(storage, config, fetcher)
        assert all(r.status is PollStatus.OK for r in results)
        with storage._read("dump") as conn:
            return tuple(
                tuple(row)
                for row in conn.execute(
                    "SELECT e.key, e.story_id, s.url FROM entries AS e"
                    " JOIN sources AS s ON s.id = e.source_id ORDER BY e.key"
                )
            )


def test_grouped_poll_stores_what_one_commit_per_source_stores(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    grouped = poll_many(tmp_path, "grouped.sqlite", monkeypatch, 64)
    single = poll_many(tmp_path, "single.sqlite", monkeypatch, 1)
    assert len(grouped) >= 12 * 3
    assert grouped == single


def test_a_unit_cancelled_before_it_starts_is_skipped(db: Any) -> None:
    storage, path = db
    gate = threading.Event()

    async def main() -> tuple[bool, str]:
        writer = _Writer(storage, seconds=600)
        try:
            first = asyncio.ensure_future(writer.call(gate.wait))
            await asyncio.sleep(0)  # the writer thread now waits in unit one
            skipped = asyncio.ensure_future(
                writer.call(lambda: storage.set_meta("skipped", "v"))
            )
            kept = asyncio.ensure_future(writer.call(lambda: "kept"))
            await asyncio.sleep(0)
            skipped.cancel()
            gate.set()
            await first
            result = await kept
        finally:
            writer.close()
        return skipped.cancelled(), result

    cancelled, result = asyncio.run(main())
    assert cancelled and result == "kept"
    assert committed_meta(path, "skipped") is None
