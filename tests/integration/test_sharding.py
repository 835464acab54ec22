"""Horizontal sharding on the real sandbox: each object is handled by exactly one shard.

Two ``prognos run --shard-count 2`` processes split PredictiveScalers and RemediationPolicies by
the stable hash; then one ``--shard-selector`` process handles only the objects whose labels
match, and lets go of an object relabelled away from it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client as k8s

from kubehelpers import GROUP, VERSION, OperatorProcess, custom, fresh_namespace, get_psc, wait_for
from prognos.operator.sharding import Shard, shard_of
from prognos.sandbox.objects import demo_deployment

pytestmark = pytest.mark.integration

QUERY = 'sum(prognos_demo_requests_per_second{namespace="demo",workload="web"})'


@pytest.fixture
def namespace(kube: Any) -> Iterator[str]:
    yield from fresh_namespace(kube, "shard", suffix_len=6)


def _scaler(kube: Any, ns: str, name: str, labels: dict[str, str] | None = None) -> None:
    k8s.AppsV1Api(kube).create_namespaced_deployment(ns, demo_deployment(ns, name, 1))
    body = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "PredictiveScaler",
        "metadata": {"name": name, "labels": labels or {}},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
            "maxReplicas": 10,
            "interval": "5s",
            "metric": {"query": QUERY, "targetPerReplica": "50"},
            "forecast": {"enabled": False},
        },
    }
    custom(kube).create_namespaced_custom_object(GROUP, VERSION, ns, "predictivescalers", body)


def _policy(kube: Any, ns: str, name: str, target: str) -> None:
    body = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "RemediationPolicy",
        "metadata": {"name": name},
        "spec": {
            "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": target},
            "signals": [{"name": "crashloop", "kubernetes": {"crashLoop": True}}],
            "actions": [{"rolloutRestart": {}}],
            "dryRun": True,
        },
    }
    custom(kube).create_namespaced_custom_object(GROUP, VERSION, ns, "remediationpolicies", body)


def _handled(proc: OperatorProcess, event: str, key: str, ns: str) -> set[str]:
    """Names of this namespace's objects for which the process logged ``event``."""
    names = set()
    for line in proc.logs().splitlines():
        if event not in line:
            continue
        try:
            ref = str(json.loads(line).get(key, ""))
        except ValueError:
            continue
        if ref.startswith(f"{ns}/"):
            names.add(ref.split("/", 1)[1])
    return names


def _decided(kube: Any, ns: str, name: str) -> bool:
    return bool((get_psc(kube, ns, name).get("status") or {}).get("lastDecisionTime"))


def test_hash_shards_split_the_objects_and_a_selector_shard_owns_only_its_labels(
    kube: Any, sandbox: dict[str, Any], operator: Any, namespace: str, tmp_path: Any
) -> None:
    ns = namespace
    candidates = [f"app-{i}" for i in range(16)]
    by_shard = {i: [n for n in candidates if shard_of(ns, n, 2) == i][:2] for i in (0, 1)}
    assert all(len(names) == 2 for names in by_shard.values()), by_shard
    names = by_shard[0] + by_shard[1]
    for name in names:
        _scaler(kube, ns, name)
        _policy(kube, ns, f"{name}-health", name)

    operator.stop()  # the session operator owns everything: it would act beside the shards
    shards = [
        OperatorProcess(
            sandbox, tmp_path / f"shard-{i}.log", ["--shard-count=2", f"--shard-index={i}"]
        )
        for i in (0, 1)
    ]
    selector_shard = OperatorProcess(
        sandbox, tmp_path / "gold.log", ["--shard-selector=prognos.io/shard=gold"]
    )
    try:
        for proc in shards:
            proc.start()
        wait_for(
            lambda: all(_decided(kube, ns, n) for n in names), 90, "every scaler to decide once"
        )
        wait_for(
            lambda: all(
                _handled(shards[i], "remediation.started", "policy", ns)
                == {f"{n}-health" for n in names if shard_of(ns, f"{n}-health", 2) == i}
                for i in (0, 1)
            ),
            60,
            "each shard to run exactly its own policies",
        )
        for i in (0, 1):
            assert _handled(shards[i], "scaler.started", "scaler", ns) == set(by_shard[i])

        # Each object carries exactly its owner's finalizer, and keeps it: with one shared
        # name every other shard would strip it on every event (Kopf removes a finalizer no
        # handler of its own needs) and the owner would add it back, a write war.
        def finalizers(name: str) -> list[str]:
            return list(get_psc(kube, ns, name)["metadata"].get("finalizers") or [])

        expected = {n: [Shard(2, i).finalizer] for i in (0, 1) for n in by_shard[i]}
        wait_for(
            lambda: all(finalizers(n) == f for n, f in expected.items()),
            60,
            "each scaler to carry its own shard's finalizer",
        )
        versions = {n: get_psc(kube, ns, n)["metadata"]["resourceVersion"] for n in names}
        time.sleep(8)  # more than one 5 s tick of every scaler
        assert all(finalizers(n) == f for n, f in expected.items())
        assert all(
            get_psc(kube, ns, n)["metadata"]["resourceVersion"] != versions[n] for n in names
        )  # (the scalers kept writing status meanwhile: the check above saw live objects)
        for proc in shards:
            assert "Removing the finalizer" not in proc.logs()

        for proc in shards:
            proc.stop()
        selector_shard.start()
        _scaler(kube, ns, "gold", labels={"prognos.io/shard": "gold"})
        wait_for(lambda: _decided(kube, ns, "gold"), 60, "the gold scaler to decide")
        assert _handled(selector_shard, "scaler.started", "scaler", ns) == {"gold"}
        assert _handled(selector_shard, "remediation.started", "policy", ns) == set()

        # Relabelled away from the shard: the API server's watch drops it, the daemon stops.
        custom(kube).patch_namespaced_custom_object(
            GROUP,
            VERSION,
            ns,
            "predictivescalers",
            "gold",
            {"metadata": {"labels": {"prognos.io/shard": "silver"}}},
        )
        wait_for(
            lambda: "gold" in _handled(selector_shard, "scaler.stopped", "scaler", ns),
            60,
            "the selector shard to let go of the relabelled scaler",
        )
        assert "Traceback" not in selector_shard.logs()
        assert all("Traceback" not in proc.logs() for proc in shards)
    finally:
        for proc in [*shards, selector_shard]:
            proc.stop()
        operator.start()
