"""Slow notification receivers under load: healing keeps its pace, the queue stays bounded.

A real HTTP receiver on 127.0.0.1 takes 5 s to answer every request (its first answers are 503,
then it recovers) and sits behind 16 signed-webhook NotificationChannels. Eight crash-looping
Deployments each get a RemediationPolicy that climbs a three-rung ``scaleOut`` ladder and tells
all 16 channels about every step: far more notifications than a 5 s receiver can take (the
dispatcher's four workers deliver about one per 1.25 s) and more than the delivery queue holds
(1,000), so it overflows. The operator runs as its own process (``--max-actions=off``, so the
operator-wide breaker does not stop 24 actions; the session operator is stopped meanwhile).

Promises checked: every Incident's first action is applied within 15 s of its opening and every
ladder finishes with exactly its three actions (the slow receiver never slows healing); the
queue stays bounded and an overflow is counted in ``prognos_notification_queue_overflow_total``
and reported as a ``NotificationDropped`` Event on the channel; every request the receiver got
is complete and correctly signed, retries reuse the delivery id, nothing is delivered twice
(at-least-once, never more than one accepted answer per delivery, never one event under two
ids), and every accepted delivery is recorded on its Incident.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client as k8s

from kubehelpers import GROUP, VERSION, OperatorProcess, condition, custom, wait_for
from prognos.notify.signing import verify_signature
from prognos.sandbox.objects import demo_deployment
from prognos.sandbox.stages import FAULT_LABEL

pytestmark = pytest.mark.integration

SIGNING = "slow-sink-signing-secret"
CHANNELS = 16  # the most a policy may notify
POLICIES = 8
#: Seconds the receiver takes to answer each request.
DELAY_S = 5.0
#: The receiver's first answers are 503 (retried by the dispatcher), then it recovers.
FAIL_FIRST = 6
#: The bound on an Incident's first action, opening to applied (normally 1-3 s).
FIRST_ACTION_S = 15.0
QUEUE_SIZE = 1000  # the dispatcher's default (NotifyOptions.queue_size)
RECORDS_KEPT = 64  # an Incident keeps its newest 64 delivery results


class SlowSink:
    """A real receiver that answers every request after ``DELAY_S``; records every request."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        self.closing = threading.Event()
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                received = time.time()
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                with sink.lock:
                    status = 503 if len(sink.requests) < FAIL_FIRST else 200
                    record: dict[str, Any] = {
                        "path": self.path,
                        "headers": dict(self.headers.items()),
                        "length": length,
                        "body": body,
                        "received": received,
                        "answered": None,
                    }
                    sink.requests.append(record)
                sink.closing.wait(DELAY_S)
                out = b"ok" if status == 200 else b"busy"
                try:
                    self.send_response(status)
                    self.send_header("Content-Length", str(len(out)))
                    self.end_headers()
                    self.wfile.write(out)
                    self.wfile.flush()
                except OSError:
                    return
                with sink.lock:
                    record["answered"] = status

            def log_message(self, format: str, *args: object) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

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
    name = f"slow-{uuid.uuid4().hex[:8]}"
    body: Any = {"metadata": {"name": name}}
    k8s.CoreV1Api(kube).create_namespace(body)
    yield name
    k8s.CoreV1Api(kube).delete_namespace(name)


