"""``prognos simulate``: replay a load trace through the PredictiveScaler decision code.

Writes ``timestamp,load,forecast,replicas`` (one row per input row; ``replicas`` is what Prognos
asks for at that row from the rows up to it, ``forecast`` the load it provisioned for, empty
when it scaled reactively) and prints the replay figures next to a reactive HPA baseline replayed
on the same trace with the same bounds and target.

The decisions come from ``prognos.scaling.ScalerEngine``, the object the operator uses, and a
``--policy`` file goes through ``config_from_spec``, the operator's own spec parser: a policy that
simulates is a policy that runs.
"""

from __future__ import annotations

import argparse
import math
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml

from prognos.commands import UsageError
from prognos.forecasting import ForecastError, read_series
from prognos.scaling import ScalerConfig, SpecError, config_from_spec
from prognos.scaling.spec import parse_duration, parse_quantity
from prognos.sim.replay import (
    ReplayFigures,
    ReplayOptions,
    ReplayResult,
    compare,
    default_interval,
    series_step,
)

API_VERSION = "prognos.io/v1alpha1"
KIND = "PredictiveScaler"


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "simulate",
        help="replay a load trace through the PredictiveScaler and compare with a reactive HPA",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
    )
    parser.add_argument("file", metavar="FILE", help="load trace, CSV with timestamp,value")
    parser.add_argument(
        "--target-per-replica",
        metavar="X",
        help="load one replica serves, a quantity such as 100 or 250m (overrides the policy)",
    )
    parser.add_argument("--policy", metavar="YAML", help="a PredictiveScaler manifest")
    parser.add_argument(
        "--startup", default="2m", help="pod start-up delay, a duration (default: 2m)"
    )
    parser.add_argument(
        "--interval",
        help="decision interval (default: the policy's spec.interval, else the trace step "
        "capped at 1m)",
    )
    parser.add_argument(
        "--warmup",
        default="0s",
        help="replay but do not score the first part of the trace (default: 0s)",
    )
    parser.add_argument("--min-replicas", type=int, help="override spec.minReplicas")
    parser.add_argument("--max-replicas", type=int, help="override spec.maxReplicas")
    parser.add_argument("--model", help="override spec.forecast.model")
    parser.add_argument("--output", required=True, metavar="CSV", help="timeline to write")
    parser.add_argument("--plot", metavar="PNG", help="also draw the timeline")
    parser.set_defaults(func=run)


def _load_policy(path: str) -> dict[str, Any]:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"{path}: cannot read policy ({exc.strerror or exc})") from None
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise UsageError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(doc, dict):
        raise UsageError(f"{path}: expected a {KIND} manifest (a mapping)")
    if doc.get("apiVersion") != API_VERSION or doc.get("kind") != KIND:
        raise UsageError(
            f"{path}: expected apiVersion {API_VERSION} and kind {KIND}, "
            f"got {doc.get('apiVersion')!r} / {doc.get('kind')!r}"
        )
    spec = doc.get("spec")
    if not isinstance(spec, dict):
        raise UsageError(f"{path}: spec must be a mapping")
    return spec


def build_config(args: argparse.Namespace) -> tuple[ScalerConfig, dict[str, Any]]:
    """The config the replay runs: the policy's spec with command-line overrides applied."""
    spec: dict[str, Any] = _load_policy(args.policy) if args.policy else {}
    spec = dict(spec)
    metric = dict(spec.get("metric") or {})
    if args.target_per_replica is not None:
        metric["targetPerReplica"] = args.target_per_replica
    if "targetPerReplica" not in metric:
        raise UsageError(
            "--target-per-replica is required (or metric.targetPerReplica in --policy)"
        )
    spec["metric"] = metric
    if args.min_replicas is not None:
        spec["minReplicas"] = args.min_replicas
    if args.max_replicas is not None:
        spec["maxReplicas"] = args.max_replicas
    spec.setdefault("maxReplicas", max(1000, int(spec.get("minReplicas", 1))))
    if args.model is not None:
        spec["forecast"] = {**(spec.get("forecast") or {}), "model": args.model}
    try:
        parse_quantity(metric["targetPerReplica"], "--target-per-replica")
        return config_from_spec(spec), spec
    except SpecError as exc:
        raise UsageError(str(exc)) from None


def _duration(value: str, flag: str) -> timedelta:
    try:
        return parse_duration(value, flag)
    except SpecError as exc:
        raise UsageError(str(exc)) from None


