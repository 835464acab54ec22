"""Seasonal profile + autoregressive remainder: the fast workhorse behind ``auto``.

It is an MSTL-style decomposition, kept to plain numpy so that it fits a 2,016-point series in
about a millisecond and ``auto`` can refit it at many backtest origins:

1. trend = centred moving average over one day; ``detrended = y - trend``;
2. daily profile = mean of ``detrended`` per time-of-day slot over the last ``profile_cycles``
   days, smoothed over a short circular window (a few cycles of history are noisy);
3. weekly profile (when two weeks are present) = the same per time-of-week slot on what the
   daily profile leaves of ``y`` minus a one-week centred moving average (so weekends that are
   lower than weekdays show up), shrunk towards zero because each weekly slot has only a couple
   of samples;
4. remainder = ``y - seasonal`` (it keeps the level) is forecast by an AR(p) with intercept
   fitted by least squares on recent data; with ``integrated=True`` the AR is fitted on
   differences instead, which follows level shifts rather than reverting to the recent mean.

The forecast is seasonal profile + AR forecast. On short horizons the AR carries the current
deviation from the usual daily shape, which is exactly what seasonal naive misses.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from prognos.forecasting.base import FloatArray, Forecaster
from prognos.forecasting.intervals import Bands, gaussian_bands, residual_sigma


@dataclass(frozen=True)
class Decomposition:
    """Seasonal profiles indexed by ``position % len(profile)`` from the series' first point."""

    profiles: tuple[FloatArray, ...]

    def seasonal(self, start: int, length: int) -> FloatArray:
        pos = np.arange(start, start + length)
        out = np.zeros(length)
        for p in self.profiles:
            out += p[pos % len(p)]
        return out


def centred_moving_average(values: FloatArray, window: int) -> FloatArray:
    """Centred mean over ``window`` points (2x MA for even windows); NaN where incomplete."""
    n = len(values)
    out = np.full(n, np.nan)
    if window > n:
        return out
    c = np.concatenate([[0.0], np.cumsum(values)])
    ma = (c[window:] - c[:-window]) / window  # ma[i] = mean(values[i:i+window])
    if window % 2 == 1:
        half = window // 2
        out[half : half + len(ma)] = ma
    else:
        ma2 = 0.5 * (ma[:-1] + ma[1:])  # centred on i + window/2
        half = window // 2
        out[half : half + len(ma2)] = ma2
    return out


def _phase_mean(x: FloatArray, m: int, start_pos: int) -> FloatArray:
    """NaN-aware mean of ``x`` per phase ``(start_pos + i) % m``; missing phases -> 0."""
    pos = (start_pos + np.arange(len(x))) % m
    ok = np.isfinite(x)
    sums = np.bincount(pos[ok], weights=x[ok], minlength=m)
    counts = np.bincount(pos[ok], minlength=m)
    prof = np.zeros(m)
    has = counts > 0
    prof[has] = sums[has] / counts[has]
    return prof


def _circular_smooth(profile: FloatArray, width: int) -> FloatArray:
    if width <= 1:
        return profile
    kernel = np.ones(width) / width
    half = width // 2
    padded = np.concatenate([profile[-half:], profile, profile[: width - 1 - half]])
    return np.convolve(padded, kernel, mode="valid")


def _hold_edges(x: FloatArray) -> FloatArray:
    """``x`` with leading/trailing NaN replaced by the first/last finite value."""
    ok = np.flatnonzero(np.isfinite(x))
    out = x.copy()
    out[: ok[0]] = x[ok[0]]
    out[ok[-1] + 1 :] = x[ok[-1]]
    return out