def _t(stamp: str) -> float:
    return dt.datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def _incidents(kube: Any, ns: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = custom(kube).list_namespaced_custom_object(
        GROUP, VERSION, ns, "incidents"
    )["items"]
    return items


def _metric(text: str, name: str, **labels: str) -> list[float]:
    """Values of the samples of ``name`` whose labels include ``labels``."""
    out = []
    for line in text.splitlines():
        m = re.match(rf"^{name}(\{{[^}}]*\}})? (\S+)$", line)
        if m and all(f'{k}="{v}"' in (m.group(1) or "") for k, v in labels.items()):
            out.append(float(m.group(2)))
    return out


def _results_logged(log: str) -> Counter[str]:
    """Final delivery outcomes the operator logged, per Incident."""
    out: Counter[str] = Counter()
    for line in log.splitlines():
        if '"notify.result"' not in line:
            continue
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if record.get("incident"):
            out[str(record["incident"])] += 1
    return out


def test_slow_receivers_never_slow_healing_and_the_queue_stays_bounded(
    kube: Any, sandbox: dict[str, Any], namespace: str, operator: Any, tmp_path: Path
) -> None:
    apps, core = k8s.AppsV1Api(kube), k8s.CoreV1Api(kube)
    channels = [f"c{i:02d}" for i in range(CHANNELS)]
    operator.stop()  # the session operator would act on these policies beside ours
    mine = OperatorProcess(sandbox, tmp_path / "operator.log", ["--max-actions=off"])
    sink = SlowSink()
    try:
        mine.start()
        for ch in channels:
            data = {"url": f"{sink.url}/{ch}", "secret": SIGNING}
            secret: Any = {
                "metadata": {"name": f"hook-{ch}"},
                "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()},
            }
            core.create_namespaced_secret(namespace, secret)
            body = {
                "apiVersion": f"{GROUP}/{VERSION}",
                "kind": "NotificationChannel",
                "metadata": {"name": ch},
                "spec": {
                    "webhook": {
                        "urlSecretRef": {"name": f"hook-{ch}"},
                        "signingSecretRef": {"name": f"hook-{ch}"},
                    },
                    "rateLimit": {"perMinute": 6000, "burst": 1000},
                    "timeout": "10s",
                },
            }
            custom(kube).create_namespaced_custom_object(
                GROUP, VERSION, namespace, "notificationchannels", body
            )

        def ready() -> bool:
            items = custom(kube).list_namespaced_custom_object(
                GROUP, VERSION, namespace, "notificationchannels"
            )["items"]
            return sum(condition(c, "Ready").get("status") == "True" for c in items) == CHANNELS

        wait_for(ready, 90, "every channel Ready")

        rung = {"scaleOut": {"by": 1, "max": 20}, "verifyWithin": "5s"}
        for i in range(POLICIES):
            sick: Any = demo_deployment(namespace, f"sick-{i}", replicas=2)
            sick["spec"]["template"]["metadata"]["labels"][FAULT_LABEL] = "crashloop"
            apps.create_namespaced_deployment(namespace, sick)
            policy = {
                "apiVersion": f"{GROUP}/{VERSION}",
                "kind": "RemediationPolicy",
                "metadata": {"name": f"sick-{i}"},
                "spec": {
                    "targetRef": {
                        "apiVersion": "apps/v1",
                        "kind": "Deployment",
                        "name": f"sick-{i}",
                    },
                    "signals": [{"name": "crashloop", "kubernetes": {"crashLoop": True}}],
                    "actions": [rung, rung, rung],
                    "cooldown": "1h",
                    "notify": channels,
                },
            }
            custom(kube).create_namespaced_custom_object(
                GROUP, VERSION, namespace, "remediationpolicies", policy
            )

        # Watch while the ladders run: queue depth, and every delivery result ever recorded on
        # an Incident (each keeps its newest 64, so a record may later be pushed out).
        max_depth = 0.0
        recorded: dict[str, set[str]] = defaultdict(set)  # outcome -> delivery ids

        def observe() -> list[dict[str, Any]]:
            nonlocal max_depth
            max_depth = max(
                [max_depth, *_metric(mine.metrics(), "prognos_notification_queue_depth")]
            )
            items = _incidents(kube, namespace)
            for inc in items:
                for note in (inc.get("status") or {}).get("notifications") or []:
                    recorded[note["outcome"]].add(note["deliveryId"])
            return items

        def all_escalated() -> list[dict[str, Any]] | None:
            items = observe()
            done = [i for i in items if (i.get("status") or {}).get("state") == "Escalated"]
            return items if len(items) == POLICIES and len(done) == POLICIES else None

        incidents = wait_for(all_escalated, 240, "every ladder to finish", interval=0.5)

        # Healing kept its pace: each first action within FIRST_ACTION_S of the opening, and
        # exactly three actions per Incident, matching the replicas (none lost or repeated).
        lags = []
        for inc in incidents:
            status = inc["status"]
            actions = status["actions"]
            assert [a["type"] for a in actions] == ["scaleOut"] * 3, actions
            assert all(a["state"] in ("Applied", "Unverified") for a in actions), actions
            assert status["actionCount"] == 3, status
            lags.append(_t(actions[0]["appliedAt"]) - _t(status["openedAt"]))
        print(f"first action after opening: max {max(lags):.2f}s, all {sorted(lags)}")
        assert max(lags) <= FIRST_ACTION_S, lags
        for i in range(POLICIES):
            scale: Any = apps.read_namespaced_deployment_scale(f"sick-{i}", namespace)
            assert scale.spec.replicas == 2 + 3, (f"sick-{i}", scale.spec.replicas)

        # The queue is bounded and it overflowed: counted per channel, and an Event says so.
        text = mine.metrics()
        dropped = sum(
            _metric(text, "prognos_notification_queue_overflow_total", namespace=namespace)
        )
        print(f"max queue depth {max_depth:.0f}, dropped {dropped:.0f}")
        assert 0 < max_depth <= QUEUE_SIZE, max_depth
        assert dropped > 0, [ln for ln in text.splitlines() if "notification" in ln]
        events = wait_for(
            lambda: [
                e
                for e in core.list_namespaced_event(
                    namespace, field_selector="involvedObject.kind=NotificationChannel"
                ).items
                if e.reason == "NotificationDropped"
            ],
            60,
            "a NotificationDropped Event",
        )
        assert "queue full" in events[0].message, events[0].message
        assert "prognos_notification_queue_overflow_total" in events[0].message

        # Some deliveries got through meanwhile (4 workers, 5 s each).
        wait_for(
            lambda: sum(r["answered"] == 200 for r in sink.snapshot()) >= 8,
            120,
            "accepted deliveries",
        )
        requests = sink.snapshot()
        accepted = {r["headers"]["X-Prognos-Delivery"] for r in requests if r["answered"] == 200}
        # Every accepted delivery is recorded on its Incident as Delivered.
        wait_for(
            lambda: observe() is not None and recorded["Delivered"] >= accepted,
            60,
            "accepted deliveries recorded on their Incidents",
        )
        assert recorded["Overflow"], dict(recorded)  # drops are recorded there too

        # No result lost: each Incident holds every result the dispatcher reported for it (up
        # to the newest RECORDS_KEPT), although a dropped event's results for 16 channels all
        # arrive at once, each a read-modify-write of the same Incident.
        last: dict[str, Any] = {}

        def all_recorded() -> bool:
            reported = _results_logged(mine.logs())
            kept = {
                i["metadata"]["name"]: len((i.get("status") or {}).get("notifications") or [])
                for i in observe()
            }
            last.update(reported=dict(reported), kept=kept)
            return kept == {name: min(RECORDS_KEPT, reported[name]) for name in kept}

        try:
            wait_for(all_recorded, 60, "every result recorded on its Incident", interval=1)
        except AssertionError as exc:
            raise AssertionError(f"{exc}: {last}") from None

        # What was delivered is complete, signed, and not duplicated beyond at-least-once.
        names = {i["metadata"]["name"] for i in incidents}
        by_id: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
        for r in requests:
            h = r["headers"]
            assert r["length"] == len(r["body"]) > 0
            assert verify_signature(
                SIGNING,
                r["body"],
                h.get("X-Prognos-Timestamp"),
                h.get("X-Prognos-Signature"),
                now=r["received"],
            ), h
            payload = json.loads(r["body"])
            assert payload["schemaVersion"] == "prognos.io/notification/v1"
            assert payload["namespace"] == namespace
            assert payload["incident"] in names, payload["incident"]
            assert payload["type"] == h["X-Prognos-Event"]
            assert payload["source"].startswith("RemediationPolicy/sick-")
            assert payload["title"] and payload["details"]["signal"] == "crashloop"
            assert r["path"].lstrip("/") in channels
            by_id[(r["path"], h["X-Prognos-Delivery"])].append(r)
        assert sum(r["answered"] == 503 for r in requests) == FAIL_FIRST
        for key, attempts in by_id.items():
            answers = [a["answered"] for a in attempts]
            # Retries reuse the delivery id; only a 503 is ever retried; one 200 at most.
            assert answers.count(200) <= 1, (key, answers)
            assert all(a == 503 for a in answers[:-1]), (key, answers)
        events_per_channel = Counter((r["path"], r["body"]) for r in requests)
        ids_per_event: dict[tuple[str, bytes], set[str]] = defaultdict(set)
        for r in requests:
            ids_per_event[(r["path"], r["body"])].add(r["headers"]["X-Prognos-Delivery"])
        twice = {k: v for k, v in ids_per_event.items() if len(v) > 1}
        assert not twice, list(twice.values())[:3]
        assert len(events_per_channel) == len(by_id)

        assert mine.proc is not None and mine.proc.poll() is None
        assert "Traceback" not in mine.logs(), mine.logs()[-3000:]
    finally:
        sink.close()
        try:
            _remove_policies_and_incidents(kube, namespace)
        finally:
            mine.stop()
            operator.start()


def _remove_policies_and_incidents(kube: Any, ns: str) -> None:
    """Delete this test's policies (while our operator can still remove its finalizer) and
    Incidents: their 24 actions must not count against the session operator's breaker."""
    api = custom(kube)
    api.delete_collection_namespaced_custom_object(GROUP, VERSION, ns, "remediationpolicies")

    def gone(plural: str) -> bool:
        return not api.list_namespaced_custom_object(GROUP, VERSION, ns, plural)["items"]

    wait_for(lambda: gone("remediationpolicies"), 60, "the policies to be deleted")
    api.delete_collection_namespaced_custom_object(GROUP, VERSION, ns, "incidents")
    wait_for(lambda: gone("incidents"), 60, "the incidents to be deleted")
