"""Linear trend over a recent window: the same numbers as Prometheus ``predict_linear``.

``predict_linear(v[range], t)`` fits ordinary least squares to the samples in ``range`` and
extrapolates; operators already reason in those terms, so this model lets Prognos reproduce an
existing alert or HPA rule exactly (``window`` = the range in steps), then be compared with it.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import pandas as pd

from prognos.forecasting.base import FloatArray, Forecaster
from prognos.forecasting.intervals import Bands, gaussian_bands


class LinearTrend(Forecaster):
    """OLS line through the last ``window`` points (default: one hour, at least 6 points)."""

    name: ClassVar[str] = "linear"
    cheap: ClassVar[bool] = True

    slope_: float
    intercept_: float
    window_: int
    sigma_: float
    sxx_: float
    xbar_: float

    def __init__(self, window: int | None = None) -> None:
        if window is not None and window < 2:
            raise ValueError("linear: window must be at least 2 points")
        self.window = window

    def _fit(self, values: FloatArray) -> None:
        w = self.window
        if w is None:
            w = max(6, int(pd.Timedelta(hours=1) / self.step_))
        w = min(w, len(values))
        y = values[-w:]
        x = np.arange(w, dtype=np.float64)
        self.xbar_ = float(x.mean())
        self.sxx_ = float(((x - self.xbar_) ** 2).sum())
        self.slope_ = float(((x - self.xbar_) * (y - y.mean())).sum() / self.sxx_)
        self.intercept_ = float(y.mean() - self.slope_ * self.xbar_)
        resid = y - (self.intercept_ + self.slope_ * x)
        self.sigma_ = float(np.sqrt((resid**2).sum() / max(1, w - 2)))
        self.window_ = w

    def _predict(self, horizon: int, levels: tuple[float, ...]) -> tuple[FloatArray, Bands]:
        x = self.window_ - 1 + np.arange(1, horizon + 1, dtype=np.float64)
        mean = self.intercept_ + self.slope_ * x
        # OLS prediction standard error: noise + uncertainty of the fitted line at x.
        se = self.sigma_ * np.sqrt(1.0 + 1.0 / self.window_ + (x - self.xbar_) ** 2 / self.sxx_)
        return mean, gaussian_bands(mean, se, levels)
