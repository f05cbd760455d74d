"""The parse workers: a process pool started only when a body has to be parsed.

No business logic: what runs in the workers is ``feedhub.prepare``.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
from collections.abc import Callable
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from typing import ParamSpec, TypeVar

_P = ParamSpec("_P")
_T = TypeVar("_T")

#: what the fork server imports once, so that every worker forked from it
#: starts with it loaded (pages shared, nothing imported per worker):
#: ``concurrent.futures.process`` is the worker loop itself (with logging,
#: queues and locks: each worker imported them again, ~1.5 MiB PSS apiece
#: when idle);
#: ``feedhub.prepare`` is the parsing code (the stages, not the whole
#: pipeline); ``_forkserver`` keeps the workers from re-running the main
#: script (the CLI) and freezes what is loaded for the garbage collector, so
#: it comes last
PRELOAD = [
    "concurrent.futures.process",
    "feedhub.prepare",
    "feedhub.pipeline._forkserver",
]


class LazyProcessPool(Executor):
    """A ``ProcessPoolExecutor`` created on the first ``submit``, then kept.

    A run where every source answers 304 (or repeats its last body) parses
    nothing, so it starts no process at all: no fork server, no resource
    tracker, no workers (issue 4: start-up time and memory).
    """

    def __init__(self, workers: int) -> None:
        self._workers = workers
        self._lock = threading.Lock()
        self._pool: ProcessPoolExecutor | None = None
        self._closed = False

    @property
    def started(self) -> bool:
        """Whether the processes were asked for (something was submitted)."""
        return self._pool is not None

    def submit(
        self, fn: Callable[_P, _T], /, *args: _P.args, **kwargs: _P.kwargs
    ) -> Future[_T]:
        with self._lock:
            if self._closed:
                raise RuntimeError("cannot schedule new futures after shutdown")
            if self._pool is None:
                self._pool = _start(self._workers)
            pool = self._pool
        return pool.submit(fn, *args, **kwargs)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        with self._lock:
            self._closed = True
            pool = self._pool
        if pool is not None:
            pool.shutdown(wait=wait, cancel_futures=cancel_futures)


def _start(workers: int) -> ProcessPoolExecutor:
    # forkserver: forking a process that already runs threads (server,
    # scheduler, the writer) can deadlock in the child
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(PRELOAD)
    return ProcessPoolExecutor(max_workers=workers, mp_context=context)


def default_workers(cores: int | None = None) -> int:
    """How many parse processes ``workers: 0`` starts: one per core but one.

    The main process keeps a core busy on its own (fetching, and the writer
    storing every source, which is where a first poll spends most of its
    time): measured on 2 cores, 1,000 feeds x 20 entries, the main process
    used ~52 s of CPU and each of two workers ~17 s, and one worker gave the
    same entries/s for ~16 MiB less peak memory (issue 4). A single core
    parses inline (no process: 0).
    """
    cores = cores or os.cpu_count() or 1
    return cores - 1 if cores > 1 else 0


def make_executor(workers: int) -> Executor | None:
    """A process pool for parsing, started on first use, or None to parse inline.

    Args:
        workers: processes; 0 means one per core but one (``default_workers``),
            inline on a single core; 1 means inline (serial).
    """
    if workers == 0:
        count = default_workers()
        return LazyProcessPool(count) if count else None
    if workers <= 1:
        return None
    return LazyProcessPool(workers)
