"""A dryRun RemediationPolicy's "would do" notification, through the real operator process.

Real components only: the session operator, a real Secret and NotificationChannel, a local HTTP
receiver that checks the signature like a real one, and a pod crash-looping through the
sandbox's kwok fault stage.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client as k8s

from kubehelpers import (
    GROUP,
    VERSION,
    create_webhook_channel,
    custom,
    fresh_namespace,
    incidents,
    live_pods,
    wait_channels_ready,
    wait_for,
)
from notifyhelpers import Sink
from prognos.notify.signing import verify_signature
from prognos.sandbox.objects import demo_deployment
from prognos.sandbox.stages import FAULT_LABEL

pytestmark = pytest.mark.integration

SIGNING = "dry-run-test-signing-secret"
RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"


@pytest.fixture
def namespace(kube: Any) -> Iterator[str]:
    yield from fresh_namespace(kube, "dry")


def running_pods(kube: Any, ns: str) -> dict[str, str]:
    """name -> uid of the pods of ``web`` that are not being deleted."""
    return {p.metadata.name: p.metadata.uid for p in live_pods(kube, ns, "web")}


def ready_count(kube: Any, ns: str) -> int:
    dep = k8s.AppsV1Api(kube).read_namespaced_deployment("web", ns)
    return int(dep.status.ready_replicas or 0)


def test_dry_run_would_do_reaches_a_signed_webhook_and_nothing_changes(kube, namespace, operator):
    with Sink() as sink:
        create_webhook_channel(kube, namespace, "ops", f"{sink.url}/prognos", SIGNING)
        wait_channels_ready(kube, namespace, 1, 60, "channel Ready")
        k8s.AppsV1Api(kube).create_namespaced_deployment(
            namespace, demo_deployment(namespace, "web", replicas=2)
        )
        wait_for(lambda: ready_count(kube, namespace) == 2, 60, "web ready")
        before = k8s.AppsV1Api(kube).read_namespaced_deployment("web", namespace)
        pods_before = running_pods(kube, namespace)
        policy = {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "RemediationPolicy",
            "metadata": {"name": "web-health"},
            "spec": {
                "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                "signals": [{"name": "crashloop", "kubernetes": {"crashLoop": True}}],
                "actions": [{"rolloutRestart": {}, "verifyWithin": "60s"}],
                "cooldown": "10s",
                "dryRun": True,
                "notify": ["ops"],
            },
        }
        custom(kube).create_namespaced_custom_object(
            GROUP, VERSION, namespace, "remediationpolicies", policy
        )
        victim = sorted(pods_before)[0]
        k8s.CoreV1Api(kube).patch_namespaced_pod(
            victim, namespace, {"metadata": {"labels": {FAULT_LABEL: "crashloop"}}}
        )

        def would_do() -> list[dict[str, Any]]:
            return [
                r for r in list(sink.requests) if r["headers"].get("X-Prognos-Event") == "WouldDo"
            ]

        (request,) = wait_for(would_do, 90, "the WouldDo notification at the receiver")
        headers, body = request["headers"], request["body"]
        assert request["path"] == "/prognos"
        assert headers["Content-Type"] == "application/json"
        assert verify_signature(
            SIGNING, body, headers["X-Prognos-Timestamp"], headers["X-Prognos-Signature"]
        )
        assert not verify_signature(
            "another-secret", body, headers["X-Prognos-Timestamp"], headers["X-Prognos-Signature"]
        )
        assert len(headers["X-Prognos-Delivery"]) == 32
        payload = json.loads(body)
        assert payload["schemaVersion"] == "prognos.io/notification/v1"
        assert payload["type"] == "WouldDo"
        assert payload["severity"] == "info"
        assert payload["namespace"] == namespace
        assert payload["target"] == "Deployment/web"
        assert payload["source"] == "RemediationPolicy/web-health"
        assert payload["title"].startswith("would rollout restart of Deployment/web")
        assert payload["text"].startswith("dry run: would rollout restart of Deployment/web")
        assert payload["details"]["dryRun"] is True
        assert [a["state"] for a in payload["details"]["actions"]] == ["DryRun"]
        (inc,) = incidents(kube, namespace)
        assert payload["incident"] == inc["metadata"]["name"]
        assert [a["state"] for a in inc["status"]["actions"]] == ["DryRun"]

        # The receiver's 200 is recorded on the Incident and the outbox entry settles.
        def delivered() -> dict[str, Any] | None:
            (inc,) = incidents(kube, namespace)
            results = (inc.get("status") or {}).get("notifications") or []
            hit = [n for n in results if n.get("event") == "WouldDo"]
            return hit[0] if hit else None

        record = wait_for(delivered, 30, "the WouldDo delivery on the Incident")
        assert record["channel"] == "ops"
        assert record["outcome"] == "Delivered"
        assert record["deliveryId"] == headers["X-Prognos-Delivery"]

        # Nothing changed on the target, a while after the would-do went out.
        time.sleep(5)
        after = k8s.AppsV1Api(kube).read_namespaced_deployment("web", namespace)
        assert RESTARTED_AT not in (after.spec.template.metadata.annotations or {})
        assert after.metadata.generation == before.metadata.generation
        assert after.spec.replicas == before.spec.replicas == 2
        assert running_pods(kube, namespace) == pods_before  # same pods, same UIDs
        assert len(would_do()) == 1  # said once, not on every tick
