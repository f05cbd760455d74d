"""Helpers of the crash and concurrency tests: a local server of many generated,
versioned feeds, and a ``feedhub run`` subprocess. No assertions here."""

from __future__ import annotations

import random
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")

#: entries in each version of a feed: a sliding window over the feed's items
WINDOW = 12
TOPICS = ("t0", "t1", "t2", "t3", "t4")
_BASE = datetime(2026, 1, 1, tzinfo=UTC)


def _words(seed: int) -> list[str]:
    rng = random.Random(seed)
    letters = "abcdefghijklmnopqrstuvwxyz"
    return ["".join(rng.choices(letters, k=rng.randint(3, 9))) for _ in range(3000)]


_VOCABULARY = _words(8)


def guid(feed: int, item: int) -> str:
    return f"urn:crash:{feed}:{item}"


def title(feed: int, item: int, version: int) -> str:
    return f"Feed {feed} item {item} v{version}"


def etag(version: int) -> str:
    return f'"v{version}"'


def window(version: int) -> range:
    """Items of a feed at ``version``: each version drops one and adds one."""
    return range(version, version + WINDOW)


def document(feed: int, version: int) -> bytes:
    """Feed ``feed`` at ``version``: every entry of it carries the version."""
    items = []
    for item in reversed(window(version)):
        rng = random.Random(feed * 100_003 + item)
        text = " ".join(rng.choices(_VOCABULARY, k=40))
        when = format_datetime(_BASE + timedelta(minutes=item, seconds=feed))
        items.append(
            f"<item><guid>{guid(feed, item)}</guid>"
            f"<link>https://s{feed}.example/{item}</link>"
            f"<title>{title(feed, item, version)}</title><pubDate>{when}</pubDate>"
            f"<description>{text} (revision {version})</description></item>"
        )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>Feed {feed}</title><link>https://s{feed}.example/</link>"
        f"{''.join(items)}</channel></rss>"
    ).encode()


@dataclass
class Feeds:
    """Versioned generated feeds served over HTTP, counting requests."""

    count: int
    port: int = 0
    versions: list[int] = field(default_factory=list)
    requests: int = 0
    #: (feed, version) of every 200 response, in order
    served: list[tuple[int, int]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    _cache: dict[tuple[int, int], bytes] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.versions = [0] * self.count

    def url(self, feed: int) -> str:
        return f"http://127.0.0.1:{self.port}/f{feed}.xml"

    def body(self, feed: int, version: int) -> bytes:
        key = (feed, version)
        if key not in self._cache:
            self._cache[key] = document(feed, version)
        return self._cache[key]

    def bump(self, feeds: list[int]) -> None:
        with self.lock:
            for feed in feeds:
                self.versions[feed] += 1


def _handler(feeds: Feeds) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_GET(self) -> None:  # noqa: N802 (http.server API)
            if self.path == "/hang.xml":
                # accepts, never answers (within any test's patience)
                time.sleep(120)
                return
            with feeds.lock:
                feeds.requests += 1
                try:
                    feed = int(self.path.removeprefix("/f").removesuffix(".xml"))
                    version = feeds.versions[feed]
                except (ValueError, IndexError):
                    feed = version = -1
            if feed < 0:
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            tag = etag(version)
            if self.headers.get("If-None-Match") == tag:
                self.send_response(304)
                self.send_header("ETag", tag)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            body = feeds.body(feed, version)
            with feeds.lock:
                feeds.served.append((feed, version))
            self.send_response(200)
            self.send_header("Content-Type", "application/rss+xml")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("ETag", tag)
            self.end_headers()
            self.wfile.write(body)

    return Handler


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        # a killed client resets its connections: expected here, not news
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)  # type: ignore[arg-type]


@contextmanager
def serve(feeds: Feeds) -> Iterator[Feeds]:
    """Serve ``feeds`` on 127.0.0.1, a free port, in a thread."""
    httpd = _Server(("127.0.0.1", 0), _handler(feeds))
    feeds.port = httpd.server_address[1]
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield feeds
    finally:
        httpd.shutdown()
        httpd.server_close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def write_config(
    path: Path,
    feeds: Feeds,
    port: int,
    extra: str = "",
    workers: int = 1,
    hang: bool = False,
) -> Path:
    """A feeds.yaml polling every feed every ~2 s, no politeness delays.

    With ``hang``, one more source that never answers.
    """
    lines = [
        f"server: {{host: 127.0.0.1, port: {port}}}",
        "polling:",
        "  interval: 2s",
        "  min_interval: 1s",
        "  allow_private_networks: true",
        f"  workers: {workers}",
        "  per_host_delay: 0",
        "  per_host_concurrency: 16",
        "  concurrency: 16",
        "sources:",
    ]
    for feed in range(feeds.count):
        lines += [f"  - url: {feeds.url(feed)}", f"    topics: [{TOPICS[feed % 5]}]"]
    if hang:
        lines.append(f"  - url: http://127.0.0.1:{feeds.port}/hang.xml")
    lines.append("topics:")
    lines += [f"  {t}: {{title: Topic {t}}}" for t in TOPICS]
    path.write_text("\n".join(lines) + "\n" + extra)
    return path


def start(config: Path, log: Path) -> subprocess.Popen[bytes]:
    """Start ``feedhub run`` on ``config``, appending its output to ``log``."""
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "feedhub", "--config", str(config), "run"],
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def kill(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL ``process`` and reap it."""
    if process.poll() is None:
        process.send_signal(signal.SIGKILL)
    process.wait(timeout=10)


def wait_for(
    predicate: Callable[[], T | None], timeout: float = 30.0, step: float = 0.05
) -> T:
    """Return the first truthy value of ``predicate()``; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    raise AssertionError(f"timed out after {timeout}s")
