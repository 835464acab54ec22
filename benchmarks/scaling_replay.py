"""Scaling replay benchmark: PredictiveScaler vs a reactive HPA on every shared load trace.

Run from the repository root::

    python benchmarks/scaling_replay.py [--traces ../shared/data/traces] [--model auto]

Per trace: pod start-up 2 minutes, ``targetPerReplica`` = mean load / 10 (about ten replicas),
the first two days replayed but not scored (cold start: both scalers are reactive then), one
decision per minute (or per row for finer traces). Both runs go through ``prognos.sim.replay``,
i.e. the operator's ``ScalerEngine``; the baseline is ``hpa_baseline_config`` (HPA defaults,
300 s scale-down window, no forecast).

Targets, per trace, as ratios to the baseline: under-provisioned minutes <= 0.5, pod-minutes
<= 1.0, scaling actions <= 1.0; and the CPU cost of one ``decide`` with a cached model <= 20 ms.

``floor`` is a lower bound on the pod-minute ratio of ANY scaler that is under-provisioned in at
most half the baseline's minutes and is never more than one replica short of ``ceil(load /
target)``, even one that knows the future and whose pods start at once: per scored minute,
``replicas - load/target + [under-provisioned] >= ceil(x) - x`` (x = load/target) as long as
``replicas >= floor(x)``; summing gives pod-minutes >= sum(x) + sum(ceil(x) - x) - under minutes.
Above 1.0, the pod-minute target can only be met by running short by two or more replicas.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from prognos.forecasting import read_series
from prognos.scaling import Behavior, ForecastConfig, ScalerConfig
from prognos.scaling.config import default_scale_down
from prognos.sim.replay import (
    ReplayFigures,
    ReplayOptions,
    compare,
    default_interval,
    series_step,
)

TARGETS = {"under_provisioned_minutes": 0.5, "pod_minutes": 1.0, "scaling_actions": 1.0}
TICK_BUDGET_MS = 20.0
STARTUP = timedelta(minutes=2)
WARMUP = timedelta(days=2)


def horizon(step: timedelta, args: argparse.Namespace) -> timedelta:
    """Capacity asked for now is ready after start-up and must then last until the next
    decision's capacity is ready: start-up plus one decision interval (``--horizon step`` adds
    a whole row step instead)."""
    interval = default_interval(step)
    return STARTUP + (step if args.horizon == "step" else interval)


def prognos_config(series: Any, args: argparse.Namespace) -> ScalerConfig:
    step = series_step(series)
    target = float(np.nanmean(series.to_numpy())) / 10.0
    return ScalerConfig(
        min_replicas=1,
        max_replicas=200,
        target_per_replica=target,
        behavior=Behavior(
            scale_down=replace(default_scale_down(), stabilization_window_seconds=args.down_window),
            tolerance=args.tolerance,
        ),
        forecast=ForecastConfig(
            model=args.model,
            horizon=horizon(step, args),
            quantile=args.quantile,
            refit_interval=timedelta(hours=1),
            history=timedelta(days=14),
            confirmed_scale_down=args.confirmed_scale_down == "on",
            calibrated_bounds=args.calibrated_bounds == "on",
            anchor_smoothing=args.anchor_smoothing,
        ),
    )


def pod_minute_floor(series: Any, config: ScalerConfig, hpa: ReplayFigures) -> float:
    """The lower bound described in the module docstring, as a ratio to the baseline."""
    index = pd.DatetimeIndex(series.index)
    times = index.asi8.astype(np.float64) / 1e9
    values = series.to_numpy(dtype=np.float64)
    interval = default_interval(series_step(series)).total_seconds()
    ticks = times[0] + interval * np.arange(int((times[-1] - times[0]) // interval) + 1)
    serving = np.minimum(np.searchsorted(times, ticks + interval / 2), len(times) - 1)
    scored = ticks >= times[0] + WARMUP.total_seconds()
    x = values[serving[scored]] / config.target_per_replica
    x = x[np.isfinite(x)]
    minutes = interval / 60.0
    floor = (x.sum() + (np.ceil(x - 1e-9) - x).sum()) * minutes
    floor -= 0.5 * hpa.under_provisioned_minutes
    return float(floor / hpa.pod_minutes) if hpa.pod_minutes > 0 else math.nan


def run_trace(path: Path, args: argparse.Namespace) -> dict[str, Any]:
    series = read_series(path)
    config = prognos_config(series, args)
    options = ReplayOptions(startup=STARTUP, score_after=WARMUP)
    started = time.perf_counter()
    prognos, hpa = compare(series, config, options, clock=time.process_time)
    return {
        "floor": pod_minute_floor(series, config, hpa.figures),
        "trace": path.stem,
        "rows": len(series),
        "ticks": prognos.ticks,
        "fits": prognos.fits,
        "tick_ms": 1000.0 * prognos.decide_seconds / max(prognos.ticks, 1),
        "seconds": time.perf_counter() - started,
        "prognos": prognos.figures,
        "hpa": hpa.figures,
        "ratios": prognos.figures.ratio_to(hpa.figures),
        "reasons": prognos.reasons.most_common(4),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--traces", default="../shared/data/traces", type=Path)
    parser.add_argument("--model", default="auto")
    parser.add_argument("--quantile", type=float, default=0.92)
    parser.add_argument("--confirmed-scale-down", choices=("on", "off"), default="on")
    parser.add_argument("--calibrated-bounds", choices=("on", "off"), default="on")
    parser.add_argument("--anchor-smoothing", type=float, default=0.5)
    parser.add_argument("--down-window", type=int, default=300)
    parser.add_argument("--tolerance", type=float, default=0.1)
    parser.add_argument("--horizon", choices=("interval", "step"), default="interval")
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args(argv)
    files = sorted(args.traces.glob("*.csv"))
    if not files:
        print(f"no traces in {args.traces}", file=sys.stderr)
        return 2
    started = time.perf_counter()
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        results = list(pool.map(run_trace, files, [args] * len(files)))
    print(
        f"model={args.model} quantile={args.quantile} down-window={args.down_window}s "
        f"tolerance={args.tolerance} horizon=startup+{args.horizon} startup=2m warm-up=2d "
        f"confirmed-scale-down={args.confirmed_scale_down} "
        f"calibrated-bounds={args.calibrated_bounds} anchor-smoothing={args.anchor_smoothing}"
    )
    header = (
        f"{'trace':<28}{'under min':>16}{'pod-min':>18}{'actions':>14}"
        f"{'floor':>7}{'unserved':>16}{'tick ms':>9}  met"
    )
    print(header)
    all_met = True
    for r in results:
        p, h, q = r["prognos"], r["hpa"], r["ratios"]
        met = all(q[k] <= v for k, v in TARGETS.items()) and r["tick_ms"] <= TICK_BUDGET_MS
        all_met &= met

        def cell(a: float, b: float, ratio: float) -> str:
            shown = "n/a" if math.isinf(ratio) else f"{ratio:.2f}x"
            return f"{a:.0f}/{b:.0f} {shown}"

        under = cell(
            p.under_provisioned_minutes,
            h.under_provisioned_minutes,
            q["under_provisioned_minutes"],
        )
        print(
            f"{r['trace']:<28}"
            f"{under:>16}"
            f"{cell(p.pod_minutes, h.pod_minutes, q['pod_minutes']):>18}"
            f"{cell(p.scaling_actions, h.scaling_actions, q['scaling_actions']):>14}"
            f"{r['floor']:>7.3f}"
            f"{p.unserved_fraction:>8.4f}/{h.unserved_fraction:.4f}"
            f"{r['tick_ms']:>9.3f}  {'yes' if met else 'NO'}"
        )
    for r in results:
        print(
            f"  {r['trace']}: {r['ticks']} ticks, {r['fits']} fits, {r['seconds']:.0f}s; "
            f"main reasons {r['reasons']}"
        )
    print(f"all targets met: {'yes' if all_met else 'no'}; {time.perf_counter() - started:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
