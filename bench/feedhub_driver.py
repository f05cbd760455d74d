"""Drive feedhub as a user would: a generated feeds.yaml and the ``feedhub`` CLI.

No business logic: this module only writes configs and runs subprocesses.
"""

from __future__ import annotations

import json
import re
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

from bench import _words
from bench.servers import free_port, wait_http


def write_config(
    path: Path,
    *,
    database: Path,
    urls: list[str],
    port: int = 0,
    workers: int = 0,
    extra: dict[str, Any] | None = None,
) -> None:
    """Write a feeds.yaml polling ``urls`` with the corpus's topics.

    Every fifth source also joins a topic by source (``topics:``), the rest are
    curated by the topics' ``match`` rules only. ``extra`` is merged in last
    (mappings merged key by key), e.g. ``{"dedupe": {"near_duplicates": False}}``.
    """
    slugs = sorted(_words.TOPICS)
    port = port or free_port()
    doc = {
        "database": str(database),
        "server": {
            "host": "127.0.0.1",
            "port": port,
            "base_url": f"http://127.0.0.1:{port}/",
        },
        "polling": {
            # the corpus is served from 127.0.0.1, which the SSRF guard refuses
            # by default
            "allow_private_networks": True,
            "concurrency": 32,
            # every feed of the corpus stands for another outlet's host, yet all
            # are served from 127.0.0.1: no per-host limit or spacing applies
            "per_host_concurrency": 32,
            "per_host_delay": 0,
            "workers": workers,
            "min_interval": "1s",
            "interval": "1s",
        },
        "sources": [
            {"url": url, "topics": [slugs[i % len(slugs)]]}
            if i % 5 == 0
            else {"url": url}
            for i, url in enumerate(urls)
        ],
        "topics": {
            slug: {"title": title, "match": {"any": list(keywords)}}
            for slug, (title, keywords) in _words.TOPICS.items()
        },
    }
    _merge(doc, extra or {})
    # JSON is a subset of YAML (YAML 1.2 §1.3), and far faster to write and read
    path.write_text(json.dumps(doc, indent=1))


def _merge(into: dict[str, Any], extra: dict[str, Any]) -> None:
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        else:
            into[key] = value


def cli(config: Path, *args: str) -> list[str]:
    """The command line running ``feedhub --config CONFIG ARGS``."""
    return [
        sys.executable,
        "-m",
        "feedhub",
        "--config",
        str(config),
        "--log-level",
        "warning",
        *args,
    ]


_SUMMARY = re.compile(
    r"polled (?P<polled>\d+) sources: (?P<ok>\d+) ok, (?P<not_modified>\d+) not "
    r"modified, (?P<failed>\d+) failed; (?P<new>\d+) new, (?P<updated>\d+) updated"
)


def poll_summary(stdout: str) -> dict[str, int]:
    """The counts in ``feedhub poll``'s summary line (empty when absent)."""
    m = _SUMMARY.search(stdout)
    return {k: int(v) for k, v in m.groupdict().items()} if m else {}


def count_entries(database: Path) -> int:
    """Rows in feedhub's entries table (read-only)."""
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as conn:
        (n,) = conn.execute("SELECT count(*) FROM entries").fetchone()
    conn.close()
    return int(n)


def remove_db(database: Path) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{database}{suffix}").unlink(missing_ok=True)


class FeedhubServer:
    """``feedhub serve`` on the config's port, as a child process we own."""

    def __init__(self, config: Path, log: Path) -> None:
        doc = json.loads(config.read_text())
        self.base_url: str = doc["server"]["base_url"]
        self._log = open(log, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            cli(config, "serve"), stdout=self._log, stderr=subprocess.STDOUT
        )
        try:
            wait_http(self.base_url + "healthz", timeout=60, proc=self.proc)
        except RuntimeError:
            self.stop()
            raise

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
