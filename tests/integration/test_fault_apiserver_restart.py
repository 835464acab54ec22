"""The kube-apiserver restarted under a running operator: watches recover, decisions go on.

The sandbox's kube-apiserver is stopped for several seconds and started again while a
PredictiveScaler is active. Afterwards the operator process is still the same one (no crash),
the existing scaler keeps deciding and acts on a change made after the restart, and a scaler
created after the restart is picked up, which only a recovered watch can do. The apiserver is
always started again, so the shared sandbox stays healthy for the tests after this one.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client as k8s

from kubehelpers import condition, create_psc, fresh_namespace, get_psc, wait_for
from prognos.sandbox.cluster import Sandbox
from prognos.sandbox.objects import demo_deployment

pytestmark = pytest.mark.integration

QUERY = 'sum(prognos_demo_requests_per_second{namespace="demo",workload="web"})'


@pytest.fixture
def namespace(kube: Any) -> Iterator[str]:
    yield from fresh_namespace(kube, "apir")


def _spec(target: str) -> dict[str, Any]:
    return {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": target},
        "minReplicas": 1,
        "maxReplicas": 60,
        "interval": "5s",
        "metric": {"query": QUERY, "targetPerReplica": "50"},
        "forecast": {"enabled": False},
    }


def _replicas(kube: Any, ns: str, name: str) -> int:
    scale: Any = k8s.AppsV1Api(kube).read_namespaced_deployment_scale(name, ns)
    return int(scale.spec.replicas)


def test_operator_recovers_after_the_apiserver_restarts(
    kube: Any, namespace: str, operator: Any, sandbox: dict[str, Any]
) -> None:
    apps = k8s.AppsV1Api(kube)
    for name in ("before", "after"):
        body: Any = demo_deployment(namespace, name, replicas=1)
        apps.create_namespaced_deployment(namespace, body)
    create_psc(kube, namespace, "before", _spec("before"))
    wait_for(lambda: _replicas(kube, namespace, "before") > 1, 90, "scaling before the restart")
    pid = operator.proc.pid

    box = Sandbox(Path(sandbox["dir"]))
    box.stop_component("kube-apiserver")
    try:
        time.sleep(8)  # the operator's watches and status writes fail meanwhile
        assert operator.proc.poll() is None, operator.logs()[-3000:]
    finally:
        box.start_component("kube-apiserver", timeout=120)
    restarted = datetime.now(UTC)

    # The existing scaler decides again and acts on a change made after the restart.
    def decided_since() -> bool:
        stamp = get_psc(kube, namespace, "before")["status"]["lastDecisionTime"]
        return datetime.fromisoformat(stamp.replace("Z", "+00:00")) > restarted

    wait_for(decided_since, 90, "a decision after the restart")
    apps.patch_namespaced_deployment_scale("before", namespace, {"spec": {"replicas": 1}})
    wait_for(lambda: _replicas(kube, namespace, "before") > 1, 90, "scaling after the restart")

    # A new object is seen: the watch on PredictiveScalers was re-established.
    create_psc(kube, namespace, "after", _spec("after"))
    psc = wait_for(
        lambda: (
            (o := get_psc(kube, namespace, "after"))
            and condition(o, "Ready").get("reason") == "Decided"
            and o
        ),
        90,
        "the new scaler's first decision",
    )
    wait_for(lambda: _replicas(kube, namespace, "after") > 1, 90, "the new scaler acting")
    assert psc["status"]["desiredReplicas"] > 1
    assert operator.proc.pid == pid and operator.proc.poll() is None  # never restarted
