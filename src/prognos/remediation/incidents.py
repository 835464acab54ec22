"""The Incident as a write-ahead log: typed records and their round trip through ``status``.

Pure. The runner writes an action as ``Planned`` (with its idempotency key and the exact
parameters decided) *before* executing it, then its result; a restarted operator reads the
records back with :meth:`Incident.from_object` and, for a ``Planned`` record without a result,
asks :func:`prognos.remediation.actions.took_effect` whether the change is already there before
executing it (every plan is idempotent by construction: absolute replica counts, a fixed
``restartedAt`` value, pod UIDs as preconditions, deterministic Job names).

It is also the outbox of its notifications (``status.outbox``, a map key -> entry): an event is
recorded with :meth:`Incident.record_notification` and goes out in the same status write as the
transition it reports; it is published after that write and leaves the outbox when settled
(``prognos.notify.outbox``). The runner's writes are JSON merge patches, so it writes only the
entries it added or dropped since its last write (``outbox_patch``), never the whole map: an
entry the delivery side removed meanwhile is not written back.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from prognos.notify.events import NotificationEvent
from prognos.notify.outbox import MAX_OUTBOX, OutboxEntry, entries_from_status
from prognos.remediation.policy import Target
from prognos.remediation.signals import parse_time

MAX_ACTIONS = 32
MAX_NOTIFICATIONS = 64
POLICY_LABEL = "prognos.io/policy"
SIGNAL_LABEL = "prognos.io/signal"
TARGET_LABEL = "prognos.io/target"
OPEN_LABEL = "prognos.io/open"


class State(StrEnum):
    OPEN = "Open"  # detected; no action yet (guards may be holding it)
    ACTING = "Acting"  # an action is planned or being executed
    VERIFYING = "Verifying"  # an action ran; waiting for the signal to return to normal
    ESCALATED = "Escalated"  # the ladder is exhausted; people were told
    RESOLVED = "Resolved"


class ActionState(StrEnum):
    PLANNED = "Planned"  # written before execution; no result yet
    APPLIED = "Applied"
    FAILED = "Failed"
    BLOCKED = "Blocked"  # refused for now (a PodDisruptionBudget): retried, never forced
    DRY_RUN = "DryRun"  # what would have been done
    VERIFIED = "Verified"  # applied, and the signal returned to normal in time
    UNVERIFIED = "Unverified"  # applied, signal still firing at the deadline: next rung
    SUPERSEDED = "Superseded"  # never completed; the incident ended first


#: States after which a record can never run again.
FINAL = frozenset(
    {
        ActionState.FAILED,
        ActionState.VERIFIED,
        ActionState.UNVERIFIED,
        ActionState.SUPERSEDED,
    }
)


def iso(t: float | None) -> str | None:
    """Epoch seconds to RFC 3339 with milliseconds (latency figures need sub-second times)."""
    if t is None:
        return None
    stamp = dt.datetime.fromtimestamp(t, dt.UTC).isoformat(timespec="milliseconds")
    return stamp.replace("+00:00", "Z")


def action_key(incident: str, rung: int, attempt: int) -> str:
    """The idempotency key: stable for one (incident, rung, attempt)."""
    return hashlib.sha256(f"{incident}/{rung}/{attempt}".encode()).hexdigest()[:16]


def dns_label(text: str, limit: int) -> str:
    out = re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")[:limit].strip("-")
    return out or "x"


def incident_name(policy: str, signal: str, target: Target, opened_at: float) -> str:
    """Deterministic for one episode: the same opening never creates two objects."""
    digest = hashlib.sha256(f"{policy}/{signal}/{target}/{opened_at:.3f}".encode()).hexdigest()
    return f"{dns_label(policy, 30)}-{dns_label(signal, 20)}-{digest[:8]}"


def target_label(target: Target) -> str:
    return dns_label(f"{target.kind}-{target.name}", 63)


@dataclass
class ActionRecord:
    rung: int
    name: str
    type: str
    key: str
    state: ActionState
    planned_at: float
    params: dict[str, Any] = field(default_factory=dict)
    applied_at: float | None = None
    verify_by: float | None = None
    finished_at: float | None = None
    message: str = ""
    attempts: int = 0

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "rung": self.rung,
            "name": self.name,
            "type": self.type,
            "key": self.key,
            "state": self.state.value,
            "plannedAt": iso(self.planned_at),
            "appliedAt": iso(self.applied_at),
            "verifyBy": iso(self.verify_by),
            "finishedAt": iso(self.finished_at),
            "params": self.params,
            "message": self.message[:2048],
            "attempts": self.attempts,
        }
        return {k: v for k, v in out.items() if v is not None}

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> ActionRecord:
        return cls(
            rung=int(raw.get("rung", 0)),
            name=str(raw.get("name", "")),
            type=str(raw.get("type", "")),
            key=str(raw.get("key", "")),
            state=ActionState(str(raw.get("state", "Planned"))),
            planned_at=parse_time(raw.get("plannedAt")) or 0.0,
            params=dict(raw.get("params") or {}),
            applied_at=parse_time(raw.get("appliedAt")),
            verify_by=parse_time(raw.get("verifyBy")),
            finished_at=parse_time(raw.get("finishedAt")),
            message=str(raw.get("message", "")),
            attempts=int(raw.get("attempts", 0)),
        )


@dataclass
class Incident:
    name: str
    namespace: str
    policy: str
    signal: str
    signal_kind: str
    target: Target
    opened_at: float
    state: State = State.OPEN
    message: str = ""
    evidence: dict[str, Any] = field(default_factory=dict)
    last_evidence: dict[str, Any] = field(default_factory=dict)
    rung: int = 0
    actions: list[ActionRecord] = field(default_factory=list)
    resolved_at: float | None = None
    conditions: list[dict[str, Any]] = field(default_factory=list)
    #: Unsettled notifications, oldest first (``status.outbox``).
    outbox: dict[str, OutboxEntry] = field(default_factory=dict)
    #: The next notification's sequence number (``status.notifySeq``; never reused).
    notify_seq: int = 0
    #: In memory only: when the signal was last seen back to normal (verification debounce).
    healthy_since: float | None = None
    #: In memory only: outbox changes not yet written (key -> entry, or None to remove).
    outbox_patch: dict[str, dict[str, Any] | None] = field(default_factory=dict)
    #: In memory only: keys recorded but not yet published (published after the next write).
    unsent: list[str] = field(default_factory=list)

    @property
    def open(self) -> bool:
        return self.state is not State.RESOLVED

    @property
    def last(self) -> ActionRecord | None:
        return self.actions[-1] if self.actions else None

    def pending(self) -> ActionRecord | None:
        """The action written as Planned whose result was never recorded."""
        last = self.last
        return last if last is not None and last.state is ActionState.PLANNED else None

    def record_notification(
        self, event: NotificationEvent, channels: Iterable[str], entry_id: str | None = None
    ) -> tuple[OutboxEntry, list[OutboxEntry]]:
        """Add ``event`` to the outbox; return the entry and those dropped to stay bounded.

        The entry's key, ``"<seq>-<type>"``, is unique within the Incident (the sequence number
        is written with it and never reused); the event's ``dedup_key`` becomes
        ``"<incident>/<key>"``. Beyond ``MAX_OUTBOX`` unsettled entries the oldest are dropped:
        a dropped entry already published may still be delivered, but is no longer durable.
        """
        seq = self.notify_seq
        self.notify_seq += 1
        key = f"{seq}-{event.type.value}"
        entry = OutboxEntry(
            key=key,
            seq=seq,
            id=entry_id or uuid.uuid4().hex,
            channels=tuple(channels),
            event=replace(event, dedup_key=f"{self.name}/{key}"),
        )
        self.outbox[key] = entry
        self.outbox_patch[key] = entry.to_dict()
        self.unsent.append(key)
        dropped = []
        while len(self.outbox) > MAX_OUTBOX:
            old_key = next(iter(self.outbox))
            dropped.append(self.outbox.pop(old_key))
            self.outbox_patch[old_key] = None
            if old_key in self.unsent:
                self.unsent.remove(old_key)
        return entry, dropped

    def settle(self, key: str) -> None:
        """Every channel of the entry has a final outcome (the delivery side removes it from
        ``status.outbox``): forget it here too."""
        self.outbox.pop(key, None)

    def written(self, patch: Mapping[str, Any], unsent: Iterable[str]) -> list[OutboxEntry]:
        """A status write carrying ``patch`` (a snapshot of ``outbox_patch``) succeeded: clear
        what it carried and return the entries of ``unsent`` to publish now, oldest first."""
        for key, value in patch.items():
            if key in self.outbox_patch and self.outbox_patch[key] is value:
                del self.outbox_patch[key]
        sent = set(unsent)
        self.unsent = [k for k in self.unsent if k not in sent]
        return [self.outbox[k] for k in unsent if k in self.outbox]

    def action_times(self) -> list[float]:
        """When actions were planned: what circuit breakers and cooldowns count."""
        return [a.planned_at for a in self.actions]

    def labels(self) -> dict[str, str]:
        return {
            POLICY_LABEL: dns_label(self.policy, 63),
            SIGNAL_LABEL: dns_label(self.signal, 63),
            TARGET_LABEL: target_label(self.target),
            OPEN_LABEL: "true" if self.open else "false",
        }

    def manifest(self, api_version: str, owner: Mapping[str, str] | None) -> dict[str, Any]:
        meta: dict[str, Any] = {
            "name": self.name,
            "namespace": self.namespace,
            "labels": self.labels(),
        }
        if owner:
            # Deleting the policy deletes its incidents (garbage collection), not the targets.
            meta["ownerReferences"] = [dict(owner)]
        return {
            "apiVersion": api_version,
            "kind": "Incident",
            "metadata": meta,
            "spec": {
                "policy": self.policy,
                "signal": self.signal,
                "signalKind": self.signal_kind,
                "target": self.target.to_dict(),
            },
        }

    def status(self) -> dict[str, Any]:
        """The status this package owns: all of it but ``outbox``, where only the changes since
        the last write are included (``notifications`` is appended by the delivery side)."""
        actions = self.actions[-MAX_ACTIONS:]
        out: dict[str, Any] = {
            "state": self.state.value,
            "openedAt": iso(self.opened_at),
            "resolvedAt": iso(self.resolved_at),
            "message": self.message[:2048],
            "conditions": self.conditions,
            "evidence": self.evidence,
            "lastEvidence": self.last_evidence,
            "rung": self.rung,
            "actionCount": len(self.actions),
            "actions": [a.to_dict() for a in actions],
            "notifySeq": self.notify_seq,
        }
        if self.outbox_patch:
            out["outbox"] = dict(self.outbox_patch)
        return out

    @classmethod
    def from_object(cls, obj: Mapping[str, Any]) -> Incident:
        meta = obj.get("metadata") or {}
        spec = obj.get("spec") or {}
        status = obj.get("status") or {}
        created = parse_time(meta.get("creationTimestamp")) or 0.0
        outbox = entries_from_status(status.get("outbox"))
        seq = max([int(status.get("notifySeq") or 0), *(e.seq + 1 for e in outbox)])
        return cls(
            name=str(meta.get("name", "")),
            namespace=str(meta.get("namespace", "")),
            policy=str(spec.get("policy", "")),
            signal=str(spec.get("signal", "")),
            signal_kind=str(spec.get("signalKind", "")),
            target=Target.from_spec(
                spec.get("target") or {"apiVersion": "", "kind": "", "name": ""}
            ),
            opened_at=parse_time(status.get("openedAt")) or created,
            state=State(str(status.get("state") or "Open")),
            message=str(status.get("message", "")),
            evidence=dict(status.get("evidence") or {}),
            last_evidence=dict(status.get("lastEvidence") or {}),
            rung=int(status.get("rung", 0)),
            actions=[ActionRecord.from_dict(a) for a in status.get("actions") or []],
            resolved_at=parse_time(status.get("resolvedAt")),
            conditions=list(status.get("conditions") or []),
            outbox={e.key: e for e in outbox},
            notify_seq=seq,
        )


def retention(
    incidents: Iterable[Incident], keep_resolved: int, ttl_s: float, now: float
) -> list[str]:
    """Names of resolved incidents to delete: beyond the newest ``keep_resolved``, or older
    than ``ttl_s`` since resolution. Open incidents are never deleted, nor, until ``ttl_s``,
    one whose outbox still holds unsettled notifications (deleting it would lose them)."""
    resolved = sorted(
        (i for i in incidents if not i.open),
        key=lambda i: i.resolved_at or i.opened_at,
        reverse=True,
    )
    out = []
    for index, inc in enumerate(resolved):
        age = now - (inc.resolved_at or inc.opened_at)
        if age > ttl_s or (index >= keep_resolved and not inc.outbox):
            out.append(inc.name)
    return out


def append_bounded(
    existing: Iterable[Mapping[str, Any]] | None, entry: Mapping[str, Any], limit: int
) -> list[dict[str, Any]]:
    """``existing + [entry]`` keeping the newest ``limit`` entries."""
    out = [dict(e) for e in existing or []]
    out.append(dict(entry))
    return out[-limit:]
