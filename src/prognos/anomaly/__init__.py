"""Causal anomaly detection for load series: scores in [0, 1] and non-flapping verdicts.

Public API (everything else is private to the package):

* :func:`config_from_spec` -> :class:`DetectorConfig` (raises :class:`SpecError`): parse the
  ``detector``/``sensitivity``/``for``/``threshold`` part of a RemediationPolicy signal.
* :class:`StreamingDetector`: ``update(timestamp, value) -> Verdict``; ``from_history`` to
  rebuild after a restart; ``history_needed()`` says how much to query.
* :func:`score_series`: batch scoring of a whole series (the CLI and benchmarks).

Pure: numpy and pandas only, no I/O. See docs/anomaly.md for the detectors and decisions.
"""

from __future__ import annotations

from prognos.anomaly.batch import score_series
from prognos.anomaly.config import (
    DETECTOR_KINDS,
    SENSITIVITY_LEVELS,
    DetectorConfig,
    DetectorKind,
    SpecError,
    Thresholds,
    config_from_spec,
    parse_sensitivity,
)
from prognos.anomaly.gate import AlertState
from prognos.anomaly.stream import StreamingDetector, Verdict

__all__ = [
    "DETECTOR_KINDS",
    "SENSITIVITY_LEVELS",
    "AlertState",
    "DetectorConfig",
    "DetectorKind",
    "SpecError",
    "StreamingDetector",
    "Thresholds",
    "Verdict",
    "config_from_spec",
    "parse_sensitivity",
    "score_series",
]
