"""The Forecaster contract every model implements, and the Forecast it returns.

Style follows statsforecast/sktime: hyperparameters go in ``__init__``, fitted state in
trailing-underscore attributes, ``fit(y) -> self`` and ``predict(horizon, levels) -> Forecast``.
The template base validates and cleans input once (``prognos.forecasting.clean``) and then calls
``_fit``/``_predict`` with a regular, gap-free float array, so models never see raw input.

Capabilities are class attributes so that ``auto`` can pick models without trying them:
``min_seasons`` (full seasons of history a model needs; 0 means it works on a cold start),
``needs_positive`` (refuses non-positive values) and ``cheap`` (fits in a few milliseconds on
thousands of points, so ``auto`` may refit it at many backtest origins).

Models that cannot do what was asked (too little history for their season, a diverged fit)
degrade to a simpler model instead of failing, and say so in ``reason_``; the same text reaches
``Forecast.reason`` so an operator can show it next to the numbers.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, Self

import numpy as np
import numpy.typing as npt
import pandas as pd

if TYPE_CHECKING:
    from prognos.forecasting.clean import Prepared

FloatArray = npt.NDArray[np.float64]

DEFAULT_LEVELS: tuple[float, ...] = (0.8,)


class ForecastError(ValueError):
    """Input a model cannot use (too short, negative where refused, ...); the message says why."""


@dataclass(frozen=True)
class Forecast:
    """A point forecast with central prediction intervals per level (0.8 = the 10%..90% band)."""

    timestamps: pd.DatetimeIndex
    mean: FloatArray
    lower: dict[float, FloatArray]
    upper: dict[float, FloatArray]
    model: str
    reason: str = ""
    """Why the forecast is what it is (fallbacks, cold start); empty when nothing to report."""

    def __post_init__(self) -> None:
        n = len(self.timestamps)
        if self.mean.shape != (n,):
            raise ValueError("mean must have one value per timestamp")
        for level in self.lower:
            if self.lower[level].shape != (n,) or self.upper[level].shape != (n,):
                raise ValueError(f"interval {level} must have one value per timestamp")

    @property
    def horizon(self) -> int:
        return len(self.timestamps)

    def to_frame(self, level: float = 0.8) -> pd.DataFrame:
        """The CLI's ``timestamp,yhat,yhat_lower,yhat_upper`` frame for one level."""
        return pd.DataFrame(
            {
                "timestamp": self.timestamps,
                "yhat": self.mean,
                "yhat_lower": self.lower[level],
                "yhat_upper": self.upper[level],
            }
        )


class Forecaster(ABC):
    """Template base: ``fit`` validates and regularises the series, then calls ``_fit``.

    Subclasses set ``name`` and capabilities, and implement ``_fit(values)`` on a clean float
    array (step ``self.step_``, season lengths in ``self.seasons_``) and
    ``_predict(horizon, levels) -> (mean, {level: (lower, upper)})``.
    """

    name: ClassVar[str]
    min_seasons: ClassVar[int] = 0
    needs_positive: ClassVar[bool] = False
    cheap: ClassVar[bool] = False

    step_: pd.Timedelta
    last_timestamp_: pd.Timestamp
    seasons_: tuple[int, ...]
    daily_season_: int | None
    n_obs_: int
    reason_: str = ""

    def fit(self, y: pd.Series) -> Self:
        from prognos.forecasting.clean import prepare

        return self.fit_prepared(prepare(y))

    def fit_prepared(self, prepared: Prepared) -> Self:
        """Fit on an already cleaned series (``auto`` cleans once and refits many models)."""
        if self.needs_positive and bool(np.any(prepared.values <= 0)):
            raise ForecastError(f"model {self.name!r} needs strictly positive values")
        self.step_ = prepared.step
        self.last_timestamp_ = prepared.last_timestamp
        self.seasons_ = prepared.seasons
        self.daily_season_ = prepared.daily_season
        self.n_obs_ = len(prepared.values)
        self.reason_ = ""
        self._fit(prepared.values)
        return self

    def fit_values_like(self, other: Forecaster, values: FloatArray) -> Self:
        """Fit on ``values`` that share ``other``'s grid: how a model fits its own fallback."""
        self.step_ = other.step_
        self.last_timestamp_ = other.last_timestamp_
        self.seasons_ = other.seasons_
        self.daily_season_ = other.daily_season_
        self.n_obs_ = len(values)
        self.reason_ = ""
        self._fit(values)
        return self

    def predict(self, horizon: int, levels: Sequence[float] = DEFAULT_LEVELS) -> Forecast:
        if horizon < 1:
            raise ForecastError("horizon must be at least 1 step")
        for level in levels:
            if not 0.0 < level < 1.0:
                raise ForecastError(f"interval level must be in (0, 1), got {level}")
        if not hasattr(self, "n_obs_"):
            raise ForecastError(f"model {self.name!r} must be fitted before predict")
        mean, bands = self._predict(horizon, tuple(levels))
        if not bool(np.all(np.isfinite(mean))):
            raise ForecastError(f"model {self.name!r} produced a non-finite forecast")
        stamps = pd.date_range(self.last_timestamp_ + self.step_, periods=horizon, freq=self.step_)
        return Forecast(
            timestamps=stamps,
            mean=mean,
            lower={lv: bands[lv][0] for lv in levels},
            upper={lv: bands[lv][1] for lv in levels},
            model=self.label,
            reason=self.reason_,
        )

    @property
    def label(self) -> str:
        """Name shown in outputs; ``auto`` overrides it with what it chose."""
        return self.name

    @abstractmethod
    def _fit(self, values: FloatArray) -> None: ...

    @abstractmethod
    def _predict(
        self, horizon: int, levels: tuple[float, ...]
    ) -> tuple[FloatArray, dict[float, tuple[FloatArray, FloatArray]]]: ...
