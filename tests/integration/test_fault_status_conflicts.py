"""409s on status writes: other writers keep changing Prognos' own objects while it works.

Every status the operator writes (PredictiveScaler, RemediationPolicy, NotificationChannel and
Incident status, and the Incident's open label) is a merge patch without a resourceVersion, so
someone else's concurrent change cannot make it fail; the one status write that does carry a
resourceVersion is the append of delivery results to ``Incident.status.notifications``
(read-modify-write: a concurrent change is a 409, re-read and retried; Kopf's finalizer patch
is conditional too, and Kopf retries it on the next event). This test makes those
conflicts happen: writer threads change a label and an annotation on the policy, the scaler, the
channel and the Incident every ~50 ms through the real apiserver (each write bumps the
resourceVersion) while a RemediationPolicy climbs a three-rung ``scaleOut`` ladder on a
crash-looping Deployment (every step notifies a signed webhook) and a PredictiveScaler scales
another Deployment. Afterwards the counts must agree: three actions on the Incident and exactly
2 + 3 replicas (nothing lost, nothing repeated), a truthful Incident, policy and scaler status,
every accepted delivery recorded on the Incident once, and the writers' labels still there (the
operator never wrote back a stale copy of someone else's change).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from kubernetes.client.exceptions import ApiException

from kubehelpers import (
    GROUP,
    VERSION,
    condition,
    create_busy_scaler,
    create_crashloop_ladder,
    create_webhook_channel,
    custom,
    fresh_namespace,
    get_psc,
    incidents,
    replicas,
    wait_for,
)
from notifyhelpers import Sink
from prognos.notify.signing import verify_signature

pytestmark = pytest.mark.integration

QUERY = 'sum(prognos_demo_requests_per_second{namespace="demo",workload="web"})'
SIGNING = "status-conflicts-signing-secret"
STORM_LABEL = "test.prognos.io/storm"
STORM_ANNOTATION = "test.prognos.io/storm-writer"
#: Seconds between two writes of one writer thread (one thread per object).
STORM_PERIOD_S = 0.05


@pytest.fixture
def namespace(kube: Any) -> Iterator[str]:
    yield from fresh_namespace(kube, "st409")


def _get(kube: Any, ns: str, plural: str, name: str) -> dict[str, Any]:
    obj: dict[str, Any] = custom(kube).get_namespaced_custom_object(
        GROUP, VERSION, ns, plural, name
    )
    return obj


class Writer:
    """A thread that keeps changing one object's label and annotation (merge patches)."""

    def __init__(self, name: str, patch: Callable[[dict[str, Any]], Any]) -> None:
        self.name = name
        self.patch = patch
        self.writes = 0
        self.last: str | None = None  # the value of the last write the apiserver accepted
        self.errors: list[int] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name=f"storm-{name}", daemon=True)

    def _run(self) -> None:
        n = 0
        while not self.stop.is_set():
            n += 1
            value = f"w{n}"
            body = {
                "metadata": {
                    "labels": {STORM_LABEL: value},
                    "annotations": {STORM_ANNOTATION: f"{self.name}-{value}"},
                }
            }
            try:
                self.patch(body)
            except ApiException as exc:
                self.errors.append(int(exc.status or 0))
            except Exception:  # a dropped connection: keep storming
                self.errors.append(-1)
            else:
                self.writes += 1
                self.last = value
            self.stop.wait(STORM_PERIOD_S)


def _custom_patcher(kube: Any, ns: str, plural: str, name: str) -> Callable[[dict[str, Any]], Any]:
    api = custom(kube)

    def patch(body: dict[str, Any]) -> Any:
        return api.patch_namespaced_custom_object(GROUP, VERSION, ns, plural, name, body)

    return patch


