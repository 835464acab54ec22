"""The Incident write-ahead log: round trips, the restart check, retention, idempotent plans."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from notifyhelpers import make_event
from prognos.notify.events import EventType
from prognos.remediation import actions as act
from prognos.remediation.incidents import (
    ActionRecord,
    ActionState,
    Incident,
    State,
    action_key,
    append_bounded,
    incident_name,
    retention,
)
from prognos.remediation.policy import ActionSpec, Target, parse_decimal

T0 = 1_800_000_000.0
DEP = Target("apps/v1", "Deployment", "web")


def record(type_: str, params: dict) -> ActionRecord:
    return ActionRecord(0, type_, type_, "k", ActionState.PLANNED, T0, params=params)


def test_status_round_trip_keeps_a_planned_record_resumable():
    inc = Incident("i", "ns", "p", "crash", "kubernetes", DEP, opened_at=T0)
    inc.actions.append(record("rolloutRestart", {"restartedAt": "2027-01-15T08:00:00.000Z"}))
    inc.state = State.ACTING
    obj = {
        "metadata": {"name": "i", "namespace": "ns"},
        **{k: v for k, v in inc.manifest("prognos.io/v1alpha1", None).items() if k == "spec"},
        "status": inc.status(),
    }
    back = Incident.from_object(obj)
    assert back.pending() is not None
    assert back.pending().params == inc.actions[0].params
    assert back.state is State.ACTING
    assert back.opened_at == pytest.approx(T0, abs=0.001)
    assert back.target == DEP


@pytest.mark.parametrize(
    ("type_", "params", "observed", "done"),
    [
        ("rolloutRestart", {"restartedAt": "A"}, {"restartedAt": "A"}, True),
        ("rolloutRestart", {"restartedAt": "A"}, {"restartedAt": "older"}, False),
        ("rolloutRestart", {"restartedAt": "A"}, {"restartedAt": None}, False),
        ("deletePod", {"pods": [{"name": "a", "uid": "1"}]}, {"pods": {}}, True),
        ("deletePod", {"pods": [{"name": "a", "uid": "1"}]}, {"pods": {"a": "2"}}, True),
        ("evictPod", {"pods": [{"name": "a", "uid": "1"}]}, {"pods": {"a": "1"}}, False),
        ("scaleOut", {"from": 2, "to": 3}, {"replicas": 3}, True),
        ("scaleOut", {"from": 2, "to": 3}, {"replicas": 2}, False),
        ("rollback", {"fromRevision": 4, "toRevision": 3}, {"revision": 5}, True),
        ("rollback", {"fromRevision": 4, "toRevision": 3}, {"revision": 4}, False),
        ("job", {"jobName": "j"}, {"jobExists": True}, True),
        ("job", {"jobName": "j"}, {"jobExists": False}, False),
    ],
)
def test_took_effect_decides_the_restart_path(type_, params, observed, done):
    assert act.took_effect(record(type_, params), observed) is done


def spec(kind: str, **kw) -> ActionSpec:
    return ActionSpec(rung=0, name=kind, kind=kind, verify_within_s=60, **kw)


@given(
    current=st.integers(min_value=0, max_value=50),
    by=st.integers(min_value=1, max_value=10),
    maximum=st.integers(min_value=1, max_value=60),
)
def test_scale_out_plans_an_absolute_count_within_max(current, by, maximum):
    world = act.World(target=DEP, replicas=current)
    s = spec("scaleOut", scale_by=by, scale_max=maximum)
    try:
        params = act.plan(s, world, (), "inc", "key", T0)
    except act.PlanError:
        assert current >= maximum
        return
    assert params["from"] == current
    assert current < params["to"] <= maximum
    assert params["to"] == min(maximum, current + by)


@pytest.mark.parametrize(
    ("current", "factor", "maximum", "to"),
    [
        (2, "2", 3, 3),  # 4 capped at max
        (3, "1.5", 10, 5),  # 4.5 rounds up
        (1, "1.1", 5, 2),  # 1.1 rounds up: always at least one more
        (50, "1.1", 100, 55),  # 55.00000000000001 in binary floating point
        (25, "2.2", 100, 55),
        (75, "1.36", 200, 102),
    ],
)
def test_scale_out_by_a_factor_rounds_up_the_decimal_product(current, factor, maximum, to):
    s = spec("scaleOut", scale_factor=parse_decimal(factor, "factor"), scale_max=maximum)
    params = act.plan(s, act.World(target=DEP, replicas=current), (), "inc", "key", T0)
    assert params == {"from": current, "to": to}


def test_plans_are_fixed_values_so_a_retry_changes_nothing_twice():
    restart = act.plan(spec("rolloutRestart"), act.World(target=DEP), (), "inc", "k", T0)
    assert restart == {"restartedAt": "2027-01-15T08:00:00.000Z"}
    pods = act.plan(
        spec("deletePod"), act.World(target=DEP, pods={"a": "u1", "b": "u2"}), ["a"], "i", "k", T0
    )
    assert pods == {"pods": [{"name": "a", "uid": "u1"}]}
    job = act.plan(spec("job"), act.World(target=DEP), (), "inc", "0123456789", T0)
    assert job == {"jobName": "inc-01234567"}


def test_plan_refuses_what_cannot_apply():
    pod = Target("v1", "Pod", "p")
    with pytest.raises(act.PlanError):
        act.plan(spec("rolloutRestart"), act.World(target=pod), (), "i", "k", T0)
    with pytest.raises(act.PlanError, match="previous revision"):
        act.plan(spec("rollback"), act.World(target=DEP, revision=1), (), "i", "k", T0)


def test_keys_and_names_are_deterministic():
    assert action_key("i", 0, 0) == action_key("i", 0, 0) != action_key("i", 0, 1)
    name = incident_name("p" * 80, "sig", DEP, T0)
    assert name == incident_name("p" * 80, "sig", DEP, T0)
    assert len(name) <= 63


def test_retention_keeps_open_incidents_and_bounds_resolved_ones():
    items = []
    for i in range(6):
        inc = Incident(f"r{i}", "ns", "p", "s", "kubernetes", DEP, opened_at=T0 + i)
        inc.state, inc.resolved_at = State.RESOLVED, T0 + i
        items.append(inc)
    items.append(Incident("open", "ns", "p", "s", "kubernetes", DEP, opened_at=T0 - 10**6))
    assert sorted(retention(items, 3, 10**9, T0 + 10)) == ["r0", "r1", "r2"]
    assert retention(items, 100, 7.5, T0 + 10) == ["r2", "r1", "r0"]


def test_retention_waits_for_an_outbox_to_settle_until_the_ttl():
    inc = Incident("r", "ns", "p", "s", "kubernetes", DEP, opened_at=T0)
    inc.state, inc.resolved_at = State.RESOLVED, T0
    entry, _ = inc.record_notification(make_event(type=EventType.RESOLVED), ["ops"])
    assert retention([inc], 0, 100, T0 + 10) == []  # the Resolved notification is pending
    assert retention([inc], 0, 100, T0 + 101) == ["r"]  # the ttl still bounds it
    inc.settle(entry.key)
    assert retention([inc], 0, 100, T0 + 10) == ["r"]


def test_notifications_are_bounded():
    out: list[dict] = []
    for i in range(100):
        out = append_bounded(out, {"n": i}, 64)
    assert len(out) == 64 and out[-1] == {"n": 99} and out[0] == {"n": 36}
