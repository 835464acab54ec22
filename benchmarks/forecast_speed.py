"""Forecast speed: ``auto`` on one series, and ``prognos forecast`` on 400 files end to end.

    python benchmarks/forecast_speed.py [--traces ../shared/data/traces] [--repeats 21]
        [--files 400] [--jobs 2] [--skip-cli]

1. ``auto`` fit+predict (12 steps) on the last 2,016 points (one week) of the 5-minute Azure VM
   trace, in this process with BLAS/OpenMP limited to one thread (single core); median of
   ``--repeats`` runs after one warm-up run (imports are paid once per process, not per series).
2. ``--files`` synthetic hourly series of 1,000 points (daily and weekly shape, persistent noise,
   seeded), written to a temporary directory outside the repository, then
   ``prognos forecast FILES --horizon 48 --output-dir OUT --jobs 2`` is timed wall-clock,
   including interpreter start-up, imports, worker processes, CSV reading and writing.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from prognos.forecasting import make_forecaster, read_series  # noqa: E402

HERE = Path(__file__).resolve().parent
DEFAULT_TRACES = HERE.parent.parent / "shared" / "data" / "traces"


def single_series(traces: Path, repeats: int) -> float:
    y = read_series(traces / "azure_vm_cpu_5min.csv").iloc[-2016:]
    make_forecaster("auto", horizon=12).fit(y).predict(12)  # warm-up: imports, caches
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        make_forecaster("auto", horizon=12).fit(y).predict(12)
        times.append(time.perf_counter() - t0)
    med = float(np.median(times))
    print(
        f"auto fit+predict, 2,016 x 5 min, 12 steps, 1 thread: median {med:.3f} s "
        f"(min {min(times):.3f}, max {max(times):.3f}, n={repeats}); target <= 0.5 s: "
        f"{'met' if med <= 0.5 else 'MISSED'}"
    )
    return med


def write_hourly(directory: Path, count: int, length: int = 1000) -> list[Path]:
    rng = np.random.default_rng(42)
    stamps = pd.date_range("2024-01-01", periods=length, freq="h")
    t = np.arange(length)
    paths = []
    for i in range(count):
        level = rng.uniform(5, 500)
        daily = level * rng.uniform(0.1, 0.5) * np.sin(2 * np.pi * (t + rng.integers(24)) / 24)
        weekly = level * rng.uniform(0.0, 0.2) * (((t // 24) % 7) >= 5)
        ar = np.zeros(length)
        shocks = rng.normal(0, level * 0.05, length)
        for k in range(1, length):
            ar[k] = 0.8 * ar[k - 1] + shocks[k]
        values = np.maximum(level + daily - weekly + ar, 0.0)
        path = directory / f"series_{i:04d}.csv"
        pd.DataFrame({"timestamp": stamps, "value": values.round(4)}).to_csv(path, index=False)
        paths.append(path)
    return paths


def many_files(count: int, jobs: int) -> float:
    tmp = Path(tempfile.mkdtemp(prefix="prognos-speed-"))
    try:
        inputs = tmp / "in"
        inputs.mkdir()
        paths = write_hourly(inputs, count)
        cmd = [
            sys.executable,
            "-m",
            "prognos.cli",
            "forecast",
            *map(str, paths),
            "--horizon",
            "48",
            "--output-dir",
            str(tmp / "out"),
            "--jobs",
            str(jobs),
        ]
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        elapsed = time.perf_counter() - t0
        written = len(list((tmp / "out").glob("*.csv")))
        if proc.returncode != 0 or written != count:
            print(proc.stderr[-2000:], file=sys.stderr)
        print(
            f"prognos forecast: {count} hourly series x 1,000 points, 48 steps, --jobs {jobs}: "
            f"{elapsed:.1f} s wall ({written} files written, exit {proc.returncode}); "
            f"target <= 120 s: {'met' if elapsed <= 120 and written == count else 'MISSED'}"
        )
        return elapsed
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--traces", type=Path, default=DEFAULT_TRACES)
    parser.add_argument("--repeats", type=int, default=21)
    parser.add_argument("--files", type=int, default=400)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--skip-cli", action="store_true")
    args = parser.parse_args(argv)
    single_series(args.traces, args.repeats)
    if not args.skip_cli:
        many_files(args.files, args.jobs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
