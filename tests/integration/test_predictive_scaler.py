"""PredictiveScaler on the real sandbox: the operator process, Prometheus and kwok pods.

The demo exporter's ``web`` load surges to 3x every six minutes inside a daily window that
contains the sandbox's start, and the backfilled history holds the same surges on the previous
days. A seasonal forecast therefore sees each surge coming; these tests check that Prognos uses
that to scale *before* the load crosses the capacity it had.
"""

from __future__ import annotations

import json
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException

from kubehelpers import condition, create_psc, custom, get_psc, wait_for, wait_psc_condition
from prognos.sandbox.cluster import Sandbox
from prognos.sandbox.load import Workload
from prognos.sandbox.objects import demo_deployment

pytestmark = pytest.mark.integration

QUERY = 'sum(prognos_demo_requests_per_second{namespace="demo",workload="web"})'
TARGET = 50  # load one replica serves


@pytest.fixture
def namespace(kube: Any) -> Any:
    name = f"psc-{uuid.uuid4().hex[:8]}"
    k8s.CoreV1Api(kube).create_namespace({"metadata": {"name": name}})
    yield name
    k8s.CoreV1Api(kube).delete_namespace(name)


def spec(target: str, **overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": target},
        "minReplicas": 1,
        "maxReplicas": 60,
        "interval": "5s",
        "metric": {"query": QUERY, "targetPerReplica": str(TARGET)},
        "forecast": {
            "model": "seasonal-naive",
            "horizon": "3m",
            "history": "3d",
            "quantile": "0.9",
            "refitInterval": "30m",
        },
        "behavior": {"scaleDown": {"stabilizationWindowSeconds": 900}},
    }
    base.update(overrides)
    return base


def replicas(kube: Any, ns: str, name: str) -> int:
    return int(k8s.AppsV1Api(kube).read_namespaced_deployment_scale(name, ns).spec.replicas)


def test_scales_up_before_the_surge_crosses_capacity(kube, namespace, operator, sandbox):
    apps = k8s.AppsV1Api(kube)
    apps.create_namespaced_deployment(namespace, demo_deployment(namespace, "shop", replicas=2))
    # Surges come every 6 minutes with 2 quiet minutes between them: a 1-minute horizon and no
    # down-stabilization let the scaler come down in the gap, so the next rise is observable.
    quick_down = {
        "stabilizationWindowSeconds": 0,
        "policies": [{"type": "Percent", "value": 100, "periodSeconds": 15}],
    }
    create_psc(
        kube,
        namespace,
        "shop",
        spec(
            "shop",
            forecast={
                "model": "seasonal-naive",
                "horizon": "1m",
                "history": "3d",
                "quantile": "0.9",
                "refitInterval": "30m",
            },
            behavior={"scaleDown": quick_down},
        ),
    )
    wait_for(
        lambda: (
            condition(get_psc(kube, namespace, "shop"), "ForecastReady").get("status") == "True"
        ),
        timeout=180,
        what="a fitted model",
    )

    web = Workload(name="web", anchor=sandbox["anchor"])
    horizon = 60.0
    # A surge far enough ahead that the scaler can have settled at the quiet level in the gap.
    surge = web.next_surge(time.time() + horizon + 30)
    settle = surge - horizon - 15
    time.sleep(max(0.0, settle - time.time()))
    before = replicas(kube, namespace, "shop")
    capacity = before * TARGET
    crossing = next(
        t for t in range(int(surge) - 60, int(surge) + 240) if web.load(float(t)) > capacity
    )

    scaled_at = None
    while time.time() < crossing + 20:
        if replicas(kube, namespace, "shop") > before:
            scaled_at = time.time()
            break
        time.sleep(0.5)
    status = get_psc(kube, namespace, "shop")["status"]
    assert scaled_at is not None, f"never scaled above {before}; status: {status}"
    assert scaled_at < crossing, (
        f"scaled {scaled_at - crossing:.0f}s after load crossed capacity {capacity}; {status}"
    )
    # The decision says why: the forecast, not the current load, raised the replicas.
    assert "ScaleUpForecast" in status["reasons"] or status["forecastUsed"] is True
    events = k8s.CoreV1Api(kube).list_namespaced_event(
        namespace, field_selector="involvedObject.kind=Deployment,involvedObject.name=shop"
    )
    assert any(e.reason == "ScaledUp" and "forecast" in e.message for e in events.items)


