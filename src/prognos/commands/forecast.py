"""``prognos forecast FILE... --horizon N --output-dir DIR``: forecast load traces from CSV files.

For each ``FILE`` (``timestamp,value``) it writes ``DIR/<same name>`` with
``timestamp,yhat,yhat_lower,yhat_upper`` (the 80% interval) for the ``N`` steps after the last row.

Decisions:

* Files are independent, so several files run in a process pool (``--jobs``, default: all
  cores); a progress bar goes to stderr (redrawn on a terminal, a line per 10% in a log), and
  errors are reported per file.
* A bad file (empty, too short, non-numeric, timestamps out of order, ...) gets one line on
  stderr, the other files are still forecast, and the exit code is 2. A constant series is not
  an error: it gets a flat forecast with a zero-width interval.
* ``--plot`` takes a ``.png`` path when there is one file, otherwise a directory that receives
  ``<file stem>.png`` per file (a path not ending in ``.png`` is always a directory).
* ``--evaluate`` backtests every model (or those named by ``--evaluate-models``) on each file at
  ``--horizon`` and prints MASE against seasonal naive, 80% interval coverage and the median
  fit+predict time. It is a diagnostic, and slow with the library-backed models.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from prognos.commands import UsageError

LEVEL = 0.8


@dataclass
class Job:
    """One file to forecast; everything a worker process needs, picklable."""

    path: Path
    output: Path
    model: str
    horizon: int
    plot: Path | None
    evaluate: tuple[str, ...] = ()


@dataclass
class Outcome:
    """What a worker reports back: an error line, or the model used and optional diagnostics."""

    path: Path
    error: str | None = None
    model: str = ""
    reason: str = ""
    table: list[tuple[str, float, float, float, int, str]] = field(default_factory=list)


def register(subparsers: Any) -> None:
    from prognos.forecasting import MODEL_NAMES

    p = subparsers.add_parser(
        "forecast",
        help="forecast load series from CSV files",
        description=__doc__.split("\n\n")[1] if __doc__ else None,
    )
    p.add_argument("files", nargs="+", metavar="FILE", type=Path, help="timestamp,value CSV")
    p.add_argument("--horizon", type=int, required=True, metavar="N", help="steps to forecast")
    p.add_argument(
        "--output-dir", type=Path, required=True, metavar="DIR", help="gets DIR/<same name>"
    )
    p.add_argument("--model", default="auto", choices=MODEL_NAMES, help="default: auto")
    p.add_argument("--evaluate", action="store_true", help="print a backtest table per file")
    p.add_argument(
        "--evaluate-models",
        default=",".join(MODEL_NAMES),
        metavar="M1,M2",
        help="models for --evaluate (default: all)",
    )
    p.add_argument(
        "--plot",
        type=Path,
        metavar="PNG|DIR",
        help="draw history, forecast and 80%% band: a .png for one file, else DIR/<stem>.png",
    )
    p.add_argument("--jobs", type=int, default=0, metavar="N", help="processes (default: cores)")
    p.set_defaults(func=run)


def _plan(args: argparse.Namespace) -> list[Job]:
    from prognos.forecasting import MODEL_NAMES

    if args.horizon < 1:
        raise UsageError("--horizon must be at least 1")
    names = [f.name for f in args.files]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise UsageError(f"several input files are named {dupes[0]!r}; outputs would collide")
    evaluate: tuple[str, ...] = ()
    if args.evaluate:
        evaluate = tuple(m.strip() for m in args.evaluate_models.split(",") if m.strip())
        unknown = [m for m in evaluate if m not in MODEL_NAMES]
        if unknown:
            raise UsageError(f"unknown model {unknown[0]!r} in --evaluate-models")
    plot_dir: Path | None = None
    plot_file: Path | None = None
    if args.plot is not None:
        if args.plot.suffix.lower() == ".png":
            if len(args.files) > 1:
                raise UsageError("--plot needs a directory (not a .png file) for several files")
            plot_file = args.plot
        else:
            plot_dir = args.plot
    for d in (args.output_dir, plot_dir, plot_file.parent if plot_file else None):
        if d is not None:
            try:
                d.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise UsageError(f"cannot create directory {d}: {exc.strerror}") from None
    return [
        Job(
            path=f,
            output=args.output_dir / f.name,
            model=args.model,
            horizon=args.horizon,
            plot=plot_file or (plot_dir / f"{f.stem}.png" if plot_dir else None),
            evaluate=evaluate,
        )
        for f in args.files
    ]


def _run_job(job: Job) -> Outcome:
    """Worker: never raises; every failure becomes a one-line ``Outcome.error``."""
    with warnings.catch_warnings():  # library numeric warnings would break one-line output
        warnings.simplefilter("ignore")
        return _forecast_file(job)


def _forecast_file(job: Job) -> Outcome:
    from prognos.forecasting import ForecastError, make_forecaster, read_series

    try:
        y = read_series(job.path)
        params: dict[str, Any] = {"horizon": job.horizon} if job.model == "auto" else {}
        model = make_forecaster(job.model, **params)
        fc = model.fit(y).predict(job.horizon, (LEVEL,))
        frame = fc.to_frame(LEVEL)
        frame.to_csv(job.output, index=False)
        out = Outcome(path=job.path, model=fc.model, reason=fc.reason)
        if job.plot is not None:
            _plot(y, fc, job.plot)
        if job.evaluate:
            out.table = _evaluate(y, job.horizon, job.evaluate)
        return out
    except ForecastError as exc:
        # read_series names the file itself; model errors do not.
        msg = str(exc)
        return Outcome(
            path=job.path, error=msg if msg.startswith(f"{job.path}:") else f"{job.path}: {msg}"
        )
    except OSError as exc:
        return Outcome(path=job.path, error=f"{job.path}: {exc.strerror or exc}")
    except Exception as exc:  # a bug, but the contract is one line, never a traceback
        return Outcome(path=job.path, error=f"{job.path}: {job.model} failed: {exc!r}")


def _evaluate(
    y: Any, horizon: int, models: Sequence[str]
) -> list[tuple[str, float, float, float, int, str]]:
    from prognos.forecasting import make_forecaster
    from prognos.forecasting.backtest import evaluate, origins
    from prognos.forecasting.clean import prepare

    prep = prepare(y)
    n = len(prep.values)
    daily = prep.daily_season or horizon
    spacing = max(1, (2 * daily) // 12)
    cuts = origins(n, horizon, 12, spacing, max(3, n // 2))
    rows = []
    for name in models:
        params: dict[str, Any] = {"horizon": horizon} if name == "auto" else {}
        s = evaluate(partial(make_forecaster, name, **params), prep, horizon, cuts, name=name)
        note = s.errors[0][:60] if s.errors else ""
        rows.append((name, s.mase, s.coverage, s.fit_seconds, s.n_origins, note))
    return rows


def _plot(y: Any, fc: Any, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(10, 4))
    tail = y.iloc[-max(4 * fc.horizon, 300) :]
    ax.plot(tail.index, tail.to_numpy(), color="0.3", lw=0.9, label="history")
    ax.plot(fc.timestamps, fc.mean, color="C0", lw=1.4, label=f"forecast ({fc.model})")
    ax.fill_between(
        fc.timestamps, fc.lower[LEVEL], fc.upper[LEVEL], color="C0", alpha=0.25, label="80%"
    )
    ax.set_title(str(y.name or path.stem))
    ax.legend(loc="upper left", fontsize=8)
    fig.autofmt_xdate()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _progress(done: int, total: int, started: float, tty: bool) -> None:
    """Redraw in place on a terminal; in a log (not a TTY) one line per 10% instead."""
    width = 30
    filled = int(width * done / total)
    rate = done / max(time.perf_counter() - started, 1e-9)
    bar = f"forecast [{'#' * filled}{'.' * (width - filled)}] {done}/{total} {rate:.1f} files/s"
    if tty:
        sys.stderr.write(f"\r{bar}")
    elif done == total or (10 * done) // total != (10 * (done - 1)) // total:
        sys.stderr.write(f"{bar}\n")
    sys.stderr.flush()


def _results(jobs: list[Job], workers: int) -> Iterator[Outcome]:
    if workers <= 1 or len(jobs) == 1:
        yield from map(_run_job, jobs)
        return
    chunk = max(1, min(16, len(jobs) // (workers * 8)))
    with ProcessPoolExecutor(max_workers=workers) as pool:
        yield from pool.map(_run_job, jobs, chunksize=chunk)


def run(args: argparse.Namespace) -> int:
    jobs = _plan(args)
    workers = args.jobs if args.jobs > 0 else (os.cpu_count() or 1)
    workers = min(workers, len(jobs))
    show_bar = len(jobs) > 1
    tty = sys.stderr.isatty()
    started = time.perf_counter()
    failures = 0
    last_draw = 0.0
    used = ""
    why: str | None = None
    for i, out in enumerate(_results(jobs, workers), start=1):
        used, why = out.model, out.reason
        if out.error is not None:
            failures += 1
            if show_bar and tty:
                sys.stderr.write("\r\033[K")  # clear the bar line before the error
            print(f"prognos forecast: error: {out.error}", file=sys.stderr)
        if out.table:
            _print_table(out)
        now = time.perf_counter()
        if show_bar and (not tty or now - last_draw > 0.1 or i == len(jobs)):
            _progress(i, len(jobs), started, tty)
            last_draw = now
    if show_bar and tty:
        sys.stderr.write("\n")
    if len(jobs) == 1 and failures == 0 and not args.evaluate:
        note = f" ({why})" if why else ""
        print(f"{jobs[0].output}: {args.horizon} steps, model {used}{note}", file=sys.stderr)
    return 2 if failures else 0


def _print_table(out: Outcome) -> None:
    print(f"{out.path}  (forecast written with {out.model})")
    print(f"  {'model':<16}{'MASE':>8}{'cov80':>8}{'fit+pred s':>12}{'origins':>9}  note")
    for name, m, c, t, k, note in sorted(out.table, key=lambda r: (r[1] != r[1], r[1])):
        print(f"  {name:<16}{m:>8.3f}{c:>8.2f}{t:>12.3f}{k:>9d}  {note}")
