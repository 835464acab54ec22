"""Rate of change: how unusual the change over the last few minutes is.

The change ``v[t] - v[t - lag]`` is compared with the same change over the last day by median
and MAD. The lag is 15 minutes (at least one step) so that a jump shows in several consecutive
changes and survives persistence. It reacts to sudden jumps and drops whatever the
level, and is blind to slow drifts — which is why ``auto`` does not rely on it alone.
"""

from __future__ import annotations

from collections import deque

from prognos.anomaly._buffers import Ring, robust_center_scale
from prognos.anomaly.config import DetectorConfig
from prognos.anomaly.scorers.base import (
    Evidence,
    NoiseScale,
    Scorer,
    directional,
    score_from_excess,
)

LAG = 900.0
HISTORY = 86400.0


class RateScorer(Scorer):
    kind = "rate"

    def __init__(self, config: DetectorConfig, step: float) -> None:
        super().__init__(config, step)
        self.lag = self.points(LAG)
        self.recent: deque[float] = deque(maxlen=self.lag)
        self.changes = Ring(self.points(HISTORY))
        self.noise = NoiseScale(self.points(3600.0))

    def _score(self, t: float, value: float) -> Evidence:
        if len(self.recent) < self.lag or len(self.changes) < 2:
            return Evidence(score=0.0)
        before = self.recent[0]
        center, scale = robust_center_scale(self.changes.values())
        scale = max(scale, self.noise.scale())
        deviation = (value - before - center) / (self.z * scale)
        expected = before + center
        return Evidence(
            score=score_from_excess(directional(deviation, self.config.direction)),
            expected=expected,
            lower=expected - self.z * scale,
            upper=expected + self.z * scale,
        )

    def _learn(self, t: float, value: float, evidence: Evidence) -> None:
        if len(self.recent) == self.lag:
            self.changes.push(value - self.recent[0])
        self.recent.append(value)
        self.noise.push(value)
