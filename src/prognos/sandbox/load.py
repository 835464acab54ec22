"""The demo workloads' load: a deterministic function of time, shared by backfill and exporter.

Because the value at any instant is a pure function of the timestamp, the history written with
``promtool tsdb create-blocks-from openmetrics`` and the live series the exporter serves join
without a seam. Runtime *overrides* (a ramp to a multiple of the base load, an error-rate burst)
exist only from the moment they are set: they model events, not history.

Two profiles:
* ``seasonal``: a daily and weekly cycle with smooth noise (requests per second), plus a daily
  "flash sale" window: for ``SURGE_WINDOW`` seconds from ten minutes before the sandbox started
  (same time every day), the load surges to ``surge_factor`` times every ``SURGE_EVERY`` seconds.
  The surges are in the backfilled history, so a seasonal forecast sees each one coming while a
  reactive autoscaler only sees it arrive: the demo and the integration tests rely on that;
* ``trace``: replays a real load trace (``../shared/data/traces``) aligned so that the trace's
  last point is "now" and looped before its start, scaled to a target mean.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

DAY = 86_400.0
WEEK = 7 * DAY
SURGE_EVERY = 360.0
SURGE_WINDOW = 4 * 3600.0
SURGE_RAMP_UP = 60.0
SURGE_HOLD = 120.0
SURGE_RAMP_DOWN = 60.0

LOAD_METRIC = "prognos_demo_requests_per_second"
ERROR_METRIC = "prognos_demo_error_ratio"


def _noise(t: float, seed: int) -> float:
    """Smooth deterministic noise in roughly [-1, 1]: sum of incommensurate sines."""
    s = float(seed)
    return (
        0.5 * math.sin(t / 317.0 + s)
        + 0.3 * math.sin(t / 97.0 + 2.1 * s)
        + 0.2 * math.sin(t / 41.0 + 3.7 * s)
    )


@dataclass
class Override:
    """A multiplicative ramp of the load and/or an error-ratio level, set at runtime.

    ``clock_offset_s`` and ``explicit_timestamps`` are faults of the exporter's clock (see
    ``prognos.sandbox.exporter``): the load is evaluated at ``now + clock_offset_s``, and with
    ``explicit_timestamps`` the samples carry that shifted time as their timestamp.
    """

    factor: float = 1.0
    ramp_start: float = 0.0
    ramp_seconds: float = 0.0
    error_ratio: float | None = None
    clock_offset_s: float = 0.0
    explicit_timestamps: bool = False

    def multiplier(self, t: float) -> float:
        if self.factor == 1.0 or t <= self.ramp_start:
            return 1.0
        if self.ramp_seconds <= 0 or t >= self.ramp_start + self.ramp_seconds:
            return self.factor
        frac = (t - self.ramp_start) / self.ramp_seconds
        return 1.0 + (self.factor - 1.0) * frac


@dataclass
class Workload:
    """One demo workload's load profile (labels ``namespace``/``workload`` on every series)."""

    name: str
    namespace: str = "demo"
    profile: str = "seasonal"
    mean: float = 400.0
    daily_amplitude: float = 0.45
    weekly_amplitude: float = 0.15
    noise: float = 0.04
    seed: int = 1
    surge_factor: float = 3.0
    trace: Path | None = None
    override: Override = field(default_factory=Override)
    _trace_values: np.ndarray | None = field(default=None, repr=False)
    _trace_step: float = field(default=300.0, repr=False)
    #: Unix time the trace's last point is pinned to; backfill and exporter must share it.
    anchor: float = field(default_factory=time.time)

    def _load_trace(self) -> None:
        if self._trace_values is not None or self.trace is None:
            return
        frame = pd.read_csv(self.trace)
        stamps = pd.to_datetime(frame["timestamp"])
        values = frame["value"].to_numpy(dtype=float)
        self._trace_step = float((stamps.iloc[1] - stamps.iloc[0]).total_seconds())
        self._trace_values = values * (self.mean / float(np.nanmean(values)))

    def surge_window_start(self) -> float:
        """Second of the day the daily surge window opens: ten minutes before the anchor."""
        return (self.anchor - 600.0) % DAY

    def surge_multiplier(self, t: float) -> float:
        """1 outside surges; ramps to ``surge_factor``, holds, ramps back (piecewise linear)."""
        if self.surge_factor == 1.0 or self.profile != "seasonal":
            return 1.0
        into_window = (t - self.surge_window_start()) % DAY
        if into_window >= SURGE_WINDOW:
            return 1.0
        phase = into_window % SURGE_EVERY
        extra = self.surge_factor - 1.0
        if phase < SURGE_RAMP_UP:
            return 1.0 + extra * phase / SURGE_RAMP_UP
        phase -= SURGE_RAMP_UP
        if phase < SURGE_HOLD:
            return self.surge_factor
        phase -= SURGE_HOLD
        if phase < SURGE_RAMP_DOWN:
            return self.surge_factor - extra * phase / SURGE_RAMP_DOWN
        return 1.0

    def next_surge(self, after: float) -> float:
        """Unix time of the first surge start at or after ``after``."""
        into_window = (after - self.surge_window_start()) % DAY
        if into_window < SURGE_WINDOW:
            offset = math.ceil(into_window / SURGE_EVERY) * SURGE_EVERY
            if offset < SURGE_WINDOW:
                return after + (offset - into_window)
        return after + (DAY - into_window)

    def base_load(self, t: float) -> float:
        """Load at unix time ``t`` without overrides."""
        if self.profile == "trace" and self.trace is not None:
            self._load_trace()
            assert self._trace_values is not None
            n = len(self._trace_values)
            # The trace ends at the anchor (start of the sandbox) and loops before it.
            idx = math.floor((t - self.anchor) / self._trace_step) + n - 1
            return float(self._trace_values[idx % n])
        daily = math.sin(2 * math.pi * ((t % DAY) / DAY - 0.25))
        weekly = math.cos(2 * math.pi * ((t % WEEK) / WEEK))
        level = 1.0 + self.daily_amplitude * daily + self.weekly_amplitude * weekly
        level += self.noise * _noise(t, self.seed)
        return max(0.0, self.mean * level * self.surge_multiplier(t))

    def load(self, t: float) -> float:
        return self.base_load(t) * self.override.multiplier(t)

    def error_ratio(self, t: float) -> float:
        if self.override.error_ratio is not None and t >= self.override.ramp_start:
            return self.override.error_ratio
        return max(0.0, 0.01 + 0.003 * _noise(t, self.seed + 7))


