"""The ``Incident`` custom resource: one (policy, target, signal) episode and its write-ahead log.

Written by the operator only. The spec names the episode (immutable, checked by CEL); the status
is the log: evidence, every action recorded as ``Planned`` (with an idempotency key and the
exact parameters) *before* it runs and its result after, verification, resolution and the
notifications delivered. A restarted operator resumes from it (``prognos.remediation.incidents``).
"""

from __future__ import annotations

from typing import Any

from prognos.api import CATEGORY, GROUP, VERSION
from prognos.api.schema import (
    array,
    column,
    conditions,
    crd,
    free_object,
    integer,
    obj,
    rule,
    string,
)

KIND = "Incident"
PLURAL = "incidents"

STATES = ["Open", "Acting", "Verifying", "Escalated", "Resolved"]
ACTION_STATES = [
    "Planned",
    "Applied",
    "Failed",
    "Blocked",
    "DryRun",
    "Verified",
    "Unverified",
    "Superseded",
]


def spec_schema() -> dict[str, Any]:
    return obj(
        {
            "policy": string("RemediationPolicy that opened the incident.", min_length=1),
            "signal": string("Signal name in that policy.", min_length=1, max_length=63),
            "signalKind": string("Kind of signal.", enum=["prometheus", "kubernetes", "alert"]),
            "target": obj(
                {
                    "apiVersion": string(min_length=1),
                    "kind": string(min_length=1, max_length=63),
                    "name": string(min_length=1),
                },
                required=["apiVersion", "kind", "name"],
                description="The workload (or pod) the incident is about.",
            ),
        },
        required=["policy", "signal", "signalKind", "target"],
        rules=[rule("self == oldSelf", "an incident's spec is immutable")],
    )


def _action() -> dict[str, Any]:
    return obj(
        {
            "rung": integer("Index in the policy's actions[] ladder.", minimum=0),
            "name": string("Rung name.", max_length=63),
            "type": string("Action kind.", max_length=32),
            "key": string("Idempotency key: the same key is never executed twice.", max_length=64),
            "state": string("Planned until a result is recorded.", enum=ACTION_STATES),
            "plannedAt": {"type": "string", "format": "date-time"},
            "appliedAt": {"type": "string", "format": "date-time"},
            "verifyBy": {"type": "string", "format": "date-time"},
            "finishedAt": {"type": "string", "format": "date-time"},
            "params": free_object("The exact change decided, so a restart can check it."),
            "message": string("Result or reason.", max_length=2048),
            "attempts": integer("Tries (a PodDisruptionBudget refusal is retried).", minimum=0),
        },
        required=["rung", "type", "key", "state", "plannedAt"],
    )


def status_schema() -> dict[str, Any]:
    return obj(
        {
            "state": string("Where the episode is.", enum=STATES),
            "openedAt": {"type": "string", "format": "date-time"},
            "resolvedAt": {"type": "string", "format": "date-time"},
            "message": string("What is happening now, for people.", max_length=2048),
            "conditions": conditions(),
            "evidence": free_object(
                "What was observed when the incident opened: query, value, detector score and "
                "expected range, or the pods and their status, or the alert."
            ),
            "lastEvidence": free_object("The latest observation while the incident is open."),
            "rung": integer("Next rung of the ladder to try.", minimum=0),
            "actionCount": integer("Actions recorded.", minimum=0),
            "actions": array(_action(), "The write-ahead log of actions.", max_items=32),
            "notifications": array(
                free_object("One delivery: channel, event, result, time."),
                "Notifications delivered (bounded, newest last).",
                max_items=64,
            ),
            "notifySeq": integer("Sequence number of the next notification.", minimum=0),
            "outbox": {
                "type": "object",
                "description": (
                    "Notifications recorded with the transition they report and not yet settled "
                    "(a final outcome for every channel), by key '<seq>-<type>'; a restarted "
                    "operator sends them again with the same delivery ids. At most 50: the "
                    "oldest are dropped first."
                ),
                "additionalProperties": obj(
                    {
                        "seq": integer("Order of recording.", minimum=0),
                        "id": string("Seeds the entry's delivery ids.", max_length=64),
                        "channels": array(
                            string("A NotificationChannel in this namespace."),
                            "Where it is routed.",
                            max_items=16,
                        ),
                        "event": free_object("The notification event."),
                    },
                    required=["seq", "id", "event"],
                ),
            },
        }
    )


def definition() -> dict[str, Any]:
    return crd(
        group=GROUP,
        version=VERSION,
        kind=KIND,
        plural=PLURAL,
        short_names=["inc"],
        categories=[CATEGORY],
        description="One remediation episode: evidence, actions (write-ahead), resolution.",
        spec=spec_schema(),
        status=status_schema(),
        printer_columns=[
            column("Target", ".spec.target.name"),
            column("Signal", ".spec.signal"),
            column("State", ".status.state"),
            column("Actions", ".status.actionCount", "integer"),
            column("Policy", ".spec.policy", priority=1),
            column("Message", ".status.message", priority=1),
            column("Age", ".metadata.creationTimestamp", "date"),
        ],
    )
