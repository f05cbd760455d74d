"""Count what the daemon does and expose it in the Prometheus text format.

The only user of ``prometheus_client``. Each ``Metrics`` has its own registry
(no module-level singleton), so tests and several apps in one process never
share counters. The pipeline reports through its small ``PollRecorder``
protocol, which ``Metrics`` implements; the server counts requests and fills
the gauges that describe the database (sources by status, sources due) right
before rendering a scrape.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)

from feedhub.types import PollResult, PollStatus

#: the classic text exposition format, understood by every Prometheus version
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

#: seconds; fetches and polls of one source (deadline default 30 s)
_POLL_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
#: seconds; one publish pass over every feed
_PUBLISH_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 120.0)

#: every outcome label, exported as 0 before it first happens
OUTCOMES = tuple(status.value for status in PollStatus) + ("cancelled",)


class Metrics:
    """The counters, histograms and gauges of one feedhub process."""

    def __init__(self) -> None:
        registry = self.registry = CollectorRegistry()
        # process basics: CPU, memory, open files, start time, GC, Python
        ProcessCollector(registry=registry)
        PlatformCollector(registry=registry)
        GCCollector(registry=registry)
        self.polls = Counter(
            "feedhub_polls",
            "Source polls, by outcome (ok, not_modified, error, cancelled).",
            ["outcome"],
            registry=registry,
        )
        for outcome in OUTCOMES:
            self.polls.labels(outcome)
        self.fetch_seconds = Histogram(
            "feedhub_fetch_duration_seconds",
            "Time of one HTTP fetch, redirects and body included.",
            buckets=_POLL_BUCKETS,
            registry=registry,
        )
        self.poll_seconds = Histogram(
            "feedhub_poll_duration_seconds",
            "Time of one source's poll: fetch, parse and store.",
            buckets=_POLL_BUCKETS,
            registry=registry,
        )
        self.entries = Counter(
            "feedhub_entries_ingested",
            "Entries stored by polls, by kind (new, updated).",
            ["kind"],
            registry=registry,
        )
        for kind in ("new", "updated"):
            self.entries.labels(kind)
        self.merges = Counter(
            "feedhub_dedupe_merges",
            "New entries that joined a story another copy had founded.",
            registry=registry,
        )
        self.publish_seconds = Histogram(
            "feedhub_publish_duration_seconds",
            "Time of one publish pass (archives, retractions, pings, out_dir).",
            buckets=_PUBLISH_BUCKETS,
            registry=registry,
        )
        self.http_requests = Counter(
            "feedhub_http_requests",
            "HTTP requests served, by route group and status code.",
            ["route", "status"],
            registry=registry,
        )
        self.in_flight = Gauge(
            "feedhub_polls_in_flight",
            "Sources being polled right now.",
            registry=registry,
        )
        self.due = Gauge(
            "feedhub_sources_due",
            "Sources due for a poll now (waiting for the next poll run).",
            registry=registry,
        )
        self.sources = Gauge(
            "feedhub_sources",
            "Configured sources, by status (as `feedhub sources` shows it).",
            ["status"],
            registry=registry,
        )
        self.reloads = Counter(
            "feedhub_config_reloads",
            "Configuration reloads (SIGHUP), by result (ok, error).",
            ["result"],
            registry=registry,
        )
        for result in ("ok", "error"):
            self.reloads.labels(result)
        self._lock = threading.Lock()

    # ------------------------------------------------ pipeline.PollRecorder

    def poll_started(self) -> None:
        """A source's poll begins."""
        self.in_flight.inc()

    def poll_finished(self, result: PollResult | None, seconds: float) -> None:
        """A source's poll ended; ``result`` None means it was cancelled."""
        self.in_flight.dec()
        self.poll_seconds.observe(seconds)
        if result is None:
            self.polls.labels("cancelled").inc()
            return
        self.polls.labels(result.status.value).inc()
        if result.counts.new:
            self.entries.labels("new").inc(result.counts.new)
        if result.counts.updated:
            self.entries.labels("updated").inc(result.counts.updated)
        if result.counts.merged:
            self.merges.inc(result.counts.merged)

    def fetched(self, seconds: float) -> None:
        """One HTTP fetch took ``seconds`` (whatever its outcome)."""
        self.fetch_seconds.observe(seconds)

    # ------------------------------------------------ daemon and server

    def published(self, seconds: float) -> None:
        """One publish pass took ``seconds``."""
        self.publish_seconds.observe(seconds)

    def reloaded(self, ok: bool) -> None:
        """A configuration reload was applied (``ok``) or refused."""
        self.reloads.labels("ok" if ok else "error").inc()

    def request(self, route: str, status: int) -> None:
        """The server answered a request of ``route`` group with ``status``."""
        self.http_requests.labels(route, str(status)).inc()

    def render(
        self,
        sources_by_status: Mapping[str, int] | None = None,
        due: int | None = None,
    ) -> bytes:
        """The exposition, after setting the database gauges when given.

        Args:
            sources_by_status: configured sources per status word.
            due: sources due for a poll now.
        """
        with self._lock:
            if sources_by_status is not None:
                self.sources.clear()
                for status, count in sources_by_status.items():
                    self.sources.labels(status).set(count)
            if due is not None:
                self.due.set(due)
            return generate_latest(self.registry)