def test_prometheus_outage_holds_replicas_and_reports_it(kube, namespace, operator, sandbox):
    apps = k8s.AppsV1Api(kube)
    apps.create_namespaced_deployment(namespace, demo_deployment(namespace, "api", replicas=3))
    create_psc(kube, namespace, "api", spec("api", forecast={"enabled": False}))
    wait_psc_condition(kube, namespace, "api", "MetricsAvailable", "True", 60, "metrics available")
    wait_for(lambda: replicas(kube, namespace, "api") != 3, timeout=60, what="reactive scaling")
    box = Sandbox(Path(sandbox["dir"]))
    box.stop_component("prometheus")
    try:
        cond = wait_psc_condition(
            kube, namespace, "api", "MetricsAvailable", "False", 60, "MetricsAvailable=False"
        )
        assert cond["reason"] in {"PrometheusUnreachable", "PrometheusTimeout"}
        held = replicas(kube, namespace, "api")
        for _ in range(20):  # four ticks with no data: never a change
            assert replicas(kube, namespace, "api") == held
            time.sleep(1)
        status = get_psc(kube, namespace, "api")["status"]
        assert status["reasons"][0] == "FallbackHold"
    finally:
        box.start_component("prometheus")
    wait_psc_condition(kube, namespace, "api", "MetricsAvailable", "True", 90, "metrics back")
    # Back to scaling, not just to reading: a 10x load (the scale-up is not stabilized) must
    # move the replicas off the held count again.
    _load_factor(sandbox, 10.0)
    try:
        wait_for(
            lambda: replicas(kube, namespace, "api") > held, timeout=30, what="scaling resumed"
        )
        status = get_psc(kube, namespace, "api")["status"]
    finally:
        _load_factor(sandbox, None)
    assert "FallbackHold" not in status["reasons"], status
    assert float(status["currentLoad"]) > held * TARGET, status


def _load_factor(sandbox: dict[str, Any], factor: float | None) -> None:
    """Multiply the demo ``web`` load by ``factor`` from now on (None: back to normal)."""
    body = {} if factor is None else {"factor": factor}
    request = urllib.request.Request(
        f"{sandbox['exporter']}/control/web",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=5) as resp:
        assert resp.status == 200


def test_recommend_mode_never_changes_replicas(kube, namespace, operator):
    apps = k8s.AppsV1Api(kube)
    apps.create_namespaced_deployment(namespace, demo_deployment(namespace, "rec", replicas=1))
    create_psc(kube, namespace, "rec", spec("rec", mode="Recommend"))
    psc = wait_for(
        lambda: (
            (o := get_psc(kube, namespace, "rec")).get("status", {}).get("desiredReplicas") and o
        ),
        timeout=60,
        what="a recommendation",
    )
    assert psc["status"]["desiredReplicas"] > 1
    assert condition(psc, "Ready")["reason"] == "RecommendOnly"
    for _ in range(15):
        assert replicas(kube, namespace, "rec") == 1
        time.sleep(1)


