"""Run the poll job on a timer with APScheduler; no logic of its own.

Poll state (what is due when) lives in SQLite, not in APScheduler: the job
store holds one fixed ``poll`` job in memory, rebuilt at every start, that
polls whatever the database says is due.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

from apscheduler.schedulers.background import BackgroundScheduler

log = logging.getLogger(__name__)

#: a poll running longer than this is reported as stalled by health()
STALL_AFTER = 3600.0


class PollScheduler:
    """Calls ``job`` every ``tick`` seconds in a background thread.

    Runs never overlap (``max_instances=1``) and missed runs collapse into one
    (``coalesce=True``).
    """

    def __init__(
        self,
        job: Callable[[], None],
        *,
        tick: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Set up the timer (``start`` starts it).

        Args:
            job: one poll run.
            tick: seconds between two runs.
            clock: monotonic seconds, read by ``health`` (tests pass a fake).
        """
        self._job = job
        self._tick = tick
        self._clock = clock
        self._scheduler = BackgroundScheduler(
            job_defaults={
                "coalesce": True,
                "max_instances": 1,
                "misfire_grace_time": None,
            },
            timezone="UTC",
        )
        self._lock = threading.Lock()
        self._started_at: float | None = None
        self._finished_at: float | None = None
        self._running_since: float | None = None

    def _run(self) -> None:
        with self._lock:
            self._running_since = self._clock()
        try:
            self._job()
        except Exception:
            # A bug in one run must not kill the timer: log it loudly and go on.
            log.critical("poll job crashed", exc_info=True)
        finally:
            with self._lock:
                self._running_since = None
                self._finished_at = self._clock()

    def start(self) -> None:
        """Start the timer; the first run begins immediately."""
        self._started_at = self._clock()
        self._scheduler.add_job(
            self._run,
            "interval",
            seconds=self._tick,
            id="poll",
            next_run_time=datetime.now(UTC),
        )
        self._scheduler.start()

    def wake(self) -> None:
        """Run the job now instead of at the next tick (after a reload).

        Does nothing while a run is in flight: that run finishes with the
        configuration it started with, and the next tick uses the new one.
        """
        with self._lock:
            if self._running_since is not None or not self._scheduler.running:
                return
        self._scheduler.modify_job("poll", next_run_time=datetime.now(UTC))

    def shutdown(self, wait: bool = True) -> None:
        """Stop the timer; with ``wait``, wait for a running job to return."""
        if self._scheduler.running:
            self._scheduler.shutdown(wait=wait)

    def health(self) -> str | None:
        """Return None when the timer is alive, else what is wrong."""
        if not self._scheduler.running:
            return "scheduler not running"
        now = self._clock()
        with self._lock:
            running_since = self._running_since
            last = self._finished_at or self._started_at
        if running_since is not None:
            if now - running_since > STALL_AFTER:
                return f"poll running for {now - running_since:.0f}s"
            return None
        if last is not None and now - last > 3 * self._tick + 60:
            return f"no poll for {now - last:.0f}s"
        return None
