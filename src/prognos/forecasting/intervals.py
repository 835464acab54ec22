"""Prediction-interval helpers shared by the models.

Each model gives a first, model-based interval (Gaussian from its residual spread), because that
is cheap and roughly right. It is not trusted for coverage: infrastructure load has fat tails and
level shifts, so ``auto`` replaces it with a conformal interval calibrated on its own backtest
errors (:func:`calibrate_scale`, :func:`conformal_bands`).
"""

from __future__ import annotations

from collections.abc import Sequence
from statistics import NormalDist

import numpy as np

from prognos.forecasting.base import FloatArray

Bands = dict[float, tuple[FloatArray, FloatArray]]


def z_value(level: float) -> float:
    """Two-sided standard normal quantile: 0.8 -> 1.2816."""
    return NormalDist().inv_cdf(0.5 + level / 2.0)


def gaussian_bands(mean: FloatArray, sigma: FloatArray, levels: Sequence[float]) -> Bands:
    """``mean ± z(level)·sigma`` per step; ``sigma`` has one value per step."""
    return {lv: (mean - z_value(lv) * sigma, mean + z_value(lv) * sigma) for lv in levels}


def residual_sigma(residuals: FloatArray) -> float:
    """Standard deviation of the finite residuals (0 for a perfect or empty fit)."""
    r = residuals[np.isfinite(residuals)]
    if len(r) < 2:
        return 0.0
    return float(np.std(r, ddof=1))


def calibrate_scale(errors: FloatArray) -> FloatArray:
    """A smooth, non-decreasing error scale per horizon step from backtest errors.

    ``errors`` is (origins, horizon). With a handful of origins the raw per-step RMSE is noisy, so
    we fit ``rmse_h = a * h**b`` on logs (b clipped to [0, 1]: error never shrinks with lead time,
    and grows at most linearly), which lets every origin and step inform every other step.
    """
    horizon = errors.shape[1]
    rmse = np.sqrt(np.nanmean(errors**2, axis=0))
    steps = np.arange(1, horizon + 1, dtype=np.float64)
    ok = np.isfinite(rmse) & (rmse > 0)
    if ok.sum() == 0:
        return np.zeros(horizon)
    if ok.sum() == 1:
        return np.full(horizon, float(rmse[ok][0]))
    b, log_a = np.polyfit(np.log(steps[ok]), np.log(rmse[ok]), 1)
    b = float(np.clip(b, 0.0, 1.0))
    log_a = float(np.mean(np.log(rmse[ok]) - b * np.log(steps[ok])))
    scale: FloatArray = np.exp(log_a) * steps**b
    return scale


def conformal_quantiles(
    errors: FloatArray, scale: FloatArray, levels: Sequence[float]
) -> dict[float, float]:
    """Split-conformal multipliers: the level quantile of ``|error| / scale`` over all points.

    Uses the finite-sample rank ``ceil((n+1)·level)`` so the nominal level is a lower bound on
    coverage when future errors look like the backtest errors.
    """
    safe = np.where(scale > 0, scale, np.nan)
    ratios = np.abs(errors) / safe[np.newaxis, : errors.shape[1]]
    r = np.sort(ratios[np.isfinite(ratios)])
    out: dict[float, float] = {}
    for lv in levels:
        if len(r) == 0:
            out[lv] = z_value(lv)
            continue
        rank = min(len(r), int(np.ceil((len(r) + 1) * lv)))
        out[lv] = float(r[rank - 1])
    return out


def extend_scale(scale: FloatArray, horizon: int) -> FloatArray:
    """Scale for ``horizon`` steps: beyond the calibrated steps, grow like sqrt of lead time."""
    if len(scale) == 0:
        return np.zeros(horizon)
    if horizon <= len(scale):
        return scale[:horizon]
    k = len(scale)
    extra = scale[-1] * np.sqrt(np.arange(k + 1, horizon + 1) / k)
    return np.concatenate([scale, extra])


def conformal_bands(
    mean: FloatArray, scale: FloatArray, multipliers: dict[float, float], levels: Sequence[float]
) -> Bands:
    """``mean ± q(level)·scale_h`` where the multipliers come from :func:`conformal_quantiles`."""
    out: Bands = {}
    for lv in levels:
        q = multipliers.get(lv)
        if q is None:  # a level not calibrated: scale the nearest calibrated one by z ratio
            ref = min(multipliers, key=lambda c: abs(c - lv))
            q = multipliers[ref] * z_value(lv) / z_value(ref)
        out[lv] = (mean - q * scale, mean + q * scale)
    return out
