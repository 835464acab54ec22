"""Turn a raw load series into the regular, gap-free float array every model expects.

Prometheus range reads and CSV exports are rarely clean: scrapes are late or early by a few
seconds, targets disappear for minutes, a federation glitch repeats a sample, and a recording rule
can emit NaN. Models should not each re-implement the repair, so ``Forecaster.fit`` calls
:func:`prepare` once and models only ever see a regular grid.

Decisions (each is cheap and explainable to an operator):

* The step is the most common spacing once snapped to a common scrape interval (or the median
  spacing for unusual intervals), so gaps and jittered samples do not change it.
* Samples are snapped to the nearest grid slot; several samples in one slot (duplicates or
  jitter) are averaged. NaN samples count for the step, then become gaps.
* Gaps are filled by linear interpolation when short (up to ``max(3, 1h/step)`` slots); a longer
  gap is filled with the value one daily season earlier when that exists, because interpolating
  across hours of a daily cycle would invent a flat ramp that seasonal models then learn.
* Infinite values are refused: they are never a measurement, and silently dropping them would
  hide a broken query. Negative values are allowed here; models that cannot use them declare
  ``needs_positive`` and the base class refuses them with a clear error.
* Seasons are inferred from the step, never from the data: the load we forecast is driven by
  people (daily) and working weeks (weekly). A season is listed only when the history holds at
  least two full cycles of it, which is what seasonal estimators need to tell season from level.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from prognos.forecasting.base import FloatArray, ForecastError

DAY = pd.Timedelta(days=1)
WEEK = pd.Timedelta(days=7)
MIN_POINTS = 3
"""Fewest points (after cleaning) any model accepts; below this there is nothing to fit."""


@dataclass(frozen=True)
class Prepared:
    """A cleaned series on a regular grid: ``values[i]`` is at ``first_timestamp + i*step``."""

    values: FloatArray
    step: pd.Timedelta
    first_timestamp: pd.Timestamp
    last_timestamp: pd.Timestamp
    seasons: tuple[int, ...]
    n_filled: int = 0
    n_merged: int = 0

    @property
    def index(self) -> pd.DatetimeIndex:
        return pd.date_range(self.first_timestamp, periods=len(self.values), freq=self.step)

    @property
    def daily_season(self) -> int | None:
        """Steps per day when a day is a whole number of steps (whatever the history length)."""
        return season_length(self.step, DAY)


def season_length(step: pd.Timedelta, period: pd.Timedelta) -> int | None:
    """Steps per ``period`` if the step divides it exactly into at least two steps, else None."""
    step_ns = int(step.value)
    period_ns = int(period.value)
    if step_ns <= 0 or period_ns % step_ns != 0:
        return None
    m = period_ns // step_ns
    return m if m >= 2 else None


def infer_seasons(step: pd.Timedelta, n_obs: int, min_cycles: int = 2) -> tuple[int, ...]:
    """Daily and weekly season lengths in steps that the history covers ``min_cycles`` times."""
    out: list[int] = []
    for period in (DAY, WEEK):
        m = season_length(step, period)
        if m is not None and n_obs >= min_cycles * m and m not in out:
            out.append(m)
    return tuple(out)


NICE_STEPS: tuple[pd.Timedelta, ...] = tuple(
    pd.Timedelta(s)
    for s in (
        "1s", "2s", "5s", "10s", "15s", "20s", "30s", "1min", "2min", "5min", "10min", "15min",
        "20min", "30min", "1h", "2h", "3h", "4h", "6h", "12h", "1D", "7D",
    )
)  # fmt: skip
"""Scrape and export intervals people actually use; a jittered median snaps to one of them."""


def infer_step(index: pd.DatetimeIndex) -> pd.Timedelta:
    """The usual spacing: the most common one after snapping to a common scrape interval.

    Scrapes jitter by a few seconds (a 5-minute series has spacings of 4:58 and 5:03), and gaps
    make some spacings a multiple of the step, so each spacing is snapped to the nearest common
    interval within 5% and the most frequent (ties: the shortest) wins. When most spacings are
    not near a common interval, the median spacing, rounded to milliseconds, is used.
    """
    ns = np.asarray(index.asi8, dtype=np.int64)
    diffs = np.diff(np.unique(ns)).astype(np.float64)
    diffs = diffs[diffs > 0]
    if len(diffs) == 0:
        raise ForecastError("need at least two distinct timestamps to infer the step")
    nice = np.array([s.value for s in NICE_STEPS], dtype=np.float64)
    nearest = np.abs(diffs[:, np.newaxis] - nice[np.newaxis, :]) / nice[np.newaxis, :]
    best = np.argmin(nearest, axis=1)
    snapped = best[nearest[np.arange(len(diffs)), best] <= 0.05]
    if 2 * len(snapped) >= len(diffs):
        counts = np.bincount(snapped, minlength=len(nice))
        return NICE_STEPS[int(np.argmax(counts))]  # argmax takes the first (shortest) on ties
    median = float(np.median(diffs))
    step_ns = max(1_000_000, round(median / 1_000_000) * 1_000_000)
    return pd.Timedelta(step_ns, unit="ns")


def _validate(y: pd.Series) -> tuple[pd.DatetimeIndex, FloatArray]:
    if not isinstance(y, pd.Series):
        raise ForecastError(f"expected a pandas Series, got {type(y).__name__}")
    if not isinstance(y.index, pd.DatetimeIndex):
        raise ForecastError("series needs a DatetimeIndex (timestamps as the index)")
    if len(y) == 0:
        raise ForecastError("series is empty")
    try:
        values = np.asarray(pd.to_numeric(y, errors="raise"), dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ForecastError(f"series has non-numeric values ({exc})") from None
    if bool(np.any(np.isinf(values))):
        raise ForecastError("series has infinite values; fix the query or drop those rows")
    index = y.index
    if index.hasnans:
        raise ForecastError("series has missing (NaT) timestamps")
    return index, values


def prepare(y: pd.Series, gap_fill_limit: int | None = None) -> Prepared:
    """Validate and regularise ``y`` (see the module docstring for every rule applied)."""
    index, values = _validate(y)
    keep = ~np.isnan(values)
    if not bool(keep.any()):
        raise ForecastError("series has no numeric values (all NaN)")
    # The step comes from every timestamp, NaN rows included: a NaN row still says a sample was
    # due then, so every-other-row NaN must not double the step.
    step = infer_step(index) if len(np.unique(index.asi8)) >= 2 else None
    index, values = index[keep], values[keep]
    order = np.argsort(index.asi8, kind="stable")
    ns = index.asi8[order]
    values = values[order]
    if step is None or len(np.unique(ns)) < 2:
        raise ForecastError(
            f"series is too short: every sample is at one timestamp, need {MIN_POINTS} "
            "distinct timestamps"
        )
    step_ns = int(step.value)
    slot = np.rint((ns - ns[0]) / step_ns).astype(np.int64)
    n = int(slot[-1]) + 1
    sums = np.bincount(slot, weights=values, minlength=n)
    counts = np.bincount(slot, minlength=n)
    grid = np.full(n, np.nan)
    present = counts > 0
    grid[present] = sums[present] / counts[present]
    n_merged = int(len(values) - present.sum())
    n_present = int(present.sum())
    if n_present < MIN_POINTS:
        raise ForecastError(
            f"series is too short: {n_present} point(s) after cleaning, need {MIN_POINTS}"
        )
    n_filled = n - n_present
    if n_filled:
        limit = gap_fill_limit
        if limit is None:
            limit = max(3, int(pd.Timedelta(hours=1) / step))
        grid = _fill_gaps(grid, limit, season_length(step, DAY))
    first = pd.Timestamp(ns[0], tz=index.tz)
    return Prepared(
        values=grid,
        step=step,
        first_timestamp=first,
        last_timestamp=first + (n - 1) * step,
        seasons=infer_seasons(step, n),
        n_filled=n_filled,
        n_merged=n_merged,
    )


def _fill_gaps(grid: FloatArray, limit: int, daily: int | None) -> FloatArray:
    """Linear interpolation for short gaps; one-day-earlier values for long ones."""
    out = grid.copy()
    missing = np.isnan(out)
    # Run lengths of each missing stretch.
    idx = np.flatnonzero(missing)
    starts = idx[np.r_[True, np.diff(idx) > 1]]
    ends = idx[np.r_[np.diff(idx) > 1, True]]
    known = np.flatnonzero(~missing)
    interp = np.interp(np.arange(len(out)), known, out[known])
    for s, e in zip(starts, ends, strict=True):
        length = e - s + 1
        if length > limit and daily is not None and s >= daily:
            for i in range(s, e + 1):  # sequential: a gap longer than a day copies filled values
                out[i] = out[i - daily]
        else:
            out[s : e + 1] = interp[s : e + 1]
    return out
