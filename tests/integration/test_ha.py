"""Two operator replicas with Kopf peering: exactly one acts, the standby takes over on a kill."""

from __future__ import annotations

import datetime as dt
import signal
import time
import uuid
from typing import Any

import pytest
from kubernetes import client as k8s

from kubehelpers import OperatorProcess, create_psc, custom, get_psc, wait_for
from prognos.sandbox.objects import demo_deployment

pytestmark = pytest.mark.integration

FAILOVER_TARGET_S = 30.0


def decided_at(kube: Any, ns: str) -> float:
    stamp = (get_psc(kube, ns, "ha").get("status") or {}).get("lastDecisionTime")
    return dt.datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp() if stamp else 0.0


def active_replicas(pair: list[OperatorProcess]) -> list[OperatorProcess]:
    def active(replica: OperatorProcess) -> bool:
        logs = replica.logs()
        return logs.rfind("Resuming operations") > logs.rfind("Pausing operations")

    return [r for r in pair if active(r)]


def test_one_replica_is_active_and_the_standby_takes_over(kube, sandbox, operator, tmp_path):
    peering = f"ha-{uuid.uuid4().hex[:6]}"
    custom(kube).create_cluster_custom_object(
        "kopf.dev",
        "v1",
        "clusterkopfpeerings",
        {"apiVersion": "kopf.dev/v1", "kind": "ClusterKopfPeering", "metadata": {"name": peering}},
    )
    ns = f"ha-{uuid.uuid4().hex[:6]}"
    k8s.CoreV1Api(kube).create_namespace({"metadata": {"name": ns}})
    k8s.AppsV1Api(kube).create_namespaced_deployment(ns, demo_deployment(ns, "web", 1))

    operator.stop()  # the session operator is standalone: it would act beside the pair
    extra = [f"--peering={peering}", "--peering-lifetime=10"]
    pair = [OperatorProcess(sandbox, tmp_path / f"replica-{i}.log", extra) for i in range(2)]
    try:
        for replica in pair:
            replica.start()
        # Kopf starts every peered replica paused and resumes the highest priority one; a
        # replica that was alone for a moment may resume and then pause for a later, higher
        # one. The last transition in each log is what counts.
        wait_for(lambda: len(active_replicas(pair)) == 1, timeout=60, what="one active replica")
        time.sleep(12)  # longer than a keep-alive lifetime: still exactly one
        assert len(active_replicas(pair)) == 1
        active = active_replicas(pair)[0]
        standby = pair[1 - pair.index(active)]
        create_psc(
            kube,
            ns,
            "ha",
            {
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                "minReplicas": 1,
                "maxReplicas": 30,
                "interval": "5s",
                "metric": {
                    "query": 'sum(prognos_demo_requests_per_second{workload="web"})',
                    "targetPerReplica": "50",
                },
                "forecast": {"enabled": False},
            },
        )
        wait_for(lambda: decided_at(kube, ns) > 0, timeout=60, what="a first decision")
        # The standby never ran this scaler. (It may have run others' briefly at start-up: a
        # replica that is alone for a moment is active until the higher priority one appears.)
        ours = f"{ns}/ha"
        assert not [
            ln for ln in standby.logs().splitlines() if "scaler.started" in ln and ours in ln
        ]
        assert any("scaler.started" in ln and ours in ln for ln in active.logs().splitlines())

        killed_at = time.time()
        active.stop(signal.SIGKILL)
        wait_for(
            lambda: decided_at(kube, ns) > killed_at, timeout=90, what="a decision by the standby"
        )
        failover = time.time() - killed_at
        assert active_replicas([standby]) == [standby]
        print(f"failover: {failover:.1f}s")
        assert failover <= FAILOVER_TARGET_S
    finally:
        for replica in pair:
            replica.stop()
        operator.start()
