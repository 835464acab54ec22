"""Helpers shared by the notification tests (imported as ``notifyhelpers``)."""

from __future__ import annotations

from typing import Any

from prognos.notify.events import EventType, NotificationEvent, Severity


def make_event(**overrides: Any) -> NotificationEvent:
    base: dict[str, Any] = {
        "type": EventType.INCIDENT_OPENED,
        "severity": Severity.WARNING,
        "title": "web is crash-looping",
        "text": "3 pods in CrashLoopBackOff",
        "namespace": "demo",
        "target": "Deployment/web",
        "source": "RemediationPolicy/web-health",
        "time": "2025-01-01T14:50:00Z",
        "incident": "web-health-crashloop-1",
        "dedup_key": "web-health/opened",
        "thread_key": "web-health-crashloop-1",
        "details": {"signal": "crashLoop", "value": 3, "expected": {"low": 0, "high": 0}},
    }
    base.update(overrides)
    return NotificationEvent(**base)
