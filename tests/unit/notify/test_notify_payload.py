from __future__ import annotations

import json

from notifyhelpers import make_event
from prognos.notify.dispatcher import ChannelSecrets, encode_payload, redact
from prognos.notify.events import SCHEMA_VERSION

#: The v1 payload's fields; a change here is a breaking change for receivers.
V1_FIELDS = {
    "schemaVersion",
    "type",
    "severity",
    "title",
    "text",
    "namespace",
    "target",
    "source",
    "incident",
    "time",
    "details",
}


def test_payload_v1_schema():
    payload = make_event().to_payload()
    assert set(payload) == V1_FIELDS
    assert payload["schemaVersion"] == SCHEMA_VERSION == "prognos.io/notification/v1"
    assert payload["type"] == "IncidentOpened"
    assert payload["severity"] == "warning"
    assert isinstance(payload["details"], dict)


def test_encoded_body_is_compact_sorted_json():
    body = encode_payload(make_event())
    assert json.loads(body) == make_event().to_payload()
    assert b", " not in body and b": " not in body
    assert body == encode_payload(make_event())  # stable bytes


def test_secrets_are_hidden_from_repr_and_redacted():
    url = "https://hooks.slack.com/services/T000/B000/XXXXSECRET"
    sec = ChannelSecrets(url=url, token="xoxb-123-abc", signing_secret="sign")
    assert "XXXXSECRET" not in repr(sec) and "xoxb" not in repr(sec)
    msg = f"Cannot connect to {url} with xoxb-123-abc (path /services/T000/B000/XXXXSECRET)"
    out = redact(msg, sec.values())
    assert "XXXXSECRET" not in out and "xoxb-123-abc" not in out
    assert "<redacted>" in out
