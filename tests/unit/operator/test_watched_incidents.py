"""A namespaced operator seeds its breaker from the Incidents of its watched namespaces only:
one namespaced list each, never the cluster-wide list its RBAC does not grant."""

from __future__ import annotations

from typing import Any

from kubernetes import client as k8s

from prognos.operator.remediation import WatchedKube


class Custom:
    """The CustomObjectsApi calls ``list_incidents`` makes, recorded."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, ...]] = []

    def list_cluster_custom_object(self, group: str, version: str, plural: str, **kw: Any) -> Any:
        self.calls.append(("cluster", plural, kw["label_selector"]))
        return {"items": [{"metadata": {"name": "anywhere"}}]}

    def list_namespaced_custom_object(
        self, group: str, version: str, namespace: str, plural: str, **kw: Any
    ) -> Any:
        self.calls.append((namespace, plural, kw["label_selector"]))
        return {"items": [{"metadata": {"name": f"in-{namespace}"}}]}


def kube(namespaces: list[str]) -> tuple[WatchedKube, Custom]:
    out = WatchedKube(k8s.ApiClient(), namespaces)
    out.custom = Custom()
    return out, out.custom


def test_every_incident_of_a_namespaced_operator_is_every_watched_namespace():
    watched, custom = kube(["team-a", "team-b"])
    names = [i["metadata"]["name"] for i in watched.list_incidents(None, "p")]
    assert names == ["in-team-a", "in-team-b"]
    assert custom.calls == [("team-a", "incidents", "p"), ("team-b", "incidents", "p")]


def test_one_namespace_and_a_cluster_wide_operator_are_unchanged():
    watched, custom = kube(["team-a"])
    assert [i["metadata"]["name"] for i in watched.list_incidents("x", "p")] == ["in-x"]
    clusterwide, cluster_custom = kube([])
    assert [i["metadata"]["name"] for i in clusterwide.list_incidents(None, "p")] == ["anywhere"]
    assert custom.calls == [("x", "incidents", "p")]
    assert cluster_custom.calls == [("cluster", "incidents", "p")]
