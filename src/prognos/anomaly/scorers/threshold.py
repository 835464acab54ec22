"""Static threshold: out of bounds at or above ``threshold.above`` / at or below ``.below``.

The score is 0.5 exactly on a bound and grows with the distance past it measured in recent
point-to-point noise, so a value far past the bound scores near 1 while one barely past it
scores just over 0.5. Inside the bounds the score ramps down to 0 over one noise unit: that gives
hysteresis (``clearBelow``) a natural meaning — clear once back inside by about half a noise unit.
Sensitivity does not apply: the user has stated the bound.
"""

from __future__ import annotations

import math

from prognos.anomaly.config import DetectorConfig
from prognos.anomaly.scorers.base import Evidence, NoiseScale, Scorer, score_from_excess

NOISE_WINDOW = 3600.0


class ThresholdScorer(Scorer):
    kind = "threshold"

    def __init__(self, config: DetectorConfig, step: float) -> None:
        super().__init__(config, step)
        self.noise = NoiseScale(self.points(NOISE_WINDOW))

    def update(self, t: float, value: float) -> Evidence:
        # A static bound needs no history: score from the first point on.
        evidence = self._score(t, value)
        self._learn(t, value, evidence)
        self.seen += 1
        return evidence

    def _score(self, t: float, value: float) -> Evidence:
        bounds = self.config.threshold
        scale = self.noise.scale()
        excess = 0.0
        if bounds.above is not None:
            unit = max(scale, 1e-3 * abs(bounds.above), 1e-12)
            excess = max(excess, 1.0 + (value - bounds.above) / unit)
        if bounds.below is not None:
            unit = max(scale, 1e-3 * abs(bounds.below), 1e-12)
            excess = max(excess, 1.0 + (bounds.below - value) / unit)
        return Evidence(
            score=score_from_excess(excess),
            lower=math.nan if bounds.below is None else bounds.below,
            upper=math.nan if bounds.above is None else bounds.above,
        )

    def _learn(self, t: float, value: float, evidence: Evidence) -> None:
        self.noise.push(value)