def run(args: argparse.Namespace) -> int:
    config, spec = build_config(args)
    try:
        series = read_series(args.file)
    except ForecastError as exc:
        raise UsageError(str(exc)) from None
    if len(series) < 2:
        raise UsageError(f"{args.file}: needs at least two rows")
    startup = _duration(args.startup, "--startup")
    interval_text = args.interval or spec.get("interval")
    interval = (
        _duration(str(interval_text), "--interval")
        if interval_text
        else default_interval(series_step(series))
    )
    warmup = timedelta(0) if args.warmup in ("0", "0s") else _duration(args.warmup, "--warmup")
    options = ReplayOptions(startup=startup, interval=interval, score_after=warmup)
    out = Path(args.output)
    if not out.parent.exists():
        raise UsageError(f"--output: directory {out.parent} does not exist")
    try:
        prognos, baseline = compare(series, config, options)
    except ValueError as exc:
        raise UsageError(f"{args.file}: {exc}") from None

    prognos.timeline.to_csv(out, index=False, date_format="%Y-%m-%d %H:%M:%S", na_rep="")
    print(_report(args.file, config, prognos, baseline))
    if args.plot:
        _plot(Path(args.plot), config, prognos, baseline)
    return 0


def _report(name: str, config: ScalerConfig, prognos: ReplayResult, base: ReplayResult) -> str:
    p, b = prognos.figures, base.figures
    ratios = p.ratio_to(b)
    rows = [
        ("under-provisioned minutes", p.under_provisioned_minutes, b.under_provisioned_minutes,
         ratios["under_provisioned_minutes"], "{:.0f}"),
        ("unserved load fraction", p.unserved_fraction, b.unserved_fraction,
         ratios["unserved_fraction"], "{:.4f}"),
        ("pod-minutes", p.pod_minutes, b.pod_minutes, ratios["pod_minutes"], "{:.0f}"),
        ("scaling actions", float(p.scaling_actions), float(b.scaling_actions),
         ratios["scaling_actions"], "{:.0f}"),
    ]  # fmt: skip
    lines = [
        f"{name}: {prognos.ticks} decisions, {prognos.fits} fits, model "
        f"{config.forecast.model}, quantile {config.forecast.quantile}, "
        f"scored {p.scored_minutes:.0f} min",
        f"{'figure':<28}{'prognos':>12}{'hpa':>12}{'ratio':>8}",
    ]
    for label, a, c, r, fmt in rows:
        ratio = "n/a" if math.isinf(r) else f"{r:.2f}"
        lines.append(f"{label:<28}{fmt.format(a):>12}{fmt.format(c):>12}{ratio:>8}")
    top = ", ".join(f"{k} {v}" for k, v in prognos.reasons.most_common(5))
    lines.append(f"main reasons: {top}")
    return "\n".join(lines)


def _plot(path: Path, config: ScalerConfig, prognos: ReplayResult, base: ReplayResult) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = prognos.timeline
    fig, ax = plt.subplots(figsize=(14, 5))
    target = config.target_per_replica
    ax.plot(t["timestamp"], t["load"], lw=0.8, color="black", label="load")
    ax.plot(t["timestamp"], t["forecast"], lw=0.8, color="tab:orange", label="forecast (upper)")
    ax.step(t["timestamp"], t["replicas"] * target, where="post", lw=1.0, color="tab:blue",
            label="prognos capacity")  # fmt: skip
    ax.step(base.timeline["timestamp"], base.timeline["replicas"] * target, where="post", lw=0.8,
            color="tab:red", alpha=0.6, label="HPA capacity")  # fmt: skip
    ax.set_ylabel("load")
    ax.legend(loc="upper left")
    ax.set_title(_figures_title(prognos.figures, base.figures))
    fig.tight_layout()
    try:
        fig.savefig(path, dpi=110)
    except OSError as exc:
        raise UsageError(f"--plot: cannot write {path} ({exc.strerror or exc})") from None
    finally:
        plt.close(fig)


def _figures_title(p: ReplayFigures, b: ReplayFigures) -> str:
    r = p.ratio_to(b)
    return (
        f"under-provisioned {r['under_provisioned_minutes']:.2f}x, pod-minutes "
        f"{r['pod_minutes']:.2f}x, actions {r['scaling_actions']:.2f}x HPA"
    )
