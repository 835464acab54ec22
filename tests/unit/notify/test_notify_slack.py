from __future__ import annotations

import json

from notifyhelpers import make_event
from prognos.notify import slack
from prognos.notify.events import EventType, Severity


def _scaling_event():
    return make_event(
        type=EventType.SCALING_DECISION,
        severity=Severity.INFO,
        title="web scaled up ahead of load",
        text="PredictiveScaler web: 4 -> 9 replicas",
        source="PredictiveScaler/web",
        incident=None,
        details={
            "fromReplicas": 4,
            "toReplicas": 9,
            "forecastLoad": 870.4,
            "quantile": "0.9",
            "forecastTime": "2025-01-01T14:55:00Z",
            "capacity": 600,
            "unit": "rps",
        },
    )


def test_scaling_diff_line():
    assert slack.scaling_summary(_scaling_event().details) == (
        "4 → 9 replicas: p90 forecast 870 rps by 14:55, capacity 600"
    )


def test_scaling_diff_without_forecast_uses_load():
    assert slack.scaling_summary({"fromReplicas": 2, "toReplicas": 3, "currentLoad": 12.5}) == (
        "2 → 3 replicas: load 12.5"
    )
    assert slack.scaling_summary({"value": 1}) is None


def test_blocks_structure_and_limits():
    blocks = slack.blocks(_scaling_event())
    assert blocks[0]["type"] == "header"
    assert blocks[0]["text"]["type"] == "plain_text"
    assert any("4 → 9 replicas" in b.get("text", {}).get("text", "") for b in blocks)
    assert blocks[-1]["type"] == "context"
    long = slack.blocks(make_event(title="x" * 400, text="y" * 5000))
    assert len(long[0]["text"]["text"]) == 150
    assert len(long[1]["text"]["text"]) <= 3000
    json.dumps(blocks)  # serialisable


def test_evidence_in_incident_message():
    msg = slack.webhook_message(
        make_event(
            details={"signal": "error_ratio", "value": 0.31, "expected": {"low": 0, "high": 0.05}}
        )
    )
    assert "signal error_ratio = 0.31, expected 0 to 0.05" in msg["text"]
    assert "Incident" in json.dumps(msg["blocks"])


def test_mrkdwn_is_escaped():
    blocks = slack.blocks(make_event(text="<!channel> & <http://x|y>"))
    assert "&lt;!channel&gt; &amp; &lt;http://x|y&gt;" in blocks[1]["text"]["text"]


def test_fallback_text_carries_the_whole_message():
    text = slack.fallback_text(_scaling_event())
    assert text.startswith("[info] web scaled up ahead of load")
    assert "p90 forecast 870 rps" in text
    assert "demo/Deployment/web" in text


def test_post_message_threads():
    event = make_event()
    first = slack.post_message(event, "#ops", None)
    assert first["channel"] == "#ops" and "thread_ts" not in first
    assert first["text"] == slack.fallback_text(event)
    assert slack.post_message(event, "#ops", "1700.01")["thread_ts"] == "1700.01"


def test_verification_result_shows_the_action_and_round_trips_the_outbox():
    from prognos.notify.outbox import event_from_dict, event_to_dict

    event = make_event(
        type=EventType.VERIFICATION,
        severity=Severity.INFO,
        title="rolloutrestart fixed crashloop on Deployment/web",
        text="rolloutrestart worked: signal back to normal",
        details={
            "signal": "crashloop",
            "verified": True,
            "action": "rollout restart of Deployment/web (restartedAt=2025-01-01T14:50:00.000Z)",
            "actionType": "rolloutRestart",
            "actionKey": "a3ba5d0fe7ac5aad",
            "rung": 0,
            "appliedAt": "2025-01-01T14:50:00.000Z",
            "verifiedAt": "2025-01-01T14:50:12.500Z",
            "verifySeconds": 12.5,
        },
    )
    fields = [f["text"] for b in slack.blocks(event) if "fields" in b for f in b["fields"]]
    assert (
        "*Action*\nrollout restart of Deployment/web (restartedAt=2025-01-01T14:50:00.000Z)"
        in fields
    )
    payload = event.to_payload()
    assert payload["type"] == "Verification"
    assert payload["details"]["verified"] is True
    assert payload["details"]["verifySeconds"] == 12.5
    # What the Incident's outbox stores is what a re-send after a restart delivers.
    assert event_from_dict(json.loads(json.dumps(event_to_dict(event)))).to_payload() == payload
