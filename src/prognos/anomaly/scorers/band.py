"""Forecast band: the residual against a causal seasonal forecast and its prediction interval.

The forecast for time ``t`` is a *seasonal profile*: the median of the values at the same phase
(within ``PHASE_TOLERANCE``) on each of the previous ``seasons`` days, plus a *level correction*:
the median of the last ``LEVEL_WINDOW`` of residuals against that profile, so a day that runs
higher or lower than usual (weekends, growth) is followed instead of flagged. The interval is
``forecast +/- z * sigma`` where sigma is the robust spread (MAD) of the last day of residuals.
Before one season of history exists the forecast falls back to the median of the last
``LEVEL_WINDOW`` (a cold start still catches gross spikes and drops).

Why a profile rather than ``prognos.forecasting`` models: scoring must be causal, so a model
would have to be refitted (or at least updated) before every point; over the thousands of points
of a CLI run, and for every series an operator watches, that costs seconds to minutes per series
against microseconds per point here. The profile is the seasonal-naive forecast made robust
(a median over several seasons, so yesterday's outage is not copied into today's forecast), and
the benchmark shows it meets the detection targets. See docs/anomaly.md.

Residuals stored for the spread are clipped to the band, so an anomaly does not widen the band
that is supposed to catch it; raw residuals feed the level correction, so a lasting level shift
is followed after about half of ``LEVEL_WINDOW`` and the alert then clears.
"""

from __future__ import annotations

import math

import numpy as np

from prognos.anomaly._buffers import Ring, SeasonalHistory, robust_center_scale
from prognos.anomaly.config import DetectorConfig
from prognos.anomaly.scorers.base import (
    MIN_POINTS,
    Evidence,
    NoiseScale,
    Scorer,
    directional,
    score_from_excess,
)

PHASE_TOLERANCE = 600.0
LEVEL_WINDOW = 7200.0
SPREAD_WINDOW = 86400.0
MIN_SEASONAL_SAMPLES = 3


class ForecastBandScorer(Scorer):
    kind = "forecast-band"

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
        self.recent = Ring(self.points(LEVEL_WINDOW))
        self.level = Ring(self.points(LEVEL_WINDOW))
        self.residuals = Ring(self.points(SPREAD_WINDOW))
        self.noise = NoiseScale(self.points(3600.0))

    def forecast(self, t: float) -> tuple[float, float]:
        """(profile value, forecast) for time ``t`` from the points before it."""
        if self.seasonal is not None:
            samples = self.seasonal.same_phase(t)
            if len(samples) >= MIN_SEASONAL_SAMPLES:
                profile = float(np.median(samples))
                offset = float(np.median(self.level.values())) if len(self.level) else 0.0
                return profile, profile + offset
        if len(self.recent) == 0:
            return math.nan, math.nan
        center = float(np.median(self.recent.values()))
        return center, center

    def spread(self) -> float:
        _, scale = robust_center_scale(self.residuals.values())
        floor = self.noise.scale()
        return floor if math.isnan(scale) else max(scale, floor)

    def update(self, t: float, value: float) -> Evidence:
        profile, expected = self.forecast(t)
        sigma = self.spread()
        if self.seen >= MIN_POINTS and not math.isnan(expected):
            deviation = (value - expected) / (self.z * sigma)
            evidence = Evidence(
                score=score_from_excess(directional(deviation, self.config.direction)),
                expected=expected,
                lower=expected - self.z * sigma,
                upper=expected + self.z * sigma,
            )
        else:
            evidence = Evidence(score=0.0)
        if not math.isnan(expected):
            limit = self.z * sigma
            residual = value - expected
            if len(self.residuals) >= MIN_POINTS:
                residual = min(max(residual, -limit), limit)
            self.residuals.push(residual)
            self.level.push(value - profile)
        self._learn(t, value, evidence)
        self.seen += 1
        return evidence

    def _score(self, t: float, value: float) -> Evidence:  # pragma: no cover - see update
        raise NotImplementedError

    def _learn(self, t: float, value: float, evidence: Evidence) -> None:
        if self.seasonal is not None:
            self.seasonal.push(t, value)
        self.recent.push(value)
        self.noise.push(value)
