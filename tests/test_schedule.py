from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from feedhub.schedule import (
    ERROR_BACKOFF_CAP,
    JITTER_FRACTION,
    REDIRECT_CONFIRMATIONS,
    after_failure,
    after_success,
    feed_interval,
    freshness,
    jitter,
    next_check_at,
    skip,
)
from feedhub.types import FeedData, SourceEventKind, SourceHealth

NOW = datetime(2025, 7, 12, 12, 0, tzinfo=UTC)


def delay(**kwargs) -> float:
    params: dict[str, Any] = {
        "source_id": 1,
        "interval": 1800.0,
        "min_interval": 300.0,
        "max_interval": 86400.0,
    }
    params.update(kwargs)
    return (next_check_at(NOW, **params) - NOW).total_seconds()


def test_interval_plus_bounded_jitter():
    seconds = delay()
    assert 1800 <= seconds < 1800 * (1 + JITTER_FRACTION)


def test_jitter_is_deterministic_and_spreads_sources():
    assert jitter(1, NOW, 100) == jitter(1, NOW, 100)
    spread = {round(jitter(i, NOW, 100), 3) for i in range(50)}
    assert len(spread) > 40
    assert jitter(1, NOW, 0) == 0


def test_ttl_lengthens_but_never_shortens():
    assert delay(ttl_minutes=120) >= 7200
    assert 1800 <= delay(ttl_minutes=1) < 2000


def test_min_and_max_bounds():
    assert delay(interval=10) >= 300
    assert delay(interval=10**7) < 86400 * 1.11


def test_errors_back_off_exponentially_to_a_cap():
    first, second, third = (delay(error_count=n) for n in (1, 2, 3))
    assert 1800 <= first < 2000
    assert 3600 <= second < 4000
    assert 7200 <= third < 8000
    assert delay(error_count=50) < ERROR_BACKOFF_CAP * (1 + JITTER_FRACTION) + 1


@given(
    interval=st.floats(1, 10**6),
    ttl=st.none() | st.integers(-5, 10**5),
    errors=st.integers(0, 1000),
)
def test_always_in_the_future_and_utc(interval, ttl, errors):
    when = next_check_at(
        NOW,
        source_id=7,
        interval=interval,
        min_interval=1,
        max_interval=10**6,
        ttl_minutes=ttl,
        error_count=errors,
    )
    assert when.tzinfo is UTC
    assert NOW < when <= NOW + timedelta(seconds=10**6 * 2 + ERROR_BACKOFF_CAP)


# --------------------------------------------------------------------------
# hints, Retry-After, skipHours/skipDays (issue 4)
# --------------------------------------------------------------------------


def test_feed_and_http_hints_raise_the_interval_within_bounds():
    assert delay(feed_interval=6 * 3600) >= 6 * 3600
    assert delay(freshness=7200) >= 7200
    # never shorter than the configured interval
    assert 1800 <= delay(feed_interval=60, freshness=10) < 2000
    # never longer than max_interval (plus jitter)
    assert delay(feed_interval=10**7) < 86400 * (1 + JITTER_FRACTION)


def test_retry_after_is_a_floor_even_beyond_max_interval():
    assert delay(retry_after=3 * 86400) >= 3 * 86400
    assert 1800 <= delay(retry_after=10) < 2000


def test_skip_hours_and_days_move_the_poll_out():
    # NOW is Saturday 12:00 UTC; the poll would land at ~12:30
    when = next_check_at(
        NOW,
        source_id=1,
        interval=1800,
        min_interval=300,
        max_interval=86400,
        skip_hours=[12, 13],
        skip_days=[],
    )
    assert when == datetime(2025, 7, 12, 14, 0, tzinfo=UTC)
    when = next_check_at(
        NOW,
        source_id=1,
        interval=1800,
        min_interval=300,
        max_interval=86400,
        skip_hours=[0],
        skip_days=[5, 6],  # Saturday, Sunday
    )
    assert when == datetime(2025, 7, 14, 1, 0, tzinfo=UTC)


