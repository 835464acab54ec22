"""Anomaly detection benchmark: labelled injected faults, and false alarms on clean real traces.

Run from the repository root::

    python benchmarks/detection.py [--detector auto] [--sensitivity medium] [--details]
    python benchmarks/detection.py --remediation 20,5    # also time-to-remediation, sandbox

``--remediation CRASH,METRIC`` adds time-to-remediation in the real sandbox (signal onset to
action applied, p50 and p95): it runs ``benchmarks/remediation_latency.py`` with that many
crash-loop and metric-anomaly episodes against the sandbox in ``PROGNOS_SANDBOX_DIR`` (or a
fresh one), so both halves of "detect, then act" are reported by one command.

Labelled suite (deterministic, seed 0): every 5-minute shared trace (Azure, Google, Alibaba) and
four synthetic seasonal series (14 days each) receive injected faults of five kinds, spaced at
least 14 hours apart and never in the first two days (detectors need a season of history):

* ``spike``     : +/- 6..10 sigma for 15..30 minutes (3..6 points);
* ``shift``     : +/- 4..8 sigma level shift (outage-like drops included) for 2..8 hours;
* ``variance``  : added Gaussian noise of 3..5 sigma for 3..6 hours;
* ``trend``     : a ramp to +/- 6..10 sigma over 3..6 hours and back down over as long;
* ``season``    : 6..8 hours replaced by the same series 8..14 hours earlier (a broken daily
                  pattern), kept only when it moves the series by at least 3 sigma on average.

``sigma`` is the robust (MAD) standard deviation of the day-over-day difference of the clean
series divided by sqrt(2): the noise a seasonal detector has to see through on that series.

Scoring (event level):

* an event's labelled window is [start, end + 1 hour] (persistence needs time to confirm);
* an event is *detected* when the detector starts firing (an onset) inside its window; delay is
  onset - start (first onset);
* an onset outside every window is a false positive, except on the real traces, where an onset
  within 2 hours of an onset on the same trace *without* injections is a detection of a real
  event already in the trace: it is reported separately (``real``) and counted in the
  clean-trace figures below instead, so the suite measures injected faults only;
* precision = detected / (detected + false positives); recall = detected / events.

Clean traces: onsets on the unmodified traces, per day and per week (the first day is the
detector's warm-up and is included). The traces contain real outages and level shifts: every
onset counts as a false alarm in the headline figure; ``--details`` lists them with the value
and the expected range so they can be checked by eye (see benchmarks/RESULTS.md).
"""

from __future__ import annotations

import argparse
import math
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from prognos.anomaly import DetectorConfig, config_from_spec, score_series
from prognos.forecasting import read_series

TRACES = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "traces"
FIVE_MIN = ("azure_vm_cpu_5min", "google_cluster_cpu_5min", "alibaba_cluster_cpu_5min")
THIRTY_S = "alibaba_cluster_cpu_30s"
KINDS = ("spike", "shift", "variance", "trend", "season")
GRACE = pd.Timedelta(hours=1)
REAL_MATCH = pd.Timedelta(hours=2)
WARMUP = pd.Timedelta(days=2)
GAP = pd.Timedelta(hours=14)
STEP = pd.Timedelta(minutes=5)


@dataclass(frozen=True)
class Event:
    series: str
    kind: str
    start: pd.Timestamp
    end: pd.Timestamp

    @property
    def window_end(self) -> pd.Timestamp:
        return self.end + GRACE


def seasonal_sigma(y: pd.Series) -> float:
    per_day = int(pd.Timedelta(days=1) / STEP)
    d = y.to_numpy()[per_day:] - y.to_numpy()[:-per_day]
    return float(1.4826 * np.median(np.abs(d - np.median(d))) / math.sqrt(2.0))


def synthetic(seed: int, days: int = 14) -> pd.Series:
    """Daily + weekly seasonal load with AR(1) noise, a slow drift and per-seed shape."""
    rng = np.random.default_rng(1000 + seed)
    n = int(pd.Timedelta(days=days) / STEP)
    t = np.arange(n) / (pd.Timedelta(days=1) / STEP)
    amp = rng.uniform(0.2, 0.5)
    base = 1.0 + amp * np.sin(2 * np.pi * (t - 0.3)) + 0.3 * amp * np.sin(4 * np.pi * t + 1.0)
    weekend = ((np.floor(t) % 7) >= 5).astype(float)
    base *= 1.0 - rng.uniform(0.0, 0.2) * weekend
    base *= 1.0 + rng.uniform(-0.05, 0.1) * t / days
    noise = np.zeros(n)
    e = rng.normal(0.0, rng.uniform(0.01, 0.04), n)
    for i in range(1, n):
        noise[i] = 0.6 * noise[i - 1] + e[i]
    index = pd.date_range("2024-01-01", periods=n, freq=STEP)
    return pd.Series(100.0 * (base + noise), index=index, name=f"synthetic_{seed}")


