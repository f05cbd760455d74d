"""Start-up cost (issue 4): what ``feedhub poll`` imports, when parse workers
start, and the TLS context built on first https use."""

from __future__ import annotations

import asyncio
import json
import ssl
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from feedhub import fetch, pipeline
from feedhub.config import parse_config
from feedhub.exceptions import FetchError
from feedhub.fetch import Fetcher
from feedhub.pipeline._workers import LazyProcessPool
from feedhub.storage import Storage
from feedhub.types import Config, FetchRequest, PollingConfig, PollStatus
from tests.fakes import FeedServer

RSS = b"""<?xml version="1.0"?>
<rss version="2.0"><channel><title>Start</title><link>https://s.example/</link>
<item><title>One</title><link>https://s.example/1</link><guid>s-1</guid></item>
</channel></rss>"""


def _modules_after(code: str) -> set[str]:
    """The modules loaded in a fresh interpreter after running ``code``."""
    out = subprocess.run(
        [sys.executable, "-c", f"{code}\nimport sys, json\n"
         "print(json.dumps(sorted(sys.modules)))"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    return set(json.loads(out.splitlines()[-1]))


def test_importing_the_cli_loads_no_heavy_library():
    # the CLI module is what every ``feedhub`` command (and, through the
    # console script, every parse worker) imports before doing anything
    loaded = _modules_after("import feedhub.cli")
    heavy = {
        "rich", "aiohttp", "sqlite_utils", "sqlite3", "yaml", "feedparser",
        "feedgen", "nh3", "uvicorn", "starlette", "apscheduler",
        "feedhub.storage", "feedhub.publish", "feedhub.fetch", "feedhub.config",
    }  # fmt: skip
    assert heavy & loaded == set()
    assert "click" in loaded


def test_pipeline_loads_its_parts_on_first_use():
    loaded = _modules_after(
        "from feedhub import pipeline\n"
        "assert 'feedhub.pipeline._poll' not in __import__('sys').modules\n"
        "pipeline.poll_once"
    )
    assert "feedhub.pipeline._poll" in loaded
    # polling does not need the planner or the search and view renderers
    assert "feedhub.pipeline._plan" not in loaded


def test_every_public_pipeline_name_resolves():
    for name in pipeline.__all__:
        assert getattr(pipeline, name) is not None, name
    assert set(pipeline.__all__) <= set(dir(pipeline))
    with pytest.raises(AttributeError, match="no_such_thing"):
        _ = pipeline.no_such_thing  # type: ignore[attr-defined]


def _config(tmp_path: Path, url: str, workers: int = 2) -> Config:
    text = (
        f"database: {tmp_path / 'feedhub.db'}\n"
        f"polling: {{allow_private_networks: true, workers: {workers}}}\n"
        f"sources:\n  - url: {url}\n"
    )
    return parse_config(text, str(tmp_path / "feeds.yaml"))


def test_parse_workers_start_only_when_a_body_needs_parsing(
    tmp_path, feed_server: FeedServer
):
    config = _config(tmp_path, feed_server.put("/s.xml", RSS))
    with Storage(config.database) as storage:
        first = pipeline.make_executor(2)
        assert isinstance(first, LazyProcessPool)
        assert not first.started
        try:
            (result,) = pipeline.poll_once(storage, config, executor=first)
            assert result.status is PollStatus.OK
            assert first.started
        finally:
            first.shutdown()
        # nothing changed: a 304, nothing to parse, so no process is started
        again = pipeline.make_executor(2)
        assert isinstance(again, LazyProcessPool)
        try:
            (result,) = pipeline.poll_once(storage, config, force=True, executor=again)
            assert result.status is PollStatus.NOT_MODIFIED
            assert not again.started
        finally:
            again.shutdown()
    with pytest.raises(RuntimeError):
        again.submit(print)


def test_workers_do_not_run_the_main_script_again(tmp_path):
    # As the ``feedhub`` console script is: a file run as __main__, guarded.
    # multiprocessing would re-run it in every worker it starts.
    imports = tmp_path / "imports.txt"
    script = tmp_path / "script.py"
    script.write_text(
        textwrap.dedent(f"""
        import os
        with open({str(imports)!r}, "a") as f:
            f.write(f"{{os.getpid()}}\\n")

        if __name__ == "__main__":
            from feedhub import pipeline

            pool = pipeline.make_executor(3)
            futures = [pool.submit(os.getpid) for _ in range(12)]
            print(len({{f.result() for f in futures}}))
            pool.shutdown()
        """)
    )
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, check=True
    )
    assert int(done.stdout) >= 1
    # once, in the main process: never again per worker
    assert len(imports.read_text().split()) == 1


def test_importing_fetch_leaves_the_ssl_module_as_it_was():
    assert "set_default_verify_paths" not in vars(ssl.SSLContext)
    context = ssl.create_default_context()
    assert context.verify_mode is ssl.CERT_REQUIRED


def test_https_fetches_use_one_verified_context(monkeypatch, feed_server):
    made: list[ssl.SSLContext] = []

    def tls_context() -> ssl.SSLContext:
        context = ssl.create_default_context()
        made.append(context)
        return context

    monkeypatch.setattr(fetch, "_tls_context", tls_context)
    config = PollingConfig(allow_private_networks=True)
    plain = feed_server.put("/s.xml", RSS)

    async def run() -> None:
        async with Fetcher(config) as fetcher:
            # plain http: no TLS context is built
            assert (await fetcher.fetch(FetchRequest(plain))).status == 200
            assert made == []
            # TLS to a plain-HTTP server: the handshake fails, through ours
            secure = plain.replace("http:", "https:")
            with pytest.raises(FetchError):
                await fetcher.fetch(FetchRequest(secure))
            assert len(made) == 1

    asyncio.run(run())


def test_the_tls_context_verifies_and_is_built_once():
    context = fetch._tls_context()
    assert context is fetch._tls_context()
    assert context.verify_mode is ssl.CERT_REQUIRED
    assert context.check_hostname
