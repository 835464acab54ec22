"""Cleaning: every repair rule in prognos.forecasting.clean, plus property tests."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from prognos.forecasting import ForecastError
from prognos.forecasting.clean import infer_seasons, prepare, season_length

T0 = pd.Timestamp("2024-01-01")
STEP = pd.Timedelta(minutes=5)


def series(values, stamps=None) -> pd.Series:
    if stamps is None:
        stamps = pd.date_range(T0, periods=len(values), freq=STEP)
    return pd.Series(np.asarray(values, dtype=float), index=pd.DatetimeIndex(stamps))


def test_regular_series_passes_through_unchanged():
    y = series(np.arange(10.0))
    p = prepare(y)
    np.testing.assert_array_equal(p.values, np.arange(10.0))
    assert p.step == STEP
    assert p.last_timestamp == T0 + 9 * STEP
    assert p.n_filled == 0


def test_jittered_timestamps_snap_to_grid():
    jitter = pd.to_timedelta([0, 7, -4, 3, 0, -9, 2, 0], unit="s")
    stamps = pd.date_range(T0, periods=8, freq=STEP) + jitter
    p = prepare(series(np.arange(8.0), stamps))
    assert p.step == STEP
    np.testing.assert_array_equal(p.values, np.arange(8.0))


def test_short_gap_is_interpolated_linearly():
    stamps = pd.date_range(T0, periods=10, freq=STEP).delete([4, 5])
    p = prepare(series([0, 1, 2, 3, 6, 7, 8, 9], stamps))
    np.testing.assert_allclose(p.values, np.arange(10.0))
    assert p.n_filled == 2


def test_long_gap_copies_the_previous_day():
    day = 288
    base = np.sin(2 * np.pi * np.arange(3 * day) / day)
    stamps = pd.date_range(T0, periods=3 * day, freq=STEP)
    hole = np.arange(2 * day + 50, 2 * day + 150)  # 100 slots: far longer than an hour
    keep = np.setdiff1d(np.arange(3 * day), hole)
    p = prepare(series(base[keep], stamps[keep]))
    np.testing.assert_allclose(p.values[hole], base[hole - day])


def test_nan_values_are_gaps_and_duplicates_are_averaged():
    stamps = list(pd.date_range(T0, periods=5, freq=STEP))
    stamps.insert(2, stamps[2])  # duplicate timestamp
    p = prepare(series([1.0, np.nan, 2.0, 4.0, 5.0, 6.0], stamps))
    np.testing.assert_allclose(p.values, [1.0, 2.0, 3.0, 5.0, 6.0])
    assert p.n_merged == 1


def test_nan_rows_still_count_for_the_step():
    p = prepare(series([1.0, np.nan, 3.0, np.nan, 5.0]))
    assert p.step == STEP
    np.testing.assert_allclose(p.values, [1.0, 2.0, 3.0, 4.0, 5.0])


def test_unsorted_input_is_sorted():
    stamps = pd.date_range(T0, periods=5, freq=STEP)[::-1]
    p = prepare(series([5.0, 4.0, 3.0, 2.0, 1.0], stamps))
    np.testing.assert_array_equal(p.values, [1.0, 2.0, 3.0, 4.0, 5.0])


@pytest.mark.parametrize(
    ("y", "message"),
    [
        (series([]), "empty"),
        (series([1.0, np.inf, 2.0]), "infinite"),
        (series([1.0, 2.0]), "too short"),
        (series([np.nan, np.nan, np.nan]), "all NaN"),
        (pd.Series([1.0, 2.0, 3.0]), "DatetimeIndex"),
        (
            series(["a", "b", "c"])
            if False
            else pd.Series(["a", "b", "c"], index=pd.date_range(T0, periods=3, freq=STEP)),
            "non-numeric",
        ),
    ],
)
def test_unusable_input_is_refused_with_a_reason(y, message):
    with pytest.raises(ForecastError, match=message):
        prepare(y)


def test_seasons_follow_the_step_and_need_two_cycles():
    assert season_length(STEP, pd.Timedelta(days=1)) == 288
    assert season_length(pd.Timedelta(minutes=7), pd.Timedelta(days=1)) is None
    assert infer_seasons(STEP, 575) == ()
    assert infer_seasons(STEP, 576) == (288,)
    assert infer_seasons(pd.Timedelta(hours=1), 24 * 14) == (24, 168)
    assert infer_seasons(pd.Timedelta(days=1), 30) == (7,)


@settings(max_examples=60, deadline=None)
@given(
    values=st.lists(
        st.floats(min_value=-1e6, max_value=1e6, allow_nan=False), min_size=3, max_size=200
    ),
    drop=st.lists(st.integers(min_value=0, max_value=199), max_size=60),
    jitter=st.lists(st.integers(min_value=-6, max_value=6), max_size=200),  # scrape jitter
    dup=st.lists(st.integers(min_value=0, max_value=199), max_size=10),
    nan_at=st.lists(st.integers(min_value=0, max_value=199), max_size=10),
)
def test_prepare_always_yields_a_regular_finite_grid_within_the_input_range(
    values, drop, jitter, dup, nan_at
):
    n = len(values)
    stamps = pd.date_range(T0, periods=n, freq=STEP)
    offsets = pd.to_timedelta((jitter + [0] * n)[:n], unit="s")
    stamps = stamps + offsets
    vals = np.array(values)
    for i in nan_at:
        if i < n:
            vals[i] = np.nan
    keep = np.setdiff1d(np.arange(n), [d for d in drop if 0 < d < n - 1])
    idx = list(keep) + [d for d in dup if d in set(keep)]
    y = series(vals[idx], stamps[idx])
    finite = vals[idx][np.isfinite(vals[idx])]
    try:
        p = prepare(y)
    except ForecastError:
        assert len(np.unique(y.dropna().index.round("5min"))) < 3 or finite.size < 3
        return
    assert np.all(np.isfinite(p.values))
    # Rows dropped from the file can make a longer spacing the usual one; the step is then a
    # multiple of the true one, and exactly the true one when it is still the most common.
    slots = np.unique(np.array(idx))
    one_step = np.mean(np.diff(slots) == 1) if len(slots) > 1 else 0.0
    assert p.step % STEP == pd.Timedelta(0)
    if one_step >= 0.5:
        assert p.step == STEP
    assert p.last_timestamp == p.first_timestamp + (len(p.values) - 1) * p.step
    assert p.values.min() >= finite.min() - 1e-6 * (1 + abs(finite.min()))
    assert p.values.max() <= finite.max() + 1e-6 * (1 + abs(finite.max()))
    assert len(p.values) <= n
