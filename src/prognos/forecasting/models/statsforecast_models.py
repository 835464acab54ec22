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
    factor_: int = 1
    """Steps aggregated into one before fitting (MSTL on long seasons); 1 = no aggregation."""

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
            k = self.factor_
            steps = -(-horizon // k)  # coarse steps covering the horizon when aggregated

            def fine(a: Any, seasonal: FloatArray) -> FloatArray:
                coarse = np.asarray(a, dtype=np.float64) + seasonal
                return np.repeat(coarse, k)[:horizon]

            keys = [_level_key(lv) for lv in levels]
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                out = self.model_.predict(h=steps, level=[k[0] for k in keys])
            seasonal = np.zeros(steps)
            if self.decomposition_ is not None:
                seasonal = self.decomposition_.seasonal(len(self.history_), steps)
            mean = fine(out["mean"], seasonal)
            if plausible(mean, self.history_):
                bands: Bands = {}
                for lv, (_, key) in zip(levels, keys, strict=True):
                    bands[lv] = (fine(out[f"lo-{key}"], seasonal), fine(out[f"hi-{key}"], seasonal))
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
    """statsforecast MSTL over every inferred season with an AutoETS (no season) trend.

    MSTL's cost grows steeply with the season length (measured, loaded machine): a 2,880-step
    daily season (30-second data) took about 90 s per fit; daily+weekly on 5-minute data (288,
    2,016) 27 s, but 0.9 s after averaging 6 steps (48, 336). So when the longest season exceeds
    ``max_season`` (336 = a week of hourly data, what MSTL is usually run on), ``k`` consecutive
    steps are averaged first (the smallest divisor of the daily season that brings the longest
    season under the limit), MSTL is fitted on the coarse series and each coarse forecast is
    repeated ``k`` times. The band is that of ``k``-step means, narrower than for single
    points; ``auto`` recalibrates bands from backtests anyway.
    """

    name: ClassVar[str] = "mstl"
    max_obs = 4032
    max_season = 336

    def _fit(self, values: FloatArray) -> None:
        from statsforecast.models import MSTL, AutoETS

        self.fallback_ = SeasonalNaive().fit_values_like(self, values)
        daily = min(self.seasons_, default=0)
        longest = max(self.seasons_, default=0)
        k = 1
        if longest > self.max_season:  # k divides the daily season, so every season stays whole
            k = next(f for f in range(-(-longest // self.max_season), daily + 1) if daily % f == 0)
        self.factor_ = k
        usable = len(values) - len(values) % k  # buckets end exactly at the last point
        coarse = values[len(values) - usable :].reshape(-1, k).mean(axis=1)
        coarse_seasons = [m // k for m in self.seasons_]
        # Cap history, but never below two cycles of the daily season.
        keep = min(len(coarse), max(self.max_obs, 2 * min(coarse_seasons, default=0)))
        seasons = [m for m in coarse_seasons if 2 * m <= keep]
        y = coarse[-keep:]
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
