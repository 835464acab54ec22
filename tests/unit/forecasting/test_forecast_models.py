"""Models, registry and auto: each test fails if the behaviour it names is removed."""

from __future__ import annotations

import time
from typing import ClassVar

import numpy as np
import pandas as pd
import pytest

from prognos.forecasting import MODEL_NAMES, Forecaster, ForecastError, make_forecaster
from prognos.forecasting import auto as auto_module
from prognos.forecasting.auto import AutoForecaster
from prognos.forecasting.backtest import coverage, evaluate, mase, mase_scale, origins
from prognos.forecasting.clean import prepare
from prognos.forecasting.models.common import plausible

T0 = pd.Timestamp("2024-01-01")
STEP = pd.Timedelta(minutes=5)
DAY = 288


def series(values, step=STEP) -> pd.Series:
    return pd.Series(
        np.asarray(values, float), index=pd.date_range(T0, periods=len(values), freq=step)
    )


def seasonal_load(days: float, noise: float = 0.05, seed: int = 0) -> pd.Series:
    rng = np.random.default_rng(seed)
    n = int(days * DAY)
    t = np.arange(n)
    level = 10 + 3 * np.sin(2 * np.pi * t / DAY)
    ar = np.zeros(n)
    for i in range(1, n):  # persistent deviations: what seasonal naive cannot see
        ar[i] = 0.9 * ar[i - 1] + rng.normal(0, noise * 3)
    return series(level + ar + rng.normal(0, noise, n))


@pytest.mark.parametrize("name", ["seasonal-naive", "naive", "linear", "seasonal-ar", "auto"])
def test_cheap_models_honour_the_forecast_contract(name):
    y = seasonal_load(3)
    fc = make_forecaster(name).fit(y).predict(24, levels=(0.5, 0.8))
    assert fc.horizon == 24
    assert fc.timestamps[0] == y.index[-1] + STEP
    assert (np.diff(fc.timestamps) == STEP).all()
    for lv in (0.5, 0.8):
        assert np.all(fc.lower[lv] <= fc.mean + 1e-9)
        assert np.all(fc.upper[lv] >= fc.mean - 1e-9)
    assert np.all(fc.upper[0.8] - fc.lower[0.8] >= fc.upper[0.5] - fc.lower[0.5] - 1e-9)
    frame = fc.to_frame(0.8)
    assert list(frame.columns) == ["timestamp", "yhat", "yhat_lower", "yhat_upper"]


def test_seasonal_naive_repeats_the_last_day():
    y = seasonal_load(2.5)
    fc = make_forecaster("seasonal-naive").fit(y).predict(DAY + 5)
    expected = np.concatenate([y.to_numpy()[-DAY:], y.to_numpy()[-DAY:][:5]])
    np.testing.assert_allclose(fc.mean, expected)


def test_seasonal_naive_without_a_day_falls_back_and_says_so():
    y = seasonal_load(0.5)
    model = make_forecaster("seasonal-naive").fit(y)
    fc = model.predict(3)
    np.testing.assert_allclose(fc.mean, y.iloc[-1])
    assert "less than one daily season" in fc.reason


def test_linear_matches_predict_linear_on_a_line():
    y = series(2.0 + 0.5 * np.arange(100))
    fc = make_forecaster("linear", window=12).fit(y).predict(6)
    np.testing.assert_allclose(fc.mean, 2.0 + 0.5 * np.arange(100, 106))
    np.testing.assert_allclose(fc.upper[0.8], fc.mean)  # perfect fit: zero-width band


def test_seasonal_ar_learns_the_daily_shape():
    y = seasonal_load(4, noise=0.01)
    fc = make_forecaster("seasonal-ar").fit(y).predict(DAY)
    t = np.arange(4 * DAY, 5 * DAY)
    truth = 10 + 3 * np.sin(2 * np.pi * t / DAY)
    assert np.mean(np.abs(fc.mean - truth)) < 0.3


def test_needs_positive_models_refuse_non_positive_values():
    class Positive(Forecaster):
        name: ClassVar[str] = "positive"
        needs_positive: ClassVar[bool] = True

        def _fit(self, values):
            pass

        def _predict(self, horizon, levels):
            raise AssertionError

    with pytest.raises(ForecastError, match="strictly positive"):
        Positive().fit(series([1.0, -2.0, 3.0]))


def test_registry_rejects_unknown_names_and_bad_parameters():
    assert {"auto", "seasonal-naive", "ets", "prophet", "linear"} <= set(MODEL_NAMES)
    with pytest.raises(ForecastError, match="unknown model"):
        make_forecaster("crystal-ball")
    with pytest.raises(ForecastError, match="bad parameters"):
        make_forecaster("naive", window=3)


def test_predict_before_fit_and_bad_levels_are_errors():
    with pytest.raises(ForecastError, match="fitted"):
        make_forecaster("naive").predict(3)
    model = make_forecaster("naive").fit(series([1.0, 2.0, 3.0]))
    with pytest.raises(ForecastError, match="level"):
        model.predict(3, levels=(80,))
    with pytest.raises(ForecastError, match="horizon"):
        model.predict(0)


