"""The runner records each notification in the write of its transition and sends it after."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from typing import Any

from prognos.notify.events import NotificationEvent
from prognos.remediation.alerts import AlertHub
from prognos.remediation.engine import Step, StepKind
from prognos.remediation.incidents import Incident, State
from prognos.remediation.policy import Target, policy_from_spec
from prognos.remediation.runner import PolicyRunner, RemediationRuntime
from prognos.remediation.signals import Observation

DEP = Target("apps/v1", "Deployment", "web")
SPEC: dict[str, Any] = {
    "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
    "signals": [{"name": "crash", "kubernetes": {"crashLoop": True}}],
    "actions": [{"rolloutRestart": {}}],
    "notify": ["ops", "oncall"],
}


class Journal:
    """A fake API and notifier writing one shared journal, so order can be checked."""

    def __init__(self) -> None:
        self.log: list[tuple[str, Any]] = []
        self.fail_writes = 0
        self.stored: dict[str, dict[str, Any]] = {}
        self.settle: list[Callable[[], None]] = []

    # RemediationKube
    def patch_incident(self, namespace: str, name: str, status: Any, labels: Any = None) -> bool:
        if self.fail_writes:
            self.fail_writes -= 1
            raise RuntimeError("apiserver said 500")
        self.log.append(("write", status))
        return True

    def list_incidents(self, namespace: str | None, selector: str) -> list[dict[str, Any]]:
        return list(self.stored.values())

    def event(self, *args: Any) -> None:
        return None

    # Notifier
    def publish(
        self,
        event: NotificationEvent,
        channels: Sequence[str] | None,
        namespace: str,
        on_settled: Callable[[], None] | None = None,
    ) -> None:
        self.log.append(("publish", (event, channels)))
        if on_settled is not None:
            self.settle.append(on_settled)


def _runner(journal: Journal) -> PolicyRunner:
    kube: Any = journal
    fake: Any = None
    rt = RemediationRuntime(
        kube=kube, prometheus=fake, notifier_of=lambda: journal, alerts=AlertHub()
    )
    runner = PolicyRunner(rt, "demo", "web", lambda: {"spec": SPEC})
    runner.config = policy_from_spec(SPEC)
    return runner


def _incident() -> Incident:
    return Incident("web-crash-1", "demo", "web", "crash", "kubernetes", DEP, opened_at=1.0)


def test_the_notification_is_in_the_write_of_its_transition_and_published_after_it() -> None:
    journal = Journal()
    runner = _runner(journal)
    inc = _incident()
    runner.incidents[inc.name] = inc
    assert runner.config is not None
    asyncio.run(runner._escalate(runner.config, inc, Step(StepKind.ESCALATE, message="give up")))
    (kind_w, status), (kind_p, (event, channels)) = journal.log
    assert (kind_w, kind_p) == ("write", "publish")  # the write first, then the publish
    assert status["message"] == "give up"  # the transition ...
    assert list(status["outbox"]) == ["0-Escalated"]  # ... and its notification, one write
    assert status["outbox"]["0-Escalated"]["channels"] == ["ops", "oncall"]
    assert event.outbox_key == "0-Escalated"
    assert event.delivery_seed == status["outbox"]["0-Escalated"]["id"]
    assert event.dedup_key == "web-crash-1/0-Escalated"
    assert channels == ["ops", "oncall"]
    assert list(inc.outbox) == ["0-Escalated"]
    journal.settle[0]()  # every channel final: the runner forgets it (the recorder removes it)
    assert inc.outbox == {}


def test_a_failed_write_publishes_nothing_and_the_next_write_carries_the_entry() -> None:
    journal = Journal()
    runner = _runner(journal)
    inc = _incident()
    runner.incidents[inc.name] = inc
    assert runner.config is not None
    journal.fail_writes = 1
    step = Step(StepKind.RESOLVE, message="back to normal")
    with contextlib.suppress(RuntimeError):
        asyncio.run(runner._resolve(runner.config, inc, step))
    assert journal.log == []  # not written, so not sent
    asyncio.run(runner._flush(inc))
    (kind_w, status), (kind_p, (event, _)) = journal.log
    assert (kind_w, kind_p) == ("write", "publish")
    assert list(status["outbox"]) == ["0-Resolved"]
    assert status["state"] == State.RESOLVED.value
    assert event.outbox_key == "0-Resolved"
    asyncio.run(runner._flush(inc))
    assert len(journal.log) == 2  # nothing left unsent: no further write


def test_a_restarted_runner_publishes_the_outbox_again_with_the_same_ids() -> None:
    first = Journal()
    runner = _runner(first)
    inc = _incident()
    runner.incidents[inc.name] = inc
    assert runner.config is not None
    asyncio.run(runner._escalate(runner.config, inc, Step(StepKind.ESCALATE, message="a")))
    asyncio.run(runner._resolve(runner.config, inc, Step(StepKind.RESOLVE, message="b")))
    sent = [e for kind, (e, _) in (x for x in first.log if x[0] == "publish")]

    # What the API holds now (the runner's merge patches applied), then a new operator.
    stored: dict[str, Any] = {}
    outbox: dict[str, Any] = {}
    for kind, status in first.log:
        if kind == "write":
            outbox.update(status.get("outbox") or {})
            stored.update(status)
    stored["outbox"] = {k: v for k, v in outbox.items() if v is not None}
    second = Journal()
    second.stored["x"] = {
        "metadata": {"name": inc.name, "namespace": "demo"},
        "spec": {"policy": "web", "signal": "crash", "target": DEP.to_dict()},
        "status": stored,
    }
    again = _runner(second)
    asyncio.run(again.load())
    resent = [e for kind, (e, _) in (x for x in second.log if x[0] == "publish")]
    assert [e.outbox_key for e in resent] == ["0-Escalated", "1-Resolved"]  # in order
    assert [e.delivery_seed for e in resent] == [e.delivery_seed for e in sent]
    assert [e.to_payload() for e in resent] == [e.to_payload() for e in sent]
    assert again.incidents[inc.name].notify_seq == 2


def test_an_incident_created_but_never_written_is_announced_after_a_restart() -> None:
    """The operator stopped between creating the Incident and its first status write."""
    journal = Journal()
    journal.stored["x"] = {
        "metadata": {"name": "web-crash-2", "namespace": "demo"},
        "spec": {"policy": "web", "signal": "crash", "target": DEP.to_dict()},
    }
    runner = _runner(journal)
    asyncio.run(runner.load())
    assert runner.unannounced == {"web-crash-2"}
    assert runner.config is not None
    inc = runner.incidents["web-crash-2"]
    runner._announce(runner.config, runner.config.signals[0], inc, Observation(True, "3 pods"))
    asyncio.run(runner._flush(inc))
    (kind_w, status), (kind_p, (event, _)) = journal.log
    assert (kind_w, kind_p) == ("write", "publish")
    assert list(status["outbox"]) == ["0-IncidentOpened"]
    assert event.text == "3 pods"
    assert runner.unannounced == set()
