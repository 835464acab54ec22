"""Notifications and alert intake through the real operator process on the sandbox.

Real components only: the operator subprocess (``prognos run`` with the intake enabled on the
port the sandbox's Alertmanager delivers to), real Secrets and NotificationChannels, real local
HTTP receivers, Prometheus evaluating the demo alerting rule, and Debian's Alertmanager.
"""

from __future__ import annotations

import base64
import json
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client as k8s

from kubehelpers import GROUP, VERSION, condition, custom, wait_for
from notifyhelpers import Sink
from prognos.notify.signing import verify_signature
from prognos.sandbox.objects import demo_deployment

pytestmark = pytest.mark.integration

SIGNING = "operator-test-signing-secret"
QUERY = 'sum(prognos_demo_requests_per_second{namespace="demo",workload="web"})'


@pytest.fixture
def namespace(kube: Any) -> Iterator[str]:
    name = f"nch-{uuid.uuid4().hex[:8]}"
    k8s.CoreV1Api(kube).create_namespace({"metadata": {"name": name}})
    yield name
    k8s.CoreV1Api(kube).delete_namespace(name)


def secret(kube: Any, ns: str, name: str, data: dict[str, str]) -> None:
    body = {
        "metadata": {"name": name},
        "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()},
    }
    k8s.CoreV1Api(kube).create_namespaced_secret(ns, body)


def channel(kube: Any, ns: str, name: str, spec: dict[str, Any]) -> None:
    body = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "NotificationChannel",
        "metadata": {"name": name},
        "spec": spec,
    }
    custom(kube).create_namespaced_custom_object(GROUP, VERSION, ns, "notificationchannels", body)


def get_channel(kube: Any, ns: str, name: str) -> dict[str, Any]:
    obj: dict[str, Any] = custom(kube).get_namespaced_custom_object(
        GROUP, VERSION, ns, "notificationchannels", name
    )
    return obj


def webhook_spec(secret_name: str, **extra: Any) -> dict[str, Any]:
    return {
        "webhook": {
            "urlSecretRef": {"name": secret_name},
            "signingSecretRef": {"name": secret_name},
        },
        **extra,
    }


def scaler(kube: Any, ns: str, target: str) -> None:
    body = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "PredictiveScaler",
        "metadata": {"name": target},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": target},
            "minReplicas": 1,
            "maxReplicas": 60,
            "interval": "5s",
            "metric": {"query": QUERY, "targetPerReplica": "50"},
            "forecast": {"enabled": False},
        },
    }
    custom(kube).create_namespaced_custom_object(GROUP, VERSION, ns, "predictivescalers", body)


def replicas(kube: Any, ns: str, name: str) -> int:
    return int(k8s.AppsV1Api(kube).read_namespaced_deployment_scale(name, ns).spec.replicas)


def test_channel_conditions_follow_its_secret_and_never_show_it(kube, namespace, operator):
    channel(kube, namespace, "late", webhook_spec("hook"))
    cond = wait_for(
        lambda: condition(get_channel(kube, namespace, "late"), "Ready") or None,
        60,
        "Ready condition",
    )
    assert (cond["status"], cond["reason"]) == ("False", "SecretNotFound")
    secret(kube, namespace, "hook", {"url": "http://127.0.0.1:9/SECRETPATH"})
    # The Secret exists but lacks the signing key: the condition names the key, not a value.
    wait_for(
        lambda: (
            condition(get_channel(kube, namespace, "late"), "Ready").get("reason")
            == "SecretKeyMissing"
        ),
        120,
        "SecretKeyMissing after the Secret appeared (resync)",
    )
    k8s.CoreV1Api(kube).patch_namespaced_secret(
        "hook", namespace, {"stringData": {"secret": SIGNING}}
    )
    ready = wait_for(
        lambda: (
            condition(get_channel(kube, namespace, "late"), "Ready").get("status") == "True"
            and get_channel(kube, namespace, "late")
        ),
        120,
        "Ready=True once the Secret is complete",
    )
    assert ready["status"]["type"] == "webhook"
    text = json.dumps(ready)
    assert "SECRETPATH" not in text and SIGNING not in text
    assert "SECRETPATH" not in operator.logs() and SIGNING not in operator.logs()


