"""The ``NotificationChannel`` custom resource: where Prognos tells people what it did.

A channel is either ``slack`` (an incoming-webhook URL from a Secret, or a bot token from a
Secret plus a channel, which keeps every update of one incident in one thread) or ``webhook``
(a URL and a signing secret, both from Secrets; JSON body ``prognos.io/notification/v1``,
HMAC-SHA256 signature). Secrets are referenced, never inlined: the spec carries no credential.
The schema and CEL rules refuse malformed channels at ``kubectl apply``; the operator parses the
same spec with ``prognos.notify.config.channel_from_spec`` and reports what it cannot use as
``Ready=False`` (``InvalidSpec``, ``SecretNotFound``, ``SecretKeyMissing``, ``SecretForbidden``).
"""

from __future__ import annotations

from typing import Any

from prognos.api import CATEGORY, GROUP, VERSION
from prognos.api.schema import (
    DURATION_PATTERN,
    array,
    column,
    conditions,
    crd,
    integer,
    obj,
    rule,
    string,
)
from prognos.notify.events import EventType, Severity

KIND = "NotificationChannel"
PLURAL = "notificationchannels"


def secret_ref(description: str, default_key: str) -> dict[str, Any]:
    return obj(
        {
            "name": string("Name of a Secret in the channel's namespace.", min_length=1),
            "key": string(
                f'Key in the Secret (default "{default_key}").',
                default=default_key,
                min_length=1,
            ),
        },
        required=["name"],
        description=description,
    )


def spec_schema() -> dict[str, Any]:
    return obj(
        {
            "slack": obj(
                {
                    "webhookSecretRef": secret_ref(
                        "Secret key holding a Slack incoming-webhook URL.", "url"
                    ),
                    "botTokenSecretRef": secret_ref(
                        "Secret key holding a Slack bot token (chat:write); with `channel`, "
                        "updates of one incident go to one thread.",
                        "token",
                    ),
                    "channel": string("Slack channel name or ID for the bot token.", max_length=80),
                },
                description="Deliver to Slack (Block Kit with a plain-text fallback).",
                rules=[
                    rule(
                        "has(self.webhookSecretRef) != has(self.botTokenSecretRef)",
                        "set exactly one of webhookSecretRef or botTokenSecretRef",
                    ),
                    rule(
                        "!has(self.botTokenSecretRef) || has(self.channel)",
                        "channel is required with botTokenSecretRef",
                    ),
                ],
            ),
            "webhook": obj(
                {
                    "urlSecretRef": secret_ref("Secret key holding the receiver's URL.", "url"),
                    "signingSecretRef": secret_ref(
                        "Secret key holding the HMAC-SHA256 signing secret.", "secret"
                    ),
                },
                required=["urlSecretRef", "signingSecretRef"],
                description="Deliver signed JSON (schema prognos.io/notification/v1).",
            ),
            "filter": obj(
                {
                    "types": array(
                        string(enum=[t.value for t in EventType]),
                        "Event types to deliver; empty delivers every type.",
                        max_items=len(EventType),
                        list_type="set",
                    ),
                    "minSeverity": string(
                        "Lowest severity delivered.",
                        enum=[s.value for s in Severity],
                        default=Severity.INFO.value,
                    ),
                },
                description="Which events this channel receives.",
            ),
            "scaling": obj(
                {
                    "decisions": string(
                        "PredictiveScaler decisions in this namespace: Off (default), "
                        "LargeJumps, or All.",
                        enum=["Off", "LargeJumps", "All"],
                        default="Off",
                    ),
                    "minChangePercent": integer(
                        "LargeJumps: smallest relative change delivered, in percent.",
                        minimum=0,
                        maximum=10000,
                        default=50,
                    ),
                    "minChangeReplicas": integer(
                        "LargeJumps: smallest change delivered, in replicas.",
                        minimum=1,
                        maximum=10000,
                        default=1,
                    ),
                },
                description="Opt in to PredictiveScaler decisions (Recommend mode: would-do).",
            ),
            "rateLimit": obj(
                {
                    "perMinute": integer(
                        "Sustained notifications per minute.", minimum=1, maximum=6000, default=30
                    ),
                    "burst": integer(
                        "Notifications allowed at once.", minimum=1, maximum=1000, default=10
                    ),
                },
                description="Token bucket; notifications over it are dropped and counted.",
            ),
            "dedupWindow": string(
                "The same news (dedup key) is delivered at most once per window.",
                pattern=DURATION_PATTERN,
                default="10m",
                max_length=32,
                rules=[rule("duration(self) <= duration('24h')", "dedupWindow at most 24h")],
            ),
            "timeout": string(
                "Timeout of one HTTP attempt.",
                pattern=DURATION_PATTERN,
                default="10s",
                max_length=32,
                rules=[
                    rule(
                        "duration(self) >= duration('100ms') && duration(self) <= duration('60s')",
                        "timeout must be between 100ms and 60s",
                    )
                ],
            ),
        },
        rules=[rule("has(self.slack) != has(self.webhook)", "set exactly one of slack or webhook")],
    )


def status_schema() -> dict[str, Any]:
    return obj(
        {
            "observedGeneration": {"type": "integer", "format": "int64"},
            "conditions": conditions(),
            "type": string("slack-webhook, slack-bot or webhook.", max_length=32),
            "delivered": {"type": "integer", "format": "int64", "minimum": 0},
            "failed": {"type": "integer", "format": "int64", "minimum": 0},
            "dropped": {"type": "integer", "format": "int64", "minimum": 0},
            "lastDeliveryTime": {"type": "string", "format": "date-time"},
            "lastError": string("Last delivery error (secrets redacted).", max_length=1024),
        }
    )


def definition() -> dict[str, Any]:
    ready = '.status.conditions[?(@.type=="Ready")].status'
    return crd(
        group=GROUP,
        version=VERSION,
        kind=KIND,
        plural=PLURAL,
        short_names=["nch"],
        categories=[CATEGORY],
        description="Where Prognos sends notifications: Slack or a signed webhook.",
        spec=spec_schema(),
        status=status_schema(),
        printer_columns=[
            column("Type", ".status.type"),
            column("Ready", ready),
            column("Delivered", ".status.delivered", "integer"),
            column("Failed", ".status.failed", "integer"),
            column("Last", ".status.lastDeliveryTime", "date"),
            column("Reason", '.status.conditions[?(@.type=="Ready")].reason', priority=1),
            column("Age", ".metadata.creationTimestamp", "date"),
        ],
    )
