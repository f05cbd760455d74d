"""SIGHUP reloads feeds.yaml in a real ``feedhub run`` process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.test_daemon import free_port, try_get, wait_for


def rss(title: str, link: str) -> bytes:
    return (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>'
        f"<link>https://example.org/</link><item><title>{title}</title>"
        f"<link>{link}</link><guid>{link}</guid>"
        f"<description>{title}, the whole story.</description></item>"
        "</channel></rss>"
    ).encode()


class Feeds:
    """A local feed server counting requests per path; a gated path answers
    only once its gate is opened (a poll held in flight)."""

    def __init__(self) -> None:
        self.documents: dict[str, bytes] = {}
        self.hits: dict[str, int] = {}
        self.gates: dict[str, threading.Event] = {}
        self.lock = threading.Lock()
        self.port = 0

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def count(self, path: str) -> int:
        with self.lock:
            return self.hits.get(path, 0)


@contextmanager
def serve() -> Iterator[Feeds]:
    feeds = Feeds()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_GET(self) -> None:  # noqa: N802 (http.server API)
            with feeds.lock:
                feeds.hits[self.path] = feeds.hits.get(self.path, 0) + 1
            gate = feeds.gates.get(self.path)
            if gate is not None:
                gate.wait(30)
            body = feeds.documents.get(self.path)
            if body is None:
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/rss+xml")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    feeds.port = httpd.server_address[1]
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield feeds
    finally:
        for gate in feeds.gates.values():
            gate.set()
        httpd.shutdown()
        httpd.server_close()


def config_text(port: int, sources: str, topics: str) -> str:
    return (
        f"server: {{host: 127.0.0.1, port: {port}}}\n"
        "polling: {interval: 1s, min_interval: 1s, allow_private_networks: true,"
        " workers: 1}\n"
        f"sources:\n{sources}topics:\n{topics}"
    )


class Daemon:
    """``feedhub run`` with JSON logs: tests read its fields, not its wording."""

    def __init__(self, config: Path, log: Path) -> None:
        self.log = log
        with log.open("wb") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "feedhub", "--config", str(config), "run"],
                stdout=out,
                stderr=subprocess.STDOUT,
                env={**os.environ, "FEEDHUB_LOG_FORMAT": "json"},
            )

    def lines(self) -> list[dict[str, object]]:
        out = []
        text = self.log.read_text()
        # a line still being written is read next time
        for line in text[: text.rfind("\n") + 1].splitlines():
            if line.startswith("{"):
                out.append(json.loads(line))
        return out

    def logged(self, msg: str) -> list[dict[str, object]]:
        return [line for line in self.lines() if line["msg"] == msg]


@pytest.fixture
def run(tmp_path: Path) -> Iterator[tuple[Path, int, Callable[[], Daemon]]]:
    port = free_port()
    config = tmp_path / "feeds.yaml"
    daemons: list[Daemon] = []

    def launch() -> Daemon:
        daemon = Daemon(config, tmp_path / "feedhub.log")
        daemons.append(daemon)
        wait_for(lambda: try_get(f"http://127.0.0.1:{port}/healthz"))
        return daemon

    try:
        yield config, port, launch
    finally:
        for daemon in daemons:
            if daemon.process.poll() is None:
                daemon.process.send_signal(signal.SIGTERM)
                try:
                    daemon.process.wait(15)
                except subprocess.TimeoutExpired:
                    daemon.process.kill()
                    daemon.process.wait()


def body(url: str) -> bytes:
    response = try_get(url)
    return b"" if response is None or response.status_code != 200 else response.content


def test_sighup_applies_a_valid_config_and_keeps_the_old_on_an_invalid_one(run):
    config, port, launch = run
    base = f"http://127.0.0.1:{port}/"
    with serve() as feeds:
        feeds.documents["/a.xml"] = rss("Aardvark news", "https://a.example/1")
        feeds.documents["/b.xml"] = rss("Zebra sighting", "https://b.example/1")
        config.write_text(
            config_text(
                port,
                f"  - url: {feeds.url('/a.xml')}\n    topics: [ai]\n",
                "  ai: {title: AI}\n",
            )
        )
        daemon = launch()
        wait_for(lambda: b"Aardvark" in body(base + "topics/ai.atom"))
        assert try_get(base + "topics/ml.atom").status_code == 404

        # A removed, B added with a new topic, and ai's rule now matches B
        config.write_text(
            config_text(
                port,
                f"  - url: {feeds.url('/b.xml')}\n    topics: [ml]\n",
                "  ai: {title: AI, match: {any: [zebra]}}\n  ml: {title: ML}\n",
            )
        )
        daemon.process.send_signal(signal.SIGHUP)
        wait_for(lambda: daemon.logged("config reloaded"))
        # the server sees the new topic, filled by the new source
        wait_for(lambda: b"Zebra" in body(base + "topics/ml.atom"))
        # the changed rule was applied to every stored entry
        wait_for(
            lambda: (
                b"Zebra" in (ai := body(base + "topics/ai.atom"))
                and b"Aardvark" not in ai
            )
        )
        # once B is polled, runs with the old configuration are over: A is
        # never requested again, while B keeps being polled
        removed = feeds.count("/a.xml")
        polled = feeds.count("/b.xml")
        wait_for(lambda: feeds.count("/b.xml") >= polled + 2, timeout=30)
        assert feeds.count("/a.xml") == removed

        # an invalid file: reported with its file, line and key; old one stays
        config.write_text(
            config_text(
                port,
                "  - url: ftp://nope.example/feed\n",
                "  ai: {title: AI}\n",
            )
        )
        daemon.process.send_signal(signal.SIGHUP)
        (refused,) = wait_for(
            lambda: daemon.logged(
                "config reload refused; the running configuration stays"
            )
        )
        assert f"{config}:4: sources[0].url" in str(refused["error"])
        assert refused["level"] == "error"
        assert daemon.process.poll() is None
        polled = feeds.count("/b.xml")
        wait_for(lambda: feeds.count("/b.xml") > polled, timeout=30)
        assert b"Zebra" in body(base + "topics/ml.atom")
        assert try_get(base + "healthz").status_code == 200
        metrics = try_get(base + "metrics").text
        assert 'feedhub_config_reloads_total{result="ok"} 1.0' in metrics
        assert 'feedhub_config_reloads_total{result="error"} 1.0' in metrics
        assert "feedhub_publish_duration_seconds_count" in metrics
        assert 'feedhub_polls_total{outcome="ok"}' in metrics
    daemon.process.send_signal(signal.SIGTERM)
    assert daemon.process.wait(15) == 0


def test_sighup_does_not_drop_a_poll_in_flight(run):
    config, port, launch = run
    base = f"http://127.0.0.1:{port}/"
    with serve() as feeds:
        feeds.documents["/slow.xml"] = rss("Tortoise report", "https://s.example/1")
        feeds.documents["/new.xml"] = rss("Hare report", "https://n.example/1")
        gate = feeds.gates["/slow.xml"] = threading.Event()
        slow = f"  - url: {feeds.url('/slow.xml')}\n"
        config.write_text(config_text(port, slow, "  ai: {title: AI}\n"))
        daemon = launch()
        # the first poll is now in flight, held by the server
        wait_for(lambda: feeds.count("/slow.xml") == 1)
        config.write_text(
            config_text(
                port,
                slow + f"  - url: {feeds.url('/new.xml')}\n",
                "  ai: {title: AI}\n",
            )
        )
        daemon.process.send_signal(signal.SIGHUP)
        wait_for(lambda: daemon.logged("config reloaded"))
        assert feeds.count("/new.xml") == 0  # the run in flight keeps its config
        gate.set()
        # the held poll completes and is stored, then the new source is polled
        wait_for(lambda: b"Tortoise" in body(base + "all.atom"))
        wait_for(lambda: b"Hare" in body(base + "all.atom"))
        held = [
            line
            for line in daemon.logged("polled")
            if line["url"] == feeds.url("/slow.xml")
        ]
        assert (held[0]["outcome"], held[0]["new"]) == ("ok", 1)