def inject(y: pd.Series, rng: np.random.Generator) -> tuple[pd.Series, list[Event]]:
    """Faults of every kind in turn at random, well-separated places after the warm-up."""
    sigma = seasonal_sigma(y)
    values = y.to_numpy().copy()
    index = y.index
    events: list[Event] = []
    cursor = index[0] + WARMUP + pd.Timedelta(hours=float(rng.uniform(0, 6)))
    k = int(rng.integers(len(KINDS)))
    while True:
        kind = KINDS[k % len(KINDS)]
        k += 1
        hours = {
            "spike": rng.uniform(0.25, 0.5),
            "shift": rng.uniform(2, 8),
            "variance": rng.uniform(3, 6),
            "trend": 2 * rng.uniform(3, 6),
            "season": rng.uniform(6, 8),
        }[kind]
        start = cursor.ceil(STEP)
        end = start + pd.Timedelta(hours=float(hours))
        if end + GAP > index[-1]:
            break
        mask = (index >= start) & (index < end)
        n = int(mask.sum())
        sign = rng.choice([-1.0, 1.0])
        if kind == "spike":
            values[mask] += sign * rng.uniform(6, 10) * sigma
        elif kind == "shift":
            values[mask] += sign * rng.uniform(4, 8) * sigma
        elif kind == "variance":
            values[mask] += rng.normal(0.0, rng.uniform(3, 5) * sigma, n)
        elif kind == "trend":
            half = n // 2
            ramp = np.concatenate([np.linspace(0, 1, half), np.linspace(1, 0, n - half)])
            values[mask] += sign * rng.uniform(6, 10) * sigma * ramp
        else:
            ok = False
            for _ in range(10):
                shift = int(pd.Timedelta(hours=float(rng.uniform(8, 14))) / STEP)
                where = np.flatnonzero(mask)
                if where[0] - shift < 0:
                    break
                moved = y.to_numpy()[where - shift]
                if np.mean(np.abs(moved - values[where])) >= 3 * sigma:
                    values[where] = moved
                    ok = True
                    break
            if not ok:
                cursor = cursor + pd.Timedelta(hours=2)
                continue
        events.append(Event(str(y.name), kind, start, end))
        cursor = end + GAP + pd.Timedelta(hours=float(rng.uniform(0, 6)))
    return pd.Series(values, index=index, name=y.name), events


def onsets(y: pd.Series, config: DetectorConfig) -> tuple[list[pd.Timestamp], pd.DataFrame]:
    frame = score_series(y, config)
    return list(frame.loc[frame["fired"], "timestamp"]), frame


@dataclass
class SuiteResult:
    events: int = 0
    detected: int = 0
    false_positives: int = 0
    real: int = 0
    delays: list[float] | None = None
    by_kind: dict[str, list[int]] | None = None


def run_suite(config: DetectorConfig, details: bool) -> SuiteResult:
    rng = np.random.default_rng(0)
    bases: list[tuple[pd.Series, bool]] = [
        (read_series(TRACES / f"{name}.csv").rename(name), True) for name in FIVE_MIN
    ]
    bases += [(synthetic(seed), False) for seed in range(4)]
    result = SuiteResult(delays=[], by_kind={k: [0, 0] for k in KINDS})
    assert result.delays is not None
    assert result.by_kind is not None
    for clean, is_real in bases:
        injected, events = inject(clean, rng)
        fired, _ = onsets(injected, config)
        clean_fired = onsets(clean, config)[0] if is_real else []
        hit = [False] * len(events)
        for t in fired:
            inside = [i for i, e in enumerate(events) if e.start <= t <= e.window_end]
            if inside:
                for i in inside:
                    if not hit[i]:
                        hit[i] = True
                        result.delays.append((t - events[i].start).total_seconds() / 60.0)
                continue
            if any(abs(t - c) <= REAL_MATCH for c in clean_fired):
                result.real += 1
                continue
            result.false_positives += 1
            if details:
                print(f"  FP {clean.name} {t}")
        for e, h in zip(events, hit, strict=True):
            result.by_kind[e.kind][0] += 1
            result.by_kind[e.kind][1] += int(h)
            if details and not h:
                print(f"  missed {e.kind} {e.series} {e.start} .. {e.end}")
        result.events += len(events)
        result.detected += sum(hit)
    return result


