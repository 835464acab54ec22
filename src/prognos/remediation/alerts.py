"""Alertmanager alerts as remediation signals: the intake the webhook receiver calls.

The notification side owns the HTTP endpoint (Alertmanager's webhook); for every alert in a
notification it calls ``services.alerts.submit(AlertSignal(...))``. This hub keeps the set of
alerts currently firing and wakes the RemediationPolicy runners that listen, which then read
:meth:`AlertHub.firing` for their ``alert {alertname, labels}`` signals.

Semantics (DESIGN §5): a firing alert can open or feed an incident; a resolved alert only
removes the alert from the firing set, so it can close an incident (the signal is back to
normal) and can never trigger an action. A firing alert whose ``endsAt`` has passed without a
refresh counts as resolved: Alertmanager re-sends firing alerts, so silence means it is gone.

Thread-safe: ``submit`` may be called from any thread or from the event loop; it never blocks
and never raises on a well-formed alert. No kopf, no Kubernetes: unit-testable as is.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from prognos.remediation.policy import AlertMatch
from prognos.remediation.signals import parse_time

AlertStatus = Literal["firing", "resolved"]
#: Firing alerts without an ``endsAt`` are dropped after this long without a refresh.
DEFAULT_TTL_S = 15 * 60.0


@dataclass(frozen=True)
class AlertSignal:
    """One alert as Alertmanager's webhook sends it (``alerts[]`` of a notification)."""

    alertname: str
    labels: Mapping[str, str]
    status: AlertStatus
    starts_at: str | None = None
    ends_at: str | None = None
    fingerprint: str = ""
    annotations: Mapping[str, str] = field(default_factory=dict)

    @property
    def key(self) -> str:
        """Alertmanager's fingerprint, or the sorted label set when it is missing."""
        if self.fingerprint:
            return self.fingerprint
        return ",".join(
            f"{k}={v}" for k, v in sorted({**self.labels, "alertname": self.alertname}.items())
        )

    @classmethod
    def from_webhook(cls, alert: Mapping[str, object]) -> AlertSignal:
        """Build from one element of Alertmanager's webhook ``alerts`` list."""
        labels = {str(k): str(v) for k, v in dict(alert.get("labels") or {}).items()}  # type: ignore[call-overload]
        annotations = {
            str(k): str(v)
            for k, v in dict(alert.get("annotations") or {}).items()  # type: ignore[call-overload]
        }
        status: AlertStatus = (
            "resolved" if str(alert.get("status", "firing")) == "resolved" else "firing"
        )
        return cls(
            alertname=labels.get("alertname", ""),
            labels=labels,
            status=status,
            starts_at=str(alert["startsAt"]) if alert.get("startsAt") else None,
            ends_at=str(alert["endsAt"]) if alert.get("endsAt") else None,
            fingerprint=str(alert.get("fingerprint") or ""),
            annotations=annotations,
        )

    def evidence(self) -> dict[str, object]:
        return {
            "alertname": self.alertname,
            "labels": dict(self.labels),
            "annotations": dict(self.annotations),
            "status": self.status,
            "startsAt": self.starts_at,
            "fingerprint": self.fingerprint,
        }


def _expiry(alert: AlertSignal, received: float, ttl_s: float) -> float:
    ends = parse_time(alert.ends_at)
    # Alertmanager sends endsAt 0001-01-01 or a time in the future for firing alerts.
    if ends is not None and ends > received:
        return ends
    return received + ttl_s


class AlertHub:
    """The firing alerts, and the listeners (policy runners) to wake on any change."""

    def __init__(self, ttl_s: float = DEFAULT_TTL_S) -> None:
        self.ttl_s = ttl_s
        self._lock = threading.Lock()
        self._firing: dict[str, tuple[AlertSignal, float]] = {}  # key -> (alert, expires)
        self._listeners: dict[
            object, tuple[Callable[[], None], asyncio.AbstractEventLoop | None]
        ] = {}

    def submit(self, alert: AlertSignal, now: float | None = None) -> None:
        """Record a firing alert or drop a resolved one, then wake the listeners."""
        now = time.time() if now is None else now
        with self._lock:
            if alert.status == "firing":
                self._firing[alert.key] = (alert, _expiry(alert, now, self.ttl_s))
            else:
                self._firing.pop(alert.key, None)
            listeners = list(self._listeners.values())
        for wake, loop in listeners:
            if loop is None:
                wake()
            else:
                try:
                    loop.call_soon_threadsafe(wake)
                except RuntimeError:  # that loop is closed: its runner is gone
                    continue

    def firing(self, match: AlertMatch, now: float | None = None) -> list[AlertSignal]:
        """Firing, unexpired alerts matching ``match`` (alertname and every label)."""
        now = time.time() if now is None else now
        with self._lock:
            for key in [k for k, (_, exp) in self._firing.items() if exp <= now]:
                del self._firing[key]
            return [a for a, _ in self._firing.values() if match.matches(a.alertname, a.labels)]

    def next_expiry(self, match: AlertMatch) -> float | None:
        with self._lock:
            times = [
                exp for a, exp in self._firing.values() if match.matches(a.alertname, a.labels)
            ]
        return min(times) if times else None

    def listen(self, owner: object, wake: Callable[[], None]) -> None:
        """Call ``wake`` (on the caller's event loop, when it has one) after every submit."""
        try:
            loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        with self._lock:
            self._listeners[owner] = (wake, loop)

    def unlisten(self, owner: object) -> None:
        with self._lock:
            self._listeners.pop(owner, None)


def now_rfc3339() -> str:
    return dt.datetime.now(dt.UTC).isoformat().replace("+00:00", "Z")
