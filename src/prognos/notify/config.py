"""A NotificationChannel's spec, parsed into typed config, and the filter every event passes.

The CRD schema and its CEL rules refuse bad specs at ``kubectl apply``; ``channel_from_spec``
parses the same spec again (the operator may see objects written before a schema change) and
raises ``ChannelSpecError`` with the field at fault, which the operator turns into
``Ready=False reason=InvalidSpec``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from prognos.notify.events import SEVERITY_ORDER, EventType, NotificationEvent, Severity

_DURATION = re.compile(r"^(?:(\d+(?:\.\d+)?)(ms|s|m|h))+$")
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")
_UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}

#: Event types that come from PredictiveScalers and pass the per-channel scaling gate.
SCALER_SOURCE_PREFIX = "PredictiveScaler/"


class ChannelSpecError(ValueError):
    """The channel's spec cannot be used; ``field`` names the offending field."""

    def __init__(self, field_path: str, message: str) -> None:
        super().__init__(f"{field_path}: {message}")
        self.field = field_path
        self.message = message


class ScalingMode(StrEnum):
    OFF = "Off"
    LARGE_JUMPS = "LargeJumps"
    ALL = "All"


@dataclass(frozen=True)
class SecretRef:
    name: str
    key: str

    def __str__(self) -> str:
        return f"Secret {self.name} key {self.key}"


@dataclass(frozen=True)
class SlackConfig:
    """Either an incoming webhook URL, or a bot token plus a channel (threads per incident)."""

    webhook_url: SecretRef | None = None
    bot_token: SecretRef | None = None
    channel: str | None = None

    @property
    def uses_bot(self) -> bool:
        return self.bot_token is not None


@dataclass(frozen=True)
class WebhookConfig:
    url: SecretRef
    signing_secret: SecretRef


@dataclass(frozen=True)
class ChannelConfig:
    slack: SlackConfig | None = None
    webhook: WebhookConfig | None = None
    types: frozenset[EventType] = frozenset()  # empty: every type
    min_severity: Severity = Severity.INFO
    scaling: ScalingMode = ScalingMode.OFF
    min_change_percent: int = 50
    min_change_replicas: int = 1
    rate_per_minute: int = 30
    burst: int = 10
    dedup_window_s: float = 600.0
    timeout_s: float = 10.0

    @property
    def kind(self) -> str:
        return "slack" if self.slack is not None else "webhook"

    def secret_refs(self) -> list[SecretRef]:
        refs: list[SecretRef | None] = []
        if self.slack is not None:
            refs += [self.slack.webhook_url, self.slack.bot_token]
        if self.webhook is not None:
            refs += [self.webhook.url, self.webhook.signing_secret]
        return [r for r in refs if r is not None]

    def accepts(self, event: NotificationEvent) -> str | None:
        """``None`` if the channel wants ``event``, else the reason it is filtered out."""
        if self.types and event.type not in self.types:
            return "type"
        if SEVERITY_ORDER[event.severity] < SEVERITY_ORDER[self.min_severity]:
            return "severity"
        if event.source.startswith(SCALER_SOURCE_PREFIX):
            if self.scaling is ScalingMode.OFF:
                return "scaling-off"
            if self.scaling is ScalingMode.LARGE_JUMPS and not self.is_large_jump(event):
                return "small-change"
        return None

    def is_large_jump(self, event: NotificationEvent) -> bool:
        """A change of at least ``min_change_percent`` % and ``min_change_replicas`` replicas."""
        try:
            before = int(event.details["fromReplicas"])
            after = int(event.details["toReplicas"])
        except (KeyError, TypeError, ValueError):
            return False
        change = abs(after - before)
        needed = max(
            self.min_change_replicas, math.ceil(max(before, 1) * self.min_change_percent / 100)
        )
        return change >= needed


def parse_duration(value: Any, where: str) -> float:
    text = str(value)
    if not _DURATION.match(text):
        raise ChannelSpecError(where, f"{text!r} is not a duration like 30s, 10m or 1h")
    return sum(float(n) * _UNIT_S[u] for n, u in _PART.findall(text))


