"""Forecast accuracy on the shared load traces: MASE, 80% interval coverage and fit time.

    python benchmarks/forecast_accuracy.py [--traces ../shared/data/traces] [--origins 24]
        [--models auto,seasonal-naive,...] [--jobs 2]

Method (decisions documented in docs/forecasting.md):

* Horizons are 15 minutes and 1 hour in the trace's own steps (5-minute trace: 3 and 12 steps;
  30-second trace: 30 and 120 steps). No aggregation: the operator forecasts at scrape
  resolution, and models that need coarser data aggregate or deseasonalise internally.
* Rolling origin: ``--origins`` cut points evenly spread over the last three days of each trace
  (so every time of day is represented and every origin has at least two days of history on the
  shared traces). Each model is refitted on the history before each cut point.
* MASE = MAE over the horizon / in-sample MAE of daily seasonal naive on that history; averaged
  over origins. Coverage = share of actual points inside the 80% band. Time = median fit+predict.
* Library models are fitted once per origin and scored at both horizons from the same forecast;
  ``auto`` is fitted once per origin and horizon, because the horizon is part of its backtest.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd

from prognos.forecasting import MODEL_NAMES, make_forecaster, read_series
from prognos.forecasting.backtest import coverage, mase, mase_scale, sub_prepared
from prognos.forecasting.clean import Prepared, prepare

LEVEL = 0.8
HERE = Path(__file__).resolve().parent
DEFAULT_TRACES = HERE.parent.parent / "shared" / "data" / "traces"
DEFAULT_MODELS = (
    "seasonal-naive",
    "naive",
    "linear",
    "seasonal-ar",
    "ets",
    "prophet",
    "arima",
    "theta",
    "mstl",
    "auto",
)


def horizons(step: pd.Timedelta) -> tuple[int, int]:
    """15 minutes and 1 hour ahead, in steps (at least one step)."""
    return (
        max(1, int(pd.Timedelta(minutes=15) / step)),
        max(1, int(pd.Timedelta(hours=1) / step)),
    )


def cut_points(prep: Prepared, horizon: int, count: int) -> list[int]:
    n = len(prep.values)
    span = min(int(pd.Timedelta(days=3) / prep.step), n // 2)
    first = n - horizon - span
    return sorted({int(c) for c in np.linspace(first, n - horizon, count)})


def run_task(task: tuple[str, str, int]) -> list[dict[str, object]]:
    """Score one model on one trace at every origin; returns one row per horizon."""
    path, model, count = task
    prep = prepare(read_series(path))
    hs = horizons(prep.step)
    cuts = cut_points(prep, max(hs), count)
    fits = hs if model == "auto" else (max(hs),)
    scores: dict[int, list[tuple[float, float]]] = {h: [] for h in hs}
    times: list[float] = []
    failures = 0
    for fit_h in fits:
        for cut in cuts:
            train = sub_prepared(prep, cut)
            params: dict[str, object] = {"horizon": fit_h} if model == "auto" else {}
            t0 = time.perf_counter()
            try:
                fc = make_forecaster(model, **params).fit_prepared(train).predict(fit_h, (LEVEL,))
            except Exception:  # a failing model is a result (counted), not a crash
                failures += 1
                continue
            times.append(time.perf_counter() - t0)
            scale = mase_scale(train.values, prep.daily_season)
            for h in hs if model != "auto" else (fit_h,):
                actual = prep.values[cut : cut + h]
                scores[h].append(
                    (
                        mase(actual, fc.mean[:h], scale),
                        coverage(actual, fc.lower[LEVEL][:h], fc.upper[LEVEL][:h]),
                    )
                )
    rows = []
    for label, h in zip(("15min", "1h"), hs, strict=True):
        arr = np.array(scores[h]) if scores[h] else np.full((1, 2), np.nan)
        rows.append(
            {
                "trace": Path(path).stem,
                "horizon": f"{label} ({h} steps)",
                "hkey": label,
                "model": model,
                "mase": float(np.mean(arr[:, 0])),
                "coverage": float(np.mean(arr[:, 1])),
                "seconds": float(np.median(times)) if times else float("nan"),
                "origins": len(scores[h]),
                "failures": failures,
            }
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--traces", type=Path, default=DEFAULT_TRACES)
    parser.add_argument("--origins", type=int, default=24)
    parser.add_argument("--models", default=",".join(DEFAULT_MODELS))
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args(argv)
    models = [m for m in args.models.split(",") if m]
    for m in models:
        if m not in MODEL_NAMES:
            parser.error(f"unknown model {m!r}")
    files = sorted(args.traces.glob("*.csv"))
    if not files:
        parser.error(f"no CSV traces in {args.traces}")
    # Slowest first so the pool is not left waiting on one long task at the end.
    weight = {"prophet": 0, "arima": 1, "mstl": 2, "theta": 3, "ets": 4}
    tasks = sorted(
        ((str(f), m, args.origins) for f in files for m in models),
        key=lambda t: (weight.get(t[1], 9), -os.path.getsize(t[0])),
    )
    started = time.perf_counter()
    rows: list[dict[str, object]] = []
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        for i, result in enumerate(pool.map(run_task, tasks), start=1):
            rows.extend(result)
            print(f"\r{i}/{len(tasks)} tasks", end="", file=sys.stderr, flush=True)
    print(f"\rdone in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    report(pd.DataFrame(rows), models)
    return 0


def report(df: pd.DataFrame, models: list[str]) -> None:
    order = {m: i for i, m in enumerate(models)}
    df = df.assign(o=df["model"].map(order)).sort_values(["trace", "hkey", "o"])
    print("\n## Per trace (MASE vs in-sample daily seasonal naive; cov = 80% interval coverage)\n")
    print("| trace | horizon | model | MASE | cov80 | fit+predict s | origins | failures |")
    print("|---|---|---|---:|---:|---:|---:|---:|")
    for r in df.itertuples():
        print(
            f"| {r.trace} | {r.horizon} | {r.model} | {r.mase:.3f} | {r.coverage:.2f} "
            f"| {r.seconds:.3f} | {r.origins} | {r.failures} |"
        )
    for value, title, fmt in (("mase", "MASE", ".3f"), ("coverage", "80% coverage", ".2f")):
        print(f"\n## {title} per trace and horizon\n")
        print("| trace | horizon | " + " | ".join(models) + " |")
        print("|---|---|" + "---:|" * len(models))
        wide = df.pivot_table(index=["trace", "horizon"], columns="model", values=value)
        for (trace, horizon), row in wide.iterrows():
            cells = " | ".join(format(row.get(m, np.nan), fmt) for m in models)
            print(f"| {trace} | {horizon} | {cells} |")
    print("\n## Mean over traces\n")
    print("| model | MASE 15min | MASE 1h | cov80 15min | cov80 1h | median s |")
    print("|---|---:|---:|---:|---:|---:|")
    for m in models:
        sub = df[df["model"] == m]
        g = sub.groupby("hkey")
        mm, cc = g["mase"].mean(), g["coverage"].mean()
        print(
            f"| {m} | {mm.get('15min', np.nan):.3f} | {mm.get('1h', np.nan):.3f} "
            f"| {cc.get('15min', np.nan):.2f} | {cc.get('1h', np.nan):.2f} "
            f"| {sub['seconds'].median():.3f} |"
        )
    if {"auto", "seasonal-naive"} <= set(models):
        print("\n## Targets\n")
        piv = df.pivot_table(index=["trace", "hkey"], columns="model", values="mase")
        ratio = piv["auto"] / piv["seasonal-naive"]
        for hkey in ("15min", "1h"):
            a = piv.xs(hkey, level="hkey")
            mean_ratio = a["auto"].mean() / a["seasonal-naive"].mean()
            ok = "met" if mean_ratio <= 0.85 else "MISSED"
            print(f"- {hkey}: mean MASE auto / seasonal naive = {mean_ratio:.3f} (<= 0.85: {ok})")
        worst = ratio.max()
        ok = "met" if worst <= 1.05 else "MISSED"
        print(f"- worst single trace/horizon auto / seasonal naive = {worst:.3f} (<= 1.05: {ok})")
        cov = df[df["model"] == "auto"]["coverage"]
        ok = "met" if cov.between(0.7, 0.9).all() else "MISSED"
        print(f"- auto 80% coverage range {cov.min():.2f}..{cov.max():.2f} (in [0.70, 0.90]: {ok})")


if __name__ == "__main__":
    sys.exit(main())
