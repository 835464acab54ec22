"""Rolling-origin evaluation: the one definition of accuracy used by ``auto``, ``--evaluate`` and
the benchmarks, so that the numbers an operator sees are the numbers the selection used.

MASE divides a forecast's mean absolute error by the in-sample mean absolute error of seasonal
naive (daily season; lag 1 when there is no day of history) on the training part, so 1.0 means
"as good as repeating yesterday" and lower is better, whatever the units of the series.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from prognos.forecasting.base import FloatArray, Forecast, Forecaster
from prognos.forecasting.clean import Prepared


def mase_scale(train: FloatArray, season: int | None) -> float:
    """In-sample MAE of seasonal naive (lag ``season``, or 1); 0 only for a constant series."""
    m = season if season is not None and len(train) > season else 1
    if len(train) <= m:
        return 0.0
    return float(np.mean(np.abs(train[m:] - train[:-m])))


def mase(actual: FloatArray, predicted: FloatArray, scale: float) -> float:
    """MAE / scale; a perfect forecast of a constant series scores 0, an imperfect one inf."""
    mae = float(np.mean(np.abs(actual - predicted)))
    if scale > 0:
        return mae / scale
    return 0.0 if mae == 0 else float("inf")


def coverage(actual: FloatArray, lower: FloatArray, upper: FloatArray) -> float:
    """Share of actual values inside the closed interval."""
    return float(np.mean((actual >= lower) & (actual <= upper)))


def sub_prepared(prep: Prepared, end: int) -> Prepared:
    """The first ``end`` points of a prepared series, with seasons re-inferred for that length."""
    from prognos.forecasting.clean import infer_seasons

    return Prepared(
        values=prep.values[:end],
        step=prep.step,
        first_timestamp=prep.first_timestamp,
        last_timestamp=prep.first_timestamp + (end - 1) * prep.step,
        seasons=infer_seasons(prep.step, end),
    )


def origins(n: int, horizon: int, count: int, spacing: int, min_train: int) -> list[int]:
    """Up to ``count`` training lengths ending ``horizon`` before the end, ``spacing`` apart."""
    last = n - horizon
    out = [last - i * spacing for i in range(count)]
    return sorted(o for o in out if o >= min_train)


@dataclass
class ModelScore:
    """Backtest summary of one model on one series."""

    model: str
    mase: float = float("nan")
    coverage: float = float("nan")
    fit_seconds: float = float("nan")
    n_origins: int = 0
    errors: list[str] = field(default_factory=list)


def evaluate(
    make: Callable[[], Forecaster],
    prep: Prepared,
    horizon: int,
    cut_points: Sequence[int],
    level: float = 0.8,
    name: str | None = None,
) -> ModelScore:
    """Refit ``make()`` at each cut point and score the next ``horizon`` steps."""
    score = ModelScore(model=name or "?")
    mases: list[float] = []
    covs: list[float] = []
    times: list[float] = []
    daily = prep.daily_season
    for o in cut_points:
        train = sub_prepared(prep, o)
        actual = prep.values[o : o + horizon]
        t0 = time.perf_counter()
        try:
            fc: Forecast = make().fit_prepared(train).predict(len(actual), (level,))
        except Exception as exc:  # a failing model is a result, not a crash
            score.errors.append(f"{type(exc).__name__}: {exc}")
            continue
        times.append(time.perf_counter() - t0)
        score.model = name or fc.model
        mases.append(mase(actual, fc.mean, mase_scale(train.values, daily)))
        covs.append(coverage(actual, fc.lower[level], fc.upper[level]))
    if mases:
        score.mase = float(np.mean(mases))
        score.coverage = float(np.mean(covs))
        score.fit_seconds = float(np.median(times))
        score.n_origins = len(mases)
    return score
