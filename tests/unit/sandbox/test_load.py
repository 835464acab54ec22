from __future__ import annotations

import math
import re

import pytest

from prognos.sandbox.load import (
    DAY,
    LOAD_METRIC,
    Override,
    Workload,
    default_workloads,
    openmetrics_history,
)


def test_seasonal_load_is_a_deterministic_function_of_time_and_anchor():
    # Backfill and exporter are separate processes: equal inputs must give equal loads.
    a, b = (
        Workload(name="web", anchor=1_700_000_000.0),
        Workload(name="web", anchor=1_700_000_000.0),
    )
    for t in (0.0, 1_700_000_000.0, 1_700_003_600.5):
        assert a.load(t) == b.load(t)


def test_surges_recur_daily_so_history_predicts_them():
    anchor = 1_700_000_000.0
    wl = Workload(name="web", anchor=anchor)
    start = wl.next_surge(anchor + 30)
    assert anchor <= start <= anchor + 360
    peak = start + 90
    assert wl.surge_multiplier(peak) == pytest.approx(3.0)
    assert wl.surge_multiplier(start - 1) == 1.0
    for days in (1, 3, 7):
        assert wl.surge_multiplier(peak - days * DAY) == pytest.approx(3.0)
    # Outside the daily window there are no surges.
    assert all(wl.surge_multiplier(anchor + 6 * 3600 + k * 30) == 1.0 for k in range(40))


def test_seasonal_load_has_a_daily_cycle():
    wl = Workload(name="web", noise=0.0, weekly_amplitude=0.0)
    t0 = 1_700_000_000.0 - (1_700_000_000.0 % DAY)
    peak, trough = wl.load(t0 + 0.5 * DAY), wl.load(t0)
    assert peak > 2 * trough
    assert math.isclose(wl.load(t0 + 0.3 * DAY), wl.load(t0 + 1.3 * DAY))


def test_override_ramps_linearly_then_holds():
    ov = Override(factor=3.0, ramp_start=100.0, ramp_seconds=100.0)
    assert ov.multiplier(50.0) == 1.0
    assert ov.multiplier(150.0) == pytest.approx(2.0)
    assert ov.multiplier(500.0) == 3.0


def test_trace_profile_ends_at_the_anchor_and_loops(tmp_path):
    trace = tmp_path / "t.csv"
    trace.write_text(
        "timestamp,value\n2020-01-01 00:00:00,1\n2020-01-01 00:05:00,2\n2020-01-01 00:10:00,3\n"
    )
    wl = Workload(name="b", profile="trace", trace=trace, mean=2.0, anchor=1000.0)
    assert wl.load(1000.0) == pytest.approx(3.0)
    assert wl.load(1000.0 - 300) == pytest.approx(2.0)
    assert wl.load(1000.0 - 900) == pytest.approx(3.0)  # looped


def test_openmetrics_history_is_grouped_by_family_and_ends_with_eof():
    text = openmetrics_history(default_workloads(None, 0.0), 0.0, 600.0, 60.0)
    lines = text.strip().splitlines()
    assert lines[-1] == "# EOF"
    samples = [ln for ln in lines if ln.startswith(LOAD_METRIC + "{")]
    assert len(samples) == 10
    stamps = [int(ln.rsplit(" ", 1)[1]) for ln in samples]
    assert stamps == sorted(stamps)
    assert all(
        re.fullmatch(r'\S+\{namespace="demo",workload="web"\} [-\d.e+]+ \d+', s) for s in samples
    )
