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

import json
import signal
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kubehelpers import (
    GROUP,
    VERSION,
    OperatorProcess,
    create_crashloop_ladder,
    create_webhook_channel,
    custom,
    fresh_namespace,
    incidents,
    wait_channels_ready,
    wait_for,
)
from notifyhelpers import RecordingSink
from prognos.notify.outbox import delivery_id
from prognos.notify.signing import verify_signature

pytestmark = pytest.mark.integration

SIGNING = "durable-outbox-signing-secret"
CHANNELS = ("hook-a", "hook-b")


class HangingThenHealthySink(RecordingSink):
    """Records every request; hangs on each until ``heal()``, then answers 200 at once."""

    def __init__(self) -> None:
        self.healthy = threading.Event()
        super().__init__()

    def admit(self, record: dict[str, Any], index: int) -> None:
        record["healthy"] = self.healthy.is_set()

    def answer(self, record: dict[str, Any], index: int) -> int | None:
        if not record["healthy"]:
            self.closing.wait(300)  # the operator is killed meanwhile: nobody listens
            return None
        return 200

    def heal(self) -> None:
        self.healthy.set()


@pytest.fixture
def namespace(kube: Any) -> Iterator[str]:
    yield from fresh_namespace(kube, "durable")


def test_notifications_survive_a_sigkill_at_least_once_with_the_same_delivery_ids(
    kube: Any, sandbox: dict[str, Any], namespace: str, operator: Any, tmp_path: Path
) -> None:
    operator.stop()  # the session operator would act on this policy beside ours
    mine = OperatorProcess(sandbox, tmp_path / "operator.log")
    sink = HangingThenHealthySink()
    started = time.monotonic()
    try:
        mine.start()
        for ch in CHANNELS:
            # A hanging first attempt outlives the kill.
            create_webhook_channel(kube, namespace, ch, f"{sink.url}/{ch}", SIGNING, timeout="60s")
        wait_channels_ready(kube, namespace, 2, 90, "both channels Ready")

        create_crashloop_ladder(
            kube, namespace, name="sick", rungs=1, max_replicas=10, notify=list(CHANNELS)
        )

        # The ladder runs to its end while the receiver hangs: every notification is recorded
        # in the Incident's outbox and none is settled.
        def escalated_with_its_outbox() -> dict[str, Any] | None:
            items = incidents(kube, namespace)
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
        after_kill = incidents(kube, namespace)[0]["status"]["outbox"]
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
            inc = incidents(kube, namespace)[0]
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
