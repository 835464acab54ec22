"""A kill storm: the operator SIGKILLed at random points, 20+ times, while it heals and scales.

A RemediationPolicy climbs a three-rung ``scaleOut`` ladder on a Deployment whose pod template
crash-loops (no rung can cure it, so every rung runs once, then people are told), and a
PredictiveScaler scales another Deployment. Meanwhile the operator is killed with SIGKILL at a
random moment after each start, and restarted, at least 20 times. Afterwards the operator
finishes the ladder, and the counts must agree: the Incident records exactly three actions, each
applied once, and the Deployment has exactly 2 + 3 replicas (a repeated action would show as
more, a lost one as fewer); the scaler's status matches its target.
"""

from __future__ import annotations

import os
import random
import signal
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client as k8s

from kubehelpers import GROUP, VERSION, create_psc, custom, get_psc, wait_for
from prognos.sandbox.objects import demo_deployment
from prognos.sandbox.stages import FAULT_LABEL

pytestmark = pytest.mark.integration

KILLS = int(os.environ.get("PROGNOS_TEST_KILLS", "20"))
QUERY = 'sum(prognos_demo_requests_per_second{namespace="demo",workload="web"})'


@pytest.fixture
def namespace(kube: Any) -> Iterator[str]:
    name = f"kill-{uuid.uuid4().hex[:8]}"
    body: Any = {"metadata": {"name": name}}
    k8s.CoreV1Api(kube).create_namespace(body)
    yield name
    k8s.CoreV1Api(kube).delete_namespace(name)


def _incidents(kube: Any, ns: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = custom(kube).list_namespaced_custom_object(
        GROUP, VERSION, ns, "incidents"
    )["items"]
    return items


def _replicas(kube: Any, ns: str, name: str) -> int:
    scale: Any = k8s.AppsV1Api(kube).read_namespaced_deployment_scale(name, ns)
    return int(scale.spec.replicas)


def test_twenty_random_sigkills_lose_and_repeat_no_action(
    kube: Any, namespace: str, operator: Any
) -> None:
    apps = k8s.AppsV1Api(kube)
    sick: Any = demo_deployment(namespace, "sick", replicas=2)
    sick["spec"]["template"]["metadata"]["labels"][FAULT_LABEL] = "crashloop"
    apps.create_namespaced_deployment(namespace, sick)
    busy: Any = demo_deployment(namespace, "busy", replicas=1)
    apps.create_namespaced_deployment(namespace, busy)
    rung = {"scaleOut": {"by": 1, "max": 20}, "verifyWithin": "5s"}
    policy = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "RemediationPolicy",
        "metadata": {"name": "sick-health"},
        "spec": {
            "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "sick"},
            "signals": [{"name": "crashloop", "kubernetes": {"crashLoop": True}}],
            "actions": [rung, rung, rung],
            "cooldown": "1h",
        },
    }
    custom(kube).create_namespaced_custom_object(
        GROUP, VERSION, namespace, "remediationpolicies", policy
    )
    create_psc(
        kube,
        namespace,
        "busy",
        {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "busy"},
            "maxReplicas": 60,
            "interval": "5s",
            "metric": {"query": QUERY, "targetPerReplica": "50"},
            "forecast": {"enabled": False},
        },
    )

    rng = random.Random(os.environ.get("PROGNOS_TEST_SEED", str(time.time_ns())))
    offset = len(operator.logs())
    try:
        for _ in range(KILLS):
            time.sleep(rng.uniform(0.0, 4.0))  # anywhere: start-up, planning, acting, writing
            operator.stop(sig=signal.SIGKILL)
            operator.start(timeout=90)
    finally:
        if operator.proc is None or operator.proc.poll() is not None:
            operator.start(timeout=90)

    inc = wait_for(
        lambda: (
            (items := _incidents(kube, namespace))
            and (items[0].get("status") or {}).get("state") == "Escalated"
            and items
        ),
        240,
        "the ladder to finish after the storm",
    )
    assert len(inc) == 1, [i["metadata"]["name"] for i in inc]
    status = inc[0]["status"]
    actions = status["actions"]
    assert [a["type"] for a in actions] == ["scaleOut"] * 3, actions
    assert all(a["state"] in ("Unverified", "Applied") for a in actions), actions
    assert status["actionCount"] == 3, status
    time.sleep(6)  # one more tick: nothing runs again
    assert _replicas(kube, namespace, "sick") == 2 + 3, (actions, status.get("message"))

    def truthful() -> bool:
        st = get_psc(kube, namespace, "busy").get("status") or {}
        actual = _replicas(kube, namespace, "busy")
        return bool(st.get("desiredReplicas") == actual and actual > 1)

    wait_for(truthful, 60, "the scaler's status to match its target")
    assert "Traceback" not in operator.logs()[offset:], operator.logs()[offset:][-3000:]
