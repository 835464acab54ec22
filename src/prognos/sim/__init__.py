"""Trace replay of the PredictiveScaler decision code, shared by the CLI and the benchmarks."""

from prognos.sim.replay import (
    ReplayFigures,
    ReplayOptions,
    ReplayResult,
    compare,
    hpa_baseline_config,
    replay,
)

__all__ = [
    "ReplayFigures",
    "ReplayOptions",
    "ReplayResult",
    "compare",
    "hpa_baseline_config",
    "replay",
]
