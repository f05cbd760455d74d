"""``feedhub backup``: SQLite's online backup, safe while another process writes."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from feedhub.cli import cli
from feedhub.exceptions import StorageError
from feedhub.storage import Storage
from feedhub.types import SourceConfig
from tests.fakes import FeedServer
from tests.test_daemon import free_port, start, try_get, wait_for

DATA = Path(__file__).parent / "data" / "feeds"
NOW = datetime(2026, 1, 1, tzinfo=UTC)


def sources(prefix: str, count: int = 50) -> list[SourceConfig]:
    return [SourceConfig(f"https://{prefix}.example/{i}.xml") for i in range(count)]


def integrity(path: Path) -> str:
    conn = sqlite3.connect(path)
    try:
        return str(conn.execute("PRAGMA integrity_check").fetchone()[0])
    finally:
        conn.close()


def test_backup_copies_the_database_into_one_checked_file(tmp_path):
    target = tmp_path / "copy.db"
    with Storage(str(tmp_path / "feedhub.db")) as storage:
        storage.sync_sources(sources("a"), NOW)
        assert storage.backup(str(target)) == "ok"
    assert integrity(target) == "ok"
    # one self-contained file: no WAL beside it is needed to read it
    assert not Path(f"{target}-wal").exists()
    conn = sqlite3.connect(target)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    finally:
        conn.close()
    with Storage(str(target)) as copy:
        assert len(copy.get_sources()) == 50


def test_backup_refuses_an_existing_file_unless_forced(tmp_path):
    target = tmp_path / "copy.db"
    target.write_bytes(b"precious")
    with Storage(str(tmp_path / "feedhub.db")) as storage:
        storage.sync_sources(sources("a", 3), NOW)
        with pytest.raises(StorageError, match="exists"):
            storage.backup(str(target))
        assert target.read_bytes() == b"precious"
        assert storage.backup(str(target), force=True) == "ok"
    assert integrity(target) == "ok"
    assert not list(tmp_path.glob("*.tmp"))


def test_backup_into_a_missing_directory_is_a_storage_error(tmp_path):
    with Storage(str(tmp_path / "feedhub.db")) as storage:
        with pytest.raises(StorageError, match="backup"):
            storage.backup(str(tmp_path / "no" / "such" / "dir.db"))


def test_each_backup_is_one_snapshot_while_another_connection_writes(tmp_path):
    """A writer flips the active sources between two sets of 50, each flip one
    transaction; every backup taken meanwhile holds exactly one of the sets."""
    path = str(tmp_path / "feedhub.db")
    sets = {"a": sources("a"), "b": sources("b")}
    wanted = {name: {s.url for s in group} for name, group in sets.items()}
    with Storage(path) as first:
        first.sync_sources(sets["a"], NOW)
    stop = threading.Event()
    flips = [0]

    def write() -> None:
        with Storage(path) as writer:
            while not stop.is_set():
                writer.sync_sources(sets["ab"[flips[0] % 2]], NOW)
                flips[0] += 1

    thread = threading.Thread(target=write)
    thread.start()
    try:
        with Storage(path) as storage:
            for i in range(12):
                target = tmp_path / f"copy{i}.db"
                assert storage.backup(str(target)) == "ok"
                with Storage(str(target)) as copy:
                    urls = {s.url for s in copy.get_sources()}
                assert urls in (wanted["a"], wanted["b"]), "a torn snapshot"
    finally:
        stop.set()
        thread.join(30)
    assert flips[0] > 0


def test_backup_command(tmp_path):
    config = tmp_path / "feeds.yaml"
    config.write_text("sources: []\n")
    runner = CliRunner()
    target = tmp_path / "copy.db"
    args = ["--config", str(config), "backup", str(target)]
    done = runner.invoke(cli, args, catch_exceptions=False)
    assert done.exit_code == 0, done.output
    assert "ok" in done.output and str(target) in done.output
    again = runner.invoke(cli, args, catch_exceptions=False)
    assert again.exit_code == 1
    assert "exists" in again.output and "--force" in again.output
    forced = runner.invoke(cli, [*args, "--force"], catch_exceptions=False)
    assert forced.exit_code == 0, forced.output
    assert integrity(target) == "ok"


def test_backup_while_feedhub_run_writes(tmp_path, feed_server: FeedServer):
    urls = [
        feed_server.put(f"/f{i}.xml", (DATA / "seed-rss.xml").read_bytes())
        for i in range(20)
    ]
    port = free_port()
    config = tmp_path / "feeds.yaml"
    config.write_text(
        f"server: {{host: 127.0.0.1, port: {port}}}\n"
        "polling: {allow_private_networks: true, workers: 1}\n"
        "sources:\n" + "".join(f"  - url: {url}\n" for url in urls)
    )
    process = start(config, tmp_path / "feedhub.log")
    try:
        wait_for(lambda: try_get(f"http://127.0.0.1:{port}/healthz"))
        # back up repeatedly while the first poll stores its 20 sources
        for i in range(5):
            target = tmp_path / f"copy{i}.db"
            done = subprocess.run(
                [sys.executable, "-m", "feedhub", "--config", str(config)]
                + ["backup", str(target)],
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert done.returncode == 0, done.stderr
            assert integrity(target) == "ok"
        assert process.poll() is None
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(15)