def test_divergence_guard():
    history = np.array([1.0, 2.0, 3.0])
    assert plausible(np.array([2.5, 3.5]), history)
    assert not plausible(np.array([2.5, 1e6]), history)
    assert not plausible(np.array([np.nan]), history)


def test_metrics():
    train = np.array([1.0, 2.0, 1.0, 2.0, 1.0])
    assert mase_scale(train, 2) == 0.0
    assert mase_scale(train, None) == 1.0
    assert mase(np.array([1.0, 3.0]), np.array([1.0, 1.0]), 2.0) == 0.5
    assert mase(np.array([1.0]), np.array([1.0]), 0.0) == 0.0
    assert coverage(np.array([1.0, 5.0]), np.array([0.0, 0.0]), np.array([2.0, 2.0])) == 0.5
    assert origins(100, 10, 3, 5, 0) == [80, 85, 90]


def test_auto_cold_start_uses_no_seasonal_model_and_says_so():
    model = AutoForecaster().fit(seasonal_load(1.5))
    assert model.cold_start_
    assert "cold start" in model.reason_
    assert not {"seasonal-naive", "seasonal-naive-weekly"} & set(model.chosen_)
    warm = AutoForecaster().fit(seasonal_load(3))
    assert not warm.cold_start_
    assert "seasonal-naive" in warm.scores_


def test_auto_beats_seasonal_naive_and_its_band_covers_about_80_percent():
    y = seasonal_load(6, seed=3)
    prep = prepare(y)
    n = len(prep.values)
    cuts = list(range(n - DAY - 12, n - 12, 24))
    auto_score = evaluate(lambda: AutoForecaster(horizon=12), prep, 12, cuts)
    snaive = evaluate(lambda: make_forecaster("seasonal-naive"), prep, 12, cuts)
    assert auto_score.mase < 0.85 * snaive.mase
    assert 0.65 <= auto_score.coverage <= 0.95


def test_auto_survives_failing_candidates(monkeypatch):
    class Broken(Forecaster):
        name: ClassVar[str] = "broken"

        def _fit(self, values):
            raise RuntimeError("boom")

        def _predict(self, horizon, levels):
            raise AssertionError

    real_build = auto_module._build
    monkeypatch.setattr(
        auto_module, "_build", lambda label: Broken() if label == "linear" else real_build(label)
    )
    model = AutoForecaster(candidates=("linear", "naive")).fit(seasonal_load(3))
    assert model.chosen_ == ("naive",)
    assert "linear" in model.skipped_
    model = AutoForecaster(candidates=("linear",)).fit(seasonal_load(3))
    fc = model.predict(5)  # everything failed: naive fallback with naive's own band
    assert model.chosen_ == ("naive",)
    assert np.all(fc.upper[0.8] - fc.lower[0.8] > 0)


def test_auto_drops_a_candidate_that_exceeds_its_time_budget(monkeypatch):
    real_build = auto_module._build

    def slow_linear(prepared):
        """Linear, but each fit takes longer than the whole budget."""
        time.sleep(0.3)
        return real_build("linear").fit_prepared(prepared)

    class Slow:
        fit_prepared = staticmethod(slow_linear)

    monkeypatch.setattr(
        auto_module, "_build", lambda label: Slow() if label == "linear" else real_build(label)
    )
    started = time.perf_counter()
    model = AutoForecaster(candidates=("linear", "naive"), time_budget=0.1).fit(seasonal_load(3))
    assert "time budget" in model.skipped_["linear"]
    assert "linear" not in model.scores_
    assert model.chosen_ == ("naive",)
    assert time.perf_counter() - started < 3.0, "one slow fit, not one per origin"
    assert np.isfinite(model.predict(5).mean).all()


def test_constant_series_gives_a_flat_zero_width_forecast():
    fc = AutoForecaster().fit(series(np.full(700, 4.2))).predict(10)
    np.testing.assert_allclose(fc.mean, 4.2)
    np.testing.assert_allclose(fc.upper[0.8] - fc.lower[0.8], 0.0, atol=1e-9)


def test_ets_fits_hourly_data_and_falls_back_on_failure(monkeypatch):
    rng = np.random.default_rng(1)
    t = np.arange(24 * 10)
    y = series(50 + 10 * np.sin(2 * np.pi * t / 24) + rng.normal(0, 1, len(t)), pd.Timedelta("1h"))
    model = make_forecaster("ets").fit(y)
    fc = model.predict(24)
    truth = 50 + 10 * np.sin(2 * np.pi * np.arange(240, 264) / 24)
    assert np.mean(np.abs(fc.mean - truth)) < 3
    assert fc.reason == ""
    model.result_.forecast = lambda h: np.full(h, 1e9)  # simulate a diverged fit
    fc = model.predict(24)
    assert "diverged" in fc.reason
    np.testing.assert_allclose(fc.mean, y.to_numpy()[-24:])
