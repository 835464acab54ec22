"""Kubernetes signals from pod objects: crash loops, OOM kills, restarts, readiness."""

from __future__ import annotations

from typing import Any

from prognos.remediation.policy import KubernetesSignal
from prognos.remediation.signals import RestartTracker, evaluate_kubernetes, pod_view

T0 = 1_800_000_000.0


def iso(t: float) -> str:
    import datetime as dt

    return dt.datetime.fromtimestamp(t, dt.UTC).isoformat().replace("+00:00", "Z")


def pod(
    name: str = "web-abc12-xyz",
    *,
    ready: bool = True,
    ready_since: float = T0,
    waiting: str | None = None,
    last_reason: str | None = None,
    last_finished: float | None = None,
    restarts: int = 0,
    started: float = T0,
    deleting: bool = False,
) -> dict[str, Any]:
    cs: dict[str, Any] = {"name": "app", "restartCount": restarts, "state": {}}
    cs["state"] = {"waiting": {"reason": waiting}} if waiting else {"running": {}}
    if last_reason:
        cs["lastState"] = {
            "terminated": {"reason": last_reason, "finishedAt": iso(last_finished or T0)}
        }
    meta: dict[str, Any] = {
        "name": name,
        "namespace": "ns",
        "uid": f"uid-{name}",
        "labels": {"app": "web", "pod-template-hash": "abc12"},
        "ownerReferences": [{"kind": "ReplicaSet", "name": "web-abc12", "controller": True}],
    }
    if deleting:
        meta["deletionTimestamp"] = iso(T0)
    return {
        "metadata": meta,
        "status": {
            "phase": "Running",
            "startTime": iso(started),
            "conditions": [
                {
                    "type": "Ready",
                    "status": "True" if ready else "False",
                    "lastTransitionTime": iso(ready_since),
                }
            ],
            "containerStatuses": [cs],
        },
    }


def test_owner_of_a_deployment_pod_is_the_deployment():
    view = pod_view(pod())
    assert view.owner is not None
    assert (view.owner.kind, view.owner.name) == ("Deployment", "web")


def test_crash_loop_fires_with_the_pod_as_evidence():
    obs = evaluate_kubernetes(
        KubernetesSignal(crash_loop=True),
        [pod_view(pod("a", waiting="CrashLoopBackOff", ready=False)), pod_view(pod("b"))],
        T0,
    )
    assert obs.firing
    assert obs.pods == ("a",)
    assert obs.evidence["pods"][0]["reason"] == "CrashLoopBackOff"


def test_pods_being_deleted_do_not_count():
    obs = evaluate_kubernetes(
        KubernetesSignal(crash_loop=True),
        [pod_view(pod("a", waiting="CrashLoopBackOff", deleting=True))],
        T0,
    )
    assert not obs.firing


def test_oom_kill_counts_only_while_recent():
    p = pod_view(pod(last_reason="OOMKilled", last_finished=T0))
    spec = KubernetesSignal(oom_killed=True)
    assert evaluate_kubernetes(spec, [p], T0 + 60).firing
    assert not evaluate_kubernetes(spec, [p], T0 + 3600).firing


def test_not_ready_fires_after_the_duration_and_says_when():
    p = pod_view(pod(ready=False, ready_since=T0))
    spec = KubernetesSignal(not_ready_for_s=30)
    early = evaluate_kubernetes(spec, [p], T0 + 10)
    assert not early.firing
    assert early.next_change == T0 + 30  # the runner sleeps until then: no polling
    assert evaluate_kubernetes(spec, [p], T0 + 31).firing


def test_restarts_above_counts_only_inside_the_window():
    tracker = RestartTracker()
    spec = KubernetesSignal(restarts_above=(2, 60.0))
    for i, restarts in enumerate([0, 1, 2, 3]):
        p = pod_view(pod(restarts=restarts, started=T0))
        tracker.observe(p, T0 + 10 * i)
    assert evaluate_kubernetes(spec, [p], T0 + 30, tracker).firing  # 3 restarts > 2 in 60 s
    # 200 s later, no new restart: the window holds none of them.
    assert not evaluate_kubernetes(spec, [p], T0 + 230, tracker).firing


def test_a_pod_first_seen_long_after_its_start_is_not_charged_old_restarts():
    tracker = RestartTracker(horizon_s=600)
    p = pod_view(pod(restarts=40, started=T0 - 86400))
    tracker.observe(p, T0)
    assert tracker.increase(p, 300, T0) == 0
