from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from feedhub.schedule import ERROR_BACKOFF_CAP, JITTER_FRACTION, jitter, next_check_at

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
