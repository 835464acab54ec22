"""Secrets never leave their Secret: a scan of everything the operator writes or sends.

Channels take their URLs and tokens from Secrets holding unique marker values: a webhook that
delivers, a webhook whose receiver keeps failing (500), a webhook whose URL points at a closed
port, and a Slack webhook whose receiver answers with an error. A PredictiveScaler's decisions
are sent to all of them. Afterwards the operator log, the status of every Prognos object in the
namespace, the namespace's Events, the operator's /metrics and every received notification body
are searched for the marker values (DESIGN §5 rule 5).
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client as k8s

from kubehelpers import GROUP, VERSION, condition, custom, wait_for
from notifyhelpers import Sink
from prognos.sandbox.objects import demo_deployment
from prognos.sandbox.procs import free_port

pytestmark = pytest.mark.integration

QUERY = 'sum(prognos_demo_requests_per_second{namespace="demo",workload="web"})'
PLURALS = ("notificationchannels", "predictivescalers", "remediationpolicies", "incidents")


@pytest.fixture
def namespace(kube: Any) -> Iterator[str]:
    name = f"sec-{uuid.uuid4().hex[:8]}"
    body: Any = {"metadata": {"name": name}}
    k8s.CoreV1Api(kube).create_namespace(body)
    yield name
    k8s.CoreV1Api(kube).delete_namespace(name)


def _secret(kube: Any, ns: str, name: str, data: dict[str, str]) -> None:
    body: Any = {
        "metadata": {"name": name},
        "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()},
    }
    k8s.CoreV1Api(kube).create_namespaced_secret(ns, body)


def _channel(kube: Any, ns: str, name: str, kind: dict[str, Any]) -> None:
    body = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "NotificationChannel",
        "metadata": {"name": name},
        "spec": {**kind, "scaling": {"decisions": "All"}, "timeout": "2s"},
    }
    custom(kube).create_namespaced_custom_object(GROUP, VERSION, ns, "notificationchannels", body)


def _webhook(secret: str) -> dict[str, Any]:
    return {"webhook": {"urlSecretRef": {"name": secret}, "signingSecretRef": {"name": secret}}}


def _status(kube: Any, ns: str, plural: str) -> list[Any]:
    items = custom(kube).list_namespaced_custom_object(GROUP, VERSION, ns, plural)["items"]
    return [{"name": i["metadata"]["name"], "status": i.get("status")} for i in items]


def test_no_secret_value_appears_in_logs_status_events_metrics_or_bodies(
    kube: Any, namespace: str, operator: Any
) -> None:
    mark = uuid.uuid4().hex[:12]
    secrets = {
        "ok-path": f"okpath{mark}",
        "ok-signing": f"oksign{mark}",
        "bad-path": f"badpath{mark}",
        "bad-signing": f"badsign{mark}",
        "closed-path": f"closedpath{mark}",
        "closed-signing": f"closedsign{mark}",
        "slack-path": f"T0SLACK{mark}/B0{mark}/xoxhook{mark}",
    }
    offset = len(operator.logs())
    with (
        Sink() as ok,
        Sink(default=(500, {}, f"upstream said {secrets['bad-path']}".encode())) as bad,
        Sink(default=(404, {}, b"no_service")) as slack,
    ):
        closed = f"http://127.0.0.1:{free_port()}"
        _secret(
            kube,
            namespace,
            "ok",
            {"url": f"{ok.url}/{secrets['ok-path']}", "secret": secrets["ok-signing"]},
        )
        _secret(
            kube,
            namespace,
            "bad",
            {"url": f"{bad.url}/{secrets['bad-path']}?t={mark}", "secret": secrets["bad-signing"]},
        )
        _secret(
            kube,
            namespace,
            "closed",
            {"url": f"{closed}/{secrets['closed-path']}", "secret": secrets["closed-signing"]},
        )
        _secret(kube, namespace, "slack", {"url": f"{slack.url}/services/{secrets['slack-path']}"})
        _channel(kube, namespace, "ok", _webhook("ok"))
        _channel(kube, namespace, "bad", _webhook("bad"))
        _channel(kube, namespace, "closed", _webhook("closed"))
        _channel(kube, namespace, "slack", {"slack": {"webhookSecretRef": {"name": "slack"}}})
        # A channel whose Secret lacks the key: its condition must name the key, not a value.
        _secret(kube, namespace, "partial", {"url": f"{ok.url}/{secrets['ok-path']}"})
        _channel(kube, namespace, "partial", _webhook("partial"))

        deployment: Any = demo_deployment(namespace, "shop", replicas=1)
        k8s.AppsV1Api(kube).create_namespaced_deployment(namespace, deployment)
        scaler = {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "PredictiveScaler",
            "metadata": {"name": "shop"},
            "spec": {
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "shop"},
                "maxReplicas": 60,
                "interval": "5s",
                "metric": {"query": QUERY, "targetPerReplica": "50"},
                "forecast": {"enabled": False},
            },
        }
        custom(kube).create_namespaced_custom_object(
            GROUP, VERSION, namespace, "predictivescalers", scaler
        )

        def status_of(name: str) -> dict[str, Any]:
            obj = custom(kube).get_namespaced_custom_object(
                GROUP, VERSION, namespace, "notificationchannels", name
            )
            return dict(obj.get("status") or {})

        wait_for(lambda: ok.requests and slack.requests and bad.requests, 120, "deliveries")
        for name in ("bad", "closed", "slack"):

            def failed(name: str = name) -> Any:
                return status_of(name).get("lastError")

            wait_for(failed, 120, f"{name} lastError")
        partial = custom(kube).get_namespaced_custom_object(
            GROUP, VERSION, namespace, "notificationchannels", "partial"
        )
        assert condition(partial, "Ready").get("status") == "False"
        bodies = [r["body"].decode(errors="replace") for s in (ok, bad, slack) for r in s.requests]

    haystacks = {
        "operator log": operator.logs()[offset:],
        "status": json.dumps([_status(kube, namespace, p) for p in PLURALS]),
        "events": json.dumps(
            [
                (e.reason, e.message, e.note if hasattr(e, "note") else None)
                for e in k8s.CoreV1Api(kube).list_namespaced_event(namespace).items
            ]
        ),
        "metrics": operator.metrics(),
        "notification bodies": "\n".join(bodies),
    }
    assert haystacks["notification bodies"] and haystacks["status"] and haystacks["operator log"]
    leaks = [
        f"{key} in {where}"
        for where, text in haystacks.items()
        for key, value in secrets.items()
        if value in text
    ]
    assert not leaks, leaks