def _ref(raw: Any, where: str, default_key: str) -> SecretRef:
    if not isinstance(raw, Mapping) or not raw.get("name"):
        raise ChannelSpecError(where, "needs a Secret name")
    return SecretRef(str(raw["name"]), str(raw.get("key") or default_key))


def _int(raw: Mapping[str, Any], key: str, where: str, default: int, lo: int, hi: int) -> int:
    value = raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise ChannelSpecError(f"{where}.{key}", f"must be an integer in [{lo}, {hi}]")
    return value


def channel_from_spec(spec: Mapping[str, Any]) -> ChannelConfig:
    """Parse ``spec`` of a NotificationChannel; raise ``ChannelSpecError`` naming the field."""
    slack_raw, hook_raw = spec.get("slack"), spec.get("webhook")
    if (slack_raw is None) == (hook_raw is None):
        raise ChannelSpecError("spec", "set exactly one of slack or webhook")
    slack = webhook = None
    if slack_raw is not None:
        if not isinstance(slack_raw, Mapping):
            raise ChannelSpecError("spec.slack", "must be an object")
        has_hook = slack_raw.get("webhookSecretRef") is not None
        has_bot = slack_raw.get("botTokenSecretRef") is not None
        if has_hook == has_bot:
            raise ChannelSpecError(
                "spec.slack", "set exactly one of webhookSecretRef or botTokenSecretRef"
            )
        if has_bot and not slack_raw.get("channel"):
            raise ChannelSpecError("spec.slack.channel", "is required with botTokenSecretRef")
        slack = SlackConfig(
            webhook_url=_ref(slack_raw["webhookSecretRef"], "spec.slack.webhookSecretRef", "url")
            if has_hook
            else None,
            bot_token=_ref(slack_raw["botTokenSecretRef"], "spec.slack.botTokenSecretRef", "token")
            if has_bot
            else None,
            channel=str(slack_raw["channel"]) if slack_raw.get("channel") else None,
        )
    else:
        if not isinstance(hook_raw, Mapping):
            raise ChannelSpecError("spec.webhook", "must be an object")
        webhook = WebhookConfig(
            url=_ref(hook_raw.get("urlSecretRef"), "spec.webhook.urlSecretRef", "url"),
            signing_secret=_ref(
                hook_raw.get("signingSecretRef"), "spec.webhook.signingSecretRef", "secret"
            ),
        )
    filt: Mapping[str, Any] = spec.get("filter") or {}
    try:
        types = frozenset(EventType(t) for t in filt.get("types") or [])
    except ValueError as exc:
        raise ChannelSpecError("spec.filter.types", str(exc)) from exc
    try:
        min_severity = Severity(filt.get("minSeverity", Severity.INFO.value))
    except ValueError as exc:
        raise ChannelSpecError("spec.filter.minSeverity", str(exc)) from exc
    scaling_raw: Mapping[str, Any] = spec.get("scaling") or {}
    try:
        scaling = ScalingMode(scaling_raw.get("decisions", ScalingMode.OFF.value))
    except ValueError as exc:
        raise ChannelSpecError("spec.scaling.decisions", str(exc)) from exc
    rate: Mapping[str, Any] = spec.get("rateLimit") or {}
    return ChannelConfig(
        slack=slack,
        webhook=webhook,
        types=types,
        min_severity=min_severity,
        scaling=scaling,
        min_change_percent=_int(scaling_raw, "minChangePercent", "spec.scaling", 50, 0, 10_000),
        min_change_replicas=_int(scaling_raw, "minChangeReplicas", "spec.scaling", 1, 1, 10_000),
        rate_per_minute=_int(rate, "perMinute", "spec.rateLimit", 30, 1, 6000),
        burst=_int(rate, "burst", "spec.rateLimit", 10, 1, 1000),
        dedup_window_s=parse_duration(spec.get("dedupWindow", "10m"), "spec.dedupWindow"),
        timeout_s=parse_duration(spec.get("timeout", "10s"), "spec.timeout"),
    )
