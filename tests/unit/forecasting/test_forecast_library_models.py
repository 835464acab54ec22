"""Library-backed models (Prophet, statsforecast, ETS) and daily + weekly seasonality.

Each test fails if the behaviour it names is removed: the code path a guard takes is asserted
from the fitted attributes, not inferred from timing. Series are small (hourly or aggregated)
so that the whole file runs in seconds; the statsforecast and Prophet imports dominate.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest

from prognos.forecasting import Forecast, make_forecaster

T0 = pd.Timestamp("2024-01-01")  # a Monday
HOUR = pd.Timedelta(hours=1)
FIVE_MIN = pd.Timedelta(minutes=5)
WEEKEND_DROP = 15.0


def weekly_load(
    days: float,
    step: pd.Timedelta,
    weekend_drop: float = WEEKEND_DROP,
    noise: float = 0.5,
    seed: int = 0,
) -> pd.Series:
    """50 + a 10-amplitude daily sine, ``weekend_drop`` lower on Saturday and Sunday."""
    rng = np.random.default_rng(seed)
    per_day = int(pd.Timedelta(days=1) / step)
    n = int(days * per_day)
    index = pd.date_range(T0, periods=n, freq=step)
    return pd.Series(truth(index, weekend_drop) + rng.normal(0, noise, n), index=index)


def truth(index: pd.DatetimeIndex, weekend_drop: float = WEEKEND_DROP) -> np.ndarray:
    """The noise-free pattern of :func:`weekly_load` at ``index``."""
    day_fraction = np.asarray((index - index.normalize()) / pd.Timedelta(days=1), dtype=float)
    weekend = np.asarray(index.dayofweek >= 5, dtype=float)
    return 50 + 10 * np.sin(2 * np.pi * day_fraction) - weekend_drop * weekend


def assert_contract(fc: Forecast, y: pd.Series, horizon: int) -> None:
    """Timestamps continue after the last point; finite; lower <= mean <= upper per level."""
    step = y.index[1] - y.index[0]
    assert fc.horizon == horizon
    assert fc.timestamps[0] == y.index[-1] + step
    assert (np.diff(fc.timestamps) == step).all()
    assert np.isfinite(fc.mean).all()
    assert fc.lower, "at least one interval level"
    for level in fc.lower:
        assert np.isfinite(fc.lower[level]).all() and np.isfinite(fc.upper[level]).all()
        assert np.all(fc.lower[level] <= fc.mean + 1e-9)
        assert np.all(fc.mean <= fc.upper[level] + 1e-9)


def day_mean(fc: Forecast, dayofweek: int) -> float:
    mask = np.asarray(fc.timestamps.dayofweek == dayofweek)
    assert mask.any(), f"forecast covers no day {dayofweek}"
    return float(fc.mean[mask].mean())


def mae(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.mean(np.abs(a - b)))


# -- Prophet ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def prophet_fit():
    """Prophet on three weeks of hourly load (ends on a Sunday), fitted once for the module."""
    y = weekly_load(21, HOUR)
    assert y.index[-1].dayofweek == 6
    return y, make_forecaster("prophet").fit(y)


def test_prophet_fits_daily_and_weekly_seasonality_without_sampling(prophet_fit):
    y, model = prophet_fit
    assert model.model_ is not None and model.reason_ == ""
    assert {"daily", "weekly"} <= set(model.model_.seasonalities)
    assert "yearly" not in model.model_.seasonalities
    # Intervals come from in-sample residuals, not Prophet's trend-path sampling or MCMC.
    assert model.model_.uncertainty_samples == 0
    assert model.model_.mcmc_samples == 0
    fc = model.predict(24, levels=(0.5, 0.8, 0.95))
    assert_contract(fc, y, 24)
    for level in (0.5, 0.8, 0.95):
        half = float(np.quantile(model.abs_resid_, level))
        np.testing.assert_allclose(fc.upper[level] - fc.mean, half)  # constant over the horizon
        np.testing.assert_allclose(fc.mean - fc.lower[level], half)
    assert np.all(fc.upper[0.95] - fc.lower[0.95] >= fc.upper[0.5] - fc.lower[0.5])


def test_prophet_beats_seasonal_naive_on_the_monday_after_a_weekend(prophet_fit):
    y, model = prophet_fit
    fc = model.predict(24)
    assert (fc.timestamps.dayofweek == 0).all()
    actual = truth(fc.timestamps)
    snaive = make_forecaster("seasonal-naive").fit(y).predict(24)  # repeats the low Sunday
    assert mae(fc.mean, actual) < 0.5 * mae(snaive.mean, actual)


def test_prophet_forecasts_a_lower_weekend(prophet_fit):
    _, model = prophet_fit
    fc = model.predict(7 * 24)
    assert day_mean(fc, 5) < day_mean(fc, 2) - WEEKEND_DROP / 2  # Saturday vs Wednesday


# -- statsforecast: arima, theta, mstl ----------------------------------------------------------


@pytest.mark.parametrize("name", ["arima", "theta", "mstl"])
def test_statsforecast_models_fit_a_short_daily_season_directly(name):
    y = weekly_load(4, HOUR, weekend_drop=0.0)  # Mon-Thu: no weekend in history or horizon
    model = make_forecaster(name).fit(y)
    fc = model.predict(24, levels=(0.8, 0.95))
    assert_contract(fc, y, 24)
    assert fc.reason == "" and model.model_ is not None  # no fallback to seasonal naive
    assert model.decomposition_ is None  # a 24-step season is the library's own job
    if name == "mstl":
        assert model.factor_ == 1 and list(model.model_.season_length) == [24]
    else:
        assert model.model_.season_length == 24
    assert mae(fc.mean, truth(fc.timestamps)) < 2.0  # daily amplitude is 10
    assert np.all(fc.upper[0.95] - fc.lower[0.95] >= fc.upper[0.8] - fc.lower[0.8] - 1e-9)


@pytest.mark.parametrize("name", ["arima", "theta"])
def test_statsforecast_models_deseasonalise_a_long_daily_season_first(name):
    y = weekly_load(3, pd.Timedelta(minutes=15), weekend_drop=0.0)  # 96-step season > 24
    model = make_forecaster(name).fit(y)
    fc = model.predict(96)
    assert_contract(fc, y, 96)
    assert fc.reason == ""
    assert model.decomposition_ is not None and model.model_.season_length == 1
    assert mae(fc.mean, truth(fc.timestamps)) < 2.0


def test_mstl_aggregates_five_minute_data_and_captures_daily_and_weekly_seasons():
    y = weekly_load(15, FIVE_MIN)  # seasons 288 and 2,016 steps: too long for MSTL as they are
    model = make_forecaster("mstl").fit(y)
    assert model.factor_ == 6  # 30-minute means: seasons 48 and 336
    assert list(model.model_.season_length) == [48, 336]
    fc = model.predict(7 * 288)
    assert_contract(fc, y, 7 * 288)
    assert fc.reason == ""
    assert day_mean(fc, 5) < day_mean(fc, 2) - WEEKEND_DROP / 2  # weekly season
    wednesday = np.asarray(fc.timestamps.dayofweek == 2)
    assert np.corrcoef(fc.mean[wednesday], truth(fc.timestamps[wednesday]))[0, 1] > 0.95
    assert mae(fc.mean, truth(fc.timestamps)) < 2.0


# -- ETS long-season guard ----------------------------------------------------------------------


def test_ets_fits_an_hourly_daily_season_directly():
    y = weekly_load(4, HOUR, weekend_drop=0.0)
    model = make_forecaster("ets").fit(y)
    assert model.decomposition_ is None
    assert model.result_.model.seasonal == "add"
    assert model.result_.model.seasonal_periods == 24


@pytest.mark.parametrize(("days", "profiles"), [(3, 1), (15, 2)])
def test_ets_deseasonalises_five_minute_data_instead_of_fitting_a_long_season(days, profiles):
    y = weekly_load(days, FIVE_MIN, weekend_drop=0.0 if profiles == 1 else WEEKEND_DROP)
    started = time.perf_counter()
    model = make_forecaster("ets").fit(y)
    fc = model.predict(288)
    elapsed = time.perf_counter() - started
    # The guard: the 288-step (and 2,016-step) season is removed by the seasonal-ar profile
    # and statsmodels fits a damped trend with no season at all.
    assert model.decomposition_ is not None
    assert len(model.decomposition_.profiles) == profiles
    assert model.result_.model.seasonal is None
    assert fc.reason == ""
    assert_contract(fc, y, 288)
    assert elapsed < 10.0, f"ets took {elapsed:.1f} s on {len(y)} five-minute points"
    actual = truth(fc.timestamps)
    assert np.corrcoef(fc.mean, actual)[0, 1] > 0.95  # the daily shape is in the forecast
    assert mae(fc.mean, actual) < 2.0


# -- daily and weekly together with the cheap models --------------------------------------------


@pytest.mark.parametrize(
    ("name", "params"), [("seasonal-ar", {}), ("seasonal-naive", {"season": "weekly"})]
)
def test_cheap_models_forecast_a_lower_weekend(name, params):
    y = weekly_load(15, FIVE_MIN)  # Monday to Monday night: two full weeks
    model = make_forecaster(name, **params).fit(y)
    fc = model.predict(7 * 288)
    assert_contract(fc, y, 7 * 288)
    assert day_mean(fc, 5) < day_mean(fc, 2) - WEEKEND_DROP / 3  # Saturday vs Wednesday
    if name == "seasonal-ar":
        assert len(model.decomposition_.profiles) == 2  # daily + (shrunk) weekly


def test_seasonal_ar_without_its_weekly_profile_misses_the_weekend():
    """The contrast that shows the weekly profile, not the daily one, carries the weekend."""
    y = weekly_load(15, FIVE_MIN)
    fc = make_forecaster("seasonal-ar", weekly=False).fit(y).predict(7 * 288)
    assert abs(day_mean(fc, 5) - day_mean(fc, 2)) < WEEKEND_DROP / 3


def test_auto_tries_weekly_seasonal_naive_with_two_weeks_of_history():
    model = make_forecaster("auto").fit(weekly_load(15, FIVE_MIN))
    assert "seasonal-naive-weekly" in model.scores_
    short = make_forecaster("auto").fit(weekly_load(10, FIVE_MIN))
    assert "seasonal-naive-weekly" not in short.scores_
