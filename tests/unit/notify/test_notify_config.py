from __future__ import annotations

from typing import Any

import pytest

from notifyhelpers import make_event
from prognos.notify.config import (
    ChannelSpecError,
    ScalingMode,
    SecretRef,
    channel_from_spec,
)
from prognos.notify.events import EventType, Severity

WEBHOOK = {"webhook": {"urlSecretRef": {"name": "hook"}, "signingSecretRef": {"name": "hook"}}}


def test_webhook_defaults():
    cfg = channel_from_spec(WEBHOOK)
    assert cfg.kind == "webhook"
    assert cfg.secret_refs() == [SecretRef("hook", "url"), SecretRef("hook", "secret")]
    assert cfg.scaling is ScalingMode.OFF
    assert cfg.min_severity is Severity.INFO
    assert (cfg.rate_per_minute, cfg.burst, cfg.dedup_window_s, cfg.timeout_s) == (30, 10, 600, 10)


def test_slack_bot_and_webhook():
    bot = channel_from_spec(
        {"slack": {"botTokenSecretRef": {"name": "s", "key": "bot"}, "channel": "#ops"}}
    )
    assert bot.slack is not None and bot.slack.uses_bot and bot.slack.channel == "#ops"
    assert bot.secret_refs() == [SecretRef("s", "bot")]
    hook = channel_from_spec({"slack": {"webhookSecretRef": {"name": "s"}}})
    assert hook.slack is not None and not hook.slack.uses_bot
    assert hook.secret_refs() == [SecretRef("s", "url")]


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({}, "spec"),
        ({**WEBHOOK, "slack": {"webhookSecretRef": {"name": "x"}}}, "spec"),
        ({"slack": {}}, "spec.slack"),
        ({"slack": {"botTokenSecretRef": {"name": "x"}}}, "spec.slack.channel"),
        (
            {"slack": {"botTokenSecretRef": {"name": "x"}, "webhookSecretRef": {"name": "x"}}},
            "spec.slack",
        ),
        ({"webhook": {"urlSecretRef": {"name": "x"}}}, "spec.webhook.signingSecretRef"),
        ({**WEBHOOK, "filter": {"types": ["Nope"]}}, "spec.filter.types"),
        ({**WEBHOOK, "filter": {"minSeverity": "loud"}}, "spec.filter.minSeverity"),
        ({**WEBHOOK, "scaling": {"decisions": "Some"}}, "spec.scaling.decisions"),
        ({**WEBHOOK, "rateLimit": {"perMinute": 0}}, "spec.rateLimit.perMinute"),
        ({**WEBHOOK, "rateLimit": {"burst": "3"}}, "spec.rateLimit.burst"),
        ({**WEBHOOK, "dedupWindow": "10 minutes"}, "spec.dedupWindow"),
    ],
)
def test_invalid_specs_name_the_field(spec: dict[str, Any], field: str):
    with pytest.raises(ChannelSpecError) as info:
        channel_from_spec(spec)
    assert info.value.field == field


def test_filters_by_type_and_severity():
    cfg = channel_from_spec(
        {**WEBHOOK, "filter": {"types": ["IncidentOpened", "Resolved"], "minSeverity": "warning"}}
    )
    assert cfg.accepts(make_event()) is None
    assert cfg.accepts(make_event(type=EventType.ACTION_APPLIED)) == "type"
    assert cfg.accepts(make_event(severity=Severity.INFO)) == "severity"
    assert cfg.accepts(make_event(severity=Severity.CRITICAL)) is None


def _scaling(before: int, after: int):
    return make_event(
        type=EventType.SCALING_DECISION,
        severity=Severity.INFO,
        source="PredictiveScaler/web",
        details={"fromReplicas": before, "toReplicas": after},
    )


def test_scaling_decisions_are_off_by_default():
    assert channel_from_spec(WEBHOOK).accepts(_scaling(4, 40)) == "scaling-off"


@pytest.mark.parametrize(
    ("before", "after", "large"),
    [(4, 6, True), (4, 5, False), (4, 2, True), (4, 3, False), (0, 1, True), (10, 14, False)],
)
def test_large_jumps(before, after, large):
    cfg = channel_from_spec({**WEBHOOK, "scaling": {"decisions": "LargeJumps"}})
    assert (cfg.accepts(_scaling(before, after)) is None) is large


def test_large_jumps_min_replicas_and_all():
    cfg = channel_from_spec(
        {**WEBHOOK, "scaling": {"decisions": "LargeJumps", "minChangeReplicas": 3}}
    )
    assert cfg.accepts(_scaling(2, 4)) == "small-change"
    assert cfg.accepts(_scaling(2, 5)) is None
    every = channel_from_spec({**WEBHOOK, "scaling": {"decisions": "All"}})
    assert every.accepts(_scaling(4, 5)) is None
    assert every.accepts(make_event(type=EventType.WOULD_DO, source="PredictiveScaler/w")) is None