def test_scaling_decision_reaches_a_signed_webhook(kube, namespace, operator):
    with Sink() as sink:
        secret(kube, namespace, "hook", {"url": f"{sink.url}/prognos", "secret": SIGNING})
        channel(kube, namespace, "ops", webhook_spec("hook", scaling={"decisions": "All"}))
        wait_for(
            lambda: condition(get_channel(kube, namespace, "ops"), "Ready").get("status") == "True",
            60,
            "channel Ready",
        )
        k8s.AppsV1Api(kube).create_namespaced_deployment(
            namespace, demo_deployment(namespace, "shop", replicas=1)
        )
        scaler(kube, namespace, "shop")
        wait_for(lambda: sink.requests, 120, "a scaling notification")
        req = sink.requests[0]
        h = req["headers"]
        assert verify_signature(
            SIGNING, req["body"], h["X-Prognos-Timestamp"], h["X-Prognos-Signature"]
        )
        payload = json.loads(req["body"])
        assert payload["type"] == "ScalingDecision"
        assert payload["source"] == "PredictiveScaler/shop"
        assert payload["details"]["fromReplicas"] == 1
        assert payload["details"]["toReplicas"] == replicas(kube, namespace, "shop") > 1
        wait_for(
            lambda: (get_channel(kube, namespace, "ops").get("status") or {}).get("delivered"),
            90,
            "delivered counter in status",
        )


def test_a_dead_receiver_never_blocks_scaling(kube, namespace, operator):
    with Sink(hang=True) as sink:
        secret(kube, namespace, "hook", {"url": sink.url, "secret": SIGNING})
        channel(
            kube,
            namespace,
            "dead",
            webhook_spec("hook", scaling={"decisions": "All"}, timeout="60s"),
        )
        wait_for(
            lambda: (
                condition(get_channel(kube, namespace, "dead"), "Ready").get("status") == "True"
            ),
            60,
            "channel Ready",
        )
        apps = k8s.AppsV1Api(kube)
        apps.create_namespaced_deployment(namespace, demo_deployment(namespace, "api", replicas=1))
        scaler(kube, namespace, "api")
        wait_for(lambda: replicas(kube, namespace, "api") > 1, 120, "first scale-up")
        wait_for(lambda: sink.requests, 30, "the receiver to be called (and hang)")
        # Knock the replicas down: the scaler must scale again while the first delivery hangs.
        apps.patch_namespaced_deployment_scale("api", namespace, {"spec": {"replicas": 1}})
        started = time.monotonic()
        wait_for(lambda: replicas(kube, namespace, "api") > 1, 60, "second scale-up")
        assert time.monotonic() - started < 60
        assert len(sink.requests) == 1  # still hanging on the first: deliveries are serial


