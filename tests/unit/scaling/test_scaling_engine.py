"""The per-tick engine: cold start, forecast use, accuracy guard, missing data, Recommend mode."""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from prognos.scaling import (
    EngineState,
    Fallback,
    FallbackKind,
    FittedModel,
    ForecastConfig,
    Mode,
    Reason,
    ScalerConfig,
    ScalerEngine,
)
from prognos.scaling.calculator import epoch_seconds

T0 = datetime(2024, 1, 1, tzinfo=UTC)
STEP = timedelta(minutes=5)


def config(**kw) -> ScalerConfig:
    base = ScalerConfig(
        min_replicas=1,
        max_replicas=50,
        target_per_replica=10.0,
        forecast=ForecastConfig(model="seasonal-naive", horizon=timedelta(minutes=7)),
    )
    return replace(base, **kw)


def daily(days: float, level: float = 100.0, amp: float = 50.0) -> pd.Series:
    n = int(days * 288)
    idx = pd.date_range(T0.replace(tzinfo=None), periods=n, freq=STEP)
    phase = 2 * np.pi * np.arange(n) / 288
    return pd.Series(level + amp * np.sin(phase), index=idx)


def flat_model(now: datetime, mean: float, upper: float, naive: float, n: int = 30) -> FittedModel:
    start = epoch_seconds(now) + STEP.total_seconds()
    return FittedModel(
        model="test",
        fitted_at=epoch_seconds(now),
        start=start,
        step=STEP.total_seconds(),
        mean=np.full(n, mean),
        upper=np.full(n, upper),
        naive=np.full(n, naive),
    )


def test_cold_start_is_reactive_with_insufficient_history():
    eng = ScalerEngine(config())
    y = daily(1.5)
    now = y.index[-1].to_pydatetime().replace(tzinfo=UTC)
    assert eng.needs_refit(now)
    eng.install(eng.fit(y, now))
    assert not eng.needs_refit(now)
    d = eng.decide(now=now, current_replicas=10, load=float(y.iloc[-1]))
    assert not d.forecast_used
    assert Reason.INSUFFICIENT_HISTORY in d.reasons
    assert d.forecast_load is None


def test_forecast_raises_capacity_ahead_of_a_rise():
    eng = ScalerEngine(config())
    y = daily(3)
    # Cut early in the daily climb: the next points are higher.
    cut = y.iloc[: 2 * 288 + 10]
    now = cut.index[-1].to_pydatetime().replace(tzinfo=UTC)
    eng.install(eng.fit(cut, now))
    assert eng.model is not None and eng.model.ok, eng.model
    load = float(cut.iloc[-1])
    d = eng.decide(now=now, current_replicas=math.ceil(load / 10), load=load)
    assert d.forecast_used
    assert d.forecast_load is not None and d.forecast_load > load
    assert d.model is not None
    assert eng.needs_refit(now + timedelta(hours=1))


def test_forecast_alone_never_scales_down_and_can_hold():
    now = T0
    eng = ScalerEngine(config())
    eng.install(flat_model(now, mean=40.0, upper=200.0, naive=40.0))
    d = eng.decide(now=now, current_replicas=10, load=40.0)
    assert d.desired_replicas == 20
    assert d.reasons[0] is Reason.SCALE_UP_FORECAST


def test_degraded_model_falls_back_to_reactive_and_recovers():
    fc = replace(config().forecast, min_accuracy_points=3)
    eng = ScalerEngine(config(forecast=fc))
    now = T0
    # The model's path jumps 100 <-> 500 every step while the load is a flat 100 and seasonal
    # naive says 100: re-anchoring cannot repair a wrong shape.
    model = flat_model(now, mean=100.0, upper=600.0, naive=100.0)
    model.mean[1::2] = 500.0
    eng.install(model)
    reasons = []
    for k in range(1, 8):
        t = now + k * STEP
        d = eng.decide(now=t, current_replicas=10, load=100.0)
        reasons.append(d.reasons)
    assert Reason.FORECAST_DEGRADED in reasons[-1]
    assert eng.state.degraded
    assert d.desired_replicas == 10
    assert d.model_error is not None and d.model_error > 1.0


