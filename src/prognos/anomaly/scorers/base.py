"""The scorer contract: a causal, stateful object fed one point at a time.

Every detector kind turns the deviation of a point from what was expected into an *excess*
``e`` in units of "how far past the configured sensitivity": ``e = 0`` is exactly expected and
``e = 1`` is exactly on the edge of the normal band. One shared map turns it into the score,
``score = 1 - 2 ** -(e ** 2)``, so that every kind agrees that 0.5 is the edge of normal, scores
grow smoothly (about 0.06 at e=0.25, 0.94 at e=2) and saturate at 1. Keeping the map in one
place makes scores of different kinds comparable, which is what ``auto`` relies on.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar

from prognos.anomaly._buffers import Ring, robust_center_scale
from prognos.anomaly.config import DetectorConfig, Direction

#: Points a scorer must have seen before it scores anything above 0 (a cold start never fires).
MIN_POINTS = 12


def score_from_excess(excess: float) -> float:
    """Map an excess (0 = expected, 1 = edge of normal) to a score in [0, 1]."""
    if not excess > 0.0:  # also catches NaN
        return 0.0
    if excess > 8.0:
        return 1.0
    return float(1.0 - 2.0 ** (-(excess * excess)))


def directional(deviation: float, direction: Direction) -> float:
    """The part of a signed deviation that counts for ``direction``."""
    if direction == "up":
        return max(0.0, deviation)
    if direction == "down":
        return max(0.0, -deviation)
    return abs(deviation)


@dataclass(frozen=True)
class Evidence:
    """A point's score and the normal range it was judged against (NaN where not defined)."""

    score: float
    expected: float = math.nan
    lower: float = math.nan
    upper: float = math.nan


NO_EVIDENCE = Evidence(score=0.0)


class Scorer(ABC):
    """One detector kind. ``update(t, v)`` scores ``v`` from earlier points, then learns it.

    ``t`` is seconds since the epoch; ``step`` is the series' sampling step in seconds.
    """

    kind: ClassVar[str]

    def __init__(self, config: DetectorConfig, step: float) -> None:
        self.config = config
        self.step = step
        self.z = config.z_threshold
        self.seen = 0

    def update(self, t: float, value: float) -> Evidence:
        evidence = self._score(t, value) if self.seen >= MIN_POINTS else NO_EVIDENCE
        self._learn(t, value, evidence)
        self.seen += 1
        return evidence

    @abstractmethod
    def _score(self, t: float, value: float) -> Evidence: ...

    @abstractmethod
    def _learn(self, t: float, value: float, evidence: Evidence) -> None: ...

    def points(self, duration: float) -> int:
        """Whole steps in ``duration`` seconds (at least one)."""
        return max(1, round(duration / self.step))


class NoiseScale:
    """Point-to-point noise of the recent past: robust sigma of first differences / sqrt(2).

    A floor for other scales (a perfectly regular seasonal history would otherwise have zero
    spread and make every wiggle infinitely anomalous) and the unit for static thresholds.
    """

    def __init__(self, points: int) -> None:
        self._diffs = Ring(points)
        self._last = math.nan
        self._level = Ring(points)

    def push(self, value: float) -> None:
        if not math.isnan(self._last):
            self._diffs.push(value - self._last)
        self._last = value
        self._level.push(value)

    def scale(self) -> float:
        _, diff_scale = robust_center_scale(self._diffs.values())
        level, _ = robust_center_scale(self._level.values())
        floor = 1e-9 + 1e-4 * abs(level) if not math.isnan(level) else 1e-9
        if math.isnan(diff_scale):
            return floor
        return max(diff_scale / math.sqrt(2.0), floor)
