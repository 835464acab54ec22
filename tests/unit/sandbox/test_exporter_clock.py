"""The demo exporter's clock faults: ``clock_offset_s`` and ``explicit_timestamps`` on /control."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest

from prognos.sandbox import exporter
from prognos.sandbox.load import ERROR_METRIC, LOAD_METRIC, Workload

NOW = 1_700_000_000.0


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, dict[str, Workload]]]:
    """An exporter on a free port whose clock reads ``NOW``; yields (url, workloads by name)."""
    monkeypatch.setattr(exporter, "time", SimpleNamespace(time=lambda: NOW))
    workloads = [Workload(name="web", anchor=NOW), Workload(name="other", seed=5, anchor=NOW)]
    server = exporter.make_server(0, workloads)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", {w.name: w for w in workloads}
    finally:
        server.shutdown()
        server.server_close()


def _post(url: str, body: Any) -> tuple[int, dict[str, Any]]:
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST")
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def _samples(url: str) -> dict[tuple[str, str], tuple[float, int | None]]:
    """(metric, workload) -> (value, timestamp in ms or None) from the exposition text."""
    with urllib.request.urlopen(f"{url}/metrics", timeout=5) as resp:
        text = resp.read().decode()
    out: dict[tuple[str, str], tuple[float, int | None]] = {}
    for line in text.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        series, _, rest = line.partition("} ")
        metric, _, labels = series.partition("{")
        workload = labels.split('workload="')[1].split('"')[0]
        fields = rest.split()
        out[(metric, workload)] = (float(fields[0]), int(fields[1]) if len(fields) > 1 else None)
    return out


def test_no_offset_publishes_the_current_load_without_timestamps(served):
    url, wl = served
    samples = _samples(url)
    assert samples[(LOAD_METRIC, "web")] == (pytest.approx(wl["web"].load(NOW)), None)
    assert samples[(ERROR_METRIC, "web")][1] is None


def test_a_clock_offset_evaluates_the_load_at_the_shifted_time_only_for_that_workload(served):
    url, wl = served
    status, answer = _post(f"{url}/control/web", {"clock_offset_s": -3600})
    assert status == 200
    assert answer["clock_offset_s"] == -3600.0 and answer["explicit_timestamps"] is False
    samples = _samples(url)
    value, stamp = samples[(LOAD_METRIC, "web")]
    assert value == pytest.approx(wl["web"].load(NOW - 3600))
    assert value != pytest.approx(wl["web"].load(NOW))  # the pattern really jumped
    assert stamp is None  # Prometheus stores it at scrape time: the series continues
    assert samples[(ERROR_METRIC, "web")][0] == pytest.approx(wl["web"].error_ratio(NOW - 3600))
    assert samples[(LOAD_METRIC, "other")] == (pytest.approx(wl["other"].load(NOW)), None)


@pytest.mark.parametrize("offset", [-3600.0, 6 * 3600.0])
def test_explicit_timestamps_carry_the_shifted_clock(served, offset):
    url, wl = served
    assert _post(f"{url}/control/web", {"clock_offset_s": offset, "explicit_timestamps": True})[
        0
    ] == (200)
    samples = _samples(url)
    expected_ms = int((NOW + offset) * 1000)
    assert samples[(LOAD_METRIC, "web")] == (
        pytest.approx(wl["web"].load(NOW + offset)),
        expected_ms,
    )
    assert samples[(ERROR_METRIC, "web")][1] == expected_ms
    assert samples[(LOAD_METRIC, "other")][1] is None


def test_an_empty_body_clears_the_clock_fault(served):
    url, wl = served
    _post(f"{url}/control/web", {"clock_offset_s": 7200, "explicit_timestamps": True})
    assert _post(f"{url}/control/web", {})[0] == 200
    assert _samples(url)[(LOAD_METRIC, "web")] == (pytest.approx(wl["web"].load(NOW)), None)
    with urllib.request.urlopen(f"{url}/control", timeout=5) as resp:
        state = json.loads(resp.read())
    assert state["web"]["clock_offset_s"] == 0.0 and state["web"]["explicit_timestamps"] is False


def test_the_old_control_bodies_still_work(served):
    url, wl = served
    status, answer = _post(
        f"{url}/control/web", {"factor": 2.0, "start_in": -1, "error_ratio": 0.3}
    )
    assert status == 200
    assert answer["factor"] == 2.0 and answer["ramp_start"] == NOW - 1
    assert answer["clock_offset_s"] == 0.0
    samples = _samples(url)
    assert samples[(LOAD_METRIC, "web")][0] == pytest.approx(2.0 * wl["web"].base_load(NOW))
    assert samples[(ERROR_METRIC, "web")][0] == pytest.approx(0.3)
    assert _post(f"{url}/control/nope", {})[0] == 404


def test_a_ramp_starts_on_the_shifted_clock():
    override = exporter.parse_override({"clock_offset_s": -600, "start_in": 60, "factor": 2}, NOW)
    assert override.ramp_start == NOW - 600 + 60
    # The exporter evaluates at NOW - 600 (before the ramp), then 60 s later the ramp starts.
    assert override.multiplier(NOW - 600) == 1.0
    assert override.multiplier(NOW - 540 + 1) == 2.0


@pytest.mark.parametrize(
    "body",
    [
        {"explicit_timestamps": "yes"},
        {"explicit_timestamps": 1},
        {"clock_offset_s": "soon"},
        {"clock_offset_s": float("inf")},
        {"clock_offset_s": float("nan")},
        [1, 2],
    ],
)
def test_bad_clock_bodies_are_refused_with_400_and_change_nothing(served, body):
    url, wl = served
    status, answer = _post(f"{url}/control/web", body)
    assert status == 400 and answer["error"]
    assert _samples(url)[(LOAD_METRIC, "web")] == (pytest.approx(wl["web"].load(NOW)), None)