def default_workloads(traces_dir: Path | None, anchor: float) -> list[Workload]:
    """The sandbox's demo workloads: ``web`` (seasonal) and, when traces exist, ``batch``."""
    loads = [Workload(name="web", anchor=anchor)]
    if traces_dir is not None:
        trace = traces_dir / "google_cluster_cpu_5min.csv"
        if trace.exists():
            loads.append(
                Workload(name="batch", profile="trace", mean=250.0, trace=trace, anchor=anchor)
            )
    return loads


def openmetrics_history(
    workloads: list[Workload],
    start: float,
    end: float,
    step: float,
    target_labels: dict[str, str] | None = None,
) -> str:
    """OpenMetrics text of every workload's load and error ratio over ``[start, end)``.

    ``target_labels`` are the labels Prometheus attaches when it scrapes the exporter (``job``,
    ``instance``): written into the history too, backfill and live scrapes form one series.
    """
    extra = "".join(f',{k}="{v}"' for k, v in sorted((target_labels or {}).items()))
    lines: list[str] = []
    stamps = np.arange(start, end, step)
    for metric, fn, help_text in (
        (LOAD_METRIC, "load", "Demo workload load in requests per second."),
        (ERROR_METRIC, "error_ratio", "Demo workload fraction of requests that fail."),
    ):
        lines.append(f"# HELP {metric} {help_text}")
        lines.append(f"# TYPE {metric} gauge")
        for wl in workloads:
            labels = f'{{namespace="{wl.namespace}",workload="{wl.name}"{extra}}}'
            value_at = getattr(wl, fn)
            lines.extend(f"{metric}{labels} {value_at(t):.6g} {t:.0f}" for t in stamps)
    lines.append("# EOF")
    return "\n".join(lines) + "\n"