def test_skipping_everything_is_ignored():
    when = skip(NOW, range(24), ())
    assert when == NOW
    assert skip(NOW, (), range(7)) == NOW


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"cache-control": "public, max-age=3600"}, 3600.0),
        ({"cache-control": 'max-age="60"'}, 60.0),
        ({"cache-control": "s-maxage=99"}, None),
        # max-age wins over Expires (RFC 9111 §5.3)
        (
            {
                "cache-control": "max-age=10",
                "expires": "Sat, 12 Jul 2025 18:00:00 GMT",
            },
            10.0,
        ),
        # Expires counts from Date, not from our clock
        (
            {
                "date": "Sat, 12 Jul 2025 06:00:00 GMT",
                "expires": "Sat, 12 Jul 2025 08:00:00 GMT",
            },
            7200.0,
        ),
        ({"expires": "Sat, 12 Jul 2025 13:00:00 GMT"}, 3600.0),
        ({"expires": "0"}, None),
        ({"expires": "Sat, 12 Jul 2025 11:00:00 GMT"}, None),
        ({}, None),
    ],
)
def test_freshness(headers, expected):
    assert freshness(headers, NOW) == expected


def test_feed_interval_is_the_largest_hint():
    assert feed_interval(FeedData(url="u")) is None
    assert feed_interval(FeedData(url="u", ttl=90)) == 5400
    assert feed_interval(FeedData(url="u", ttl=1, update_interval=3600.0)) == 3600
    assert feed_interval(FeedData(url="u", ttl=0)) is None


# --------------------------------------------------------------------------
# bookkeeping
# --------------------------------------------------------------------------

A, B = "https://a.example/feed", "https://b.example/feed"


def test_permanent_redirect_is_stored_after_three_confirmations():
    health = SourceHealth()
    moves = []
    for n in range(REDIRECT_CONFIRMATIONS):
        health, moved = after_success(
            health, NOW + timedelta(hours=n), fetch_url=A, permanent_redirect=B
        )
        moves.append(moved)
    assert moves == [None] * (REDIRECT_CONFIRMATIONS - 1) + [B]
    assert health.redirect_to is None and health.redirect_count == 0
    (event,) = health.events
    assert event.kind is SourceEventKind.MOVED
    assert A in event.detail and B in event.detail


def test_redirect_confirmations_must_be_consecutive_and_identical():
    health, _ = after_success(SourceHealth(), NOW, fetch_url=A, permanent_redirect=B)
    health, _ = after_success(health, NOW, fetch_url=A, permanent_redirect=None)
    assert health.redirect_count == 0
    health, _ = after_success(health, NOW, fetch_url=A, permanent_redirect=B)
    health, _ = after_success(health, NOW, fetch_url=A, permanent_redirect=B + "2")
    assert (health.redirect_to, health.redirect_count) == (B + "2", 1)
    # a failure in between neither confirms nor denies
    health = after_failure(health, NOW, error="x", dead_after=86400)
    assert (health.redirect_to, health.redirect_count) == (B + "2", 1)


def test_failure_run_dead_and_revived():
    health = after_failure(SourceHealth(), NOW, error="fetch: 500", dead_after=3600)
    assert health.failing_since == NOW and health.dead_since is None
    assert health.events == ()
    later = NOW + timedelta(hours=2)
    health = after_failure(health, later, error="fetch: 500", dead_after=3600)
    assert health.failing_since == NOW and health.dead_since == later
    assert [e.kind for e in health.events] == [SourceEventKind.DEAD]
    # reported once, not on every failure after
    health = after_failure(health, later, error="fetch: 500", dead_after=3600)
    assert health.events == ()
    health, _ = after_success(health, later, fetch_url=A, permanent_redirect=None)
    assert health.failing_since is None and health.dead_since is None
    assert [e.kind for e in health.events] == [SourceEventKind.REVIVED]


def test_gone_retires_once_and_retry_hold_is_kept():
    hold = NOW + timedelta(hours=1)
    health = after_failure(
        SourceHealth(), NOW, error="fetch: 410 Gone", dead_after=1e9, gone=True
    )
    assert health.gone_at == NOW
    assert [e.kind for e in health.events] == [SourceEventKind.GONE]
    health = after_failure(health, NOW, error="x", dead_after=1e9, retry_until=hold)
    assert health.retry_after_until == hold and health.events == ()


def test_success_keeps_or_replaces_hints_and_hash():
    feed = FeedData(url=A, ttl=120, skip_hours=(1,), skip_days=(6,))
    health, _ = after_success(
        SourceHealth(), NOW, fetch_url=A, permanent_redirect=None, body_hash="h1",
        feed=feed,
    )  # fmt: skip
    assert (health.body_hash, health.feed_interval) == ("h1", 7200)
    assert (health.skip_hours, health.skip_days) == ((1,), (6,))
    again, _ = after_success(health, NOW, fetch_url=A, permanent_redirect=None)
    assert (again.body_hash, again.feed_interval, again.skip_hours) == (
        "h1",
        7200,
        (1,),
    )
