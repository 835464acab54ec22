"""Naive (last value) and seasonal naive: the baselines every other model must beat.

Seasonal naive repeats the value one season ago; it is the MASE reference, and on hourly load it
beats most single models (see docs/forecasting.md), so it is also a serious ``auto`` candidate.
"""

from __future__ import annotations

from typing import ClassVar, Literal

import numpy as np

from prognos.forecasting.base import FloatArray, Forecaster
from prognos.forecasting.clean import DAY, WEEK, season_length
from prognos.forecasting.intervals import Bands, gaussian_bands, residual_sigma


class Naive(Forecaster):
    """Tomorrow looks like now: repeats the last value; sigma grows like sqrt(h)."""

    name: ClassVar[str] = "naive"
    cheap: ClassVar[bool] = True

    last_: float
    sigma_: float

    def _fit(self, values: FloatArray) -> None:
        self.last_ = float(values[-1])
        self.sigma_ = residual_sigma(np.diff(values))

    def _predict(self, horizon: int, levels: tuple[float, ...]) -> tuple[FloatArray, Bands]:
        mean = np.full(horizon, self.last_)
        sigma = self.sigma_ * np.sqrt(np.arange(1, horizon + 1))
        return mean, gaussian_bands(mean, sigma, levels)


class SeasonalNaive(Forecaster):
    """Repeats the last full season; falls back to :class:`Naive` without one season of history.

    ``season`` is ``"daily"`` (the MASE reference), ``"weekly"``, or an explicit length in steps.
    """

    name: ClassVar[str] = "seasonal-naive"
    min_seasons: ClassVar[int] = 1
    cheap: ClassVar[bool] = True

    season_: int
    tail_: FloatArray
    sigma_: float

    def __init__(self, season: Literal["daily", "weekly"] | int = "daily") -> None:
        self.season = season

    def _season(self) -> int | None:
        if isinstance(self.season, int):
            return self.season if self.season >= 1 else None
        return season_length(self.step_, DAY if self.season == "daily" else WEEK)

    def _fit(self, values: FloatArray) -> None:
        m = self._season()
        if m is None or len(values) < m + 1:
            m = 1
            self.reason_ = (
                f"seasonal-naive: less than one {self.season} season of history; "
                "repeating the last value"
            )
        self.season_ = m
        self.tail_ = values[-m:].copy()
        self.sigma_ = residual_sigma(values[m:] - values[:-m])

    def _predict(self, horizon: int, levels: tuple[float, ...]) -> tuple[FloatArray, Bands]:
        m = self.season_
        steps = np.arange(horizon)
        mean = self.tail_[steps % m]
        cycles = steps // m + 1
        sigma = self.sigma_ * np.sqrt(cycles if m > 1 else steps + 1.0)
        return mean, gaussian_bands(mean, sigma, levels)
