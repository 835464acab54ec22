"""Notifications about an Incident survive a SIGKILL of the operator: at least once, same ids.

A real signed-webhook receiver on 127.0.0.1 hangs at first (accepts every request and never
answers), behind two NotificationChannels. A crash-looping Deployment gets a RemediationPolicy
with one ``scaleOut`` rung that notifies both channels: the Incident opens, the action is
planned, applied, found not to help, and the ladder escalates. Every notification of that
Incident waits in its outbox (``status.outbox``, checked through the API) while the receiver
hangs; the operator (its own process; the session operator is stopped meanwhile) is then
SIGKILLed, the receiver made healthy, and the operator started again.

Promises checked: every event the Incident recorded reaches the receiver on both channels, signed,
with the delivery id derived from its outbox entry and the channel (so the attempt the receiver
saw before the kill and the re-send after it carry the same id: a receiver de-duplicates on
``X-Prognos-Delivery``); each result is recorded on the Incident as Delivered; and the outbox
drains to empty.
"""

from __future__ import annotations

import base64
import json
import signal
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client as k8s

from kubehelpers import GROUP, VERSION, OperatorProcess, condition, custom, wait_for
from prognos.notify.outbox import delivery_id
from prognos.notify.signing import verify_signature
from prognos.sandbox.objects import demo_deployment
from prognos.sandbox.stages import FAULT_LABEL

pytestmark = pytest.mark.integration

SIGNING = "durable-outbox-signing-secret"
CHANNELS = ("hook-a", "hook-b")


