"""The notification event: what every producer (scaler, remediation, alert intake) emits.

Producers build a ``NotificationEvent`` and hand it to the dispatcher; they never format Slack
blocks or sign webhooks themselves. The webhook body is ``to_payload()``: a stable, versioned
JSON schema (``schemaVersion``), so receivers can rely on field names across releases.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

SCHEMA_VERSION = "prognos.io/notification/v1"


class EventType(StrEnum):
    INCIDENT_OPENED = "IncidentOpened"
    ACTION_PLANNED = "ActionPlanned"
    ACTION_APPLIED = "ActionApplied"
    ACTION_FAILED = "ActionFailed"
    VERIFICATION = "Verification"
    ESCALATED = "Escalated"
    RESOLVED = "Resolved"
    SCALING_DECISION = "ScalingDecision"
    WOULD_DO = "WouldDo"  # Recommend and dryRun decisions


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


SEVERITY_ORDER = {Severity.INFO: 0, Severity.WARNING: 1, Severity.CRITICAL: 2}


@dataclass(frozen=True)
class NotificationEvent:
    """One thing people should hear about.

    ``dedup_key`` identifies "the same news" (a channel drops repeats within its window);
    ``thread_key`` groups updates of one incident (Slack bot tokens post them in one thread).
    ``details`` carries the evidence (signal, value, expected range, replicas before/after...)
    and must never contain secrets.

    ``outbox_key`` and ``delivery_seed`` are set on notifications about an Incident, which are
    recorded in its outbox (``prognos.notify.outbox``) before they are published: the key names
    the entry to settle, the seed makes delivery ids the same on every re-send. Neither is part
    of the payload.
    """

    type: EventType
    severity: Severity
    title: str
    text: str
    namespace: str
    target: str
    source: str  # e.g. "RemediationPolicy/web-health" or "PredictiveScaler/web"
    time: str  # RFC 3339
    incident: str | None = None
    dedup_key: str | None = None
    thread_key: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    outbox_key: str | None = None
    delivery_seed: str | None = None

    def to_payload(self) -> dict[str, Any]:
        return {
            "schemaVersion": SCHEMA_VERSION,
            "type": self.type.value,
            "severity": self.severity.value,
            "title": self.title,
            "text": self.text,
            "namespace": self.namespace,
            "target": self.target,
            "source": self.source,
            "incident": self.incident,
            "time": self.time,
            "details": self.details,
        }
