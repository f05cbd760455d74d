"""Operations: structured logs, /metrics, /healthz on a stalled scheduler."""

from __future__ import annotations

import io
import json
import logging
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx2 as httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from feedhub import logs, pipeline
from feedhub.config import parse_config
from feedhub.metrics import Metrics
from feedhub.scheduler import STALL_AFTER, PollScheduler
from feedhub.server import create_app, route_group
from feedhub.storage import Storage
from tests.conftest import running_app
from tests.fakes import FeedServer

DATA = Path(__file__).parent / "data" / "feeds"

#: the fields every fetch logs, in text and JSON alike
FETCH_FIELDS = {"source", "url", "status", "outcome", "ms", "new", "updated"}


def rss(*items: tuple[str, str]) -> bytes:
    body = "".join(
        f"<item><title>{title}</title><link>{link}</link><guid>{link}</guid>"
        f"<description>About {title}.</description></item>"
        for title, link in items
    )
    return (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>'
        f"<link>https://example.org/</link>{body}</channel></rss>"
    ).encode()


def config_text(*urls: str, topics: str = "topics: {ai: {title: AI}}\n") -> str:
    sources = "".join(f"  - url: {url}\n    topics: [ai]\n" for url in urls)
    return (
        "polling: {allow_private_networks: true, workers: 1}\n"
        f"sources:\n{sources}{topics}"
    )


# ---------------------------------------------------------------- logs


def record(msg: str, **extra: object) -> logging.LogRecord:
    logger = logging.getLogger("feedhub.test")
    return logger.makeRecord(
        logger.name, logging.INFO, __file__, 1, msg, (), None, extra=extra
    )


def test_json_and_text_formats_carry_the_same_fields():
    rec = record("polled", source=3, url="http://a/b c", status=200, ms=12)
    line = json.loads(logs.JsonFormatter().format(rec))
    assert line["msg"] == "polled"
    assert line["level"] == "info"
    assert line["logger"] == "feedhub.test"
    assert line["ts"].endswith("Z")
    assert {k: line[k] for k in ("source", "url", "status", "ms")} == {
        "source": 3,
        "url": "http://a/b c",
        "status": 200,
        "ms": 12,
    }
    text = logs.TextFormatter().format(rec)
    assert text.endswith(
        'INFO feedhub.test: polled source=3 url="http://a/b c" status=200 ms=12'
    )


def test_a_field_never_overwrites_the_envelope():
    line = json.loads(logs.JsonFormatter().format(record("m", level="x")))
    assert line["level"] == "info"
    assert line["field_level"] == "x"


def test_uvicorn_colour_codes_stay_out_of_the_logs():
    rec = record("Started", color_message="\x1b[36mStarted\x1b[0m")
    assert "color_message" not in json.loads(logs.JsonFormatter().format(rec))
    assert "\x1b" not in logs.TextFormatter().format(rec)


def test_exceptions_are_kept_in_both_formats():
    try:
        raise ValueError("boom")
    except ValueError:
        rec = logging.getLogger("t").makeRecord(
            "t", logging.ERROR, __file__, 1, "failed", (), sys.exc_info()
        )
    assert "ValueError: boom" in json.loads(logs.JsonFormatter().format(rec))["exc"]
    assert "ValueError: boom" in logs.TextFormatter().format(rec)


def test_setup_replaces_its_own_handler_and_refuses_unknown_formats():
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    root.handlers = []
    try:
        stream = io.StringIO()
        logs.setup("info", "text", stream)
        logs.setup("info", "json", stream)
        assert len(root.handlers) == 1
        logging.getLogger("feedhub.x").info("hello", extra={"source": 1})
        assert json.loads(stream.getvalue())["source"] == 1
        with pytest.raises(ValueError, match="log format"):
            logs.setup("info", "xml", stream)
    finally:
        root.handlers, level = saved
        root.setLevel(level)


def poll_cli(config: Path, *options: str, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "feedhub", *options, "--config", str(config)]
        + ["poll", "--all"],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    )
    return done.stderr


