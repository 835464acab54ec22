"""Robust z-score: compare a point with the same phase of previous seasons *and* the recent past.

Seasonal reference: median and MAD of the values within ``PHASE_TOLERANCE`` of the same time of
day on each of the previous ``seasons`` days. Recent reference: median and MAD of the last
``RECENT_WINDOW``. A point is only as anomalous as the *smaller* of the two z-scores: it has to be
unusual for this time of day and unusual against the last hour. Requiring both is what keeps a
normal-but-early morning ramp (unusual for the phase, usual for the hour) and a normal daily
peak (unusual for the hour, usual for the phase) quiet; the price is that a level shift stops
scoring once the recent window has filled with the new level. Without a season (``season:
none``) or before one season of history, only the recent reference is used.

Both scales are floored by the recent point-to-point noise, so a very regular history cannot
make tiny wiggles look infinitely anomalous.
"""

from __future__ import annotations

from prognos.anomaly._buffers import Ring, SeasonalHistory, robust_center_scale
from prognos.anomaly.config import DetectorConfig
from prognos.anomaly.scorers.base import (
    Evidence,
    NoiseScale,
    Scorer,
    directional,
    score_from_excess,
)

PHASE_TOLERANCE = 600.0
RECENT_WINDOW = 3600.0
MIN_SEASONAL_SAMPLES = 3


class RobustZScoreScorer(Scorer):
    kind = "robust-zscore"

    def __init__(self, config: DetectorConfig, step: float) -> None:
        super().__init__(config, step)
        self.seasonal = (
            None
            if config.season is None
            else SeasonalHistory(
                step=step,
                season=config.season.total_seconds(),
                seasons=config.seasons,
                tolerance=PHASE_TOLERANCE,
            )
        )
        self.recent = Ring(self.points(RECENT_WINDOW))
        self.noise = NoiseScale(self.points(RECENT_WINDOW))

    def _score(self, t: float, value: float) -> Evidence:
        floor = self.noise.scale()
        center, scale = robust_center_scale(self.recent.values())
        scale = max(scale, floor)
        excess = directional((value - center) / (self.z * scale), self.config.direction)
        expected = center
        if self.seasonal is not None:
            samples = self.seasonal.same_phase(t)
            if len(samples) >= MIN_SEASONAL_SAMPLES:
                s_center, s_scale = robust_center_scale(samples)
                s_scale = max(s_scale, floor)
                s_excess = directional(
                    (value - s_center) / (self.z * s_scale), self.config.direction
                )
                excess = min(excess, s_excess)
                expected, scale = s_center, s_scale
        return Evidence(
            score=score_from_excess(excess),
            expected=expected,
            lower=expected - self.z * scale,
            upper=expected + self.z * scale,
        )

    def _learn(self, t: float, value: float, evidence: Evidence) -> None:
        if self.seasonal is not None:
            self.seasonal.push(t, value)
        self.recent.push(value)
        self.noise.push(value)
