"""HPA semantics of the replica calculator, table-driven, plus the Prognos forecast rule."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from prognos.scaling.calculator import CalculatorState, Reason, recommend
from prognos.scaling.config import (
    Behavior,
    PolicyType,
    ScalerConfig,
    ScalingPolicy,
    ScalingRules,
    SelectPolicy,
)

NO_WINDOWS = Behavior(
    scale_up=ScalingRules(0, (ScalingPolicy(PolicyType.PERCENT, 1000, 15),)),
    scale_down=ScalingRules(0, (ScalingPolicy(PolicyType.PERCENT, 100, 15),)),
)


def cfg(behavior: Behavior = NO_WINDOWS, lo: int = 1, hi: int = 100) -> ScalerConfig:
    return ScalerConfig(
        min_replicas=lo, max_replicas=hi, target_per_replica=10.0, behavior=behavior
    )


@pytest.mark.parametrize(
    ("current", "load", "expected", "reason"),
    [
        (10, 105.0, 10, Reason.HOLD_TOLERANCE),  # ratio 1.05: inside 10 %
        (10, 109.9, 10, Reason.HOLD_TOLERANCE),
        (10, 111.0, 12, Reason.SCALE_UP_REACTIVE),  # ratio 1.11: ceil(11.1)
        (10, 89.0, 9, Reason.SCALE_DOWN_REACTIVE),
        (10, 30.0, 3, Reason.SCALE_DOWN_REACTIVE),
        (4, 40.0, 4, Reason.HOLD_TOLERANCE),
        (1, 8.5, 1, Reason.HOLD_STEADY),  # outside tolerance but ceil(0.85) == 1
        (3, 30.000000000000004, 3, Reason.HOLD_TOLERANCE),  # float noise is no extra pod
        (0, 25.0, 1, Reason.LIMITED_BY_MIN),  # 100 % of 0 pods is 0: only min lifts it
    ],
)
def test_raw_recommendation_and_tolerance(current, load, expected, reason):
    rec = recommend(cfg(), CalculatorState(), now=0.0, current=current, load=load)
    assert rec.desired == expected
    assert rec.reasons[0] is reason


def test_scale_from_zero_uses_the_pods_policy():
    rec = recommend(cfg(Behavior()), CalculatorState(), now=0.0, current=0, load=25.0)
    assert rec.desired == 3


def test_tolerance_zero_reacts_to_small_changes():
    c = replace(cfg(), behavior=replace(NO_WINDOWS, tolerance=0.0))
    assert recommend(c, CalculatorState(), now=0.0, current=10, load=101.0).desired == 11


def test_scale_down_stabilization_uses_max_over_window():
    c = cfg(Behavior(scale_down=ScalingRules(300, (ScalingPolicy(PolicyType.PERCENT, 100, 15),))))
    state = CalculatorState()
    assert recommend(c, state, now=0.0, current=10, load=100.0).desired == 10
    # Load halves: the 10 recommended at t=0 is still inside the window.
    rec = recommend(c, state, now=60.0, current=10, load=50.0)
    assert rec.desired == 10
    assert rec.reasons[0] is Reason.STABILIZED_DOWN
    assert recommend(c, state, now=299.0, current=10, load=50.0).desired == 10
    # At t=300 the t=0 sample is no longer *after* the cutoff (HPA uses a strict After).
    assert recommend(c, state, now=300.0, current=10, load=50.0).desired == 5


def test_scale_down_window_picks_highest_recent_recommendation():
    c = cfg(Behavior(scale_down=ScalingRules(300, (ScalingPolicy(PolicyType.PERCENT, 100, 15),))))
    state = CalculatorState()
    for t, load in [(0.0, 100.0), (100.0, 80.0), (200.0, 60.0)]:
        recommend(c, state, now=t, current=10, load=load, record=False)
    assert recommend(c, state, now=320.0, current=10, load=30.0).desired == 8


def test_scale_up_stabilization_uses_min_over_window():
    c = cfg(Behavior(scale_up=ScalingRules(120, (ScalingPolicy(PolicyType.PERCENT, 1000, 15),))))
    state = CalculatorState()
    recommend(c, state, now=0.0, current=5, load=50.0, record=False)
    rec = recommend(c, state, now=30.0, current=5, load=200.0)
    assert rec.desired == 5
    assert Reason.STABILIZED_UP in rec.reasons
    recommend(c, state, now=60.0, current=5, load=150.0, record=False)
    assert recommend(c, state, now=121.0, current=5, load=200.0).desired == 15


POD4 = ScalingPolicy(PolicyType.PODS, 4, 60)
PCT100 = ScalingPolicy(PolicyType.PERCENT, 100, 60)


@pytest.mark.parametrize(
    ("policies", "select", "current", "load", "expected"),
    [
        ((POD4,), SelectPolicy.MAX, 10, 300.0, 14),
        ((PCT100,), SelectPolicy.MAX, 10, 300.0, 20),
        ((POD4, PCT100), SelectPolicy.MAX, 10, 300.0, 20),
        ((POD4, PCT100), SelectPolicy.MIN, 10, 300.0, 14),
        ((POD4, PCT100), SelectPolicy.MIN, 2, 300.0, 4),  # 100 % of 2 < 4 pods
        ((POD4, PCT100), SelectPolicy.DISABLED, 10, 300.0, 10),
        ((ScalingPolicy(PolicyType.PERCENT, 10, 60),), SelectPolicy.MAX, 3, 300.0, 4),  # ceil
    ],
)
def test_scale_up_rate_policies(policies, select, current, load, expected):
    c = cfg(replace(NO_WINDOWS, scale_up=ScalingRules(0, policies, select)))
    rec = recommend(c, CalculatorState(), now=0.0, current=current, load=load)
    assert rec.desired == expected
    if expected != 30:
        assert rec.reasons[0] in (Reason.LIMITED_BY_RATE_POLICY, Reason.SCALING_DISABLED)


@pytest.mark.parametrize(
    ("policies", "select", "expected"),
    [
        ((ScalingPolicy(PolicyType.PODS, 2, 60),), SelectPolicy.MAX, 8),
        ((ScalingPolicy(PolicyType.PERCENT, 50, 60),), SelectPolicy.MAX, 5),
        ((ScalingPolicy(PolicyType.PERCENT, 15, 60),), SelectPolicy.MAX, 8),  # int(8.5)
        (
            (ScalingPolicy(PolicyType.PODS, 2, 60), ScalingPolicy(PolicyType.PERCENT, 50, 60)),
            SelectPolicy.MAX,
            5,
        ),
        (
            (ScalingPolicy(PolicyType.PODS, 2, 60), ScalingPolicy(PolicyType.PERCENT, 50, 60)),
            SelectPolicy.MIN,
            8,
        ),
        ((ScalingPolicy(PolicyType.PODS, 2, 60),), SelectPolicy.DISABLED, 10),
    ],
)
def test_scale_down_rate_policies(policies, select, expected):
    c = cfg(replace(NO_WINDOWS, scale_down=ScalingRules(0, policies, select)))
    assert recommend(c, CalculatorState(), now=0.0, current=10, load=10.0).desired == expected


def test_rate_policy_counts_changes_inside_the_period():
    c = cfg(replace(NO_WINDOWS, scale_up=ScalingRules(0, (POD4,))))
    state = CalculatorState()
    assert recommend(c, state, now=0.0, current=10, load=300.0).desired == 14
    # 30 s later the +4 still counts: the period started at 10 replicas, so 14 is the cap.
    assert recommend(c, state, now=30.0, current=14, load=300.0).desired == 14
    # After the period the base moves on.
    assert recommend(c, state, now=61.0, current=14, load=300.0).desired == 18


def test_unrecorded_recommendations_do_not_consume_rate_budget():
    c = cfg(replace(NO_WINDOWS, scale_up=ScalingRules(0, (POD4,))))
    state = CalculatorState()
    recommend(c, state, now=0.0, current=10, load=300.0, record=False)
    assert recommend(c, state, now=30.0, current=10, load=300.0).desired == 14


@pytest.mark.parametrize(
    ("lo", "hi", "current", "load", "expected", "reason"),
    [
        (1, 12, 10, 300.0, 12, Reason.LIMITED_BY_MAX),
        (5, 20, 10, 10.0, 5, Reason.LIMITED_BY_MIN),
        (1, 8, 10, 100.0, 8, Reason.LIMITED_BY_MAX),  # above max with no metric change
        (3, 8, 1, 10.0, 3, Reason.LIMITED_BY_MIN),
    ],
)
def test_min_max_clamp(lo, hi, current, load, expected, reason):
    rec = recommend(cfg(lo=lo, hi=hi), CalculatorState(), now=0.0, current=current, load=load)
    assert rec.desired == expected
    assert rec.reasons[0] is reason


@pytest.mark.parametrize(
    ("current", "load", "forecast", "expected", "reasons"),
    [
        (10, 100.0, 150.0, 15, (Reason.SCALE_UP_FORECAST,)),
        (10, 150.0, 120.0, 15, (Reason.SCALE_UP_REACTIVE,)),
        (10, 50.0, 100.0, 10, (Reason.HOLD_FORECAST,)),  # would scale down, forecast says no
        (10, 50.0, 30.0, 5, (Reason.SCALE_DOWN_REACTIVE,)),  # a low forecast cannot lower more
        (10, 30.0, 70.0, 7, (Reason.SCALE_DOWN_REACTIVE, Reason.SCALE_DOWN_LIMITED_BY_FORECAST)),
    ],
)
def test_forecast_can_only_raise(current, load, forecast, expected, reasons):
    rec = recommend(
        cfg(), CalculatorState(), now=0.0, current=current, load=load, forecast_load=forecast
    )
    assert rec.desired == expected
    assert rec.reasons == reasons


def test_state_round_trips_through_status_dict():
    c = cfg(Behavior())
    state = CalculatorState()
    recommend(c, state, now=1_700_000_000.0, current=10, load=300.0)
    recommend(c, state, now=1_700_000_015.5, current=14, load=50.0)
    again = CalculatorState.from_dict(state.to_dict())
    assert again == state
    assert state.to_dict()["recommendations"][0][0].endswith("Z")


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError, match="load"):
        recommend(cfg(), CalculatorState(), now=0.0, current=1, load=float("nan"))
    with pytest.raises(ValueError, match="current"):
        recommend(cfg(), CalculatorState(), now=0.0, current=-1, load=1.0)


# -- properties -------------------------------------------------------------------------------

step_st = st.tuples(
    st.floats(0.0, 2000.0, allow_nan=False),  # load
    st.one_of(st.none(), st.floats(0.0, 2000.0, allow_nan=False)),  # forecast
    st.integers(1, 120),  # seconds to the next tick
)
behavior_st = st.builds(
    lambda up_w, down_w, sel, v: Behavior(
        scale_up=ScalingRules(up_w, (ScalingPolicy(PolicyType.PODS, v, 30),), sel),
        scale_down=ScalingRules(down_w, (ScalingPolicy(PolicyType.PERCENT, 50, 30),), sel),
    ),
    st.integers(0, 300),
    st.integers(0, 300),
    st.sampled_from(list(SelectPolicy)),
    st.integers(1, 10),
)


@settings(max_examples=150, deadline=None)
@given(
    behavior=behavior_st,
    lo=st.integers(0, 10),
    span=st.integers(0, 50),
    start=st.integers(0, 80),
    steps=st.lists(step_st, min_size=1, max_size=25),
)
def test_desired_always_within_bounds(behavior, lo, span, start, steps):
    c = ScalerConfig(
        min_replicas=lo, max_replicas=max(lo, 1) + span, target_per_replica=10.0, behavior=behavior
    )
    state, now, current = CalculatorState(), 0.0, start
    for load, forecast, dt in steps:
        rec = recommend(c, state, now=now, current=current, load=load, forecast_load=forecast)
        assert c.min_replicas <= rec.desired <= c.max_replicas
        current, now = rec.desired, now + dt


@settings(max_examples=150, deadline=None)
@given(
    behavior=behavior_st,
    start=st.integers(1, 60),
    history=st.lists(step_st, max_size=10),
    load=st.floats(0.0, 2000.0, allow_nan=False),
    forecast=st.floats(0.0, 5000.0, allow_nan=False),
)
def test_forecast_never_lowers_the_decision(behavior, start, history, load, forecast):
    """Same state, same load: adding a forecast can only keep or raise the answer, and a
    forecast alone (reactive load asks for no reduction) never scales down."""
    c = ScalerConfig(min_replicas=1, max_replicas=100, target_per_replica=10.0, behavior=behavior)
    state, now = CalculatorState(), 0.0
    for h_load, h_fc, dt in history:
        recommend(c, state, now=now, current=start, load=h_load, forecast_load=h_fc, record=False)
        now += dt
    without = recommend(c, CalculatorState.from_dict(state.to_dict()), now=now, current=start,
                        load=load)  # fmt: skip
    with_fc = recommend(c, state, now=now, current=start, load=load, forecast_load=forecast)
    assert with_fc.desired >= without.desired
    if without.desired >= start:
        assert with_fc.desired >= start
