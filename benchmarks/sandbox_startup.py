"""Sandbox figures: cold build (from the cache stamps), warm build check, up/down times.

Usage: python benchmarks/sandbox_startup.py [--runs 3]
Prints one line per figure and a JSON object at the end. ``up`` is measured on a fresh state
directory each run (etcd, apiserver, controller-manager, scheduler, kwok + node Ready,
promtool backfill of 8 days, Prometheus ready, demo Deployments created).
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from prognos.sandbox import tools
from prognos.sandbox.cluster import Sandbox


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    quiet = lambda _msg: None  # noqa: E731

    cold = {t.name: tools.cold_build_seconds(t) for t in tools.TOOLS.values()}
    started = time.monotonic()
    tools.build(log=quiet)
    warm = time.monotonic() - started

    ups, downs = [], []
    for _ in range(args.runs):
        with tempfile.TemporaryDirectory() as tmp:
            box = Sandbox(Path(tmp) / "state", log=quiet)
            t0 = time.monotonic()
            box.up(timeout=180)
            ups.append(time.monotonic() - t0)
            t0 = time.monotonic()
            box.down()
            downs.append(time.monotonic() - t0)

    for name, seconds in cold.items():
        shown = (
            "unknown (built before stamps recorded it)" if seconds is None else f"{seconds:.0f}s"
        )
        print(f"cold build {name:<11} {shown}")
    print(f"warm build (all cached)  {warm:.2f}s")
    print(f"sandbox up   median {statistics.median(ups):.1f}s  runs {[round(u, 1) for u in ups]}")
    print(f"sandbox down median {statistics.median(downs):.1f}s")
    print(
        json.dumps(
            {
                "cold_build_s": cold,
                "warm_build_s": round(warm, 2),
                "up_median_s": round(statistics.median(ups), 1),
                "down_median_s": round(statistics.median(downs), 1),
                "runs": args.runs,
            }
        )
    )


if __name__ == "__main__":
    main()
