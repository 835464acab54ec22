"""``prognos detect``: causal anomaly scores for each row of ``timestamp,value`` files.

For each FILE, writes ``DIR/<same name>`` with ``timestamp,value,anomaly_score``: the input rows
unchanged and in order, plus a score in [0, 1] computed only from that row and the ones before
it (the streaming detector replayed, see ``prognos.anomaly``). Rows with a missing value score 0.
Every file is read and validated before anything is written, so a bad file leaves no partial
output behind.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from prognos.anomaly import (
    DETECTOR_KINDS,
    DetectorConfig,
    SpecError,
    config_from_spec,
    score_series,
)
from prognos.commands import UsageError


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "detect",
        help="score every row of load series for anomalies (causal)",
        description="Write timestamp,value,anomaly_score for each FILE into DIR/<same name>.",
    )
    parser.add_argument("files", nargs="+", type=Path, metavar="FILE")
    parser.add_argument("--output-dir", type=Path, required=True, metavar="DIR")
    parser.add_argument("--detector", default="auto", choices=DETECTOR_KINDS)
    parser.add_argument(
        "--sensitivity", default="medium", help="low, medium, high or a number in [0, 1]"
    )
    parser.add_argument(
        "--season", default="1d", help="seasonal period such as 1d or 1w, or 'none'"
    )
    parser.add_argument("--above", help="static upper bound (threshold and auto detectors)")
    parser.add_argument("--below", help="static lower bound (threshold and auto detectors)")
    parser.set_defaults(func=run)


def build_config(args: argparse.Namespace) -> DetectorConfig:
    spec: dict[str, Any] = {
        "detector": args.detector,
        "sensitivity": args.sensitivity,
        "season": args.season,
    }
    bounds = {k: v for k, v in (("above", args.above), ("below", args.below)) if v is not None}
    if bounds:
        spec["threshold"] = bounds
    try:
        return config_from_spec(spec)
    except SpecError as exc:
        raise UsageError(str(exc)) from None


def load(path: Path) -> tuple[pd.DataFrame, pd.Series]:
    """The raw rows (written back unchanged) and the parsed series, or UsageError."""
    from prognos.forecasting import ForecastError, read_series

    try:
        series = read_series(path)
    except ForecastError as exc:
        raise UsageError(str(exc)) from None
    repeated = np.flatnonzero(np.diff(pd.DatetimeIndex(series.index).asi8) == 0)
    if len(repeated):
        row = int(repeated[0]) + 1
        raise UsageError(f"{path}: line {row + 2}: repeated timestamp {series.index[row]}")
    raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    raw.columns = pd.Index([c.strip().lower() for c in raw.columns])
    return raw[["timestamp", "value"]], series


def run(args: argparse.Namespace) -> int:
    config = build_config(args)
    names = [p.name for p in args.files]
    if len(set(names)) != len(names):
        raise UsageError("two input files have the same name; outputs would overwrite each other")
    out_dir: Path = args.output_dir
    if out_dir.exists() and not out_dir.is_dir():
        raise UsageError(f"--output-dir {out_dir} exists and is not a directory")
    for path in args.files:
        if out_dir.exists() and (out_dir / path.name).resolve() == path.resolve():
            raise UsageError(f"{path}: output would overwrite the input; choose another DIR")
    inputs = [(path, *load(path)) for path in args.files]
    out_dir.mkdir(parents=True, exist_ok=True)
    for path, raw, series in inputs:
        scores = score_series(series, config)["anomaly_score"].to_numpy()
        out = raw.assign(anomaly_score=np.clip(scores, 0.0, 1.0))
        out.to_csv(out_dir / path.name, index=False, float_format="%.6f")
    return 0
