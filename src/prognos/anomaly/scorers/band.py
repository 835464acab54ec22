"""Forecast band: the residual against a causal seasonal forecast, judged on three time scales.

Forecast. The expected value at ``t`` is a *seasonal profile*: the median of the values at the
same phase (within ``PHASE_TOLERANCE``) on each of the previous ``seasons`` days, plus a *level
correction*: the median of the last ``LEVEL_WINDOW`` of residuals against that profile, so a day
that runs higher or lower than usual (weekends, growth) is followed instead of flagged.

Spread. ``sigma`` blends two robust (MAD) scales of past residuals: the last day's, and the
residuals at the same time of day (within ``PHASE_SPREAD_TOLERANCE``) on previous days. Real load
is heteroscedastic: a morning surge whose timing moves by an hour has large residuals every day,
and a quiet night has small ones; the phase term widens and narrows the band accordingly.
Residuals are clipped to the band before they are stored, so an anomaly does not widen its own
band. Both scales are floored by the recent point-to-point noise.

Terms (each an *excess*: 1 = on the edge at the configured sensitivity; the largest wins):

* point: ``|residual| / (z * sigma)``;
* sustained: for windows of 15 minutes, 30 minutes and 2 hours, the mean of the standardized
  residuals (the largest-magnitude one left out, so one outlier does not drive it) against the
  *empirical* scale of that same statistic over the last ``SUSTAIN_REFERENCE`` of history, with
  an edge ``SUSTAIN_FACTOR * z``. Calibrating each window on its own history accounts for the
  autocorrelation of real residuals (a slowly wandering series has wide window means, white
  noise narrow ones), which a fixed ``sqrt(n)`` rule gets badly wrong;
* variance (``direction: both`` only): the log of the median absolute first difference over
  the last ``VARIANCE_WINDOW`` against the median and MAD of the same statistic over the last
  ``VARIANCE_REFERENCE`` (a robust F-test on the log scale, calibrated on the series' own
  history). First differences ignore the level, so the term sees added noise that the level
  terms average away. Only increases count.

Warm-up. With a season configured, nothing scores until ``MIN_SEASONS`` seasons of history
exist (the operator rebuilds detectors from a range query, so this only matters for a series
younger than that). Without a season the forecast is the median of the last ``NAIVE_WINDOW``,
with the same terms.

Why a profile rather than ``prognos.forecasting`` models: scoring must be causal, so a model
would have to be refitted (or at least updated) before every point; for every series an operator
watches that costs seconds to minutes against microseconds per point here. See docs/anomaly.md.
"""

from __future__ import annotations

import math
from collections import deque

import numpy as np

from prognos.anomaly._buffers import MAD_TO_SIGMA, Ring, SeasonalHistory, robust_center_scale
from prognos.anomaly.config import DetectorConfig, Direction
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
SPREAD_WINDOW = 86400.0
PHASE_SPREAD_TOLERANCE = 3600.0
PHASE_SPREAD_WEIGHT = 0.5
SUSTAIN_WINDOWS = (900.0, 1800.0, 7200.0)
SUSTAIN_FACTOR = 1.3
SUSTAIN_REFERENCE = 3 * 86400.0
VARIANCE_WINDOW = 3600.0
VARIANCE_REFERENCE = 3 * 86400.0
#: Reference statistics are recorded at most this often (they change slowly; bounds the cost).
REFERENCE_STRIDE = 300.0
#: Residuals are clipped at this many sigmas before they are learnt. A constant rather than the
#: sensitivity's edge, so that the learnt state does not depend on the sensitivity and a more
#: sensitive detector scores every point at least as high (the medium edge).
CLIP_Z = 5.5
#: Without a season, the forecast is the median of this much recent history (at least 3 points):
#: long enough that a level shift stays visible for ``for``, short enough to follow a ramp.
NAIVE_WINDOW = 1800.0
MIN_SEASONS = 2


