"""Pod events wake only the policies they can matter to (selector policies filter by labels)."""

from __future__ import annotations

from typing import Any

from prognos.remediation.alerts import AlertHub
from prognos.remediation.policy import policy_from_spec
from prognos.remediation.runner import PolicyRunner, RemediationRuntime

SPEC: dict[str, Any] = {
    "signals": [{"name": "unready", "kubernetes": {"notReadyFor": "2m"}}],
    "actions": [{"deletePod": {}, "verifyWithin": "3m"}],
    "dryRun": True,
}


def _runtime() -> RemediationRuntime:
    fake: Any = None
    return RemediationRuntime(
        kube=fake, prometheus=fake, notifier_of=lambda: fake, alerts=AlertHub()
    )


def _runner(rt: RemediationRuntime, ns: str, name: str, spec: dict[str, Any] | None) -> Any:
    runner = PolicyRunner(rt, ns, name, lambda: {"spec": spec or {}})
    if spec is not None:
        runner.config = policy_from_spec(spec)
    rt.runners[(ns, name)] = runner
    return runner


def _pod(ns: str, name: str, labels: dict[str, str]) -> dict[str, Any]:
    return {
        "metadata": {"namespace": ns, "name": name, "uid": f"uid-{name}", "labels": labels},
        "status": {"phase": "Running"},
    }


def test_selector_policies_wake_only_for_their_pods_and_others_always() -> None:
    rt = _runtime()
    web = _runner(rt, "a", "web", {**SPEC, "selector": {"matchLabels": {"app": "web"}}})
    db = _runner(rt, "a", "db", {**SPEC, "selector": {"matchLabels": {"app": "db"}}})
    unparsed = _runner(rt, "a", "new", None)
    other_ns = _runner(rt, "b", "web", {**SPEC, "selector": {"matchLabels": {"app": "web"}}})
    rt.on_pod_event("ADDED", _pod("a", "web-1", {"app": "web"}))
    assert web._wake.is_set() and unparsed._wake.is_set()
    assert not db._wake.is_set() and not other_ns._wake.is_set()
    assert [p.name for p in rt.pods_in("a")] == ["web-1"]  # the cache sees every pod


def test_a_pod_leaving_or_deleted_still_wakes_the_policy_it_matched() -> None:
    rt = _runtime()
    rt.on_pod_event("ADDED", _pod("a", "web-1", {"app": "web"}))
    web = _runner(rt, "a", "web", {**SPEC, "selector": {"matchLabels": {"app": "web"}}})
    rt.on_pod_event("MODIFIED", _pod("a", "web-1", {"app": "other"}))  # relabelled away
    assert web._wake.is_set()
    web._wake.clear()
    rt.on_pod_event("MODIFIED", _pod("a", "web-1", {"app": "other"}))  # no longer ours
    assert not web._wake.is_set()
    rt.on_pod_event("MODIFIED", _pod("a", "web-1", {"app": "web"}))
    web._wake.clear()
    rt.on_pod_event("DELETED", _pod("a", "web-1", {"app": "web"}))
    assert web._wake.is_set()
    assert rt.pods_in("a") == []