def decompose(
    values: FloatArray,
    daily: int | None,
    weekly: int | None,
    profile_cycles: int = 14,
    smooth: int | None = None,
    weekly_shrink: float = 0.5,
) -> Decomposition:
    """Daily (and weekly) additive profiles of ``values``; see the module docstring."""
    n = len(values)
    if daily is None or n < 2 * daily:
        return Decomposition(profiles=())
    trend = centred_moving_average(values, daily)
    detr = values - trend
    start = max(0, n - profile_cycles * daily)
    width = smooth if smooth is not None else max(1, daily // 96)
    prof_d = _circular_smooth(_phase_mean(detr[start:], daily, start), width)
    prof_d -= prof_d.mean()
    profiles: list[FloatArray] = [prof_d]
    if weekly is not None and n >= 2 * weekly:
        # Measured against a weekly, not the daily, moving average: the daily one follows each
        # day's level, so a weekday/weekend level difference (the usual weekly pattern) would
        # vanish into it. Held constant over the half-weeks at either end it does not cover.
        level = _hold_edges(centred_moving_average(values, weekly))
        rest = values - level - prof_d[np.arange(n) % daily]
        wstart = max(0, n - max(profile_cycles // 7, 2) * weekly)
        prof_w = _phase_mean(rest[wstart:], weekly, wstart)
        prof_w = _circular_smooth(prof_w, max(width, daily // 24))
        prof_w = weekly_shrink * (prof_w - prof_w.mean())
        profiles.append(prof_w)
    return Decomposition(profiles=tuple(profiles))


def fit_ar(x: FloatArray, order: int) -> tuple[FloatArray, float, float]:
    """Least-squares AR(order) with intercept: (coefficients, intercept, residual sigma)."""
    p = min(order, max(0, len(x) // 4))
    if p == 0 or len(x) <= p + 2:
        return np.zeros(0), float(np.mean(x)), residual_sigma(x - np.mean(x))
    rows = len(x) - p
    design = np.ones((rows, p + 1))
    for k in range(1, p + 1):
        design[:, k] = x[p - k : len(x) - k]
    target = x[p:]
    sol = np.asarray(np.linalg.lstsq(design, target, rcond=None)[0], dtype=np.float64)
    resid = target - design @ sol
    return sol[1:], float(sol[0]), residual_sigma(resid)


def ar_forecast(
    history: FloatArray, coef: FloatArray, intercept: float, horizon: int
) -> FloatArray:
    """Recursive AR forecast from the last ``len(coef)`` values of ``history``."""
    p = len(coef)
    buf = list(history[-p:]) if p else []
    out = np.empty(horizon)
    for h in range(horizon):
        nxt = intercept + sum(coef[k] * buf[-1 - k] for k in range(p))
        out[h] = nxt
        if p:
            buf.append(nxt)
    return out


def ar_psi_sigma(coef: FloatArray, sigma: float, horizon: int, integrated: bool) -> FloatArray:
    """h-step forecast standard deviation from the AR's psi weights (cumulated if integrated)."""
    p = len(coef)
    psi = np.zeros(horizon)
    psi[0] = 1.0
    for j in range(1, horizon):
        psi[j] = sum(coef[k] * psi[j - 1 - k] for k in range(min(p, j)))
    if integrated:
        psi = np.cumsum(psi)
    return sigma * np.sqrt(np.cumsum(psi**2))


class SeasonalAR(Forecaster):
    """Daily/weekly profile plus AR(p) remainder (see module docstring)."""

    name: ClassVar[str] = "seasonal-ar"
    cheap: ClassVar[bool] = True

    decomposition_: Decomposition
    coef_: FloatArray
    intercept_: float
    sigma_: float
    tail_: FloatArray

    def __init__(
        self,
        order: int = 3,
        integrated: bool = False,
        weekly: bool = True,
        profile_cycles: int = 14,
        ar_window: int | None = None,
    ) -> None:
        self.order = order
        self.integrated = integrated
        self.weekly = weekly
        self.profile_cycles = profile_cycles
        self.ar_window = ar_window

    def _fit(self, values: FloatArray) -> None:
        daily = self.daily_season_ if self.daily_season_ in self.seasons_ else None
        weekly = None
        if self.weekly and daily is not None and 7 * daily in self.seasons_:
            weekly = 7 * daily
        if daily is None:
            self.reason_ = "seasonal-ar: less than two days of history; AR on the raw series"
        self.decomposition_ = decompose(values, daily, weekly, self.profile_cycles)
        rem = values - self.decomposition_.seasonal(0, len(values))
        window = self.ar_window or max(500, 3 * (daily or 0))
        rem = rem[-window:]
        series = np.diff(rem) if self.integrated else rem
        self.coef_, self.intercept_, self.sigma_ = fit_ar(series, self.order)
        self.tail_ = series[-max(1, len(self.coef_)) :].copy()
        self.last_rem_ = float(rem[-1])

    def _predict(self, horizon: int, levels: tuple[float, ...]) -> tuple[FloatArray, Bands]:
        path = ar_forecast(self.tail_, self.coef_, self.intercept_, horizon)
        if self.integrated:
            path = self.last_rem_ + np.cumsum(path)
        mean = path + self.decomposition_.seasonal(self.n_obs_, horizon)
        sigma = ar_psi_sigma(self.coef_, self.sigma_, horizon, self.integrated)
        return mean, gaussian_bands(mean, sigma, levels)
