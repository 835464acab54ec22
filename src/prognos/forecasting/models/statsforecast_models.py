"""AutoARIMA, Theta and MSTL from statsforecast (compiled C++ core since statsforecast 2).

Measured on 2,016 five-minute points (2 cores, noisy): AutoETS with a 288 season 16 s, AutoTheta
0.9 s, DynamicOptimizedTheta 0.3 s, MSTL(288)+AutoETS trend 0.45 s, MSTL+AutoARIMA 1.5 s,
non-seasonal AutoARIMA 1.0 s. These are good models but too slow to refit at a dozen backtest
origins inside ``auto``'s half-second budget, so ``auto`` does not use them by default; they
are available by name and as opt-in ``auto`` candidates. statsforecast 2 no longer compiles with
numba on first call (its core is a prebuilt extension), so there is no JIT cache to keep warm;
its import costs about 1-3 s, paid only when one of these models is used.

Seasons longer than ``max_season`` steps are removed with the seasonal-ar profile first (seasonal
ARIMA or Theta with a 288-step season is slow or fails), and history is capped at ``max_obs``.
"""

from __future__ import annotations

import warnings
from typing import Any, ClassVar

import numpy as np

from prognos.forecasting.base import FloatArray, Forecaster
from prognos.forecasting.intervals import Bands
from prognos.forecasting.models.common import deseasonalise, plausible
from prognos.forecasting.models.naive import SeasonalNaive
from prognos.forecasting.models.seasonal_ar import Decomposition


def _level_key(level: float) -> tuple[float | int, str]:
    pct = round(level * 100, 6)
    value: float | int = int(pct) if float(pct).is_integer() else pct
    return value, str(value)


class _StatsforecastModel(Forecaster):
    """Shared fit/predict plumbing: deseasonalise if needed, fit, guard, fall back."""

    max_season: int = 24
    max_obs: int = 2016

    model_: Any
    decomposition_: Decomposition | None
    history_: FloatArray
    fallback_: Forecaster

    def _make(self, season: int) -> Any:
        raise NotImplementedError

    def _fit(self, values: FloatArray) -> None:
        self.fallback_ = SeasonalNaive().fit_values_like(self, values)
        y = values[-self.max_obs :]
        self.history_ = y
        daily = self.daily_season_ if self.daily_season_ in self.seasons_ else None
        self.decomposition_ = None
        season = 1
        if daily is not None and daily <= self.max_season and 7 * daily not in self.seasons_:
            season = daily
        elif self.seasons_:
            y, self.decomposition_ = deseasonalise(y, self.seasons_, self.daily_season_)
        try:
            with warnings.catch_warnings():  # numeric warnings on short or flat series
                warnings.simplefilter("ignore")
                self.model_ = self._make(season).fit(y)
        except Exception as exc:  # statsforecast raises ValueError, LinAlgError, ...
            self.model_ = None
            self.reason_ = f"{self.name}: fit failed ({type(exc).__name__}); using seasonal naive"

    def _predict(self, horizon: int, levels: tuple[float, ...]) -> tuple[FloatArray, Bands]:
        if self.model_ is not None:
            keys = [_level_key(lv) for lv in levels]
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                out = self.model_.predict(h=horizon, level=[k[0] for k in keys])
            mean = np.asarray(out["mean"], dtype=np.float64)
            seasonal = np.zeros(horizon)
            if self.decomposition_ is not None:
                seasonal = self.decomposition_.seasonal(len(self.history_), horizon)
            mean = mean + seasonal
            if plausible(mean, self.history_):
                bands: Bands = {}
                for lv, (_, key) in zip(levels, keys, strict=True):
                    lo = np.asarray(out[f"lo-{key}"], dtype=np.float64) + seasonal
                    hi = np.asarray(out[f"hi-{key}"], dtype=np.float64) + seasonal
                    bands[lv] = (lo, hi)
                return mean, bands
            self.reason_ = f"{self.name}: forecast diverged; using seasonal naive"
        fc = self.fallback_.predict(horizon, levels)
        return fc.mean, {lv: (fc.lower[lv], fc.upper[lv]) for lv in levels}


class AutoArima(_StatsforecastModel):
    """statsforecast AutoARIMA; seasonal only for short (hourly-data) seasons."""

    name: ClassVar[str] = "arima"
    max_obs = 1000

    def _make(self, season: int) -> Any:
        from statsforecast.models import AutoARIMA

        return AutoARIMA(season_length=season)


class ThetaForecaster(_StatsforecastModel):
    """statsforecast Dynamic Optimized Theta (the fastest Theta variant we measured)."""

    name: ClassVar[str] = "theta"

    def _make(self, season: int) -> Any:
        from statsforecast.models import DynamicOptimizedTheta

        return DynamicOptimizedTheta(season_length=season)


class MstlForecaster(_StatsforecastModel):
    """statsforecast MSTL over every inferred season with an AutoETS (no season) trend."""

    name: ClassVar[str] = "mstl"
    max_obs = 4032

    def _fit(self, values: FloatArray) -> None:
        from statsforecast.models import MSTL, AutoETS

        self.fallback_ = SeasonalNaive().fit_values_like(self, values)
        # Cap history, but never below two days: MSTL needs two cycles of the daily season.
        keep = min(len(values), max(self.max_obs, 2 * min(self.seasons_, default=0)))
        seasons = [m for m in self.seasons_ if 2 * m <= keep]
        y = values[-keep:]
        self.history_ = y
        self.decomposition_ = None
        if not seasons:
            self.reason_ = "mstl: under two seasons of history; AutoETS without season"
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                if seasons:
                    self.model_ = MSTL(
                        season_length=seasons, trend_forecaster=AutoETS(model="ZZN")
                    ).fit(y)
                else:
                    self.model_ = AutoETS(model="ZZN").fit(y)
        except Exception as exc:
            self.model_ = None
            self.reason_ = f"mstl: fit failed ({type(exc).__name__}); using seasonal naive"
