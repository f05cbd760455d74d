"""Decide when a source is polled next; pure, stdlib only."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

#: errors back off exponentially from the normal interval up to this cap
ERROR_BACKOFF_CAP = 24 * 3600.0
#: share of the interval added as deterministic jitter, so that sources configured
#: together do not stay in lockstep and hit publishers in bursts
JITTER_FRACTION = 0.1


def jitter(source_id: int, now: datetime, span: float) -> float:
    """Return a deterministic pseudo-random delay in ``[0, span)`` seconds.

    Derived from the source id and the time, so tests can predict it and
    sources polled together spread out.
    """
    if span <= 0:
        return 0.0
    digest = hashlib.sha256(f"{source_id}\n{now.isoformat()}".encode()).digest()
    fraction = int.from_bytes(digest[:8], "big") / 2**64
    return fraction * span


def next_check_at(
    now: datetime,
    *,
    source_id: int,
    interval: float,
    min_interval: float,
    max_interval: float,
    ttl_minutes: int | None = None,
    error_count: int = 0,
) -> datetime:
    """Return when a source should be polled next.

    Args:
        now: the time of this poll (aware UTC).
        source_id: used to spread sources apart with jitter.
        interval: the configured interval in seconds.
        min_interval: lower bound for the interval, seconds.
        max_interval: upper bound for a normal interval, seconds.
        ttl_minutes: the feed's RSS ``<ttl>``, which can only lengthen the interval.
        error_count: consecutive failures including this one; each doubles the
            delay, up to ``ERROR_BACKOFF_CAP`` (never stops retrying).

    Returns:
        An aware UTC datetime strictly after ``now``.
    """
    seconds = interval
    if ttl_minutes is not None and ttl_minutes > 0:
        # RSS 2.0 <ttl>: "how long a channel can be cached"; honour it as a minimum.
        seconds = max(seconds, ttl_minutes * 60.0)
    seconds = min(max(seconds, min_interval), max_interval)
    if error_count > 0:
        cap = max(ERROR_BACKOFF_CAP, seconds)
        seconds = min(seconds * 2.0 ** min(error_count - 1, 30), cap)
    seconds = max(seconds, 1.0)
    seconds += jitter(source_id, now, seconds * JITTER_FRACTION)
    return now + timedelta(seconds=seconds)