class SustainedTerm:
    """Trimmed mean of the last ``n`` standardized residuals against its own empirical scale."""

    def __init__(self, n: int, reference: int, stride: int) -> None:
        self.window: deque[float] = deque(maxlen=max(2, n))
        self.reference = Ring(reference)
        self.stride = stride
        self._count = 0

    def full(self) -> bool:
        return len(self.window) == self.window.maxlen

    def mean(self) -> float:
        """Mean without the largest-magnitude value (one outlier must not drive the term)."""
        largest = max(self.window, key=abs)
        return (sum(self.window) - largest) / (len(self.window) - 1)

    def scale(self) -> float:
        # Floor (a quarter of the white-noise scale of the mean): a perfectly flat history
        # must not make the scale zero and every wiggle infinitely anomalous.
        floor = 0.25 / math.sqrt(len(self.window) - 1)
        return max(floor, MAD_TO_SIGMA * float(np.median(np.abs(self.reference.values()))))

    def excess(self, standardized: float, edge: float, direction: Direction) -> float:
        """Push the newest standardized residual and return the window's excess."""
        self.window.append(standardized)
        if not self.full() or len(self.reference) < MIN_POINTS:
            return 0.0
        return directional(self.mean(), direction) / (edge * self.scale())

    def learn(self, edge: float) -> None:
        """Record the current window mean (clipped to ``edge`` scales) in the reference."""
        if not self.full():
            return
        self._count += 1
        if self._count % self.stride:
            return
        mean = self.mean()
        if len(self.reference) >= MIN_POINTS:
            limit = edge * self.scale()
            mean = min(max(mean, -limit), limit)
        self.reference.push(mean)


class VarianceTerm:
    """Log of the recent median absolute first difference against its own history."""

    def __init__(self, n: int, reference: int, stride: int) -> None:
        self.diffs: deque[float] = deque(maxlen=max(3, n))
        self.reference = Ring(reference)
        self.stride = stride
        self._count = 0
        self._last = math.nan

    def _log_scale(self, diffs: list[float], value: float) -> float:
        typical = float(np.median(np.abs(diffs)))
        return math.log(max(typical, 1e-9 + 1e-6 * abs(value)))

    def excess(self, value: float, z: float) -> float:
        if math.isnan(self._last) or len(self.diffs) < (self.diffs.maxlen or 0):
            return 0.0
        if len(self.reference) < MIN_POINTS:
            return 0.0
        center, scale = robust_center_scale(self.reference.values())
        if not scale > 0.0:
            return 0.0
        diffs = [*list(self.diffs)[1:], value - self._last]
        return max(0.0, (self._log_scale(diffs, value) - center) / (z * scale))

    def learn(self, value: float) -> None:
        if not math.isnan(self._last):
            self.diffs.append(value - self._last)
        self._last = value
        if len(self.diffs) < (self.diffs.maxlen or 0):
            return
        self._count += 1
        if self._count % self.stride == 0:
            self.reference.push(self._log_scale(list(self.diffs), value))


