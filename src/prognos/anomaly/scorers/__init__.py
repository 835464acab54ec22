"""Detector kinds, one module each, and the explicit name -> constructor registry."""

from __future__ import annotations

from prognos.anomaly.config import DetectorConfig, DetectorKind
from prognos.anomaly.scorers.auto import AutoScorer
from prognos.anomaly.scorers.band import ForecastBandScorer
from prognos.anomaly.scorers.base import Evidence, Scorer, score_from_excess
from prognos.anomaly.scorers.rate import RateScorer
from prognos.anomaly.scorers.threshold import ThresholdScorer
from prognos.anomaly.scorers.zscore import RobustZScoreScorer

SCORERS: dict[DetectorKind, type[Scorer]] = {
    "forecast-band": ForecastBandScorer,
    "robust-zscore": RobustZScoreScorer,
    "threshold": ThresholdScorer,
    "rate": RateScorer,
    "auto": AutoScorer,
}


def make_scorer(config: DetectorConfig, step: float) -> Scorer:
    """A fresh scorer of ``config.detector`` for a series sampled every ``step`` seconds."""
    return SCORERS[config.detector](config, step)


__all__ = ["SCORERS", "Evidence", "Scorer", "make_scorer", "score_from_excess"]
