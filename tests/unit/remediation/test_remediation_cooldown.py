"""The cooldown is per target: every policy's actions on the object count, not only its own."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from prognos.remediation.alerts import AlertHub
from prognos.remediation.incidents import Incident, State, iso
from prognos.remediation.policy import Target, policy_from_spec
from prognos.remediation.runner import PolicyRunner, RemediationRuntime
from prognos.remediation.signals import Observation

DEP = Target("apps/v1", "Deployment", "web")
FIRING = Observation(True, "1 pod in CrashLoopBackOff")


def spec(**overrides: Any) -> dict[str, Any]:
    return {
        "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
        "signals": [{"name": "crash", "kubernetes": {"crashLoop": True}}],
        "actions": [{"rolloutRestart": {}, "verifyWithin": "1m"}],
        "cooldown": "5m",
        **overrides,
    }


class FakeApi:
    """RemediationKube and Notifier: writes go nowhere, restarts are counted, the listing of
    Incidents is what the test stored."""

    def __init__(self, stored: list[dict[str, Any]] | None = None) -> None:
        self.restarts: list[str] = []
        self.stored = stored or []
        self.lists = 0

    def create_incident(self, namespace: str, manifest: dict[str, Any]) -> None:
        return None

    def patch_incident(self, namespace: str, name: str, status: Any, labels: Any = None) -> bool:
        time.sleep(0.01)  # a real write yields to the other runners
        return True

    def list_incidents(self, namespace: str | None, selector: str) -> list[dict[str, Any]]:
        self.lists += 1
        return self.stored

    def event(self, *args: Any) -> None:
        return None

    def rollout_restart(self, namespace: str, ref: Any, restarted_at: str) -> None:
        self.restarts.append(restarted_at)

    def publish(self, *args: Any, **kwargs: Any) -> None:
        return None


def runtime(api: FakeApi) -> RemediationRuntime:
    kube: Any = api
    prometheus: Any = None
    return RemediationRuntime(
        kube=kube, prometheus=prometheus, notifier_of=lambda: api, alerts=AlertHub()
    )


def runner(rt: RemediationRuntime, name: str, policy_spec: dict[str, Any]) -> PolicyRunner:
    r = PolicyRunner(rt, "ns", name, lambda: {"spec": policy_spec})
    r.config = policy_from_spec(policy_spec)
    return r


async def open_and_drive(r: PolicyRunner, target: Target = DEP) -> Incident:
    assert r.config is not None
    inc = await r._open_incident(r.config, r.config.signals[0], target, FIRING, time.time())
    assert inc is not None
    await r._drive(r.config, inc, FIRING, [], None)
    return inc


def blocked(inc: Incident) -> dict[str, Any]:
    return next(c for c in inc.conditions if c["type"] == "Blocked")


def test_two_policies_on_one_target_share_the_cooldown_even_when_ticking_together() -> None:
    api = FakeApi()
    rt = runtime(api)
    first, second = runner(rt, "web-a", spec()), runner(rt, "web-b", spec())

    async def main() -> tuple[Incident, Incident]:
        a, b = await asyncio.gather(open_and_drive(first), open_and_drive(second))
        return a, b

    a, b = asyncio.run(main())
    acted, held = (a, b) if a.actions else (b, a)
    assert len(api.restarts) == 1  # one action on the Deployment, not one per policy
    assert len(acted.actions) == 1 and held.actions == []
    assert held.state is State.OPEN
    cond = blocked(held)
    assert cond["status"] == "True" and cond["reason"] == "Cooldown"
    assert f"by RemediationPolicy/{acted.policy}" in cond["message"]
    assert "cooldown 300s" in cond["message"]


def test_another_target_is_not_held() -> None:
    api = FakeApi()
    rt = runtime(api)
    asyncio.run(open_and_drive(runner(rt, "web-a", spec())))
    other = spec(targetRef={"apiVersion": "apps/v1", "kind": "Deployment", "name": "api"})
    inc = asyncio.run(
        open_and_drive(runner(rt, "api-a", other), Target("apps/v1", "Deployment", "api"))
    )
    assert len(inc.actions) == 1 and len(api.restarts) == 2


def stored_incident(policy: str, state: str, planned_ago: float) -> dict[str, Any]:
    planned = time.time() - planned_ago
    return {
        "metadata": {"name": f"{policy}-crash-1", "namespace": "ns", "labels": {}},
        "spec": {
            "policy": policy,
            "signal": "crash",
            "target": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
        },
        "status": {
            "state": "Resolved",
            "actions": [
                {
                    "rung": 0,
                    "type": "rolloutRestart",
                    "key": "k",
                    "state": state,
                    "plannedAt": iso(planned),
                }
            ],
        },
    }


def test_the_cooldown_is_seeded_from_every_policys_incidents_with_one_list() -> None:
    api = FakeApi([stored_incident("someone-else", "Verified", 60)])
    rt = runtime(api)
    runners = [runner(rt, f"web-{n}", spec()) for n in range(3)]

    async def main() -> Incident:
        await asyncio.gather(*(rt.seed_global() for _ in runners))
        return await open_and_drive(runners[0])

    inc = asyncio.run(main())
    assert api.lists == 1  # once at start for every runner; nothing per tick
    assert inc.actions == [] and api.restarts == []
    assert blocked(inc)["reason"] == "Cooldown"
    assert "by RemediationPolicy/someone-else" in blocked(inc)["message"]


def test_an_action_older_than_the_cooldown_does_not_hold() -> None:
    api = FakeApi([stored_incident("someone-else", "Verified", 600)])
    rt = runtime(api)
    r = runner(rt, "web-a", spec())

    async def main() -> Incident:
        await rt.seed_global()
        return await open_and_drive(r)

    assert len(asyncio.run(main()).actions) == 1


def test_another_policys_dry_run_does_not_hold_a_live_policy_but_holds_a_dry_run() -> None:
    api = FakeApi([stored_incident("preview", "DryRun", 60)])
    rt = runtime(api)
    live, dry = runner(rt, "web-live", spec()), runner(rt, "web-dry", spec(dryRun=True))

    async def main() -> tuple[Incident, Incident]:
        await rt.seed_global()
        return await open_and_drive(dry), await open_and_drive(live)

    held, acted = asyncio.run(main())
    assert held.actions == [] and blocked(held)["reason"] == "Cooldown"
    assert len(acted.actions) == 1 and len(api.restarts) == 1
