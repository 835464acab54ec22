"""The escalation ladder and its guards, step by step, with a fake clock (pure code)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from prognos.remediation.engine import (
    BLOCKED_MIN_HOLD_S,
    BLOCKED_RETRY_S,
    STABLE_S,
    StepKind,
    step,
)
from prognos.remediation.guards import GuardInputs, breaker, check, choose_pods
from prognos.remediation.incidents import ActionRecord, ActionState, Incident, State
from prognos.remediation.policy import Limit, Target, policy_from_spec
from prognos.remediation.signals import Observation

T0 = 1_800_000_000.0
TARGET = Target("apps/v1", "Deployment", "web")
FIRING = Observation(True, "1 pod CrashLoopBackOff", {"pods": []}, ("web-1",))
HEALTHY = Observation(False, "all pods healthy")


def policy(**overrides: Any):
    spec: dict[str, Any] = {
        "targetRef": TARGET.to_dict(),
        "signals": [{"name": "crash", "kubernetes": {"crashLoop": True}}],
        "actions": [
            {"rolloutRestart": {}, "verifyWithin": "60s"},
            {"deletePod": {}, "verifyWithin": "30s"},
        ],
    }
    spec.update(overrides)
    return policy_from_spec(spec)


def incident() -> Incident:
    return Incident("inc", "ns", "p", "crash", "kubernetes", TARGET, opened_at=T0)


def applied(inc: Incident, rung: int, at: float, verify: float) -> ActionRecord:
    record = ActionRecord(rung, f"r{rung}", "rolloutRestart", f"k{rung}", ActionState.APPLIED, at)
    record.applied_at, record.verify_by = at, at + verify
    inc.actions.append(record)
    inc.rung = rung
    return record


def test_firing_signal_plans_the_first_rung():
    s = step(incident(), FIRING, policy(), GuardInputs(), T0)
    assert s.kind is StepKind.PLAN
    assert s.action is not None and s.action.rung == 0


def test_a_planned_record_is_executed_before_anything_else():
    inc = incident()
    inc.actions.append(ActionRecord(0, "r", "rolloutRestart", "k", ActionState.PLANNED, T0))
    s = step(inc, HEALTHY, policy(), GuardInputs(), T0 + 1)
    assert s.kind is StepKind.EXECUTE and s.record is inc.actions[0]


def test_verified_when_the_signal_stays_normal_then_resolved():
    inc = incident()
    record = applied(inc, 0, T0, 60)
    s = step(inc, HEALTHY, policy(), GuardInputs(), T0 + 1)
    assert s.kind is StepKind.WAIT  # one healthy look is not a fix yet
    s = step(inc, HEALTHY, policy(), GuardInputs(), T0 + 1 + STABLE_S)
    assert s.kind is StepKind.RESOLVE
    assert record.state is ActionState.VERIFIED


def test_a_relapse_resets_the_stability_wait():
    inc = incident()
    applied(inc, 0, T0, 60)
    step(inc, HEALTHY, policy(), GuardInputs(), T0 + 1)
    step(inc, FIRING, policy(), GuardInputs(), T0 + 3)
    s = step(inc, HEALTHY, policy(), GuardInputs(), T0 + 1 + STABLE_S)
    assert s.kind is StepKind.WAIT


def test_unverified_at_the_deadline_moves_to_the_next_rung():
    inc = incident()
    record = applied(inc, 0, T0, 60)
    assert step(inc, FIRING, policy(), GuardInputs(), T0 + 30).kind is StepKind.WAIT
    s = step(inc, FIRING, policy(), GuardInputs(first_action=False), T0 + 61)
    assert record.state is ActionState.UNVERIFIED
    assert s.kind is StepKind.PLAN and s.action is not None and s.action.kind == "deletePod"
    assert s.unverified is record


def test_end_of_the_ladder_escalates_once():
    inc = incident()
    applied(inc, 0, T0, 60).state = ActionState.UNVERIFIED
    applied(inc, 1, T0 + 61, 30)
    s = step(inc, FIRING, policy(), GuardInputs(first_action=False), T0 + 100)
    assert s.kind is StepKind.ESCALATE
    assert inc.state is State.ESCALATED
    assert step(inc, FIRING, policy(), GuardInputs(), T0 + 200).kind is StepKind.NONE
    step(inc, HEALTHY, policy(), GuardInputs(), T0 + 300)
    assert step(inc, HEALTHY, policy(), GuardInputs(), T0 + 300 + STABLE_S).kind is StepKind.RESOLVE


def test_a_resolved_signal_never_triggers_an_action():
    inc = incident()
    step(inc, HEALTHY, policy(), GuardInputs(), T0)
    s = step(inc, HEALTHY, policy(), GuardInputs(), T0 + STABLE_S)
    assert s.kind is StepKind.RESOLVE
    assert inc.actions == []


def test_blocked_action_is_retried_then_given_up_never_forced():
    inc = incident()
    record = ActionRecord(1, "evict", "evictPod", "k", ActionState.BLOCKED, T0)
    record.finished_at = T0
    inc.actions.append(record)
    inc.rung = 1
    p = policy()
    s = step(inc, FIRING, p, GuardInputs(), T0 + 1)
    assert s.kind is StepKind.WAIT and s.reason == "DisruptionBudget"
    s = step(inc, FIRING, p, GuardInputs(), T0 + 6)
    assert s.kind is StepKind.EXECUTE and s.record is record  # same record, same key
    s = step(inc, FIRING, p, GuardInputs(first_action=False), T0 + 31)
    assert record.state is ActionState.FAILED
    assert s.kind is StepKind.ESCALATE


@pytest.mark.parametrize(
    ("inputs", "reason"),
    [
        (GuardInputs(paused_by="Deployment/web"), "Paused"),
        (GuardInputs(policy_actions=[T0 - 10, T0 - 5]), "CircuitOpen"),
        (
            GuardInputs(global_actions=[T0 - 1] * 3, global_limit=Limit(3, 60)),
            "GlobalCircuitOpen",
        ),
        (GuardInputs(last_action_on_target=T0 - 10), "Cooldown"),
    ],
)
def test_guards_hold_the_action_and_say_why(inputs, reason):
    p = policy(maxActions={"count": 2, "window": "10m"}, cooldown="1m")
    s = step(incident(), FIRING, p, inputs, T0)
    assert s.kind is StepKind.WAIT and s.reason == reason


def test_cooldown_applies_only_before_the_first_action():
    p = policy(cooldown="1m")
    result = check(
        p,
        p.actions[1],
        GuardInputs(last_action_on_target=T0 - 10, first_action=False, affected=["a"]),
        T0,
    )
    assert result.allowed


def test_circuit_breaker_reopens_when_the_oldest_action_leaves_the_window():
    count, until = breaker([T0 - 500, T0 - 100], Limit(2, 600), T0)
    assert count == 2 and until == T0 + 100
    assert breaker([T0 - 700, T0 - 100], Limit(2, 600), T0) == (1, None)


def test_dry_run_goes_through_the_same_guards():
    p = policy(dryRun=True, maxActions={"count": 1, "window": "10m"})
    s = step(incident(), FIRING, p, GuardInputs(policy_actions=[T0 - 1]), T0)
    assert s.kind is StepKind.WAIT and s.reason == "CircuitOpen"


@given(
    affected=st.lists(st.sampled_from("abcdefgh"), unique=True, max_size=8),
    unavailable=st.frozensets(st.sampled_from("abcdefghij")),
    max_unavailable=st.integers(min_value=0, max_value=6),
)
def test_blast_radius_never_exceeds_max_unavailable(affected, unavailable, max_unavailable):
    chosen = choose_pods(affected, unavailable, max_unavailable)
    assert set(chosen) <= set(affected)
    if chosen:
        assert len(set(unavailable) | set(chosen)) <= max_unavailable
    # Pods that are already down are never refused for budget reasons they do not change.
    if len(unavailable) <= max_unavailable:
        assert set(affected) & set(unavailable) <= set(chosen)


def test_a_held_action_is_retried_even_when_its_verify_window_is_shorter_than_a_retry():
    """verifyWithin 5s and a 5s retry period used to fail the rung with no retry at all."""
    inc = incident()
    record = ActionRecord(0, "scale", "scaleOut", "k", ActionState.BLOCKED, T0)
    record.finished_at = T0
    inc.actions.append(record)
    p = policy(actions=[{"scaleOut": {"by": 1, "max": 9}, "verifyWithin": "5s"}])
    s = step(inc, FIRING, p, GuardInputs(), T0 + BLOCKED_RETRY_S)
    assert s.kind is StepKind.EXECUTE and s.record is record
    record.finished_at = T0 + BLOCKED_RETRY_S
    s = step(inc, FIRING, p, GuardInputs(first_action=False), T0 + BLOCKED_MIN_HOLD_S)
    assert record.state is ActionState.FAILED
    assert f"after {int(BLOCKED_MIN_HOLD_S)}s" in record.message
