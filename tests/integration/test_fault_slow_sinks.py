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

import datetime as dt
import json
import re
from collections import Counter, defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client as k8s

from kubehelpers import (
    GROUP,
    VERSION,
    OperatorProcess,
    create_crashloop_ladder,
    create_webhook_channel,
    custom,
    fresh_namespace,
    wait_channels_ready,
    wait_for,
)
from kubehelpers import incidents as list_incidents
from notifyhelpers import RecordingSink
from prognos.notify.signing import verify_signature

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


class SlowSink(RecordingSink):
    """A real receiver that answers every request after ``DELAY_S``; records every request.

    The first ``FAIL_FIRST`` requests are answered 503, every later one 200.
    """

    def answer(self, record: dict[str, Any], index: int) -> int | None:
        status = 503 if index < FAIL_FIRST else 200
        self.closing.wait(DELAY_S)
        return status


@pytest.fixture
def namespace(kube: Any) -> Iterator[str]:
    yield from fresh_namespace(kube, "slow")


def _t(stamp: str) -> float:
    return dt.datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


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
            create_webhook_channel(
                kube,
                namespace,
                ch,
                f"{sink.url}/{ch}",
                SIGNING,
                secret_name=f"hook-{ch}",
                per_minute=6000,
                burst=1000,
                timeout="10s",
            )
        wait_channels_ready(kube, namespace, CHANNELS, 90, "every channel Ready")

        for i in range(POLICIES):
            create_crashloop_ladder(
                kube, namespace, name=f"sick-{i}", target=f"sick-{i}", notify=channels
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
            items = list_incidents(kube, namespace)
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