def _post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
    req = urllib.request.Request(url, data=body, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def test_intake_authenticates_limits_and_validates(sandbox, operator):
    url = sandbox["alert_receiver"]
    token = Path(sandbox["alert_token_file"]).read_text().strip()
    auth = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    good = {
        "version": "4",
        "status": "firing",
        "receiver": "prognos",
        "alerts": [
            {
                "status": "firing",
                "labels": {"alertname": "IntakeProbe", "workload": "none"},
                "annotations": {},
                "startsAt": "2025-01-01T00:00:00Z",
                "endsAt": "0001-01-01T00:00:00Z",
                "fingerprint": "abc123",
            }
        ],
    }
    body = json.dumps(good).encode()
    wait_for(lambda: _post(url, body, auth)[0] == 200, 30, "intake answering")
    assert _post(url, body, {"Content-Type": "application/json"})[0] == 401
    assert _post(url, body, {**auth, "Authorization": "Bearer wrong"})[0] == 401
    assert _post(url, body, {**auth, "Content-Type": "text/plain"})[0] == 415
    assert _post(url, b"x" * (2 << 20), auth)[0] == 413
    assert _post(url, b"{not json", auth)[0] == 400
    status, answer = _post(url, json.dumps({**good, "version": "3"}).encode(), auth)
    assert (status, answer["field"]) == (400, "version")
    bad = json.loads(body)
    bad["alerts"][0]["labels"] = {"workload": "x"}
    status, answer = _post(url, json.dumps(bad).encode(), auth)
    assert (status, answer["field"]) == (400, "alerts[0].labels")
    assert 'prognos_alerts_received_total{alertname="IntakeProbe",status="firing"}' in (
        operator.metrics()
    )


def _control(sandbox: dict[str, Any], workload: str, body: dict[str, Any]) -> None:
    req = urllib.request.Request(
        f"{sandbox['exporter']}/control/{workload}",
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=5):
        pass


def _incidents(kube: Any, ns: str) -> list[dict[str, Any]]:
    out = custom(kube).list_namespaced_custom_object(GROUP, VERSION, ns, "incidents")
    return list(out.get("items") or [])


def test_alertmanager_alert_heals_the_target_and_people_hear_of_it(
    kube, namespace, operator, sandbox
):
    """Exporter error burst -> Prometheus rule -> Alertmanager -> intake -> rollout restart."""
    apps = k8s.AppsV1Api(kube)
    apps.create_namespaced_deployment(namespace, demo_deployment(namespace, "checkout", replicas=2))
    with Sink() as sink:
        secret(kube, namespace, "hook", {"url": sink.url, "secret": SIGNING})
        channel(kube, namespace, "ops", webhook_spec("hook"))
        policy = {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "RemediationPolicy",
            "metadata": {"name": "errors"},
            "spec": {
                "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "checkout"},
                "signals": [
                    {
                        "name": "error-burst",
                        "alert": {
                            "alertname": "DemoHighErrorRatio",
                            "labels": {"workload": "web"},
                        },
                    }
                ],
                "actions": [{"rolloutRestart": {}, "verifyWithin": "5m"}],
                "notify": ["ops"],
            },
        }
        custom(kube).create_namespaced_custom_object(
            GROUP, VERSION, namespace, "remediationpolicies", policy
        )
        try:
            _control(sandbox, "web", {"error_ratio": 0.5})
            restarted = wait_for(
                lambda: (
                    apps.read_namespaced_deployment(
                        "checkout", namespace
                    ).spec.template.metadata.annotations
                    or {}
                ).get("kubectl.kubernetes.io/restartedAt"),
                240,
                "the rollout restart triggered by the alert",
            )
            assert restarted
            assert 'alertname="DemoHighErrorRatio",status="firing"' in operator.metrics()
        finally:
            _control(sandbox, "web", {})  # the error burst ends: the alert resolves
        wait_for(
            lambda: any(
                (i.get("status") or {}).get("state") == "Resolved"
                for i in _incidents(kube, namespace)
            ),
            240,
            "the incident resolved by the resolved alert",
        )
        types = wait_for(
            lambda: (
                {b["type"] for b in sink.json_bodies()}
                >= {"IncidentOpened", "ActionApplied", "Resolved"}
                and {b["type"] for b in sink.json_bodies()}
            ),
            60,
            "incident notifications",
        )
        assert "IncidentOpened" in types
        assert all(
            verify_signature(
                SIGNING,
                r["body"],
                r["headers"]["X-Prognos-Timestamp"],
                r["headers"]["X-Prognos-Signature"],
            )
            for r in sink.requests
        )
        delivered = wait_for(
            lambda: [
                n
                for i in _incidents(kube, namespace)
                for n in (i.get("status") or {}).get("notifications") or []
                if n.get("outcome") == "Delivered"
            ],
            60,
            "delivery results recorded on the Incident",
        )
        assert {n["channel"] for n in delivered} == {"ops"}
