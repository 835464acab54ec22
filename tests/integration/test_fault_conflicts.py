"""409 conflicts on scale writes: another writer changes replicas while Prognos decides.

A thread scales the target (as ``kubectl scale`` would, no precondition) every few milliseconds
while a PredictiveScaler ticks every 5 s. Prognos writes /scale with the resourceVersion it read
in the same tick, so a write based on a stale read is refused (409) instead of silently undoing
the other writer's change; the test checks that such conflicts happen, are reported as
``ScaleFailed``, never crash or stop the scaler, and that once the other writer stops Prognos
decides again from what is really there and converges, with a status that matches the target.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException

from kubehelpers import condition, create_psc, fresh_namespace, get_psc, wait_for
from prognos.sandbox.objects import demo_deployment

pytestmark = pytest.mark.integration

QUERY = 'sum(prognos_demo_requests_per_second{namespace="demo",workload="web"})'


@pytest.fixture
def namespace(kube: Any) -> Iterator[str]:
    yield from fresh_namespace(kube, "409")


def _replicas(kube: Any, ns: str) -> int:
    scale: Any = k8s.AppsV1Api(kube).read_namespaced_deployment_scale("race", ns)
    return int(scale.spec.replicas)


def test_a_concurrent_writer_causes_409s_that_are_decided_again(
    kube: Any, namespace: str, operator: Any
) -> None:
    apps = k8s.AppsV1Api(kube)
    deployment: Any = demo_deployment(namespace, "race", replicas=1)
    apps.create_namespaced_deployment(namespace, deployment)
    create_psc(
        kube,
        namespace,
        "race",
        {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "race"},
            "minReplicas": 1,
            "maxReplicas": 60,
            "interval": "5s",
            "metric": {"query": QUERY, "targetPerReplica": "50"},
            "forecast": {"enabled": False},
            "behavior": {"scaleDown": {"stabilizationWindowSeconds": 0}},
        },
    )
    wait_for(
        lambda: condition(get_psc(kube, namespace, "race"), "Ready").get("reason") == "Decided",
        90,
        "a first decision",
    )

    stop = threading.Event()
    writes = [0]

    def other_writer() -> None:
        value = 1
        while not stop.is_set():
            value = 3 - value  # 1, 2, 1, 2, ...: always below what the load needs
            body: Any = {"spec": {"replicas": value}}
            try:
                apps.patch_namespaced_deployment_scale("race", namespace, body)
                writes[0] += 1
            except ApiException:
                pass
            time.sleep(0.005)

    thread = threading.Thread(target=other_writer, daemon=True)
    decided_before = get_psc(kube, namespace, "race")["status"]["lastDecisionTime"]
    offset = len(operator.logs())  # conflicts from here on are the other writer's doing
    thread.start()
    try:
        time.sleep(15)  # three ticks under the storm
        conflicts = wait_for(
            lambda: operator.logs()[offset:].count('"reason": "Conflict"'),
            90,
            "a 409 on a scale write",
        )
    finally:
        stop.set()
        thread.join(10)
    assert writes[0] > 50, writes
    assert conflicts >= 1
    assert operator.proc.poll() is None
    status = get_psc(kube, namespace, "race")["status"]
    assert status["lastDecisionTime"] != decided_before  # it kept deciding through the storm
    events = k8s.CoreV1Api(kube).list_namespaced_event(
        namespace, field_selector="involvedObject.kind=PredictiveScaler"
    )
    assert any(e.reason == "ScaleFailed" for e in events.items), [
        (e.reason, e.message) for e in events.items
    ]

    # Quiet again: Prognos re-reads, decides from what is there, and status tells the truth.
    def settled() -> bool:
        st = get_psc(kube, namespace, "race")["status"]
        actual = _replicas(kube, namespace)
        return bool(actual == st.get("desiredReplicas") and actual > 2)

    wait_for(settled, 60, "convergence after the other writer stopped")
    time.sleep(11)  # two more ticks: stable, no flapping
    assert settled(), get_psc(kube, namespace, "race")["status"]
    fresh = operator.logs()[offset:]
    assert "Traceback" not in fresh, fresh[-3000:]
