"""Run feedhub as a long-lived process: scheduler and HTTP server, clean stop.

SIGTERM or SIGINT stops the server (uvicorn's own handlers), then the poll in
flight is told to stop: fetches still running are cancelled and each source
already being written finishes its one transaction, so nothing is half
written. A second SIGINT forces exit.

SIGHUP reads the config file again (``_reload``): a valid one is put in force
for the next poll run and the next HTTP request, while a poll in flight
finishes with the configuration it started with; an invalid one is logged
with its file, line and key, and the running configuration stays.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from types import FrameType

import uvicorn

from feedhub import pipeline
from feedhub.config import load_config
from feedhub.exceptions import ConfigError, FeedhubError
from feedhub.metrics import Metrics
from feedhub.scheduler import PollScheduler
from feedhub.server import LiveConfig, create_app
from feedhub.storage import Storage
from feedhub.types import Config

log = logging.getLogger(__name__)

#: seconds allowed for the poll in flight to wind down at shutdown
SHUTDOWN_GRACE = 8.0


def poll_tick(config: Config) -> float:
    """How often the scheduler looks for due sources, in seconds."""
    return min(max(config.polling.min_interval / 2, 1.0), 60.0)


class _Server(uvicorn.Server):
    """uvicorn's server, minus re-raising the stop signal after shutdown.

    uvicorn re-raises a captured SIGTERM once it has stopped, which kills the
    process before the scheduler and database are closed; feedhub finishes
    its own shutdown first and then exits 0.
    """

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        stops = (signal.SIGINT, signal.SIGTERM)
        previous = {sig: signal.signal(sig, self.handle_exit) for sig in stops}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def _server(
    storage: Storage,
    config: Config | LiveConfig,
    health: Callable[[], str | None] | None = None,
    metrics: Metrics | None = None,
) -> uvicorn.Server:
    app = create_app(storage, config, health=health, metrics=metrics)
    if isinstance(config, LiveConfig):
        config = config.config
    return _Server(
        uvicorn.Config(
            app,
            host=config.server.host,
            port=config.server.port,
            log_config=None,
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=5,
        )
    )


def serve(config: Config) -> None:
    """Serve the feeds only (no polling) until SIGINT/SIGTERM; SIGHUP reloads
    the configuration file (topics, views, base URL)."""
    storage = Storage(config.database)
    live = LiveConfig(config)
    metrics = Metrics()
    try:
        with _reload_on_sighup(live, metrics, lambda: None):
            _server(storage, live, metrics=metrics).run()
    finally:
        storage.close()


def _fixed(old: Config, new: Config) -> tuple[Config, list[str]]:
    """``new`` with the settings a running process cannot change kept as in
    ``old`` (database, listening address, parser processes), and their names
    where ``new`` wanted them changed."""
    changed = []
    if new.database != old.database:
        changed.append("database")
    if (new.server.host, new.server.port) != (old.server.host, old.server.port):
        changed.append("server.host/port")
    if new.polling.workers != old.polling.workers:
        changed.append("polling.workers")
    kept = replace(
        new,
        database=old.database,
        server=replace(new.server, host=old.server.host, port=old.server.port),
        polling=replace(new.polling, workers=old.polling.workers),
    )
    return kept, changed


def _reload(live: LiveConfig, metrics: Metrics, wake: Callable[[], None]) -> None:
    """Read the config file again and put it in force if it is valid (SIGHUP)."""
    old = live.config
    path = old.path
    if path is None:
        log.error("config reload: the configuration was not read from a file")
        return
    try:
        new = load_config(path)
    except ConfigError as e:
        metrics.reloaded(False)
        # the message names the file, the line and the key
        log.error(
            "config reload refused; the running configuration stays",
            extra={"path": path, "error": str(e)},
        )
        return
    new, changed = _fixed(old, new)
    if changed:
        log.warning(
            "config reload: restart feedhub to change %s",
            ", ".join(changed),
            extra={"path": path},
        )
    live.swap(new)
    metrics.reloaded(True)
    log.info(
        "config reloaded",
        extra={
            "path": path,
            "sources": len(new.sources),
            "topics": len(new.topics),
        },
    )
    # new sources get polled (and rules re-applied) now, not at the next tick
    wake()


@contextlib.contextmanager
def _reload_on_sighup(
    live: LiveConfig, metrics: Metrics, wake: Callable[[], None]
) -> Iterator[None]:
    """Reload the configuration on SIGHUP while the block runs.

    The handler only starts a thread: reading and validating the file must
    not run inside the event loop that serves requests.
    """
    if not hasattr(signal, "SIGHUP") or (
        threading.current_thread() is not threading.main_thread()
    ):
        yield
        return
    lock = threading.Lock()

    def reload() -> None:
        with lock:  # two quick SIGHUPs: one reload after the other
            try:
                _reload(live, metrics, wake)
            except Exception:
                log.critical("config reload crashed", exc_info=True)

    def handle(signum: int, frame: FrameType | None) -> None:
        threading.Thread(target=reload, name="feedhub-reload", daemon=True).start()

    previous = signal.signal(signal.SIGHUP, handle)
    try:
        yield
    finally:
        signal.signal(signal.SIGHUP, previous)


def run(config: Config) -> None:
    """Poll on schedule and serve, in one process, until SIGINT/SIGTERM;
    SIGHUP reloads the configuration file."""
    storage = Storage(config.database)
    live = LiveConfig(config)
    metrics = Metrics()
    stop = threading.Event()
    executor = pipeline.make_executor(config.polling.workers)

    first_pass = [True]
    # monotonic time of the next retention pass; the first runs after the
    # first poll
    retention_at = [0.0]

    def job() -> None:
        if stop.is_set():
            return
        # one configuration for the whole run, even if SIGHUP swaps it now
        config = live.config
        results = pipeline.poll_once(
            storage, config, executor=executor, stop=stop, recorder=metrics
        )
        if results:
            counts = pipeline.summarize(results)
            log.info(
                "poll done",
                extra={
                    "sources": len(results),
                    "new": counts.new,
                    "updated": counts.updated,
                    "merged": counts.merged,
                },
            )
        if not stop.is_set() and time.monotonic() >= retention_at[0]:
            # before the publish pass, which then retracts what it purged
            retention_at[0] = time.monotonic() + pipeline.RETENTION_EVERY
            try:
                pipeline.apply_retention(storage, config, now=pipeline.utcnow())
            except FeedhubError:
                # e.g. the database stayed locked: try again next time
                log.exception("retention pass failed")
        if not stop.is_set():
            # archives, retractions, WebSub pings and publish.out_dir; the
            # first pass writes the whole static site
            started = time.monotonic()
            pipeline.publish_changes(
                storage, config, now=pipeline.utcnow(), full=first_pass[0]
            )
            metrics.published(time.monotonic() - started)
            first_pass[0] = False

    if storage.auto_vacuum() != "incremental":
        log.warning(
            "database predates incremental auto-vacuum: retention frees space "
            "in it but cannot shrink the file; run `feedhub retention --vacuum` "
            "once to convert it",
            extra={"database": config.database},
        )
    scheduler = PollScheduler(job, tick=poll_tick(config))
    server = _server(storage, live, scheduler.health, metrics)
    scheduler.start()
    log.info(
        "feedhub running: %d sources, serving %s",
        len(config.sources),
        config.server.base_url,
    )
    try:
        with _reload_on_sighup(live, metrics, scheduler.wake):
            server.run()
    finally:
        log.info("stopping")
        stop.set()
        deadline = time.monotonic() + SHUTDOWN_GRACE
        waiter = threading.Thread(target=scheduler.shutdown, daemon=True)
        waiter.start()
        waiter.join(max(0.0, deadline - time.monotonic()))
        if waiter.is_alive():
            log.error("poll did not stop in %.0fs; exiting anyway", SHUTDOWN_GRACE)
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)
        storage.close()
        log.info("stopped")