def run_clean(config: DetectorConfig, details: bool) -> list[tuple[str, float, int]]:
    rows = []
    for name in (*FIVE_MIN, THIRTY_S):
        y = read_series(TRACES / f"{name}.csv")
        fired, frame = onsets(y, config)
        days = (y.index[-1] - y.index[0]) / pd.Timedelta(days=1)
        rows.append((name, days, len(fired)))
        if details:
            for t in fired:
                r = frame.loc[frame["timestamp"] == t].iloc[0]
                print(
                    f"  alarm {name} {t} value={r['value']:.4g} "
                    f"expected={r['expected']:.4g} range=[{r['lower']:.4g}, {r['upper']:.4g}]"
                )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--detector", default="auto")
    parser.add_argument("--sensitivity", default="medium")
    parser.add_argument("--for", dest="for_", default=None, help="persistence, e.g. 10m")
    parser.add_argument("--details", action="store_true", help="list misses and alarms")
    parser.add_argument(
        "--remediation",
        metavar="CRASH,METRIC",
        default=None,
        help="also measure time-to-remediation in the sandbox with this many episodes",
    )
    args = parser.parse_args(argv)
    episodes = _episodes(parser, args.remediation)
    spec = {"detector": args.detector, "sensitivity": args.sensitivity}
    if args.for_:
        spec["for"] = args.for_
    config = config_from_spec(spec)
    started = time.perf_counter()
    print(
        f"detector={config.detector} sensitivity={config.sensitivity} "
        f"z={config.z_threshold:g} for={config.for_} rearm={config.rearm_after}"
    )
    s = run_suite(config, args.details)
    assert s.delays is not None
    assert s.by_kind is not None
    precision = s.detected / max(1, s.detected + s.false_positives)
    recall = s.detected / max(1, s.events)
    f1 = 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)
    print("\nLabelled suite (3 real 5-min traces + 4 synthetic, injected faults)")
    print(
        f"  events {s.events}  detected {s.detected}  false positives {s.false_positives}"
        f"  onsets on real events already in the trace {s.real}"
    )
    print(f"  precision {precision:.3f}  recall {recall:.3f}  F1 {f1:.3f}")
    if s.delays:
        d = np.array(s.delays)
        print(
            f"  detection delay (min): median {np.median(d):.0f}  p90 "
            f"{np.percentile(d, 90):.0f}  max {d.max():.0f}"
        )
    print("  recall by kind: " + "  ".join(f"{k} {v[1]}/{v[0]}" for k, v in s.by_kind.items()))
    print("\nClean traces (every onset counted as a false alarm)")
    total_days = total_alarms = 0.0
    for name, days, alarms in run_clean(config, args.details):
        print(
            f"  {name:28s} {days:5.1f} days  {alarms:3d} alarms  "
            f"{alarms / days:.2f}/day  {7 * alarms / days:.2f}/week"
        )
        if name in FIVE_MIN:
            total_days += days
            total_alarms += alarms
    print(
        f"  all 5-minute traces          {total_days:5.1f} days  {int(total_alarms):3d} alarms  "
        f"{7 * total_alarms / total_days:.2f}/week"
    )
    print(f"\n({time.perf_counter() - started:.0f} s)")
    if episodes is None:
        return 0
    print("\nTime to remediation in the sandbox (benchmarks/remediation_latency.py)", flush=True)
    crash, metric = episodes
    script = Path(__file__).with_name("remediation_latency.py")
    argv_ = [f"--crash-episodes={crash}", f"--metric-episodes={metric}"]
    return subprocess.run([sys.executable, str(script), *argv_], check=False).returncode


def _episodes(parser: argparse.ArgumentParser, raw: str | None) -> tuple[int, int] | None:
    if raw is None:
        return None
    try:
        crash, metric = (int(x) for x in raw.split(","))
    except ValueError:
        parser.error(f"--remediation: expected CRASH,METRIC episode counts, got {raw!r}")
    if crash < 0 or metric < 0 or crash + metric == 0:
        parser.error("--remediation: episode counts must be >= 0 and not both 0")
    return crash, metric


if __name__ == "__main__":
    sys.exit(main())