def test_a_wrong_level_alone_is_not_degraded():
    """The path is re-anchored on each observation, so an offset level costs nothing."""
    fc = replace(config().forecast, min_accuracy_points=3)
    eng = ScalerEngine(config(forecast=fc))
    eng.install(flat_model(T0, mean=500.0, upper=600.0, naive=100.0))
    for k in range(1, 8):
        d = eng.decide(now=T0 + k * STEP, current_replicas=10, load=100.0)
    assert not eng.state.degraded
    assert d.model_error == pytest.approx(0.0)


def test_a_good_forecast_of_a_noisy_seasonal_load_stays_on():
    """Daily shape plus white noise: the exact path must beat seasonal naive's every day.

    When the guard scored the unsmoothed anchor, the ratio here sat at about 1.0 and the guard
    switched the forecast off for 277 of the 288 ticks.
    """
    n = 288
    k = np.arange(3 * n)
    shape = 500.0 + 300.0 * np.sin(2 * np.pi * k / n)
    load = shape + np.random.default_rng(1).normal(0.0, 30.0, len(k))
    fc = replace(config().forecast, min_accuracy_points=12)
    eng = ScalerEngine(config(forecast=fc))
    start = epoch_seconds(T0) + 2 * n * STEP.total_seconds()
    eng.install(
        FittedModel(
            model="exact-shape",
            fitted_at=start - STEP.total_seconds(),
            start=start,
            step=STEP.total_seconds(),
            mean=shape[2 * n :],
            upper=shape[2 * n :] + 60.0,
            naive=load[n : 2 * n],
        )
    )
    degraded = 0
    for i in range(n):
        d = eng.decide(
            now=T0 + (2 * n + i) * STEP, current_replicas=10, load=float(load[2 * n + i])
        )
        degraded += eng.state.degraded
    # The first dozen scored points are a noisy estimate; a whole day settles it.
    assert degraded <= 0.15 * n, f"forecast off for {degraded} of {n} ticks"
    assert not eng.state.degraded
    assert d.model_error is not None and d.model_error < 0.9


def test_good_model_is_not_degraded():
    fc = replace(config().forecast, min_accuracy_points=3)
    eng = ScalerEngine(config(forecast=fc))
    eng.install(flat_model(T0, mean=100.0, upper=110.0, naive=130.0))
    for k in range(1, 8):
        d = eng.decide(now=T0 + k * STEP, current_replicas=10, load=100.0)
    assert d.forecast_used
    assert d.model_error == pytest.approx(0.0)


def test_stale_model_is_unavailable():
    eng = ScalerEngine(config())
    eng.install(flat_model(T0, mean=100.0, upper=110.0, naive=100.0, n=3))
    d = eng.decide(now=T0 + timedelta(hours=2), current_replicas=10, load=100.0)
    assert Reason.FORECAST_UNAVAILABLE in d.reasons
    assert not d.forecast_used


def test_failed_fit_is_reported_not_raised():
    eng = ScalerEngine(config(forecast=replace(config().forecast, model="no-such-model")))
    fitted = eng.fit(daily(3), T0 + timedelta(days=3))
    assert not fitted.ok and fitted.error
    eng.install(fitted)
    d = eng.decide(now=T0 + timedelta(days=3), current_replicas=4, load=100.0)
    assert Reason.FORECAST_UNAVAILABLE in d.reasons
    assert d.desired_replicas == 8  # reactive 10, capped by the default +4 pods / 15 s


def test_fit_ignores_rows_after_now():
    eng = ScalerEngine(config())
    y = daily(3)
    now = y.index[700].to_pydatetime().replace(tzinfo=UTC)
    a = eng.fit(y, now)
    b = eng.fit(y.iloc[:701], now)
    np.testing.assert_array_equal(a.mean, b.mean)