def test_every_fetch_logs_its_fields_as_json(tmp_path, feed_server: FeedServer):
    good = feed_server.put("/good.xml", (DATA / "seed-rss.xml").read_bytes())
    missing = feed_server.url("/missing.xml")
    config = tmp_path / "feeds.yaml"
    config.write_text(config_text(good, missing))
    stderr = poll_cli(config, "--log-format", "json")
    # the poll command's own summary of failures is not a log line
    lines = [json.loads(line) for line in stderr.splitlines() if line[:1] == "{"]
    fetches = {line["url"]: line for line in lines if line["msg"].startswith("poll")}
    ok, failed = fetches[good], fetches[missing]
    assert FETCH_FIELDS <= ok.keys() and FETCH_FIELDS <= failed.keys()
    assert (ok["msg"], ok["level"], ok["status"], ok["outcome"]) == (
        "polled",
        "info",
        200,
        "ok",
    )
    assert ok["new"] >= 4 and ok["updated"] == 0
    assert isinstance(ok["ms"], int) and ok["ms"] >= 0
    assert (failed["level"], failed["status"], failed["outcome"]) == (
        "warning",
        404,
        "error",
    )
    assert "404" in failed["error"]

    # the second poll: a 304, still one line with the same fields, chosen
    # through the environment this time
    env = {**os.environ, "FEEDHUB_LOG_FORMAT": "json"}
    lines = [
        json.loads(x) for x in poll_cli(config, env=env).splitlines() if x[:1] == "{"
    ]
    (again,) = [x for x in lines if x.get("url") == good and x["msg"] == "polled"]
    assert (again["status"], again["outcome"], again["new"]) == (304, "not_modified", 0)


def test_text_logs_have_the_same_fields(tmp_path, feed_server: FeedServer):
    good = feed_server.put("/good.xml", (DATA / "seed-rss.xml").read_bytes())
    config = tmp_path / "feeds.yaml"
    config.write_text(config_text(good))
    (line,) = [x for x in poll_cli(config).splitlines() if ": polled " in x]
    pairs = dict(part.split("=", 1) for part in line.split(": polled ")[1].split())
    assert pairs.keys() == FETCH_FIELDS
    assert pairs["url"] == good and pairs["outcome"] == "ok"


# ---------------------------------------------------------------- metrics


def scrape(base: str) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    response = httpx.get(base + "metrics", timeout=5)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    samples: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            labels = tuple(sorted(sample.labels.items()))
            samples.setdefault(sample.name, {})[labels] = sample.value
    return samples


def test_metrics_count_polls_entries_merges_and_requests(
    tmp_path, feed_server: FeedServer, free_socket
):
    one = feed_server.put(
        "/one.xml",
        rss(("Alpha", "https://n.example/a"), ("Beta", "https://n.example/b")),
    )
    # carries one of the same stories: one dedupe merge
    two = feed_server.put("/two.xml", rss(("Alpha", "https://n.example/a")))
    missing = feed_server.url("/missing.xml")
    config = parse_config(config_text(one, two, missing), str(tmp_path / "f.yaml"))
    metrics = Metrics()
    storage = Storage(str(tmp_path / "feedhub.db"))
    try:
        results = pipeline.poll_once(storage, config, recorder=metrics)
        assert len(results) == 3
        app = create_app(storage, config, metrics=metrics, recheck=0, gauge_every=0)
        with running_app(app, free_socket) as base:
            assert httpx.get(base + "all.atom", timeout=5).status_code == 200
            assert httpx.get(base + "topics/nope.atom", timeout=5).status_code == 404
            first = scrape(base)
            second = scrape(base)
    finally:
        storage.close()

    polls = first["feedhub_polls_total"]
    assert polls[(("outcome", "ok"),)] == 2
    assert polls[(("outcome", "error"),)] == 1
    assert polls[(("outcome", "not_modified"),)] == 0
    assert first["feedhub_fetch_duration_seconds_count"][()] == 3
    assert first["feedhub_poll_duration_seconds_count"][()] == 3
    assert first["feedhub_entries_ingested_total"][(("kind", "new"),)] == 3
    assert first["feedhub_entries_ingested_total"][(("kind", "updated"),)] == 0
    assert first["feedhub_dedupe_merges_total"][()] == 1
    assert first["feedhub_polls_in_flight"][()] == 0
    assert "feedhub_publish_duration_seconds_count" in first
    sources = first["feedhub_sources"]
    assert sources[(("status", "ok"),)] == 2
    assert sources[(("status", "failing"),)] == 1
    assert first["feedhub_sources_due"][()] == 0
    requests = first["feedhub_http_requests_total"]
    assert requests[(("route", "feed"), ("status", "200"))] == 1
    assert requests[(("route", "feed"), ("status", "404"))] == 1
    # served fresh every time, never from the feed cache
    assert (
        second["feedhub_http_requests_total"][(("route", "metrics"), ("status", "200"))]
        == 1
    )
    assert "process_cpu_seconds_total" in first or sys.platform != "linux"


def test_metrics_without_a_recorder_still_serve(tmp_path, free_socket):
    config = parse_config(config_text(), str(tmp_path / "f.yaml"))
    with Storage(str(tmp_path / "feedhub.db")) as storage:
        with running_app(create_app(storage, config), free_socket) as base:
            samples = scrape(base)
    assert samples["feedhub_polls_total"][(("outcome", "ok"),)] == 0
    assert samples["feedhub_sources_due"][()] == 0


