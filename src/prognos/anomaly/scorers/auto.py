"""``auto``: the forecast band, plus the static bounds when the spec gives any.

Chosen by the detection benchmark (benchmarks/detection.py, docs/anomaly.md): the forecast band
alone reaches the recall of every combination tried, and adding more detectors under a ``max``
only added false alarms on the clean traces. Static bounds, when given, are a hard statement of
the user and are always honoured (the score is the larger of the two).
"""

from __future__ import annotations

import math

from prognos.anomaly.config import DetectorConfig
from prognos.anomaly.scorers.band import ForecastBandScorer
from prognos.anomaly.scorers.base import Evidence, Scorer
from prognos.anomaly.scorers.threshold import ThresholdScorer


class AutoScorer(Scorer):
    kind = "auto"

    def __init__(self, config: DetectorConfig, step: float) -> None:
        super().__init__(config, step)
        self.band = ForecastBandScorer(config, step)
        self.bounds = ThresholdScorer(config, step) if config.threshold.any else None

    def update(self, t: float, value: float) -> Evidence:
        band = self.band.update(t, value)
        self.seen += 1
        if self.bounds is None:
            return band
        bounds = self.bounds.update(t, value)
        if bounds.score <= band.score:
            return band
        return Evidence(
            score=bounds.score,
            expected=band.expected,
            lower=band.lower if math.isnan(bounds.lower) else bounds.lower,
            upper=band.upper if math.isnan(bounds.upper) else bounds.upper,
        )

    def _score(self, t: float, value: float) -> Evidence:  # pragma: no cover - see update
        raise NotImplementedError

    def _learn(self, t: float, value: float, evidence: Evidence) -> None:  # pragma: no cover
        raise NotImplementedError
