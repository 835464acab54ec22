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
from collections import deque

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
LEVEL_WINDOW = 4 * 3600.0
SUSTAIN_WINDOW = 1800.0
SUSTAIN_FACTOR = 0.5
COLD_POINTS = 3
SPREAD_WINDOW = 86400.0
MIN_SEASONS = 2


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
        self.last: deque[float] = deque(maxlen=COLD_POINTS)
        self.cold_residuals = Ring(self.points(SPREAD_WINDOW))
        self._seasons_seen = 0.0
        self.level = Ring(self.points(LEVEL_WINDOW))
        self.residuals = Ring(self.points(SPREAD_WINDOW))
        self.noise = NoiseScale(self.points(3600.0))
        self.sustain: deque[float] = deque(maxlen=max(2, self.points(SUSTAIN_WINDOW)))

    def profile(self, t: float) -> float:
        """The seasonal profile at ``t`` (NaN before one season of history)."""
        if self.seasonal is None:
            return math.nan
        samples = self.seasonal.same_phase(t)
        if len(samples) < self.seasonal.samples_per_season:
            return math.nan
        self._seasons_seen = len(samples) / self.seasonal.samples_per_season
        return float(np.median(samples))

    def update(self, t: float, value: float) -> Evidence:
        self._seasons_seen = 0.0
        profile = self.profile(t)
        seasonal_expected = math.nan
        if not math.isnan(profile):
            offset = float(np.median(self.level.values())) if len(self.level) else 0.0
            seasonal_expected = profile + offset
        cold_expected = float(np.median(list(self.last))) if len(self.last) else math.nan
        if self._seasons_seen >= MIN_SEASONS:
            expected, sigma = seasonal_expected, self.spread(self.residuals)
        else:
            expected, sigma = cold_expected, self.spread(self.cold_residuals)
        if self.seen >= MIN_POINTS and not math.isnan(expected):
            standard = directional((value - expected) / sigma, self.config.direction)
            self.sustain.append(min(standard, 3.0 * self.z))
            excess = standard / self.z
            if len(self.sustain) == self.sustain.maxlen:
                trimmed = sorted(self.sustain)[:-1]
                rms = math.sqrt(sum(x * x for x in trimmed) / len(trimmed))
                excess = max(excess, rms / (SUSTAIN_FACTOR * self.z))
            evidence = Evidence(
                score=score_from_excess(excess),
                expected=expected,
                lower=expected - self.z * sigma,
                upper=expected + self.z * sigma,
            )
        else:
            evidence = Evidence(score=0.0)
        if not math.isnan(seasonal_expected):
            self._push_residual(self.residuals, value - seasonal_expected)
            self.level.push(value - profile)
        if not math.isnan(cold_expected):
            self._push_residual(self.cold_residuals, value - cold_expected)
        self._learn(t, value, evidence)
        self.seen += 1
        return evidence

    def spread(self, residuals: Ring) -> float:
        _, scale = robust_center_scale(residuals.values())
        floor = self.noise.scale()
        return floor if math.isnan(scale) else max(scale, floor)

    def _push_residual(self, residuals: Ring, residual: float) -> None:
        # Clip to the band once the spread is known, so anomalies do not widen their own band.
        if len(residuals) >= MIN_POINTS:
            limit = self.z * self.spread(residuals)
            residual = min(max(residual, -limit), limit)
        residuals.push(residual)

    def _score(self, t: float, value: float) -> Evidence:  # pragma: no cover - see update
        raise NotImplementedError

    def _learn(self, t: float, value: float, evidence: Evidence) -> None:
        if self.seasonal is not None:
            self.seasonal.push(t, value)
        self.last.append(value)
        self.noise.push(value)
