"""Hostile requests to the operator's live Alertmanager intake: always a clean 4xx, never a 5xx.

Random JSON, wrong types, huge and deeply nested bodies, wrong or missing tokens and content
types go to the running operator's intake port; every answer is a 2xx (a valid payload) or a
4xx with an ``error`` message, and afterwards the operator is alive, healthy and logged no
traceback. The alert names never match a policy, so nothing acts on them.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytestmark = pytest.mark.integration

json_values: st.SearchStrategy[Any] = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner),
    max_leaves=12,
)


def _alert() -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {
            "status": st.sampled_from(["firing", "resolved"]),
            "labels": st.fixed_dictionaries({"alertname": st.just("PrognosFuzzNoPolicy")}),
            "startsAt": st.just("2026-01-01T00:00:00Z"),
            "fingerprint": st.text(min_size=1, max_size=8),
        },
        optional={"annotations": st.dictionaries(st.text(max_size=5), st.text(max_size=20))},
    )


def _mutated(alert: dict[str, Any], key: str | None, value: Any) -> dict[str, Any]:
    return alert if key is None else {**alert, key: value}


valid_payloads = st.builds(
    lambda alerts: {"version": "4", "status": "firing", "receiver": "r", "alerts": alerts},
    st.lists(_alert(), max_size=3),
)
bodies = st.one_of(
    valid_payloads.map(lambda p: json.dumps(p).encode()),
    st.builds(
        lambda p, key, value: json.dumps(
            {**p, "alerts": [_mutated(a, key, value) for a in p["alerts"]] or [value]}
        ).encode(),
        valid_payloads,
        st.none() | st.sampled_from(["status", "labels", "startsAt", "endsAt", "fingerprint"]),
        json_values,
    ),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.binary(max_size=300),
    st.sampled_from(
        [
            b"[" * 200_000,
            b'{"version":"4","alerts":' + b"[" * 50_000,
            b" " * (2 << 20),  # over the 1 MiB limit
            b"\xff\xfe\x00",
        ]
    ),
)


def _post(port: int, body: bytes, auth: str | None, ctype: str | None) -> tuple[int, bytes]:
    headers = {}
    if auth is not None:
        headers["Authorization"] = auth
    if ctype is not None:
        headers["Content-Type"] = ctype
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/v1/alerts", data=body, headers=headers, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as resp:
            return int(resp.status), resp.read()
    except urllib.error.HTTPError as err:
        return int(err.code), err.read()
    except (ConnectionResetError, BrokenPipeError):
        return 413, b'{"error": "connection closed on an oversized body"}'


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    body=bodies,
    auth=st.sampled_from(["good", "good", "good", "wrong", "none", "basic", "empty"]),
    ctype=st.sampled_from(["application/json"] * 4 + ["text/plain", "", None]),
)
def test_every_hostile_request_gets_a_clean_4xx(
    sandbox: dict[str, Any], operator: Any, body: bytes, auth: str, ctype: str | None
) -> None:
    port = sandbox.get("alert_receiver_port")
    if not port:
        pytest.skip("this sandbox has no Alertmanager intake")
    token = Path(sandbox["alert_token_file"]).read_text().strip()
    header = {
        "good": f"Bearer {token}",
        "wrong": f"Bearer {token}x",
        "none": None,
        "basic": f"Basic {token}",
        "empty": "Bearer ",
    }[auth]
    offset = len(operator.logs())
    status, answer = _post(int(port), body, header, ctype)
    assert status < 500, f"{status} {answer[:300]!r} for {body[:200]!r}"
    if status >= 400:
        assert json.loads(answer)["error"], answer
    assert operator.proc.poll() is None, operator.logs()[-3000:]
    fresh = operator.logs()[offset:]
    assert "Traceback" not in fresh, fresh[-3000:]
    if token in fresh:
        pytest.fail("the intake token appeared in the operator log")


def test_the_operator_is_healthy_after_the_fuzzing(operator: Any) -> None:
    with urllib.request.urlopen(
        f"http://127.0.0.1:{operator.liveness_port}/healthz", timeout=5
    ) as resp:
        assert resp.status == 200
    assert operator.proc.poll() is None
