"""Load forecasting: clean a series, fit a model, get a forecast with prediction intervals.

Public API (everything else is internal)::

    from prognos.forecasting import make_forecaster, read_series

    y = read_series("load.csv")                     # pd.Series with a DatetimeIndex
    model = make_forecaster("auto", horizon=12)     # or "seasonal-naive", "ets", "prophet", ...
    fc = model.fit(y).predict(12, levels=(0.8,))
    fc.mean, fc.lower[0.8], fc.upper[0.8], fc.model, fc.reason
    model.cold_start_                               # auto only: True under two days of history

The package is pure: numpy/pandas/statsmodels/prophet/statsforecast in, plain data out.
"""

from __future__ import annotations

from prognos.forecasting.base import DEFAULT_LEVELS, Forecast, Forecaster, ForecastError
from prognos.forecasting.registry import MODEL_NAMES, make_forecaster
from prognos.forecasting.series_io import read_series

__all__ = [
    "DEFAULT_LEVELS",
    "MODEL_NAMES",
    "Forecast",
    "ForecastError",
    "Forecaster",
    "make_forecaster",
    "read_series",
]
