"""Forecast-confirmed scale-down, calibrated bounds and anchor smoothing (Prognos additions)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from prognos.scaling import (
    Behavior,
    CalculatorState,
    EngineState,
    FittedModel,
    ForecastConfig,
    Reason,
    ScalerConfig,
    ScalerEngine,
    config_from_spec,
    recommend,
)
from prognos.scaling.accuracy import BoundCalibrator
from prognos.scaling.calculator import epoch_seconds
from prognos.scaling.spec import SpecError

T0 = datetime(2024, 1, 1, tzinfo=UTC)
MIN = timedelta(minutes=1)


def cfg(**forecast: object) -> ScalerConfig:
    """HPA default behavior (300 s scale-down window), target 10 per replica."""
    return ScalerConfig(
        min_replicas=1,
        max_replicas=100,
        target_per_replica=10.0,
        behavior=Behavior(),
        forecast=replace(ForecastConfig(horizon=timedelta(minutes=3)), **forecast),
    )


def held_high(state: CalculatorState, c: ScalerConfig) -> None:
    """20 replicas were recommended a minute ago: an HPA now waits for the window."""
    recommend(c, state, now=0.0, current=20, load=200.0)


# -- calculator ------------------------------------------------------------------------------


def test_window_holds_a_scale_down_without_confirmation():
    c = cfg()
    state = CalculatorState()
    held_high(state, c)
    rec = recommend(c, state, now=60.0, current=20, load=100.0, forecast_load=100.0)
    assert rec.desired == 20
    assert rec.reasons[0] is Reason.STABILIZED_DOWN


def test_confirmed_scale_down_goes_at_once_to_what_load_and_forecast_allow():
    c = cfg()
    state = CalculatorState()
    held_high(state, c)
    rec = recommend(
        c, state, now=60.0, current=20, load=100.0, forecast_load=110.0, confirm_load=120.0
    )
    assert rec.desired == 12  # the window's most demanding forecast point, not the observed 10
    assert rec.confirmed == 12
    assert rec.reasons[:2] == (
        Reason.SCALE_DOWN_REACTIVE,
        Reason.SCALE_DOWN_FORECAST_CONFIRMED,
    )
    assert Reason.SCALE_DOWN_LIMITED_BY_FORECAST in rec.reasons
    # The HPA memory is unchanged: the raw recommendation was remembered, not the shortcut.
    assert state.recommendations[-1] == (60.0, 11)


def test_confirmation_never_goes_below_the_observed_load():
    c = cfg()
    state = CalculatorState()
    held_high(state, c)
    rec = recommend(c, state, now=60.0, current=20, load=150.0, forecast_load=0.0, confirm_load=0.0)
    assert rec.desired == 15


def test_confirmation_does_not_scale_down_when_the_window_forecast_needs_the_pods():
    c = cfg()
    state = CalculatorState()
    held_high(state, c)
    rec = recommend(
        c, state, now=60.0, current=20, load=100.0, forecast_load=100.0, confirm_load=195.0
    )
    assert rec.desired == 20
    assert Reason.SCALE_DOWN_FORECAST_CONFIRMED not in rec.reasons


def test_confirmation_never_scales_up_and_leaves_scale_up_alone():
    c = cfg()
    rec = recommend(
        c,
        CalculatorState(),
        now=0.0,
        current=10,
        load=100.0,
        forecast_load=100.0,
        confirm_load=500.0,
    )
    assert rec.desired == 10
    rec = recommend(
        c,
        CalculatorState(),
        now=0.0,
        current=10,
        load=200.0,
        forecast_load=200.0,
        confirm_load=0.0,
    )
    assert rec.desired == 20


def test_confirmation_respects_rate_policies_and_min():
    c = replace(cfg(), min_replicas=14)
    state = CalculatorState()
    held_high(state, c)
    rec = recommend(
        c, state, now=60.0, current=20, load=50.0, forecast_load=50.0, confirm_load=50.0
    )
    assert rec.desired == 14
    assert rec.reasons[0] is Reason.LIMITED_BY_MIN


def test_confirm_load_is_validated():
    with pytest.raises(ValueError, match="confirm load"):
        recommend(cfg(), CalculatorState(), now=0.0, current=1, load=1.0, confirm_load=-1.0)


# -- engine ----------------------------------------------------------------------------------


def flat(
    now: datetime, level: float, width: float = 5.0, n: int = 200, naive: float = 0.0
) -> FittedModel:
    return FittedModel(
        model="test",
        fitted_at=epoch_seconds(now),
        start=epoch_seconds(now) + 60.0,
        step=60.0,
        mean=np.full(n, level),
        upper=np.full(n, level + width),
        naive=np.full(n, naive),  # a poor seasonal naive: the accuracy guard stays quiet
    )


def drop(eng: ScalerEngine, gap_at: int | None = None) -> list[int]:
    """20 replicas at load 200 for 3 min, then the load falls to 100 (and the model agrees)."""
    current = 20
    out = []
    for k in range(10):
        now = T0 + k * MIN
        load: float | None = 200.0 if k < 3 else 100.0
        if k == gap_at:
            load = None
        d = eng.decide(now=now, current_replicas=current, load=load)
        current = d.desired_replicas
        out.append(current)
    return out


def test_engine_scales_down_earlier_than_hpa_only_when_the_forecast_confirms():
    on = ScalerEngine(cfg(calibrated_bounds=False, anchor_smoothing=0.0))
    on.install(flat(T0, 100.0))
    off = ScalerEngine(
        cfg(calibrated_bounds=False, confirmed_scale_down=False, anchor_smoothing=0.0)
    )
    off.install(flat(T0, 100.0))
    fast, hpa = drop(on), drop(off)
    assert fast[3] == 11  # ceil(105 / 10): the upper bound over the window
    assert hpa[3:7] == [20] * 4  # the HPA window: 300 s after the last 20
    assert hpa[7] == 11  # the horizon bound (105) still applies
    # A model expecting the load back within the window: no early scale-down.
    back = ScalerEngine(cfg(calibrated_bounds=False, anchor_smoothing=0.0))
    model = flat(T0, 100.0)
    model.upper[6] = 250.0
    back.install(model)
    assert drop(back)[3] == 20


def test_no_confirmed_scale_down_within_a_window_of_missing_data():
    eng = ScalerEngine(cfg(calibrated_bounds=False, anchor_smoothing=0.0))
    eng.install(flat(T0, 100.0))
    out = drop(eng, gap_at=3)
    assert out[3] == 20  # missing data holds
    assert out[4:8] == [20] * 4  # the gap is inside the window: plain HPA
    assert eng.state.last_fallback_time == epoch_seconds(T0 + 3 * MIN)


def test_no_confirmation_when_the_cached_path_ends_inside_the_window():
    eng = ScalerEngine(cfg(calibrated_bounds=False, anchor_smoothing=0.0))
    eng.install(flat(T0, 100.0, n=4))
    assert drop(eng)[3] == 20


def test_fit_lookahead_covers_the_scale_down_window():
    assert ScalerEngine(cfg()).fit_lookahead == timedelta(minutes=5)
    assert ScalerEngine(cfg(confirmed_scale_down=False)).fit_lookahead == timedelta(minutes=3)


def test_engine_state_keeps_the_last_gap_and_reads_old_status():
    state = EngineState(last_fallback_time=epoch_seconds(T0))
    again = EngineState.from_dict(state.to_dict())
    assert again.last_fallback_time == epoch_seconds(T0)
    assert EngineState.from_dict({}).last_fallback_time is None


def test_calibrated_bound_tracks_the_recent_errors():
    # The model's interval is huge; the load is flat at the point forecast + 3.
    eng = ScalerEngine(cfg(anchor_smoothing=0.0))
    eng.install(flat(T0, 100.0, width=100.0, n=600))
    first = eng.decide(now=T0, current_replicas=10, load=100.0)
    assert first.forecast_load == pytest.approx(200.0)  # not calibrated yet: the model's bound
    last = first
    for k in range(1, 300):
        load = 100.0 + (3.0 if k % 2 else 0.0)
        last = eng.decide(now=T0 + k * MIN, current_replicas=10, load=load)
    assert eng.horizon_bounds.count >= 120
    # Anchored on the latest sample (100 or 103), the worst error over the horizon is +3.
    assert last.forecast_load is not None
    assert 100.0 <= last.forecast_load <= 106.0


def test_calibrator_quantiles_window_and_minimum():
    cal = BoundCalibrator(window_seconds=100.0, min_points=3)
    for t in range(5):
        cal.predict(float(t), float(t) + 1.0, 10.0)
    for t in range(1, 7):
        cal.observe(float(t), 10.0 + t)
    assert cal.count == 5
    assert cal.margin(0.0) == pytest.approx(1.0)
    assert cal.margin(1.0) == pytest.approx(5.0)
    cal.observe(200.0, 0.0)  # everything ages out of the window
    assert cal.margin(0.5) is None


def test_anchor_smoothing_damps_one_noisy_sample():
    smooth = ScalerEngine(cfg(calibrated_bounds=False, anchor_smoothing=0.5))
    raw = ScalerEngine(cfg(calibrated_bounds=False, anchor_smoothing=0.0))
    for eng in (smooth, raw):
        eng.install(flat(T0, 100.0, width=0.0))
        eng.decide(now=T0 + MIN, current_replicas=10, load=100.0)
    a = smooth.decide(now=T0 + 2 * MIN, current_replicas=10, load=140.0)
    b = raw.decide(now=T0 + 2 * MIN, current_replicas=10, load=140.0)
    assert b.forecast_load == pytest.approx(140.0)
    assert a.forecast_load == pytest.approx(120.0)


# -- spec ------------------------------------------------------------------------------------


def test_spec_fields_and_defaults():
    base = {"maxReplicas": 10, "metric": {"targetPerReplica": "1"}}
    fc = config_from_spec(base).forecast
    assert fc.confirmed_scale_down and fc.calibrated_bounds and fc.anchor_smoothing == 0.5
    spec = {
        **base,
        "forecast": {
            "confirmedScaleDown": False,
            "calibratedBounds": False,
            "anchorSmoothing": "0.25",
        },
    }
    fc = config_from_spec(spec).forecast
    assert not fc.confirmed_scale_down and not fc.calibrated_bounds
    assert fc.anchor_smoothing == 0.25


@pytest.mark.parametrize(
    ("forecast", "path"),
    [
        ({"confirmedScaleDown": "yes"}, "spec.forecast.confirmedScaleDown"),
        ({"calibratedBounds": 1}, "spec.forecast.calibratedBounds"),
        ({"anchorSmoothing": "1"}, "spec.forecast.anchorSmoothing"),
        ({"anchorSmoothing": 0.5}, "spec.forecast.anchorSmoothing"),
    ],
)
def test_spec_errors(forecast, path):
    with pytest.raises(SpecError, match=path):
        config_from_spec(
            {"maxReplicas": 10, "metric": {"targetPerReplica": "1"}, "forecast": forecast}
        )