def test_a_storm_of_writes_on_prognos_objects_loses_and_repeats_nothing(
    kube: Any, namespace: str, operator: Any
) -> None:
    offset = len(operator.logs())
    sink = Sink()
    writers: list[Writer] = []
    try:
        # A signed webhook: every incident step is delivered and recorded on the Incident.
        create_webhook_channel(
            kube, namespace, "ops", f"{sink.url}/hook", SIGNING, secret_name="hook"
        )
        wait_for(
            lambda: (
                condition(_get(kube, namespace, "notificationchannels", "ops"), "Ready").get(
                    "status"
                )
                == "True"
            ),
            60,
            "the channel to be Ready",
        )

        create_crashloop_ladder(kube, namespace, notify=["ops"])
        create_busy_scaler(kube, namespace, QUERY)

        # The storm starts before the first decision and the first incident.
        writers = [
            Writer(
                "policy", _custom_patcher(kube, namespace, "remediationpolicies", "sick-health")
            ),
            Writer("scaler", _custom_patcher(kube, namespace, "predictivescalers", "busy")),
            Writer("channel", _custom_patcher(kube, namespace, "notificationchannels", "ops")),
        ]
        for w in writers:
            w.thread.start()
        opened = wait_for(lambda: incidents(kube, namespace), 120, "the incident to open")
        assert len(opened) == 1, [i["metadata"]["name"] for i in opened]
        incident = opened[0]["metadata"]["name"]
        writers.append(Writer("incident", _custom_patcher(kube, namespace, "incidents", incident)))
        writers[-1].thread.start()
        rv_before = {
            w.name: _get(kube, namespace, plural, name)["metadata"]["resourceVersion"]
            for w, plural, name in zip(
                writers,
                ["remediationpolicies", "predictivescalers", "notificationchannels", "incidents"],
                ["sick-health", "busy", "ops", incident],
                strict=True,
            )
        }

        inc = wait_for(
            lambda: (
                (obj := _get(kube, namespace, "incidents", incident))
                and (obj.get("status") or {}).get("state") == "Escalated"
                and obj
            ),
            240,
            "the ladder to finish under the storm",
        )
        decided_under_storm = get_psc(kube, namespace, "busy")["status"]["lastDecisionTime"]
        time.sleep(12)  # two more scaler ticks and a few policy ticks, still under the storm
        scaler_status = get_psc(kube, namespace, "busy")["status"]
        assert scaler_status["lastDecisionTime"] != decided_under_storm  # kept deciding
    finally:
        for w in writers:
            w.stop.set()
        for w in writers:
            w.thread.join(10)

    try:
        for w in writers:
            assert w.writes >= 50, (w.name, w.writes, w.errors[:20])
            assert not [e for e in w.errors if e not in (404,)], (w.name, w.errors[:20])
        # Every one of those writes bumped the resourceVersion the operator had read.
        for w, plural, name in zip(
            writers,
            ["remediationpolicies", "predictivescalers", "notificationchannels", "incidents"],
            ["sick-health", "busy", "ops", incident],
            strict=True,
        ):
            obj = _get(kube, namespace, plural, name)
            assert obj["metadata"]["resourceVersion"] != rv_before[w.name]
            # Nobody wrote back a stale copy: the last accepted label and annotation are there.
            labels = obj["metadata"].get("labels") or {}
            annotations = obj["metadata"].get("annotations") or {}
            assert labels.get(STORM_LABEL) == w.last, (w.name, labels, w.last)
            assert annotations.get(STORM_ANNOTATION) == f"{w.name}-{w.last}", (w.name, annotations)

        # No action lost or repeated: the Incident and the Deployment agree exactly.
        inc = _get(kube, namespace, "incidents", incident)
        status = inc["status"]
        actions = status["actions"]
        assert [a["type"] for a in actions] == ["scaleOut"] * 3, actions
        assert [a["rung"] for a in actions] == [0, 1, 2], actions
        assert all(a["state"] in ("Unverified", "Applied") for a in actions), actions
        assert [a["params"]["to"] for a in actions] == [3, 4, 5], actions
        assert (status["state"], status["actionCount"], status["rung"]) == ("Escalated", 3, 3)
        assert len(incidents(kube, namespace)) == 1
        time.sleep(6)  # one more tick: nothing runs again
        assert replicas(kube, namespace, "sick") == 2 + 3, (actions, status.get("message"))
        # The Incident's own labels survived the storm next to the writer's.
        assert inc["metadata"]["labels"].get("prognos.io/policy") == "sick-health"

        # The policy's status tells the truth about the incident.
        pol = _get(kube, namespace, "remediationpolicies", "sick-health")
        assert pol["status"]["lastIncident"] == incident, pol["status"]
        assert pol["status"]["openIncidents"] == 1, pol["status"]
        assert condition(pol, "Ready").get("status") == "True", pol["status"]

        # The scaler's status matches its target.
        def truthful() -> bool:
            st = get_psc(kube, namespace, "busy").get("status") or {}
            actual = replicas(kube, namespace, "busy")
            return bool(st.get("desiredReplicas") == actual == st.get("currentReplicas"))

        wait_for(truthful, 60, "the scaler's status to match its target")
        assert replicas(kube, namespace, "busy") > 1

        # Every delivery the receiver accepted is recorded on the Incident, exactly once,
        # although each record is a read-modify-write that the storm made conflict.
        def received() -> set[str]:
            return {r["headers"]["X-Prognos-Delivery"] for r in list(sink.requests)}

        types = wait_for(
            lambda: (
                {b["type"] for b in sink.json_bodies()} >= {"IncidentOpened", "Escalated"}
                and {b["type"] for b in sink.json_bodies()}
            ),
            90,
            "the escalation to be delivered",
        )
        assert "ActionApplied" in types, types
        accepted = received()

        def recorded() -> list[str]:
            notes = (_get(kube, namespace, "incidents", incident).get("status") or {}).get(
                "notifications"
            ) or []
            return [n["deliveryId"] for n in notes if n.get("outcome") == "Delivered"]

        wait_for(lambda: set(recorded()) >= accepted, 60, "every delivery recorded")
        ids = recorded()
        assert len(ids) == len(set(ids)), ids  # none recorded twice
        assert set(ids) == received(), (sorted(ids), sorted(received()))
        for r in list(sink.requests):
            h = r["headers"]
            assert verify_signature(
                SIGNING, r["body"], h["X-Prognos-Timestamp"], h["X-Prognos-Signature"]
            )

        assert operator.proc.poll() is None
        fresh = operator.logs()[offset:]
        assert "Traceback" not in fresh, fresh[-3000:]
    finally:
        sink.close()
