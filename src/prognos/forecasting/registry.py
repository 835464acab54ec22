"""Name -> constructor registry (KEDA style): the one place a model name becomes an object.

Constructors import their model module lazily: Prophet and statsforecast take seconds to import,
and a ``prognos forecast --model seasonal-naive`` run (or a worker process) should not pay that.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from prognos.forecasting.base import Forecaster, ForecastError


def _auto(**p: Any) -> Forecaster:
    from prognos.forecasting.auto import AutoForecaster

    return AutoForecaster(**p)


def _seasonal_naive(**p: Any) -> Forecaster:
    from prognos.forecasting.models.naive import SeasonalNaive

    return SeasonalNaive(**p)


def _naive(**p: Any) -> Forecaster:
    from prognos.forecasting.models.naive import Naive

    return Naive(**p)


def _linear(**p: Any) -> Forecaster:
    from prognos.forecasting.models.linear import LinearTrend

    return LinearTrend(**p)


def _seasonal_ar(**p: Any) -> Forecaster:
    from prognos.forecasting.models.seasonal_ar import SeasonalAR

    return SeasonalAR(**p)


def _ets(**p: Any) -> Forecaster:
    from prognos.forecasting.models.ets import HoltWinters

    return HoltWinters(**p)


def _prophet(**p: Any) -> Forecaster:
    from prognos.forecasting.models.prophet import ProphetForecaster

    return ProphetForecaster(**p)


def _arima(**p: Any) -> Forecaster:
    from prognos.forecasting.models.statsforecast_models import AutoArima

    return AutoArima(**p)


def _theta(**p: Any) -> Forecaster:
    from prognos.forecasting.models.statsforecast_models import ThetaForecaster

    return ThetaForecaster(**p)


def _mstl(**p: Any) -> Forecaster:
    from prognos.forecasting.models.statsforecast_models import MstlForecaster

    return MstlForecaster(**p)


_REGISTRY: dict[str, Callable[..., Forecaster]] = {
    "auto": _auto,
    "seasonal-naive": _seasonal_naive,
    "naive": _naive,
    "linear": _linear,
    "seasonal-ar": _seasonal_ar,
    "ets": _ets,
    "prophet": _prophet,
    "arima": _arima,
    "theta": _theta,
    "mstl": _mstl,
}

MODEL_NAMES: tuple[str, ...] = tuple(_REGISTRY)
"""Every name ``make_forecaster`` and ``prognos forecast --model`` accept."""


def make_forecaster(name: str, **params: Any) -> Forecaster:
    """A new, unfitted forecaster; unknown names and bad parameters raise ``ForecastError``."""
    try:
        constructor = _REGISTRY[name]
    except KeyError:
        raise ForecastError(
            f"unknown model {name!r}; choose one of {', '.join(MODEL_NAMES)}"
        ) from None
    try:
        return constructor(**params)
    except TypeError as exc:
        raise ForecastError(f"bad parameters for model {name!r}: {exc}") from None
