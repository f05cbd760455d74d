"""``feedhub run`` as a real process: polls, serves, stops cleanly on a signal."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx2 as httpx
import pytest

from tests.fakes import FeedServer

DATA = Path(__file__).parent / "data" / "feeds"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(predicate, timeout: float = 20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("timed out")


def try_get(url: str):
    try:
        return httpx.get(url, timeout=2)
    except httpx.HTTPError:
        return None


def start(config: Path, log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "feedhub", "--config", str(config), "run"],
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def test_run_polls_serves_and_stops_on_sigterm(tmp_path, feed_server: FeedServer):
    url = feed_server.put("/vocal.xml", (DATA / "seed-rss.xml").read_bytes())
    port = free_port()
    config = tmp_path / "feeds.yaml"
    config.write_text(
        f"server: {{host: 127.0.0.1, port: {port}}}\n"
        f"polling: {{allow_private_networks: true, workers: 1}}\n"
        f"sources:\n  - url: {url}\n    topics: [ai]\n"
        "topics: {ai: {title: AI}}\n"
    )
    log = tmp_path / "feedhub.log"
    process = start(config, log)
    try:
        base = f"http://127.0.0.1:{port}/"
        health = wait_for(lambda: try_get(base + "healthz"))
        assert health.status_code == 200
        assert health.json()["scheduler"] == "ok"

        def polled():
            response = try_get(base + "topics/ai.atom")
            return response is not None and b"Sam Altman" in response.content

        wait_for(polled)
        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=10)
        assert time.monotonic() - started < 10
        assert code == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert "stopped" in log.read_text()
    listing = subprocess.run(
        [sys.executable, "-m", "feedhub", "--config", str(config), "sources", "--json"],
        capture_output=True,
        check=True,
        env={**os.environ},
    )
    (source,) = json.loads(listing.stdout)
    assert source["status"] == "ok"
    assert source["entries"] >= 4


@pytest.mark.parametrize("delay", [0.2, 1.0])
def test_sigterm_mid_poll_rolls_back_or_finishes_and_exits_0(tmp_path, delay):
    # issue 8: 250 feeds (a first poll of several seconds) and one source that
    # never answers; SIGTERM lands while sources are being fetched and written
    from tests import crashkit
    from tests.test_crash import check_store

    db, log = tmp_path / "feedhub.db", tmp_path / "feedhub.log"
    with crashkit.serve(crashkit.Feeds(250)) as feeds:
        config = crashkit.write_config(
            tmp_path / "feeds.yaml", feeds, crashkit.free_port(), hang=True
        )
        process = crashkit.start(config, log)
        try:
            crashkit.wait_for(lambda: feeds.requests > 20)
            time.sleep(delay)
            started = time.monotonic()
            process.send_signal(signal.SIGTERM)
            code = process.wait(timeout=10)
            elapsed = time.monotonic() - started
            assert elapsed < 10
        finally:
            crashkit.kill(process)
        assert code == 0
        assert "stopped" in log.read_text()
        versions = check_store(db, feeds, set())
    # the run was still waiting for the silent source: some sources stored,
    # each of them whole (check_store), none half written
    assert versions
    print(f"\nsigterm: exit 0 in {elapsed:.2f}s, {len(versions)} of 250 stored")