@pytest.mark.parametrize("load", [None, float("nan"), float("inf"), -1.0])
def test_missing_or_malformed_load_holds(load):
    eng = ScalerEngine(config())
    d = eng.decide(now=T0, current_replicas=7, load=load)
    assert d.desired_replicas == 7
    assert d.reasons[0] is Reason.FALLBACK_HOLD


def test_stale_sample_counts_as_missing():
    eng = ScalerEngine(config())
    d = eng.decide(now=T0, current_replicas=7, load=1.0, load_time=T0 - timedelta(minutes=11))
    assert d.desired_replicas == 7
    assert d.reasons[0] is Reason.FALLBACK_HOLD
    d = eng.decide(now=T0, current_replicas=7, load=1.0, load_time=T0 - timedelta(minutes=9))
    assert d.reasons[0] is not Reason.FALLBACK_HOLD


def test_fallback_replicas_never_below_current():
    eng = ScalerEngine(config(fallback=Fallback(FallbackKind.REPLICAS, 5)))
    assert eng.decide(now=T0, current_replicas=3, load=None).desired_replicas == 5
    assert eng.decide(now=T0, current_replicas=9, load=None).desired_replicas == 9


def test_scale_down_after_data_returns_still_waits_for_the_window():
    eng = ScalerEngine(config(forecast=replace(config().forecast, enabled=False)))
    eng.decide(now=T0, current_replicas=10, load=None)
    d = eng.decide(now=T0 + timedelta(seconds=60), current_replicas=10, load=10.0)
    assert d.desired_replicas == 10
    assert d.reasons[0] is Reason.STABILIZED_DOWN


def test_recommend_mode_flags_and_records_no_scale_events():
    eng = ScalerEngine(config(mode=Mode.RECOMMEND))
    d = eng.decide(now=T0, current_replicas=2, load=300.0)
    assert d.recommend_only and not d.should_scale
    assert d.desired_replicas == 6  # reactive 30, capped by the default +4 pods / 15 s
    assert Reason.RECOMMEND_ONLY in d.reasons
    assert eng.state.calculator.scale_up_events == []
    auto = ScalerEngine(config())
    assert auto.decide(now=T0, current_replicas=2, load=300.0).should_scale
    assert auto.state.calculator.scale_up_events


def test_engine_state_round_trip():
    eng = ScalerEngine(config())
    eng.decide(now=T0, current_replicas=2, load=300.0)
    eng.state.degraded = True
    restored = EngineState.from_dict(eng.state.to_dict())
    assert restored == eng.state
    assert ScalerEngine(config(), restored).state.degraded


def test_decision_serialises():
    d = ScalerEngine(config()).decide(now=T0, current_replicas=2, load=30.0)
    data = d.to_dict()
    assert data["desiredReplicas"] == 3 and data["reasons"][0] == "ScaleUpReactive"
    assert "2 -> 3 replicas" in d.message


@settings(max_examples=100, deadline=None)
@given(
    current=st.integers(0, 80),
    steps=st.lists(
        st.tuples(
            st.one_of(st.none(), st.just(float("nan")), st.floats(0, 1000, allow_nan=False)),
            st.booleans(),
        ),
        min_size=1,
        max_size=20,
    ),
    fallback=st.one_of(st.none(), st.integers(0, 60)),
)
def test_missing_data_never_reduces_capacity(current, steps, fallback):
    fb = Fallback() if fallback is None else Fallback(FallbackKind.REPLICAS, fallback)
    cfg = config(fallback=fb)
    eng = ScalerEngine(cfg)
    eng.install(flat_model(T0, mean=100.0, upper=150.0, naive=100.0))
    now = T0
    for load, stale in steps:
        sample_time = now - timedelta(hours=1) if stale else now
        d = eng.decide(now=now, current_replicas=current, load=load, load_time=sample_time)
        assert cfg.min_replicas <= d.desired_replicas <= cfg.max_replicas
        missing = load is None or math.isnan(load) or stale
        if missing:
            assert d.desired_replicas >= min(current, cfg.max_replicas)
        current = d.desired_replicas
        now += timedelta(seconds=30)
