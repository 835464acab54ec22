"""The durable outbox of Incident notifications: entries, deterministic delivery ids, settling.

Pure (no I/O). A notification about an Incident is first recorded as an ``OutboxEntry`` on the
Incident itself (``status.outbox``, in the same write as the state change it reports; the
Incident is already the write-ahead log), published only after that write succeeded, and
removed from the outbox once every channel it was routed to has a final outcome. A restarted
operator publishes whatever is still in an outbox again. The same entry sent to the same channel
always carries the same ``X-Prognos-Delivery`` id (``delivery_id``), so a receiver that got the
attempt before the crash de-duplicates the re-send: at-least-once across restarts.

``Settlements`` is the dispatcher's book of which channels each outbox event still waits for.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from prognos.notify.events import EventType, NotificationEvent, Severity

#: The most unsettled notifications one Incident keeps; beyond it the oldest is dropped (logged
#: and counted in ``prognos_notification_outbox_dropped_total``), so an Incident never grows
#: without bound while its receivers are down.
MAX_OUTBOX = 50


def delivery_id(seed: str, namespace: str, channel: str) -> str:
    """The ``X-Prognos-Delivery`` id of one outbox entry for one channel: the same on every
    attempt and after every operator restart, different for every other (entry, channel)."""
    return hashlib.sha256(f"{seed}/{namespace}/{channel}".encode()).hexdigest()[:32]


def event_to_dict(event: NotificationEvent) -> dict[str, Any]:
    out: dict[str, Any] = {
        "type": event.type.value,
        "severity": event.severity.value,
        "title": event.title,
        "text": event.text,
        "namespace": event.namespace,
        "target": event.target,
        "source": event.source,
        "time": event.time,
        "incident": event.incident,
        "dedupKey": event.dedup_key,
        "threadKey": event.thread_key,
        "details": event.details,
    }
    return {k: v for k, v in out.items() if v is not None}


def event_from_dict(raw: Mapping[str, Any]) -> NotificationEvent:
    return NotificationEvent(
        type=EventType(str(raw["type"])),
        severity=Severity(str(raw.get("severity") or "info")),
        title=str(raw.get("title", "")),
        text=str(raw.get("text", "")),
        namespace=str(raw.get("namespace", "")),
        target=str(raw.get("target", "")),
        source=str(raw.get("source", "")),
        time=str(raw.get("time", "")),
        incident=raw.get("incident"),
        dedup_key=raw.get("dedupKey"),
        thread_key=raw.get("threadKey"),
        details=dict(raw.get("details") or {}),
    )


@dataclass(frozen=True)
class OutboxEntry:
    """One recorded, not yet settled notification.

    ``key`` (``"<seq>-<type>"``) is unique within its Incident and names the entry in
    ``status.outbox``; ``seq`` orders the entries; ``id`` is random, written once with the entry,
    and seeds the delivery ids; ``channels`` is the routing decided when it was recorded.
    """

    key: str
    seq: int
    id: str
    channels: tuple[str, ...]
    event: NotificationEvent

    def outgoing(self) -> NotificationEvent:
        """The event as published: it carries the entry's key and delivery-id seed."""
        return replace(self.event, outbox_key=self.key, delivery_seed=self.id)

    def to_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "id": self.id,
            "channels": list(self.channels),
            "event": event_to_dict(self.event),
        }

    @classmethod
    def from_dict(cls, key: str, raw: Mapping[str, Any]) -> OutboxEntry:
        return cls(
            key=key,
            seq=int(raw.get("seq", 0)),
            id=str(raw.get("id") or key),
            channels=tuple(str(c) for c in raw.get("channels") or []),
            event=event_from_dict(raw.get("event") or {}),
        )


def entries_from_status(raw: Any) -> list[OutboxEntry]:
    """``status.outbox`` (a map key -> entry) as entries in ``seq`` order; bad entries skipped."""
    out = []
    for key, value in (raw or {}).items() if isinstance(raw, Mapping) else ():
        if not isinstance(value, Mapping):
            continue
        try:
            out.append(OutboxEntry.from_dict(str(key), value))
        except (KeyError, TypeError, ValueError):
            continue
    return sorted(out, key=lambda e: e.seq)


@dataclass
class _Open:
    waiting: set[str]
    callback: Callable[[], None] | None
    publishing: bool = True


@dataclass
class Settlements:
    """Which channels each published outbox event still waits for.

    ``open(token, channels)`` when publishing starts (False if that event is already in flight:
    do not send it twice); ``done(token, channel)`` for each channel's final outcome (or "this
    channel does not take it"); ``published(token)`` once every channel was offered. ``done`` and
    ``published`` return the settle callback (or a no-op) exactly once: when the last channel is
    done and publishing finished; otherwise ``None``.
    """

    _open: dict[Hashable, _Open] = field(default_factory=dict)

    def __contains__(self, token: Hashable) -> bool:
        return token in self._open

    def __len__(self) -> int:
        return len(self._open)

    def open(
        self,
        token: Hashable,
        channels: Iterable[str],
        callback: Callable[[], None] | None = None,
    ) -> bool:
        if token in self._open:
            return False
        self._open[token] = _Open(set(channels), callback)
        return True

    def done(self, token: Hashable, channel: str) -> Callable[[], None] | None:
        entry = self._open.get(token)
        if entry is None:
            return None
        entry.waiting.discard(channel)
        return self._settle_if_done(token, entry)

    def published(self, token: Hashable) -> Callable[[], None] | None:
        entry = self._open.get(token)
        if entry is None:
            return None
        entry.publishing = False
        return self._settle_if_done(token, entry)

    def _settle_if_done(self, token: Hashable, entry: _Open) -> Callable[[], None] | None:
        if entry.publishing or entry.waiting:
            return None
        del self._open[token]
        return entry.callback or _noop


def _noop() -> None:
    return None
