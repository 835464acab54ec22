"""Holt-Winters / ETS through statsmodels, guarded against slow fits and divergence.

statsmodels' ``ExponentialSmoothing`` fits a 288-step season in about 1.3 s and a 1,440-step one
in about 15 s with convergence warnings, and its optimiser occasionally diverges. So:

* seasons up to ``max_season`` steps (hourly data: 24) are fitted directly as additive
  Holt-Winters;
* longer seasons (5-minute data: 288, and any weekly season) are removed first with the seasonal
  profile of :mod:`seasonal_ar`, and a damped Holt model is fitted to what remains;
* only the last ``max_obs`` points are used (old history adds fit time, not accuracy), and start
  values come from statsmodels' heuristic rather than the optimiser (2-3x faster);
* a fit that raises, or a forecast that is non-finite or leaves a wide band around the history,
  is replaced by seasonal naive and ``reason_`` says so.
"""

from __future__ import annotations

import warnings
from typing import Any, ClassVar

import numpy as np

from prognos.forecasting.base import FloatArray, Forecaster
from prognos.forecasting.intervals import Bands, gaussian_bands, residual_sigma
from prognos.forecasting.models.common import deseasonalise, plausible
from prognos.forecasting.models.naive import SeasonalNaive
from prognos.forecasting.models.seasonal_ar import Decomposition


class HoltWinters(Forecaster):
    """Additive (damped) Holt-Winters; long seasons deseasonalised first (module docstring)."""

    name: ClassVar[str] = "ets"

    result_: Any
    decomposition_: Decomposition | None
    offset_: int
    sigma_: float
    history_: FloatArray
    fallback_: Forecaster

    def __init__(self, damped: bool = True, max_season: int = 48, max_obs: int = 4032) -> None:
        self.damped = damped
        self.max_season = max_season
        self.max_obs = max_obs

    def _fit(self, values: FloatArray) -> None:
        from statsmodels.tsa.holtwinters import ExponentialSmoothing

        self.fallback_ = SeasonalNaive().fit_values_like(self, values)
        self.offset_ = max(0, len(values) - self.max_obs)
        y = values[self.offset_ :]
        self.history_ = y
        daily = self.daily_season_ if self.daily_season_ in self.seasons_ else None
        self.decomposition_ = None
        season: int | None = None
        if daily is not None and daily <= self.max_season and 7 * daily not in self.seasons_:
            season = daily
        elif self.seasons_:
            y, self.decomposition_ = deseasonalise(y, self.seasons_, self.daily_season_)
        trend = "add" if len(y) >= 10 else None
        # The heuristic start values (statsmodels' decomposition of the first cycles) make the fit
        # 2-3x faster than optimising them, at equal accuracy on our traces; it needs 10 points
        # plus two half-seasons.
        heuristic = len(y) >= 10 + 2 * ((season or 0) // 2)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model = ExponentialSmoothing(
                    y,
                    trend=trend,
                    damped_trend=self.damped and trend is not None,
                    seasonal="add" if season else None,
                    seasonal_periods=season,
                    initialization_method="heuristic" if heuristic else "estimated",
                )
                self.result_ = model.fit()
            self.sigma_ = residual_sigma(np.asarray(self.result_.resid, dtype=np.float64))
        except Exception as exc:  # statsmodels raises many types; any failure -> fallback
            self.result_ = None
            self.reason_ = f"ets: fit failed ({type(exc).__name__}); using seasonal naive"

    def _predict(self, horizon: int, levels: tuple[float, ...]) -> tuple[FloatArray, Bands]:
        if self.result_ is not None:
            mean = np.asarray(self.result_.forecast(horizon), dtype=np.float64)
            if self.decomposition_ is not None:
                mean = mean + self.decomposition_.seasonal(len(self.history_), horizon)
            if plausible(mean, self.history_):
                sigma = self.sigma_ * np.sqrt(np.arange(1, horizon + 1))
                return mean, gaussian_bands(mean, sigma, levels)
            self.reason_ = "ets: forecast diverged; using seasonal naive"
        fc = self.fallback_.predict(horizon, levels)
        return fc.mean, {lv: (fc.lower[lv], fc.upper[lv]) for lv in levels}
