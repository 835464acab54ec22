from __future__ import annotations

import json
from datetime import UTC, datetime

from notifyhelpers import make_event
from prognos.notify import slack
from prognos.notify.events import EventType, Severity
from prognos.notify.scaling import scaling_event
from prognos.scaling import Decision, Reason
from prognos.scaling.spec import config_from_spec


def _scaling_event():
    """A scale-up as the scaler sends it: spec -> ScalerConfig -> scaling_event (no hand-made
    details, so the unit and forecast time come through the real path)."""
    config = config_from_spec(
        {
            "maxReplicas": 20,
            "metric": {
                "query": "sum(rate(requests[1m]))",
                "targetPerReplica": "150",
                "unit": "rps",
            },
            "forecast": {"horizon": "5m", "quantile": "0.9"},
        }
    )
    decision = Decision(
        time=datetime(2025, 1, 1, 14, 50, tzinfo=UTC),
        current_replicas=4,
        desired_replicas=9,
        load=610.0,
        forecast_load=870.4,
        reactive_replicas=5,
        forecast_replicas=9,
        reasons=(Reason.SCALE_UP_FORECAST,),
        model="ets",
        forecast_used=True,
        model_error=0.8,
        recommend_only=False,
    )
    return scaling_event("demo", "web", "Deployment/web", decision, config, applied=True)


def test_scaling_diff_line():
    assert slack.scaling_summary(_scaling_event().details) == (
        "4 → 9 replicas: p90 forecast 870 rps at 14:55, capacity 600"
    )
    # Without spec.metric.unit the line has no unit.
    details = {k: v for k, v in _scaling_event().details.items() if k != "unit"}
    assert slack.scaling_summary(details) == (
        "4 → 9 replicas: p90 forecast 870 at 14:55, capacity 600"
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
    assert text.startswith("[info] Deployment/web scaled up: 4 → 9 replicas")
    assert "p90 forecast 870 rps at 14:55" in text
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
