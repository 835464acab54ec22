"""Guards shared by the library-backed models: divergence checks and a cheap fallback.

Library fits fail in ways a scaler must never act on: statsmodels ETS can diverge (one published
benchmark run scored MASE 21,848 because of a few diverged series), an optimiser can return NaN,
a fit can take far longer than the control loop allows. Each guarded model keeps a seasonal naive
fit as a fallback and switches to it, with a reason, rather than return an absurd forecast.
"""

from __future__ import annotations

import numpy as np

from prognos.forecasting.base import FloatArray
from prognos.forecasting.models.seasonal_ar import Decomposition, decompose


def plausible(mean: FloatArray, history: FloatArray, factor: float = 2.0) -> bool:
    """False when the forecast is non-finite or leaves ``[min - f*range, max + f*range]``."""
    if not bool(np.all(np.isfinite(mean))):
        return False
    lo, hi = float(np.min(history)), float(np.max(history))
    span = max(hi - lo, 1e-9 * max(1.0, abs(hi)))
    return bool(np.all(mean >= lo - factor * span) and np.all(mean <= hi + factor * span))


def deseasonalise(
    values: FloatArray, seasons: tuple[int, ...], daily: int | None
) -> tuple[FloatArray, Decomposition]:
    """``values`` minus their daily/weekly profiles (the same decomposition as seasonal-ar)."""
    d = daily if daily in seasons else None
    w = 7 * d if d is not None and 7 * d in seasons else None
    dec = decompose(values, d, w)
    return values - dec.seasonal(0, len(values)), dec
