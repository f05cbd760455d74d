"""Decide when a source is polled next and what its poll bookkeeping becomes; pure."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

from feedhub.types import FeedData, SourceEvent, SourceEventKind, SourceHealth

#: errors back off exponentially from the normal interval up to this cap
ERROR_BACKOFF_CAP = 24 * 3600.0
#: share of the delay added as jitter, so that sources configured together do
#: not stay in lockstep and hit publishers in bursts
JITTER_FRACTION = 0.1
#: polls in a row that must see the same permanent redirect before it is stored
#: (NewsBlur's lesson: a misconfigured server can 301 for a few minutes)
REDIRECT_CONFIRMATIONS = 3

_MAX_AGE_RE = re.compile(r"(?:^|,)\s*max-age\s*=\s*\"?(\d+)\"?\s*(?:,|$)", re.I)


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
    feed_interval: float | None = None,
    freshness: float | None = None,
    retry_after: float | None = None,
    skip_hours: Sequence[int] = (),
    skip_days: Sequence[int] = (),
) -> datetime:
    """Return when a source should be polled next.

    ``clamp(max(interval, hints), min, max)``, doubled per consecutive error
    up to ``ERROR_BACKOFF_CAP``, never before Retry-After, plus jitter, then
    moved out of the hours and days the feed asks to skip.

    Args:
        now: the time of this poll (aware UTC).
        source_id: used to spread sources apart with jitter.
        interval: the configured interval in seconds.
        min_interval: lower bound for the interval, seconds.
        max_interval: upper bound for a normal interval, seconds.
        ttl_minutes: the feed's RSS ``<ttl>``.
        error_count: consecutive failures including this one; each doubles the
            delay, up to ``ERROR_BACKOFF_CAP`` (never stops retrying).
        feed_interval: the feed's own update interval (sy:*, ttl), seconds.
        freshness: the response's freshness lifetime (Cache-Control max-age,
            Expires), seconds.
        retry_after: seconds the server asked us to wait (already capped).
        skip_hours: RSS ``<skipHours>``, hours 0-23 UTC.
        skip_days: RSS ``<skipDays>``, weekdays 0 (Monday) to 6.

    Returns:
        An aware UTC datetime strictly after ``now``.
    """
    seconds = interval
    # Hints only lengthen the interval: RSS 2.0 <ttl> is "how long a channel
    # can be cached", sy:updatePeriod how often it changes, RFC 9111 §4.2.1
    # how long the response stays fresh.
    hints = [feed_interval, freshness]
    if ttl_minutes is not None and ttl_minutes > 0:
        hints.append(ttl_minutes * 60.0)
    for hint in hints:
        if hint is not None and hint > 0:
            seconds = max(seconds, hint)
    seconds = min(max(seconds, min_interval), max_interval)
    if error_count > 0:
        cap = max(ERROR_BACKOFF_CAP, seconds)
        seconds = min(seconds * 2.0 ** min(error_count - 1, 30), cap)
    seconds = max(seconds, 1.0)
    seconds += jitter(source_id, now, seconds * JITTER_FRACTION)
    if retry_after is not None:
        # RFC 9110 §10.2.3: not before the time the server gave.
        seconds = max(seconds, retry_after)
    return skip(now + timedelta(seconds=seconds), skip_hours, skip_days)


def skip(when: datetime, hours: Sequence[int], days: Sequence[int]) -> datetime:
    """Move ``when`` to the start of the first hour not in ``hours`` or ``days``.

    RSS 2.0 ``<skipHours>`` (GMT hours) and ``<skipDays>``; a list that would
    skip every hour or every day is ignored rather than never polling.
    """
    hour_set = {h for h in hours if 0 <= h <= 23}
    day_set = {d for d in days if 0 <= d <= 6}
    if len(hour_set) == 24:
        hour_set = set()
    if len(day_set) == 7:
        day_set = set()
    when = when.astimezone(UTC)
    moved = when
    for _ in range(24 * 8):
        if moved.hour not in hour_set and moved.weekday() not in day_set:
            return moved
        moved = moved.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    return when  # unreachable with the sets above; kept as a guard


def freshness(headers: Mapping[str, str], now: datetime) -> float | None:
    """Return the response's freshness lifetime in seconds, or None.

    RFC 9111 §4.2.1: ``max-age`` wins over ``Expires``; ``Expires`` counts
    from the response's ``Date`` when present, so a skewed clock does not
    matter. An invalid ``Expires`` means already stale (§5.3), i.e. no hint.

    Args:
        headers: response headers, names lower-cased.
        now: the current time, aware UTC.
    """
    control = headers.get("cache-control")
    if control:
        match = _MAX_AGE_RE.search(control)
        if match:
            return float(match.group(1))
    expires = _http_date(headers.get("expires"))
    if expires is None:
        return None
    base = _http_date(headers.get("date")) or now
    seconds = (expires - base).total_seconds()
    return seconds if seconds > 0 else None


def _http_date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    # RFC 9110 §5.6.7: HTTP dates are GMT even when written "-0000".
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed


def feed_interval(feed: FeedData) -> float | None:
    """The feed's own idea of its update interval in seconds (ttl, sy:*)."""
    hints = [feed.update_interval]
    if feed.ttl is not None and feed.ttl > 0:
        hints.append(feed.ttl * 60.0)
    values = [h for h in hints if h is not None and h > 0]
    return max(values) if values else None


