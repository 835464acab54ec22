"""What the runner reports besides the Incident: metrics and Verification notifications.

Metrics are counted once, when the Incident write records what they count; a Verification
event goes out for every verified or unverified rung, in the write of that result.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable, Sequence
from typing import Any

import pytest
from prometheus_client import REGISTRY

from prognos.notify.events import EventType, NotificationEvent, Severity
from prognos.remediation.alerts import AlertHub
from prognos.remediation.engine import step
from prognos.remediation.incidents import ActionState, Incident, State, iso
from prognos.remediation.kube import ActionError
from prognos.remediation.metrics import RESULTS
from prognos.remediation.policy import Target, policy_from_spec
from prognos.remediation.runner import PolicyRunner, RemediationRuntime, action_result
from prognos.remediation.signals import Observation

DEP = Target("apps/v1", "Deployment", "web")
_ns = itertools.count()


def spec(**overrides: Any) -> dict[str, Any]:
    return {
        "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
        "signals": [{"name": "crash", "kubernetes": {"crashLoop": True}}],
        "actions": [{"rolloutRestart": {}, "verifyWithin": "1m"}],
        "notify": ["ops"],
        **overrides,
    }


class FakeApi:
    """RemediationKube and Notifier: records writes and notifications, applies restarts."""

    def __init__(self) -> None:
        self.writes: list[dict[str, Any]] = []
        self.events: list[NotificationEvent] = []
        self.restarts: list[str] = []
        self.restarted_at: str | None = None
        self.stored: list[dict[str, Any]] = []
        self.refuse: ActionError | None = None

    def create_incident(self, namespace: str, manifest: dict[str, Any]) -> None:
        return None

    def patch_incident(self, namespace: str, name: str, status: Any, labels: Any = None) -> bool:
        self.writes.append(status)
        return True

    def list_incidents(self, namespace: str | None, selector: str) -> list[dict[str, Any]]:
        return self.stored

    def event(self, *args: Any) -> None:
        return None

    def rollout_restart(self, namespace: str, ref: Any, restarted_at: str) -> None:
        if self.refuse is not None:
            raise self.refuse
        self.restarts.append(restarted_at)
        self.restarted_at = restarted_at

    def read_workload(self, namespace: str, ref: Any) -> Any:
        class Info:
            restarted_at = self.restarted_at

        return Info()

    def publish(
        self,
        event: NotificationEvent,
        channels: Sequence[str] | None,
        namespace: str,
        on_settled: Callable[[], None] | None = None,
    ) -> None:
        self.events.append(event)


def runner_for(api: FakeApi, namespace: str, policy_spec: dict[str, Any]) -> PolicyRunner:
    kube: Any = api
    prometheus: Any = None
    rt = RemediationRuntime(
        kube=kube, prometheus=prometheus, notifier_of=lambda: api, alerts=AlertHub()
    )
    runner = PolicyRunner(rt, namespace, "web", lambda: {"spec": policy_spec})
    runner.config = policy_from_spec(policy_spec)
    return runner


def opened(namespace: str) -> float:
    value = REGISTRY.get_sample_value(
        "prognos_incidents_opened_total",
        {"namespace": namespace, "policy": "web", "signal": "crash"},
    )
    return value or 0.0


def actions(namespace: str) -> dict[str, float]:
    out = {}
    for result in RESULTS:
        value = REGISTRY.get_sample_value(
            "prognos_remediation_actions_total",
            {"namespace": namespace, "policy": "web", "action": "rolloutRestart", "result": result},
        )
        if value:
            out[result] = value
    return out


FIRING = Observation(True, "1 pod in CrashLoopBackOff")
HEALTHY = Observation(False, "no pod crash-looping")


def open_and_drive(runner: PolicyRunner) -> Incident:
    """Open an incident and drive it until it waits (planned, executed, verifying)."""
    assert runner.config is not None
    sig = runner.config.signals[0]
    inc = asyncio.run(runner._open_incident(runner.config, sig, DEP, FIRING, 1_800_000_000.0))
    assert inc is not None
    asyncio.run(runner._drive(runner.config, inc, FIRING, [], None))
    return inc


def resolve(runner: PolicyRunner, inc: Incident) -> None:
    assert runner.config is not None
    inc.healthy_since = 1.0  # back to normal long enough ago
    asyncio.run(runner._drive(runner.config, inc, HEALTHY, [], None))


@pytest.mark.parametrize(
    ("before", "now", "result"),
    [
        (None, ActionState.PLANNED, None),
        (ActionState.PLANNED, ActionState.APPLIED, "applied"),
        (None, ActionState.APPLIED, "applied"),
        (ActionState.PLANNED, ActionState.VERIFIED, "applied"),  # the Applied write was lost
        (ActionState.APPLIED, ActionState.VERIFIED, None),
        (ActionState.APPLIED, ActionState.UNVERIFIED, None),
        (ActionState.APPLIED, ActionState.APPLIED, None),
        (ActionState.PLANNED, ActionState.FAILED, "failed"),
        (None, ActionState.FAILED, "failed"),  # the plan itself failed
        (ActionState.PLANNED, ActionState.BLOCKED, None),  # held: not final yet
        (ActionState.BLOCKED, ActionState.BLOCKED, None),
        (ActionState.BLOCKED, ActionState.APPLIED, "applied"),
        (ActionState.BLOCKED, ActionState.FAILED, "blocked"),  # given up after verifyWithin
        (ActionState.BLOCKED, ActionState.SUPERSEDED, "blocked"),
        (ActionState.PLANNED, ActionState.SUPERSEDED, None),
        (None, ActionState.DRY_RUN, "dry_run"),
        (ActionState.DRY_RUN, ActionState.DRY_RUN, None),
        (ActionState.FAILED, ActionState.FAILED, None),
    ],
)
def test_action_result(before, now, result):
    assert action_result(before, now) == result
    assert result is None or result in RESULTS


def test_an_incident_and_its_action_are_counted_once_each():
    ns = f"m{next(_ns)}"
    api = FakeApi()
    runner = runner_for(api, ns, spec())
    inc = open_and_drive(runner)
    assert api.restarts  # really applied
    assert inc.last is not None and inc.last.state is ActionState.APPLIED
    assert opened(ns) == 1
    assert actions(ns) == {"applied": 1}
    resolve(runner, inc)  # Verified, Resolved: more writes, nothing counted again
    assert inc.state is State.RESOLVED
    assert inc.actions[0].state is ActionState.VERIFIED
    assert len(api.writes) >= 4
    assert opened(ns) == 1
    assert actions(ns) == {"applied": 1}


def test_a_failed_action_is_counted_failed():
    ns = f"m{next(_ns)}"
    api = FakeApi()
    api.refuse = ActionError("Forbidden", "no patch permission")
    runner = runner_for(api, ns, spec())
    open_and_drive(runner)
    assert actions(ns) == {"failed": 1}


def test_a_held_action_applied_on_a_retry_counts_once_as_applied():
    ns = f"m{next(_ns)}"
    api = FakeApi()
    api.refuse = ActionError("DisruptionBudget", "429: budget", retryable=True)
    runner = runner_for(api, ns, spec())
    inc = open_and_drive(runner)
    assert inc.last is not None and inc.last.state is ActionState.BLOCKED
    assert actions(ns) == {}  # held is not a result yet
    api.refuse = None
    assert runner.config is not None
    inc.last.finished_at = 1.0  # the retry period has passed
    asyncio.run(runner._drive(runner.config, inc, FIRING, [], None))
    assert inc.last.state is ActionState.APPLIED
    assert actions(ns) == {"applied": 1}


def test_a_dry_run_is_counted_dry_run_and_changes_nothing():
    ns = f"m{next(_ns)}"
    api = FakeApi()
    runner = runner_for(api, ns, spec(dryRun=True))
    inc = open_and_drive(runner)
    assert api.restarts == []
    assert inc.last is not None and inc.last.state is ActionState.DRY_RUN
    assert opened(ns) == 1
    assert actions(ns) == {"dry_run": 1}
    assert [e.type for e in api.events].count(EventType.WOULD_DO) == 1


def test_after_a_restart_the_process_recording_the_result_counts_it_once():
    """Killed after Planned: the next process finds the restart applied and counts it; the
    incident it loaded is not counted as opened again."""
    ns = f"m{next(_ns)}"
    first = FakeApi()
    runner = runner_for(first, ns, spec())
    assert runner.config is not None
    sig = runner.config.signals[0]
    inc = asyncio.run(runner._open_incident(runner.config, sig, DEP, FIRING, 1_800_000_000.0))
    assert inc is not None
    # Plan only (the process dies before executing): drive the engine one step by hand.
    s = step(
        inc, FIRING, runner.config, runner._guard_inputs(runner.config, inc, FIRING, [], None), 2e9
    )
    asyncio.run(runner._plan(runner.config, inc, s, []))
    record = inc.last
    assert record is not None and record.state is ActionState.PLANNED
    assert opened(ns) == 1 and actions(ns) == {}

    # The change happened (the process died after it, before writing the result).
    second = FakeApi()
    second.restarted_at = str(record.params["restartedAt"])
    stored = {}
    for status in first.writes:
        stored.update(status)
    second.stored = [
        {
            "metadata": {"name": inc.name, "namespace": ns},
            "spec": {"policy": "web", "signal": "crash", "target": DEP.to_dict()},
            "status": stored,
        }
    ]
    again = runner_for(second, ns, spec())
    asyncio.run(again.load())
    resumed = again.incidents[inc.name]
    assert again.config is not None
    asyncio.run(again._drive(again.config, resumed, FIRING, [], None))
    assert second.restarts == []  # not repeated
    assert resumed.actions[0].state is ActionState.APPLIED
    assert opened(ns) == 1
    assert actions(ns) == {"applied": 1}


def verifications(api: FakeApi) -> list[NotificationEvent]:
    return [e for e in api.events if e.type is EventType.VERIFICATION]


def test_a_verified_rung_sends_verification_with_the_action_and_its_duration():
    ns = f"m{next(_ns)}"
    api = FakeApi()
    runner = runner_for(api, ns, spec())
    inc = open_and_drive(runner)
    record = inc.actions[0]
    assert verifications(api) == []  # nothing verified yet
    writes = len(api.writes)
    resolve(runner, inc)
    (event,) = verifications(api)
    assert event.severity is Severity.INFO
    assert event.title == "rolloutrestart fixed crash on Deployment/web"
    details = event.details
    assert details["verified"] is True
    assert details["action"].startswith("rollout restart of Deployment/web")
    assert details["actionType"] == "rolloutRestart"
    assert details["actionKey"] == record.key
    assert details["rung"] == 0
    assert details["appliedAt"] == iso(record.applied_at)
    assert details["verifiedAt"] == iso(record.finished_at)
    assert record.finished_at is not None and record.applied_at is not None
    assert details["verifySeconds"] == pytest.approx(
        record.finished_at - record.applied_at, abs=0.01
    )
    assert details["verifySeconds"] >= 0
    # Recorded with the resolution, in one write, Verification first; deterministic dedup keys.
    (write,) = api.writes[writes:]
    keys = sorted(write["outbox"], key=lambda k: int(k.split("-")[0]))
    assert [k.split("-", 1)[1] for k in keys] == ["Verification", "Resolved"]
    assert event.dedup_key == f"{inc.name}/{keys[0]}"
    assert write["outbox"][keys[0]]["event"]["details"]["verified"] is True
    assert [e.type for e in api.events][-2:] == [EventType.VERIFICATION, EventType.RESOLVED]


def test_an_unverified_rung_sends_verification_verified_false():
    ns = f"m{next(_ns)}"
    api = FakeApi()
    runner = runner_for(api, ns, spec())
    inc = open_and_drive(runner)
    record = inc.actions[0]
    assert record.applied_at is not None
    record.verify_by = record.applied_at  # the deadline has passed, still firing
    assert runner.config is not None
    asyncio.run(runner._drive(runner.config, inc, FIRING, [], None))
    (event,) = verifications(api)
    assert event.severity is Severity.WARNING
    assert event.details["verified"] is False
    assert event.details["actionKey"] == record.key
    assert event.details["verifySeconds"] >= 0
    assert record.state is ActionState.UNVERIFIED
    assert EventType.ESCALATED in [e.type for e in api.events]  # the one rung is used up
    assert actions(ns) == {"applied": 1}  # verification does not count the action again


def test_a_dry_run_that_heals_alone_sends_no_verification():
    ns = f"m{next(_ns)}"
    api = FakeApi()
    runner = runner_for(api, ns, spec(dryRun=True))
    inc = open_and_drive(runner)
    resolve(runner, inc)
    assert inc.state is State.RESOLVED
    assert verifications(api) == []
