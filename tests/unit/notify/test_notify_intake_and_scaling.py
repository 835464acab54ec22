from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from prognos.notify.events import EventType
from prognos.notify.intake import IntakeError, parse_payload
from prognos.notify.scaling import scaling_event
from prognos.notify.slack import scaling_summary
from prognos.scaling import Decision, Reason, ScalerConfig


def _alert(**overrides: Any) -> dict[str, Any]:
    alert = {
        "status": "firing",
        "labels": {"alertname": "HighErrors", "workload": "web"},
        "annotations": {"summary": "errors"},
        "startsAt": "2025-01-01T10:00:00.123Z",
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus/graph",
        "fingerprint": "f00d",
    }
    alert.update(overrides)
    return alert


def _body(*alerts: dict[str, Any], **top: Any) -> bytes:
    data = {"version": "4", "receiver": "prognos", "groupKey": "{}:{}", "alerts": list(alerts)}
    data.update(top)
    return json.dumps(data).encode()


def test_parses_firing_and_resolved_alerts():
    resolved = _alert(status="resolved", endsAt="2025-01-01T10:05:00Z", fingerprint="beef")
    firing, done = parse_payload(_body(_alert(), resolved))
    assert firing.firing and firing.alertname == "HighErrors"
    assert firing.labels["workload"] == "web" and firing.ends_at is None
    assert firing.starts_at == datetime(2025, 1, 1, 10, 0, 0, 123000, tzinfo=UTC)
    assert not done.firing and done.ends_at == datetime(2025, 1, 1, 10, 5, tzinfo=UTC)
    assert firing.receiver == "prognos"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b"[]", None),
        (b"nope", None),
        (_body(version="3"), "version"),
        (json.dumps({"version": "4", "alerts": {}}).encode(), "alerts"),
        (_body("x"), "alerts[0]"),  # type: ignore[arg-type]
        (_body(_alert(status="pending")), "alerts[0].status"),
        (_body(_alert(labels={"workload": "web"})), "alerts[0].labels"),
        (_body(_alert(labels={"alertname": "A", "n": 1})), "alerts[0].labels"),
        (_body(_alert(annotations=[])), "alerts[0].annotations"),
        (_body(_alert(fingerprint="")), "alerts[0].fingerprint"),
        (_body(_alert(startsAt=None)), "alerts[0].startsAt"),
        (_body(_alert(startsAt="yesterday")), "alerts[0].startsAt"),
        (_body(_alert(endsAt=5)), "alerts[0].endsAt"),
    ],
)
def test_invalid_payloads_name_the_field(body, field):
    with pytest.raises(IntakeError) as info:
        parse_payload(body)
    assert info.value.status == 400 and info.value.field == field


def test_alert_count_is_limited():
    with pytest.raises(IntakeError) as info:
        parse_payload(_body(*[_alert(fingerprint=str(i)) for i in range(3)]), max_alerts=2)
    assert info.value.field == "alerts"


def _decision(before: int, after: int, recommend: bool = False) -> Decision:
    return Decision(
        time=datetime(2025, 1, 1, 14, 50, tzinfo=UTC),
        current_replicas=before,
        desired_replicas=after,
        load=610.0,
        forecast_load=870.4,
        reactive_replicas=5,
        forecast_replicas=after,
        reasons=(Reason.SCALE_UP_FORECAST,),
        model="ets",
        forecast_used=True,
        model_error=0.8,
        recommend_only=recommend,
    )


def test_scaling_event_carries_the_diff():
    config = ScalerConfig(min_replicas=1, max_replicas=20, target_per_replica=150.0)
    event = scaling_event("demo", "web", "Deployment/web", _decision(4, 9), config, applied=True)
    assert event.type is EventType.SCALING_DECISION and event.dedup_key is None
    assert event.source == "PredictiveScaler/web"
    horizon_end = datetime(2025, 1, 1, 14, 50, tzinfo=UTC) + config.forecast.horizon
    assert event.details["forecastTime"] == horizon_end.isoformat().replace("+00:00", "Z")
    assert scaling_summary(event.details) == (
        f"4 → 9 replicas: p90 forecast 870 at {horizon_end:%H:%M}, capacity 600"
    )
    assert "unit" not in event.details  # no spec.metric.unit
    with_unit = replace(config, unit="rps")
    event = scaling_event("demo", "web", "Deployment/web", _decision(4, 9), with_unit, True)
    assert event.details["unit"] == "rps"
    assert scaling_summary(event.details) == (
        f"4 → 9 replicas: p90 forecast 870 rps at {horizon_end:%H:%M}, capacity 600"
    )
    json.dumps(event.to_payload())


def test_recommend_mode_is_sent_as_would_do_and_deduplicated():
    config = ScalerConfig(min_replicas=1, max_replicas=20, target_per_replica=150.0)
    a = scaling_event("demo", "web", "Deployment/web", _decision(4, 9, True), config, False)
    b = scaling_event("demo", "web", "Deployment/web", _decision(4, 9, True), config, False)
    assert a.type is EventType.WOULD_DO and "would scale up" in a.title
    assert a.dedup_key == b.dedup_key is not None
    assert timedelta(0) < config.forecast.horizon
