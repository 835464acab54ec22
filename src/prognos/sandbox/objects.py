"""Kubernetes objects the sandbox creates: the kwok node and the demo Deployments."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kubernetes import client as k8s
from kubernetes import config
from kubernetes.client.exceptions import ApiException


def api_client(kubeconfig: Path) -> Any:
    """An API client for the sandbox's kubeconfig (never the user's default context)."""
    return config.new_client_from_config(config_file=str(kubeconfig))  # type: ignore[no-untyped-call]


def _create(fn: Any, *args: Any) -> None:
    try:
        fn(*args)
    except ApiException as exc:
        if exc.status != 409:  # already exists: up is idempotent
            raise


def create_node(api: Any, name: str, annotation: str) -> None:
    body = {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "annotations": {annotation: "fake", "node.alpha.kubernetes.io/ttl": "0"},
            "labels": {
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "type": "kwok",
            },
        },
    }
    _create(k8s.CoreV1Api(api).create_node, body)


def node_ready(api: Any, name: str) -> bool:
    node = k8s.CoreV1Api(api).read_node(name)
    conds = (node.status.conditions if node.status else None) or []
    return any(c.type == "Ready" and c.status == "True" for c in conds)


def demo_deployment(
    namespace: str,
    name: str,
    replicas: int = 2,
    *,
    labels: dict[str, str] | None = None,
    cpu: str = "100m",
    memory: str = "64Mi",
) -> dict[str, Any]:
    """A kwok-run Deployment; ``labels`` are added to its own and its pods' labels, and a
    small ``cpu`` request lets thousands of pods fit on the fake node (benchmarks)."""
    labels = {
        "app.kubernetes.io/name": name,
        "app.kubernetes.io/part-of": "prognos-demo",
        **(labels or {}),
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app.kubernetes.io/name": name}},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "containers": [
                        {
                            "name": "app",
                            "image": "registry.invalid/prognos-demo:1",
                            "resources": {"requests": {"cpu": cpu, "memory": memory}},
                        }
                    ],
                },
            },
        },
    }


def create_demo_workloads(api: Any, namespace: str, names: list[str]) -> None:
    core, apps = k8s.CoreV1Api(api), k8s.AppsV1Api(api)
    _create(core.create_namespace, {"metadata": {"name": namespace}})
    for name in names:
        _create(apps.create_namespaced_deployment, namespace, demo_deployment(namespace, name))


def apply_crds(api: Any, definitions: list[dict[str, Any]], timeout: float = 30.0) -> None:
    """Create or update CRDs and wait until the apiserver serves them (Established)."""
    import time

    ext: Any = k8s.ApiextensionsV1Api(api)  # accepts plain dict bodies at runtime
    for crd in definitions:
        name = crd["metadata"]["name"]
        try:
            current = ext.read_custom_resource_definition(name)
            crd = {
                **crd,
                "metadata": {
                    **crd["metadata"],
                    "resourceVersion": current.metadata.resource_version,
                },
            }
            ext.replace_custom_resource_definition(name, crd)
        except ApiException as exc:
            if exc.status != 404:
                raise
            ext.create_custom_resource_definition(crd)
    deadline = time.monotonic() + timeout
    for crd in definitions:
        name = crd["metadata"]["name"]
        while True:
            conds = ext.read_custom_resource_definition(name).status.conditions or []
            if any(c.type == "Established" and c.status == "True" for c in conds):
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"CRD {name} not established within {timeout}s")
            time.sleep(0.2)


def apply_manifest(kubeconfig: Path, path: Path) -> None:
    """``kubectl apply -f`` through the sandbox's own kubectl (server-side validation)."""
    import subprocess

    from prognos.sandbox import tools

    proc = subprocess.run(
        [str(tools.binary("kubectl")), f"--kubeconfig={kubeconfig}", "apply", "-f", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"kubectl apply -f {path} failed: {proc.stderr.strip()}")