class ForecastBandScorer(Scorer):
    kind = "forecast-band"

    def __init__(self, config: DetectorConfig, step: float) -> None:
        super().__init__(config, step)
        season = None if config.season is None else config.season.total_seconds()
        self.seasonal = (
            None
            if season is None
            else SeasonalHistory(
                step=step, season=season, seasons=config.seasons, tolerance=PHASE_TOLERANCE
            )
        )
        self.phase_residuals = (
            None
            if season is None
            else SeasonalHistory(
                step=step,
                season=season,
                seasons=config.seasons,
                tolerance=PHASE_SPREAD_TOLERANCE,
            )
        )
        self.min_seasons = min(MIN_SEASONS, config.seasons)
        self.last: deque[float] = deque(maxlen=max(3, self.points(NAIVE_WINDOW)))
        self.level = Ring(self.points(LEVEL_WINDOW))
        self.residuals = Ring(self.points(SPREAD_WINDOW))
        self.noise = NoiseScale(self.points(3600.0))
        stride = self.points(REFERENCE_STRIDE)
        self.sustained = [
            SustainedTerm(self.points(w), self.points(SUSTAIN_REFERENCE) // stride, stride)
            for w in SUSTAIN_WINDOWS
        ]
        self.variance = VarianceTerm(
            self.points(VARIANCE_WINDOW), self.points(VARIANCE_REFERENCE) // stride, stride
        )

    def forecast(self, t: float) -> tuple[float, float]:
        """(expected value used for scoring, profile) at ``t``; NaN where not available.

        The profile is NaN before one season of history; the expected value is NaN while the
        detector warms up (fewer than ``MIN_SEASONS`` seasons with a season configured).
        """
        if self.seasonal is None:
            naive = float(np.median(list(self.last))) if self.last else math.nan
            return naive, math.nan
        samples = self.seasonal.same_phase(t)
        per = self.seasonal.samples_per_season
        if len(samples) < per:
            return math.nan, math.nan
        profile = float(np.median(samples))
        if len(samples) < self.min_seasons * per:
            return math.nan, profile
        offset = float(np.median(self.level.values())) if len(self.level) else 0.0
        return profile + offset, profile

    def update(self, t: float, value: float) -> Evidence:
        expected, profile = self.forecast(t)
        evidence = Evidence(score=0.0)
        if not math.isnan(expected):
            sigma = self.spread(t)
            if self.seen >= MIN_POINTS:
                evidence = self._evidence(value, expected, sigma)
            for term in self.sustained:
                term.learn(SUSTAIN_FACTOR * CLIP_Z)
            self._push_residual(t, value - expected, sigma)
        if not math.isnan(profile):
            self.level.push(value - profile)
        self._learn(t, value, evidence)
        self.seen += 1
        return evidence

    def _evidence(self, value: float, expected: float, sigma: float) -> Evidence:
        direction = self.config.direction
        standardized = (value - expected) / sigma
        excess = directional(standardized, direction) / self.z
        clipped = min(max(standardized, -3.0 * CLIP_Z), 3.0 * CLIP_Z)
        edge = SUSTAIN_FACTOR * self.z
        for term in self.sustained:
            excess = max(excess, term.excess(clipped, edge, direction))
        if direction == "both":
            excess = max(excess, self.variance.excess(value, self.z))
        return Evidence(
            score=score_from_excess(excess),
            expected=expected,
            lower=expected - self.z * sigma,
            upper=expected + self.z * sigma,
        )

    def spread(self, t: float) -> float:
        """Robust sigma of residuals: last day's blended with this time of day's."""
        _, scale = robust_center_scale(self.residuals.values())
        if self.phase_residuals is not None and not math.isnan(scale):
            samples = self.phase_residuals.same_phase(t)
            if len(samples) >= self.min_seasons * self.phase_residuals.samples_per_season:
                phase = MAD_TO_SIGMA * float(np.median(np.abs(samples)))
                w = PHASE_SPREAD_WEIGHT
                scale = math.sqrt(w * phase * phase + (1.0 - w) * scale * scale)
        floor = self.noise.scale()
        return floor if math.isnan(scale) else max(scale, floor)

    def _push_residual(self, t: float, residual: float, sigma: float) -> None:
        # Clip to the band once the spread is known, so anomalies do not widen their own band.
        if len(self.residuals) >= MIN_POINTS:
            limit = CLIP_Z * sigma
            residual = min(max(residual, -limit), limit)
        self.residuals.push(residual)
        if self.phase_residuals is not None:
            self.phase_residuals.push(t, residual)

    def _score(self, t: float, value: float) -> Evidence:  # pragma: no cover - see update
        raise NotImplementedError

    def _learn(self, t: float, value: float, evidence: Evidence) -> None:
        if self.seasonal is not None:
            self.seasonal.push(t, value)
        self.variance.learn(value)
        self.last.append(value)
        self.noise.push(value)
