from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest

from prognos.notify.policy import (
    Deduper,
    Outcome,
    RateLimiter,
    RetryPolicy,
    classify,
    parse_retry_after,
)


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        (200, Outcome.DELIVERED),
        (204, Outcome.DELIVERED),
        (None, Outcome.RETRY),
        (429, Outcome.RETRY),
        (500, Outcome.RETRY),
        (502, Outcome.RETRY),
        (503, Outcome.RETRY),
        (400, Outcome.FAILED),
        (401, Outcome.FAILED),
        (403, Outcome.FAILED),
        (404, Outcome.FAILED),
        (410, Outcome.FAILED),
        (302, Outcome.FAILED),
    ],
)
def test_classify(status, outcome):
    assert classify(status) is outcome


def test_nominal_schedule_doubles_up_to_the_cap():
    policy = RetryPolicy(base_s=1, factor=2, cap_s=10)
    assert [policy.nominal(n) for n in range(1, 7)] == [1, 2, 4, 8, 10, 10]


def test_backoff_jitter_stays_in_the_upper_half_and_varies():
    policy = RetryPolicy(base_s=1, factor=2, cap_s=30)
    rng = random.Random(7)
    for attempt in range(1, 8):
        d = policy.nominal(attempt)
        draws = [policy.backoff(attempt, rng) for _ in range(50)]
        assert all(d / 2 <= x <= d for x in draws)
        assert len({round(x, 6) for x in draws}) > 10


def test_delay_retries_5xx_and_timeouts_until_max_attempts():
    policy = RetryPolicy(max_attempts=3, base_s=1)
    rng = random.Random(1)
    assert policy.delay(1, 503, None, rng) is not None
    assert policy.delay(2, None, None, rng) is not None
    assert policy.delay(3, 503, None, rng) is None  # attempts exhausted


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422])
def test_no_retry_on_other_4xx(status):
    assert RetryPolicy().delay(1, status, 5.0) is None


def test_429_honours_retry_after_capped():
    policy = RetryPolicy(max_retry_after_s=60)
    assert policy.delay(1, 429, 7.0) == 7.0
    assert policy.delay(1, 429, 3600.0) == 60.0
    # without a header: ordinary backoff
    assert 0.5 <= policy.delay(1, 429, None, random.Random(0)) <= 1.0  # type: ignore[operator]


def test_retry_after_on_5xx_is_not_required():
    assert RetryPolicy(base_s=2).delay(1, 503, 999.0, random.Random(0)) <= 2.0  # type: ignore[operator]


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("5", 5.0),
        (" 120 ", 120.0),
        ("0", 0.0),
        ("Wed, 21 Oct 2015 07:28:30 GMT", 30.0),
        ("Wed, 21 Oct 2015 07:27:00 GMT", 0.0),  # in the past
        ("soon", None),
        ("", None),
        (None, None),
        ("-3", None),
    ],
)
def test_parse_retry_after(header, seconds):
    now = datetime(2015, 10, 21, 7, 28, 0, tzinfo=UTC)
    assert parse_retry_after(header, now) == seconds


def test_rate_limiter_burst_then_steady_rate():
    limiter = RateLimiter(rate_per_minute=60, burst=3, now=0.0)
    assert [limiter.allow(0.0) for _ in range(4)] == [True, True, True, False]
    assert not limiter.allow(0.5)
    assert limiter.allow(1.01)  # one token per second
    assert not limiter.allow(1.02)
    assert [limiter.allow(100.0) for _ in range(4)] == [True, True, True, False]  # capped at burst


def test_deduper_window():
    d = Deduper(window_s=10)
    assert not d.duplicate("a", 0)
    assert d.duplicate("a", 5)
    assert not d.duplicate("b", 5)
    assert not d.duplicate("a", 10.5)  # window passed: news again
    assert d.duplicate("a", 11)


def test_deduper_is_bounded():
    d = Deduper(window_s=1000, max_keys=10)
    for i in range(100):
        d.duplicate(f"k{i}", float(i))
    assert len(d._seen) <= 10
    assert d.duplicate("k99", 100.0)
