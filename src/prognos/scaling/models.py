"""Where the engine gets forecasters from.

The engine depends only on the ``Forecaster`` contract (``fit(series) -> self``,
``predict(horizon, levels) -> Forecast``), expressed here as a ``Protocol`` so any object with
that shape can be swapped in (tests, the operator, a model trained elsewhere).

``make_model(name)`` asks ``prognos.forecasting.make_forecaster`` when that registry exists. A
small seasonal-naive stand-in is kept for when it does not (early in the project, or in a
stripped-down install), so the scaler and the simulator always have a model to run; it is not
meant to compete with the forecasting package's models.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any, Protocol, cast

import numpy as np
import pandas as pd

from prognos.forecasting.base import Forecast, ForecastError

FloatArray = np.ndarray[Any, np.dtype[np.float64]]


class ForecasterLike(Protocol):
    """The part of ``prognos.forecasting.base.Forecaster`` the engine uses."""

    def fit(self, y: pd.Series) -> Any: ...

    def predict(self, horizon: int, levels: Sequence[float] = ...) -> Forecast: ...


ModelFactory = Callable[[str, timedelta], ForecasterLike]


class InterimSeasonalNaive:
    """Seasonal naive with empirical intervals: ``y[t + h] = y[t + h - season]``.

    Intervals are quantiles of the in-sample seasonal differences ``y[t] - y[t - season]``,
    which is what seasonal naive's error is for horizons up to one season.
    """

    name = "seasonal-naive"

    def __init__(self, season: timedelta = timedelta(days=1)) -> None:
        self.season = season

    def fit(self, y: pd.Series) -> InterimSeasonalNaive:
        series = pd.to_numeric(y, errors="coerce").astype("float64")
        series = series[np.isfinite(series.to_numpy())].sort_index()
        series = series[~series.index.duplicated(keep="last")]
        if len(series) < 3:
            raise ForecastError("seasonal naive needs at least 3 points")
        index = pd.DatetimeIndex(series.index)
        step = pd.Timedelta(np.median(np.diff(index.asi8)), unit="ns")
        if step <= pd.Timedelta(0):
            raise ForecastError("cannot infer the series step")
        grid = pd.date_range(index[0], index[-1], freq=step)
        values = np.asarray(series.reindex(grid, method="ffill").to_numpy(), dtype=np.float64)
        season_n = round(pd.Timedelta(self.season) / step)
        if season_n < 1 or len(values) <= season_n:
            raise ForecastError("seasonal naive needs more than one season of history")
        self.step_ = step
        self.last_timestamp_: pd.Timestamp = grid[-1]
        self.season_n_ = season_n
        self.tail_: FloatArray = values[-season_n:].copy()
        self.residuals_: FloatArray = np.asarray(values[season_n:] - values[:-season_n], np.float64)
        return self

    def predict(self, horizon: int, levels: Sequence[float] = (0.8,)) -> Forecast:
        if horizon < 1:
            raise ForecastError("horizon must be at least 1 step")
        idx = np.arange(horizon) % self.season_n_
        mean = self.tail_[idx]
        lower: dict[float, FloatArray] = {}
        upper: dict[float, FloatArray] = {}
        for level in levels:
            lo, hi = np.quantile(self.residuals_, [(1 - level) / 2, (1 + level) / 2])
            lower[level] = mean + lo
            upper[level] = mean + hi
        stamps = pd.date_range(self.last_timestamp_ + self.step_, periods=horizon, freq=self.step_)
        return Forecast(stamps, mean, lower, upper, model=self.name)


def make_model(name: str, season: timedelta) -> ForecasterLike:
    """A forecaster for ``name``: the forecasting registry's, else the interim seasonal naive."""
    factory: Any = None
    try:
        factory = getattr(importlib.import_module("prognos.forecasting"), "make_forecaster", None)
    except ImportError:
        factory = None
    if factory is not None:
        return cast(ForecasterLike, factory(name))
    if name in ("auto", "seasonal-naive"):
        return InterimSeasonalNaive(season)
    raise ForecastError(f"model {name!r} is not available (no forecasting registry installed)")
