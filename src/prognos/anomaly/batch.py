"""Batch scoring of a whole series: the streaming detector replayed, hence strictly causal."""

from __future__ import annotations

import numpy as np
import pandas as pd

from prognos.anomaly.config import DetectorConfig
from prognos.anomaly.stream import StreamingDetector

COLUMNS = (
    "timestamp",
    "value",
    "anomaly_score",
    "anomalous",
    "firing",
    "fired",
    "expected",
    "lower",
    "upper",
)


def score_series(series: pd.Series, config: DetectorConfig | None = None) -> pd.DataFrame:
    """One row per point: its score and verdict, each from that point and earlier ones only."""
    detector = StreamingDetector(config or DetectorConfig())
    verdicts = detector.feed(series)
    if len(verdicts) != len(series):
        raise ValueError("timestamps must be strictly increasing")
    nan = np.nan
    return pd.DataFrame(
        {
            "timestamp": [v.timestamp for v in verdicts],
            "value": [v.value for v in verdicts],
            "anomaly_score": np.array([v.score for v in verdicts], dtype=float),
            "anomalous": [v.anomalous for v in verdicts],
            "firing": [v.firing for v in verdicts],
            "fired": [v.fired for v in verdicts],
            "expected": [nan if v.expected is None else v.expected for v in verdicts],
            "lower": [nan if v.lower is None else v.lower for v in verdicts],
            "upper": [nan if v.upper is None else v.upper for v in verdicts],
        },
        columns=list(COLUMNS),
    )