def test_cancelled_polls_are_counted_and_leave_no_poll_in_flight():
    metrics = Metrics()
    metrics.poll_started()
    metrics.poll_finished(None, 0.5)
    text = metrics.render().decode()
    assert 'feedhub_polls_total{outcome="cancelled"} 1.0' in text
    assert "feedhub_polls_in_flight 0.0" in text


@pytest.mark.parametrize(
    ("path", "group"),
    [
        ("/", "index"),
        ("/index.html", "index"),
        ("/all.atom", "feed"),
        ("/topics/ai.rss", "feed"),
        ("/authors/x/archive/2.json", "archive"),
        ("/topics.opml", "opml"),
        ("/opml", "opml"),
        ("/healthz", "healthz"),
        ("/metrics", "metrics"),
        ("/ops/sources.atom", "ops"),
        ("/wp-login.php", "other"),
    ],
)
def test_route_groups_keep_label_values_bounded(path, group):
    assert route_group(path) == group


# ---------------------------------------------------------------- healthz


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_healthz_fails_when_the_poll_stalls(tmp_path, free_socket):
    clock = FakeClock()
    entered, release = threading.Event(), threading.Event()

    def job() -> None:
        entered.set()
        release.wait(30)

    scheduler = PollScheduler(job, tick=3600, clock=clock)
    config = parse_config(config_text(), str(tmp_path / "f.yaml"))
    storage = Storage(str(tmp_path / "feedhub.db"))
    scheduler.start()
    try:
        assert entered.wait(10)
        app = create_app(storage, config, health=scheduler.health)
        with running_app(app, free_socket) as base:
            healthy = httpx.get(base + "healthz", timeout=5)
            assert healthy.status_code == 200
            assert healthy.json()["scheduler"] == "ok"
            clock.now += STALL_AFTER + 1
            stalled = httpx.get(base + "healthz", timeout=5)
            assert stalled.status_code == 503
            assert stalled.json()["status"] == "unhealthy"
            assert stalled.json()["scheduler"].startswith("poll running for")
    finally:
        release.set()
        scheduler.shutdown()
        storage.close()


def test_health_reports_missed_ticks_and_a_stopped_scheduler():
    clock = FakeClock()
    ran = threading.Event()
    scheduler = PollScheduler(ran.set, tick=3600, clock=clock)
    scheduler.start()
    try:
        assert ran.wait(10)
        # the run's bookkeeping ends right after the job returns
        deadline = time.monotonic() + 10
        while scheduler._running_since is not None and time.monotonic() < deadline:
            time.sleep(0.01)
        assert scheduler.health() is None
        clock.now += 3 * 3600 + 61
        assert (scheduler.health() or "").startswith("no poll for")
    finally:
        scheduler.shutdown()
    assert scheduler.health() == "scheduler not running"


# ---------------------------------------------------------------- systemd

CONTRIB = Path(__file__).resolve().parent.parent / "contrib"


def test_the_systemd_unit_is_hardened():
    unit = (CONTRIB / "feedhub.service").read_text()
    settings = {
        line.partition("=")[0]: line.partition("=")[2]
        for line in unit.splitlines()
        if "=" in line and not line.startswith("#")
    }
    for key, value in {
        "DynamicUser": "yes",
        "ProtectSystem": "strict",
        "StateDirectory": "feedhub",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
        "NoNewPrivileges": "yes",
        "CapabilityBoundingSet": "",
        "Restart": "on-failure",
        "ExecReload": "/bin/kill -HUP $MAINPID",
    }.items():
        assert settings.get(key) == value, key
    assert "@system-service" in unit
    assert settings["RestrictAddressFamilies"] == "AF_UNIX AF_INET AF_INET6"
    # the example config keeps the database where the sandbox lets it write
    example = parse_config(
        (CONTRIB / "feeds.yaml").read_text(), str(CONTRIB / "feeds.yaml")
    )
    assert example.database == "/var/lib/feedhub/feedhub.db"


@pytest.mark.skipif(
    shutil.which("systemd-analyze") is None,
    reason="systemd-analyze not installed (apt-get install systemd)",
)
def test_systemd_analyze_verifies_the_unit(tmp_path):
    # verify wants ExecStart's program to exist: point it at this venv's
    feedhub = Path(sys.executable).parent / "feedhub"
    unit = (CONTRIB / "feedhub.service").read_text()
    assert "/opt/feedhub/bin/feedhub" in unit
    (tmp_path / "feedhub.service").write_text(
        unit.replace("/opt/feedhub/bin/feedhub", str(feedhub))
    )
    done = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", "feedhub.service"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    # unknown keys and bad values are only warnings: the output must be empty
    assert (done.returncode, done.stdout + done.stderr) == (0, "")
