"""Run feedhub as a long-lived process: scheduler and HTTP server, clean stop.

SIGTERM or SIGINT stops the server (uvicorn's own handlers), then the poll in
flight is told to stop: fetches still running are cancelled and each source
already being written finishes its one transaction, so nothing is half
written. A second SIGINT forces exit.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
import time
from collections.abc import Callable, Iterator

import uvicorn

from feedhub import pipeline
from feedhub.scheduler import PollScheduler
from feedhub.server import create_app
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
    config: Config,
    health: Callable[[], str | None] | None = None,
) -> uvicorn.Server:
    app = create_app(storage, config, health=health)
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
    """Serve the feeds only (no polling) until SIGINT/SIGTERM."""
    storage = Storage(config.database)
    try:
        _server(storage, config).run()
    finally:
        storage.close()


def run(config: Config) -> None:
    """Poll on schedule and serve, in one process, until SIGINT/SIGTERM."""
    storage = Storage(config.database)
    stop = threading.Event()
    executor = pipeline.make_executor(config.polling.workers)

    first_pass = [True]

    def job() -> None:
        if stop.is_set():
            return
        results = pipeline.poll_once(storage, config, executor=executor, stop=stop)
        if results:
            counts = pipeline.summarize(results)
            log.info(
                "poll done sources=%d new=%d updated=%d",
                len(results),
                counts.new,
                counts.updated,
            )
        if not stop.is_set():
            # archives, retractions, WebSub pings and publish.out_dir; the
            # first pass writes the whole static site
            pipeline.publish_changes(
                storage, config, now=pipeline.utcnow(), full=first_pass[0]
            )
            first_pass[0] = False

    scheduler = PollScheduler(job, tick=poll_tick(config))
    server = _server(storage, config, scheduler.health)
    scheduler.start()
    log.info(
        "feedhub running: %d sources, serving %s",
        len(config.sources),
        config.server.base_url,
    )
    try:
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