def after_success(
    health: SourceHealth,
    now: datetime,
    *,
    fetch_url: str,
    permanent_redirect: str | None,
    body_hash: str | None = None,
    feed: FeedData | None = None,
) -> tuple[SourceHealth, str | None]:
    """Bookkeeping after a 200 or 304.

    Clears the failure run and any hold; counts permanent redirect
    confirmations; keeps the body hash and feed hints unless new ones are given.

    Args:
        health: the source's bookkeeping before this poll.
        now: the time of this poll.
        fetch_url: the URL that was requested.
        permanent_redirect: where a chain of 301/308 led, if it did.
        body_hash: the hash of the body just stored, None to keep the old one.
        feed: the feed just parsed (its hints replace the stored ones).

    Returns:
        The new bookkeeping, and the URL to poll from now on when a permanent
        redirect has just been confirmed ``REDIRECT_CONFIRMATIONS`` times.
    """
    events: list[SourceEvent] = []
    if health.dead_since is not None:
        events.append(
            SourceEvent(
                SourceEventKind.REVIVED,
                now,
                f"answering again after failing since {_day(health.failing_since)}",
            )
        )
    redirect_to, count, moved = None, 0, None
    if permanent_redirect is not None and permanent_redirect != fetch_url:
        same = permanent_redirect == health.redirect_to
        redirect_to = permanent_redirect
        count = health.redirect_count + 1 if same else 1
        if count >= REDIRECT_CONFIRMATIONS:
            moved, redirect_to, count = permanent_redirect, None, 0
            events.append(
                SourceEvent(
                    SourceEventKind.MOVED,
                    now,
                    f"moved permanently from {fetch_url} to {moved}",
                )
            )
    new = replace(
        health,
        body_hash=body_hash if body_hash is not None else health.body_hash,
        retry_after_until=None,
        failing_since=None,
        dead_since=None,
        redirect_to=redirect_to,
        redirect_count=count,
        events=tuple(events),
    )
    if feed is not None:
        new = replace(
            new,
            feed_interval=feed_interval(feed),
            skip_hours=feed.skip_hours,
            skip_days=feed.skip_days,
        )
    return new, moved


def after_failure(
    health: SourceHealth,
    now: datetime,
    *,
    error: str,
    dead_after: float,
    gone: bool = False,
    retry_until: datetime | None = None,
) -> SourceHealth:
    """Bookkeeping after a failed poll.

    Starts or continues the failure run; marks the source dead once the run is
    longer than ``dead_after`` (it is still retried); retires it on 410.

    Args:
        health: the source's bookkeeping before this poll.
        now: the time of this poll.
        error: the short reason, quoted in events.
        dead_after: seconds of continuous failure before the source is dead.
        gone: the server answered 410 Gone.
        retry_until: hold the source until then (Retry-After, source scope).
    """
    events: list[SourceEvent] = []
    failing_since = health.failing_since or now
    dead_since = health.dead_since
    if dead_since is None and (now - failing_since).total_seconds() >= dead_after:
        dead_since = now
        events.append(
            SourceEvent(
                SourceEventKind.DEAD,
                now,
                f"failing since {_day(failing_since)}: {error}",
            )
        )
    gone_at = health.gone_at
    if gone and gone_at is None:
        gone_at = now
        events.append(SourceEvent(SourceEventKind.GONE, now, f"retired after {error}"))
    return replace(
        health,
        retry_after_until=retry_until,
        failing_since=failing_since,
        dead_since=dead_since,
        gone_at=gone_at,
        events=tuple(events),
    )


def _day(when: datetime | None) -> str:
    return when.strftime("%Y-%m-%d %H:%MZ") if when is not None else "?"