class HangingThenHealthySink:
    """Records every request; hangs on each until ``heal()``, then answers 200 at once."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        self.healthy = threading.Event()
        self.closing = threading.Event()
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                with sink.lock:
                    record: dict[str, Any] = {
                        "path": self.path,
                        "headers": dict(self.headers.items()),
                        "body": body,
                        "healthy": sink.healthy.is_set(),
                        "answered": None,
                    }
                    sink.requests.append(record)
                if not record["healthy"]:
                    sink.closing.wait(300)  # the operator is killed meanwhile: nobody listens
                    return
                try:
                    self.send_response(200)
                    self.send_header("Content-Length", "2")
                    self.end_headers()
                    self.wfile.write(b"ok")
                    self.wfile.flush()
                except OSError:
                    return
                with sink.lock:
                    record["answered"] = 200

            def log_message(self, format: str, *args: object) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def heal(self) -> None:
        self.healthy.set()

    def snapshot(self) -> list[dict[str, Any]]:
        with self.lock:
            return [dict(r) for r in self.requests]

    def close(self) -> None:
        self.closing.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(10)


@pytest.fixture
def namespace(kube: Any) -> Iterator[str]:
    name = f"durable-{uuid.uuid4().hex[:8]}"
    body: Any = {"metadata": {"name": name}}
    k8s.CoreV1Api(kube).create_namespace(body)
    yield name
    k8s.CoreV1Api(kube).delete_namespace(name)


def _incidents(kube: Any, ns: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = custom(kube).list_namespaced_custom_object(
        GROUP, VERSION, ns, "incidents"
    )["items"]
    return items


def test_notifications_survive_a_sigkill_at_least_once_with_the_same_delivery_ids(
    kube: Any, sandbox: dict[str, Any], namespace: str, operator: Any, tmp_path: Path
) -> None:
    apps, core = k8s.AppsV1Api(kube), k8s.CoreV1Api(kube)
    operator.stop()  # the session operator would act on this policy beside ours
    mine = OperatorProcess(sandbox, tmp_path / "operator.log")
    sink = HangingThenHealthySink()
    started = time.monotonic()
    try:
        mine.start()
        for ch in CHANNELS:
            data = {"url": f"{sink.url}/{ch}", "secret": SIGNING}
            secret: Any = {
                "metadata": {"name": ch},
                "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()},
            }
            core.create_namespaced_secret(namespace, secret)
            channel = {
                "apiVersion": f"{GROUP}/{VERSION}",
                "kind": "NotificationChannel",
                "metadata": {"name": ch},
                "spec": {
                    "webhook": {"urlSecretRef": {"name": ch}, "signingSecretRef": {"name": ch}},
                    "rateLimit": {"perMinute": 600, "burst": 100},
                    "timeout": "60s",  # a hanging first attempt outlives the kill
                },
            }
            custom(kube).create_namespaced_custom_object(
                GROUP, VERSION, namespace, "notificationchannels", channel
            )

        def ready() -> bool:
            items = custom(kube).list_namespaced_custom_object(
                GROUP, VERSION, namespace, "notificationchannels"
            )["items"]
            return sum(condition(c, "Ready").get("status") == "True" for c in items) == 2

        wait_for(ready, 90, "both channels Ready")

        sick: Any = demo_deployment(namespace, "sick", replicas=2)
        sick["spec"]["template"]["metadata"]["labels"][FAULT_LABEL] = "crashloop"
        apps.create_namespaced_deployment(namespace, sick)
        policy = {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "RemediationPolicy",
            "metadata": {"name": "sick"},
            "spec": {
                "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "sick"},
                "signals": [{"name": "crashloop", "kubernetes": {"crashLoop": True}}],
                "actions": [{"scaleOut": {"by": 1, "max": 10}, "verifyWithin": "5s"}],
                "cooldown": "1h",
                "notify": list(CHANNELS),
            },
        }
        custom(kube).create_namespaced_custom_object(
            GROUP, VERSION, namespace, "remediationpolicies", policy
        )

        # The ladder runs to its end while the receiver hangs: every notification is recorded
        # in the Incident's outbox and none is settled.
        def escalated_with_its_outbox() -> dict[str, Any] | None:
            items = _incidents(kube, namespace)
            if len(items) != 1:
                return None
            status = items[0].get("status") or {}
            types = {e["event"]["type"] for e in (status.get("outbox") or {}).values()}
            if status.get("state") == "Escalated" and "Escalated" in types:
                return items[0]
            return None

        incident = wait_for(escalated_with_its_outbox, 120, "the ladder to escalate", 0.5)
        name = incident["metadata"]["name"]
        outbox: dict[str, Any] = incident["status"]["outbox"]
        types = [e["event"]["type"] for e in sorted(outbox.values(), key=lambda e: e["seq"])]
        print(f"outbox before the kill: {types}")
        assert types[0] == "IncidentOpened", types
        assert {"ActionPlanned", "ActionApplied", "Escalated"} <= set(types), types
        assert all(sorted(e["channels"]) == sorted(CHANNELS) for e in outbox.values())
        assert int(incident["status"]["notifySeq"]) == len(outbox)  # nothing settled or lost
        # The receiver holds a first attempt per channel (its lane waits behind it).
        wait_for(
            lambda: {r["path"] for r in sink.snapshot()} == {f"/{ch}" for ch in CHANNELS},
            60,
            "a first, hanging attempt on each channel",
        )
        before_kill = sink.snapshot()
        assert not any(r["answered"] for r in before_kill)

        mine.stop(signal.SIGKILL)
        assert mine.proc is not None and mine.proc.returncode == -signal.SIGKILL
        # Still there after the kill: the outbox is the Incident's, not the process's.
        after_kill = _incidents(kube, namespace)[0]["status"]["outbox"]
        assert set(after_kill) == set(outbox)
        sink.heal()
        mine.start()

        # Every recorded event reaches both channels; the outbox drains.
        expected = {
            (f"/{ch}", delivery_id(e["id"], namespace, ch)): e["event"]
            for e in outbox.values()
            for ch in CHANNELS
        }

        def delivered() -> set[tuple[str, str]]:
            return {
                (r["path"], r["headers"]["X-Prognos-Delivery"])
                for r in sink.snapshot()
                if r["answered"] == 200
            }

        wait_for(lambda: delivered() >= set(expected), 90, "every recorded event delivered", 0.5)

        def drained() -> dict[str, Any] | None:
            inc = _incidents(kube, namespace)[0]
            return inc if not (inc.get("status") or {}).get("outbox") else None

        final = wait_for(drained, 60, "the outbox to drain", 0.5)

        # Every request: signed, of this Incident, with the id of its entry and channel; a
        # re-send of what the receiver saw before the kill carries the same id.
        requests = sink.snapshot()
        ids_by_event: dict[tuple[str, str, str], set[str]] = defaultdict(set)
        for r in requests:
            h = r["headers"]
            assert verify_signature(
                SIGNING, r["body"], h.get("X-Prognos-Timestamp"), h.get("X-Prognos-Signature")
            ), h
            payload = json.loads(r["body"])
            assert payload["incident"] == name
            key = (r["path"], payload["type"], payload["time"])
            ids_by_event[key].add(h["X-Prognos-Delivery"])
            wanted = expected.get((r["path"], h["X-Prognos-Delivery"]))
            assert wanted is not None, (r["path"], payload["type"])
            assert (wanted["type"], wanted["time"]) == (payload["type"], payload["time"])
        assert all(len(ids) == 1 for ids in ids_by_event.values()), ids_by_event
        first_ids = {(r["path"], r["headers"]["X-Prognos-Delivery"]) for r in before_kill}
        assert first_ids <= delivered(), "a pre-kill attempt was re-sent under another id"

        # Each delivery is recorded on the Incident, under the same id.
        recorded = {
            (f"/{n['channel']}", n["deliveryId"])
            for n in final["status"].get("notifications") or []
            if n["outcome"] == "Delivered"
        }
        assert set(expected) <= recorded, set(expected) - recorded

        assert mine.proc is not None and mine.proc.poll() is None
        assert "Traceback" not in mine.logs(), mine.logs()[-3000:]
        print(
            f"{len(outbox)} events x {len(CHANNELS)} channels delivered after the restart; "
            f"{len(requests)} requests; {time.monotonic() - started:.1f}s"
        )
    finally:
        sink.close()
        try:
            api = custom(kube)
            api.delete_collection_namespaced_custom_object(
                GROUP, VERSION, namespace, "remediationpolicies"
            )
            wait_for(
                lambda: (
                    not api.list_namespaced_custom_object(
                        GROUP, VERSION, namespace, "remediationpolicies"
                    )["items"]
                ),
                60,
                "the policy to be deleted",
            )
            api.delete_collection_namespaced_custom_object(GROUP, VERSION, namespace, "incidents")
        finally:
            mine.stop()
            operator.start()
