"""Hostile Alertmanager bodies: ``parse_payload`` returns alerts or raises ``IntakeError`` (4xx).

Anything else would escape the handler as a 500, which Alertmanager retries forever.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from prognos.notify.intake import IntakeError, parse_payload

json_values: st.SearchStrategy[Any] = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner),
    max_leaves=20,
)
times = st.sampled_from(
    ["2026-01-01T00:00:00Z", "0001-01-01T00:00:00Z", "", "9999-12-31T23:59:59-23:59", "now"]
) | st.text(max_size=30)


def alert() -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {},
        optional={
            "status": st.sampled_from(["firing", "resolved", "FIRING"]) | json_values,
            "labels": st.dictionaries(st.sampled_from(["alertname", "service"]), st.text())
            | json_values,
            "annotations": st.dictionaries(st.text(), st.text()) | json_values,
            "startsAt": times | json_values,
            "endsAt": times | json_values,
            "fingerprint": st.text(max_size=10) | json_values,
            "generatorURL": json_values,
        },
    )


payloads = st.fixed_dictionaries(
    {},
    optional={
        "version": st.sampled_from(["4", 4, "3"]) | json_values,
        "status": json_values,
        "receiver": json_values,
        "groupKey": json_values,
        "alerts": st.lists(alert(), max_size=4) | json_values,
    },
)


def _parse(raw: bytes) -> None:
    refused: IntakeError | None = None
    try:
        alerts = parse_payload(raw)
    except IntakeError as exc:
        refused, alerts = exc, []
    if refused is not None:
        assert refused.status == 400
        assert refused.message
    for a in alerts:
        assert a.alertname
        assert a.status in ("firing", "resolved")
        a.starts_at.isoformat()


@settings(max_examples=300, deadline=None)
@given(payloads)
def test_payload_shaped_bodies_parse_or_are_refused(body: dict[str, Any]) -> None:
    _parse(json.dumps(body).encode())


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200) | json_values.map(lambda v: json.dumps(v).encode()))
def test_random_bodies_parse_or_are_refused(raw: bytes) -> None:
    _parse(raw)


@pytest.mark.parametrize("raw", [b"[" * 100_000, b'{"a":' * 100_000, b"1e999999", b"\xff\xfe"])
def test_pathological_json_is_a_400(raw: bytes) -> None:
    with pytest.raises(IntakeError) as err:
        parse_payload(raw)
    assert err.value.status == 400
