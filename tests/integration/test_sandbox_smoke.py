"""The sandbox is a real cluster: pods run, scale, CRDs and RBAC work, Prometheus has history."""

from __future__ import annotations

import uuid
from datetime import UTC
from typing import Any

import pytest
from kubernetes import client as k8s
from kubernetes.client.rest import ApiException

from kubehelpers import wait_for
from prognos.sandbox.objects import demo_deployment

pytestmark = pytest.mark.integration


@pytest.fixture
def namespace(kube: Any) -> Any:
    name = f"t-{uuid.uuid4().hex[:8]}"
    k8s.CoreV1Api(kube).create_namespace({"metadata": {"name": name}})
    yield name
    k8s.CoreV1Api(kube).delete_namespace(name)


def _running_pods(kube: Any, ns: str, app: str) -> list[Any]:
    pods = (
        k8s.CoreV1Api(kube)
        .list_namespaced_pod(ns, label_selector=f"app.kubernetes.io/name={app}")
        .items
    )
    return [
        p for p in pods if p.status.phase == "Running" and p.metadata.deletion_timestamp is None
    ]


def test_deployment_gets_running_pods_on_the_kwok_node(kube: Any, namespace: str, sandbox: Any):
    k8s.AppsV1Api(kube).create_namespaced_deployment(
        namespace, demo_deployment(namespace, "smoke", replicas=3)
    )
    pods = wait_for(
        lambda: (
            len(_running_pods(kube, namespace, "smoke")) == 3
            and _running_pods(kube, namespace, "smoke")
        ),
        what="3 running pods",
    )
    assert {p.spec.node_name for p in pods} == {sandbox["node"]}
    ready = [c for p in pods for c in p.status.conditions if c.type == "Ready"]
    assert all(c.status == "True" for c in ready)


def test_scale_subresource_read_and_patch_and_replicaset_follows(kube: Any, namespace: str):
    apps = k8s.AppsV1Api(kube)
    apps.create_namespaced_deployment(namespace, demo_deployment(namespace, "scaled", replicas=1))
    scale = apps.read_namespaced_deployment_scale("scaled", namespace)
    assert scale.spec.replicas == 1
    apps.patch_namespaced_deployment_scale("scaled", namespace, {"spec": {"replicas": 4}})
    assert apps.read_namespaced_deployment_scale("scaled", namespace).spec.replicas == 4

    def rs_follows() -> bool:
        sets = apps.list_namespaced_replica_set(namespace).items
        return bool(sets) and sets[0].spec.replicas == 4 and sets[0].status.ready_replicas == 4

    wait_for(rs_follows, what="ReplicaSet at 4 ready replicas")
    assert len(_running_pods(kube, namespace, "scaled")) == 4


def test_crd_install_create_object_and_patch_status(kube: Any, namespace: str):
    ext = k8s.ApiextensionsV1Api(kube)
    group, plural = "smoke.prognos.io", f"widgets{uuid.uuid4().hex[:6]}"
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{group}"},
        "spec": {
            "group": group,
            "scope": "Namespaced",
            "names": {"plural": plural, "singular": plural[:-1], "kind": "Widget"},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "properties": {
                                "spec": {
                                    "type": "object",
                                    "properties": {"size": {"type": "integer"}},
                                },
                                "status": {
                                    "type": "object",
                                    "properties": {"seen": {"type": "integer"}},
                                },
                            },
                        }
                    },
                }
            ],
        },
    }
    ext.create_custom_resource_definition(crd)
    try:
        wait_for(
            lambda: any(
                c.type == "Established" and c.status == "True"
                for c in ext.read_custom_resource_definition(f"{plural}.{group}").status.conditions
                or []
            ),
            what="CRD established",
        )
        co = k8s.CustomObjectsApi(kube)
        body = {
            "apiVersion": f"{group}/v1",
            "kind": "Widget",
            "metadata": {"name": "w1"},
            "spec": {"size": 3},
        }
        wait_for(
            lambda: co.create_namespaced_custom_object(group, "v1", namespace, plural, body),
            what="custom object created",
        )
        co.patch_namespaced_custom_object_status(
            group, "v1", namespace, plural, "w1", {"status": {"seen": 3}}
        )
        obj = co.get_namespaced_custom_object(group, "v1", namespace, plural, "w1")
        assert obj["status"] == {"seen": 3}
        # A write to the main resource cannot change status: the subresource is separate.
        co.patch_namespaced_custom_object(
            group, "v1", namespace, plural, "w1", {"status": {"seen": 99}, "spec": {"size": 4}}
        )
        obj = co.get_namespaced_custom_object(group, "v1", namespace, plural, "w1")
        assert obj["status"] == {"seen": 3}
        assert obj["spec"] == {"size": 4}
    finally:
        ext.delete_custom_resource_definition(f"{plural}.{group}")


def test_service_account_token_gets_403_for_what_rbac_lacks(
    kube: Any, namespace: str, sandbox: Any
):
    core, rbac = k8s.CoreV1Api(kube), k8s.RbacAuthorizationV1Api(kube)
    core.create_namespaced_service_account(namespace, {"metadata": {"name": "reader"}})
    rbac.create_namespaced_role(
        namespace,
        {
            "metadata": {"name": "pod-reader"},
            "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]}],
        },
    )
    rbac.create_namespaced_role_binding(
        namespace,
        {
            "metadata": {"name": "reader-pods"},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "Role",
                "name": "pod-reader",
            },
            "subjects": [{"kind": "ServiceAccount", "name": "reader", "namespace": namespace}],
        },
    )
    token = core.create_namespaced_service_account_token(
        "reader", namespace, {"spec": {"expirationSeconds": 600}}
    ).status.token

    cfg = k8s.Configuration()
    cfg.host = sandbox["apiserver"]
    cfg.ssl_ca_cert = sandbox["ca"]
    cfg.api_key = {"authorization": f"Bearer {token}"}
    limited = k8s.CoreV1Api(k8s.ApiClient(cfg))
    assert limited.list_namespaced_pod(namespace).items == []
    for forbidden in (
        lambda: limited.list_namespaced_secret(namespace),
        lambda: limited.list_namespaced_pod("kube-system"),
        lambda: limited.create_namespaced_pod(
            namespace,
            {"metadata": {"name": "x"}, "spec": {"containers": [{"name": "c", "image": "i"}]}},
        ),
    ):
        with pytest.raises(ApiException) as err:
            forbidden()
        assert err.value.status == 403


def test_prometheus_instant_and_seven_day_range_query(sandbox: Any):
    from datetime import datetime, timedelta

    from prometheus_api_client import PrometheusConnect

    prom = PrometheusConnect(url=sandbox["prometheus"], disable_ssl=True)
    query = 'prognos_demo_requests_per_second{workload="web"}'
    # Live scrapes: the exporter's current value is in the head block.
    now_value = wait_for(lambda: prom.custom_query(query), timeout=60, what="a live sample")
    assert float(now_value[0]["value"][1]) > 0
    end = datetime.now(UTC)
    series = prom.custom_query_range(
        query, start_time=end - timedelta(days=7), end_time=end, step="300"
    )
    assert len(series) == 1
    points = series[0]["values"]
    # 7 days at a 5-minute step: backfilled history, not just the minutes since start-up.
    assert len(points) >= 7 * 288 - 2
    assert float(points[0][0]) <= (end - timedelta(days=7)).timestamp() + 300
