"""Delivery policy, pure and clock-injected so it is table-testable: retries, rate limit, dedup.

* ``RetryPolicy``: exponential backoff with jitter on 5xx, timeouts and connection errors; 429
  honours ``Retry-After`` (delta seconds or an HTTP date), capped; any other 4xx is final.
* ``RateLimiter``: a token bucket per channel (``perMinute`` sustained, ``burst`` at once).
* ``Deduper``: the same ``dedup_key`` within the channel's window is dropped.
"""

from __future__ import annotations

import random
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from enum import StrEnum


class Outcome(StrEnum):
    DELIVERED = "Delivered"
    RETRY = "Retry"
    FAILED = "Failed"  # final: a 4xx other than 429, or attempts exhausted


def classify(status: int | None) -> Outcome:
    """``status`` None means no answer (timeout, connection refused/reset)."""
    if status is None or status == 429 or status >= 500:
        return Outcome.RETRY
    if 200 <= status < 300:
        return Outcome.DELIVERED
    return Outcome.FAILED


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP-date), or None."""
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    current = now or datetime.now(UTC)
    return max(0.0, (when - current).total_seconds())


@dataclass(frozen=True)
class RetryPolicy:
    """Attempt ``n`` (1-based) failed: wait ``backoff(n)`` before attempt ``n + 1``.

    The un-jittered schedule is ``base * factor**(n-1)`` capped at ``cap``; "equal jitter"
    draws uniformly from its upper half, so retries of many deliveries spread out while the
    wait still grows exponentially. ``Retry-After`` overrides it, capped at
    ``max_retry_after_s`` so a misbehaving receiver cannot park a worker for hours.
    """

    max_attempts: int = 5
    base_s: float = 1.0
    factor: float = 2.0
    cap_s: float = 30.0
    max_retry_after_s: float = 120.0

    def nominal(self, attempt: int) -> float:
        return float(min(self.cap_s, self.base_s * self.factor ** max(0, attempt - 1)))

    def backoff(self, attempt: int, rng: random.Random | None = None) -> float:
        d = self.nominal(attempt)
        return d / 2 + (rng or random).uniform(0.0, d / 2)

    def delay(
        self,
        attempt: int,
        status: int | None,
        retry_after: float | None,
        rng: random.Random | None = None,
    ) -> float | None:
        """Seconds to wait before the next attempt, or None when there is none."""
        if classify(status) is not Outcome.RETRY or attempt >= self.max_attempts:
            return None
        if status == 429 and retry_after is not None:
            return min(retry_after, self.max_retry_after_s)
        return self.backoff(attempt, rng)


class RateLimiter:
    """Token bucket: ``rate_per_minute`` tokens per minute, at most ``burst`` saved up."""

    def __init__(self, rate_per_minute: float, burst: int, now: float = 0.0) -> None:
        self.rate_s = rate_per_minute / 60.0
        self.burst = float(burst)
        self.tokens = float(burst)
        self.stamp = now

    def allow(self, now: float) -> bool:
        self.tokens = min(self.burst, self.tokens + max(0.0, now - self.stamp) * self.rate_s)
        self.stamp = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


class Deduper:
    """Remembers keys for ``window_s``; bounded so a flood of distinct keys cannot grow it."""

    def __init__(self, window_s: float, max_keys: int = 4096) -> None:
        self.window_s = window_s
        self.max_keys = max_keys
        self._seen: OrderedDict[str, float] = OrderedDict()

    def duplicate(self, key: str, now: float) -> bool:
        """True if ``key`` was seen within the window; otherwise remember it and return False."""
        while self._seen:
            stamp = next(iter(self._seen.values()))
            if now - stamp < self.window_s and len(self._seen) < self.max_keys:
                break
            self._seen.popitem(last=False)
        last = self._seen.get(key)
        if last is not None and now - last < self.window_s:
            return True
        self._seen[key] = now
        self._seen.move_to_end(key)
        return False
