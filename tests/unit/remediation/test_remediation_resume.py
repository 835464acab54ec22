"""A Planned record found by a restarted runner: checked, never repeated, counted truthfully."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from prognos.remediation.alerts import AlertHub
from prognos.remediation.incidents import ActionState, iso
from prognos.remediation.policy import policy_from_spec
from prognos.remediation.runner import PolicyRunner, RemediationRuntime
from prognos.remediation.signals import Observation

PLANNED = "2027-01-15T08:00:00.000Z"
SPEC: dict[str, Any] = {
    "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
    "signals": [{"name": "crash", "kubernetes": {"crashLoop": True}}],
    "actions": [{"rolloutRestart": {}, "verifyWithin": "1m"}],
}


class FakeApi:
    """The cluster as a restarted operator finds it: one Incident with a Planned restart."""

    def __init__(self, restarted_at: str | None) -> None:
        self.restarted_at = restarted_at
        self.restarts: list[str] = []
        self.writes: list[dict[str, Any]] = []
        now = time.time()
        self.stored = [
            {
                "metadata": {"name": "web-crash-1", "namespace": "ns", "labels": {}},
                "spec": {
                    "policy": "web",
                    "signal": "crash",
                    "signalKind": "kubernetes",
                    "target": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                },
                "status": {
                    "state": "Acting",
                    "openedAt": iso(now - 5),
                    "actions": [
                        {
                            "rung": 0,
                            "name": "rolloutRestart",
                            "type": "rolloutRestart",
                            "key": "k0",
                            "state": "Planned",
                            "plannedAt": iso(now - 2),
                            "params": {"restartedAt": PLANNED},
                            "attempts": 0,
                        }
                    ],
                },
            }
        ]

    def list_incidents(self, namespace: str | None, selector: str) -> list[dict[str, Any]]:
        return self.stored

    def patch_incident(self, namespace: str, name: str, status: Any, labels: Any = None) -> bool:
        self.writes.append(status)
        return True

    def read_workload(self, namespace: str, ref: Any) -> Any:
        class Info:
            restarted_at = self.restarted_at

        return Info()

    def rollout_restart(self, namespace: str, ref: Any, restarted_at: str) -> None:
        self.restarts.append(restarted_at)
        self.restarted_at = restarted_at

    def event(self, *args: Any) -> None:
        return None

    def publish(self, *args: Any, **kwargs: Any) -> None:
        return None


def resume(api: FakeApi) -> dict[str, Any]:
    """Start a runner on ``api``'s Incident, drive it once; the last action record written."""
    kube: Any = api
    prometheus: Any = None
    rt = RemediationRuntime(
        kube=kube, prometheus=prometheus, notifier_of=lambda: api, alerts=AlertHub()
    )
    runner = PolicyRunner(rt, "ns", "web", lambda: {"spec": SPEC})
    runner.config = policy_from_spec(SPEC)

    async def main() -> None:
        await runner.load()
        (inc,) = runner.incidents.values()
        assert runner.resuming == {"k0"}
        assert runner.config is not None
        await runner._drive(runner.config, inc, Observation(True, "crash loop"), [], None)

    asyncio.run(main())
    record: dict[str, Any] = api.writes[-1]["actions"][-1]
    return record


@pytest.mark.parametrize(
    ("restarted_at", "message", "restarts"),
    [
        # Killed after the restart was applied, before its result was written.
        (PLANNED, "found already applied after an operator restart; not repeated", []),
        # Killed after the plan, before anything ran: this process runs it, once.
        (None, "restarted Deployment/web", [PLANNED]),
    ],
)
def test_a_resumed_action_records_one_attempt(
    restarted_at: str | None, message: str, restarts: list[str]
) -> None:
    api = FakeApi(restarted_at)
    record = resume(api)
    assert record["state"] == ActionState.APPLIED.value
    assert record["message"] == message
    assert record["attempts"] == 1  # the change was made once, whichever process made it
    assert api.restarts == restarts