def test_pause_annotation_on_the_target_stops_actions(kube, namespace, operator):
    apps = k8s.AppsV1Api(kube)
    dep = demo_deployment(namespace, "held", replicas=1)
    dep["metadata"]["annotations"] = {"prognos.io/paused": "true"}
    apps.create_namespaced_deployment(namespace, dep)
    create_psc(kube, namespace, "held", spec("held"))
    ready = wait_for(
        lambda: (
            (c := condition(get_psc(kube, namespace, "held"), "Ready")).get("reason") == "Paused"
            and c
        ),
        timeout=60,
        what="Paused",
    )
    assert "would do" in ready["message"]
    time.sleep(10)
    assert replicas(kube, namespace, "held") == 1
    apps.patch_namespaced_deployment(
        "held", namespace, {"metadata": {"annotations": {"prognos.io/paused": None}}}
    )
    wait_for(lambda: replicas(kube, namespace, "held") > 1, timeout=60, what="unpaused scaling")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"minReplicas": 5, "maxReplicas": 2},
            "minReplicas must be less than or equal to maxReplicas",
        ),
        ({"forecast": {"quantile": "1.5"}}, "quantile must be in [0.5, 1)"),
        ({"fallback": {"action": "Hold", "replicas": 3}}, "mutually exclusive"),
        ({"interval": "1s"}, "interval must be at least 5s"),
        ({"forecast": {"model": "crystal-ball"}}, "Unsupported value"),
        ({"metric": {"query": QUERY, "targetPerReplica": "-3"}}, "targetPerReplica"),
        ({"forecast": {"refitInterval": "10s"}}, "refitInterval must be at least 1m"),
        ({"forecast": {"refitInterval": "48h"}}, "refitInterval must be at most 24h"),
        ({"forecast": {"history": "0d"}}, "history must be longer than 0"),
        ({"forecast": {"season": "0h0m"}}, "season must be longer than 0"),
        ({"forecast": {"history": "2w"}}, "should match"),
    ],
)
def test_invalid_specs_are_refused_at_apply_with_a_readable_message(
    kube, namespace, crds, change, message
):
    with pytest.raises(ApiException) as err:
        create_psc(kube, namespace, "bad", spec("x", **change))
    assert err.value.status == 422
    assert message in err.value.body


def test_day_durations_and_bounds_are_accepted(kube, namespace, crds):
    """The zero-refusing rule must not catch real values such as 14d, 1d12h or 0.5d."""
    for i, forecast in enumerate(
        [
            {"history": "14d", "season": "1d", "refitInterval": "1m"},
            {"history": "1d12h", "season": "0.5d", "refitInterval": "24h"},
            {"history": "10d", "season": "168h", "refitInterval": "90m"},
        ]
    ):
        create_psc(kube, namespace, f"ok-{i}", spec("x", forecast=forecast))


def test_statefulset_and_custom_resource_with_scale(kube, namespace, operator):
    apps = k8s.AppsV1Api(kube)
    sts = demo_deployment(namespace, "db", replicas=1)
    sts["kind"] = "StatefulSet"
    sts["spec"]["serviceName"] = "db"
    apps.create_namespaced_stateful_set(namespace, sts)
    create_psc(
        kube,
        namespace,
        "db",
        spec("db", scaleTargetRef={"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "db"}),
    )
    wait_for(
        lambda: apps.read_namespaced_stateful_set_scale("db", namespace).spec.replicas > 1,
        timeout=60,
        what="StatefulSet scaled",
    )

    group = f"t{uuid.uuid4().hex[:6]}.prognos.io"
    ext = k8s.ApiextensionsV1Api(kube)
    ext.create_custom_resource_definition(
        {
            "apiVersion": "apiextensions.k8s.io/v1",
            "kind": "CustomResourceDefinition",
            "metadata": {"name": f"pools.{group}"},
            "spec": {
                "group": group,
                "scope": "Namespaced",
                "names": {"plural": "pools", "singular": "pool", "kind": "Pool"},
                "versions": [
                    {
                        "name": "v1",
                        "served": True,
                        "storage": True,
                        "subresources": {
                            "status": {},
                            "scale": {
                                "specReplicasPath": ".spec.replicas",
                                "statusReplicasPath": ".status.replicas",
                            },
                        },
                        "schema": {
                            "openAPIV3Schema": {
                                "type": "object",
                                "x-kubernetes-preserve-unknown-fields": True,
                            }
                        },
                    }
                ],
            },
        }
    )
    try:
        co = custom(kube)
        wait_for(
            lambda: co.create_namespaced_custom_object(
                group,
                "v1",
                namespace,
                "pools",
                {
                    "apiVersion": f"{group}/v1",
                    "kind": "Pool",
                    "metadata": {"name": "p"},
                    "spec": {"replicas": 1},
                },
            ),
            what="Pool created",
        )
        create_psc(
            kube,
            namespace,
            "pool",
            spec("p", scaleTargetRef={"apiVersion": f"{group}/v1", "kind": "Pool", "name": "p"}),
        )
        wait_for(
            lambda: (
                co.get_namespaced_custom_object(group, "v1", namespace, "pools", "p")["spec"][
                    "replicas"
                ]
                > 1
            ),
            timeout=60,
            what="Pool scaled through /scale",
        )
    finally:
        ext.delete_custom_resource_definition(f"pools.{group}")
