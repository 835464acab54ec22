"""Table-driven behaviour of each detector kind on clean and faulty series."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from prognos.anomaly import DetectorConfig, StreamingDetector, Thresholds, score_series
from prognos.anomaly.scorers import SCORERS
from prognos.anomaly.scorers.base import score_from_excess


def seasonal(days: float = 4, step: str = "5min", seed: int = 0, noise: float = 1.0) -> pd.Series:
    """Daily sine around 100 with Gaussian noise."""
    index = pd.date_range(
        "2024-01-01", periods=int(pd.Timedelta(days=days) / pd.Timedelta(step)), freq=step
    )
    t = (index - index[0]) / pd.Timedelta(days=1)
    rng = np.random.default_rng(seed)
    values = 100 + 20 * np.sin(2 * np.pi * np.asarray(t)) + rng.normal(0, noise, len(index))
    return pd.Series(values, index=index, name="value")


FAULT_AT = pd.Timestamp("2024-01-04 12:00")


def with_fault(kind: str) -> pd.Series:
    y = seasonal().copy()
    window = (y.index >= FAULT_AT) & (y.index < FAULT_AT + pd.Timedelta(hours=3))
    if kind == "spike":
        y[(y.index >= FAULT_AT) & (y.index < FAULT_AT + pd.Timedelta(minutes=20))] += 40
    elif kind == "drop":
        y[window] -= 40
    elif kind == "shift":
        y[y.index >= FAULT_AT] += 25
    elif kind == "broken-season":
        y[window] = 100.0 - 20.0  # the daily peak never comes
    return y


def fired_times(y: pd.Series, config: DetectorConfig) -> list[pd.Timestamp]:
    frame = score_series(y, config)
    return list(frame.loc[frame["fired"], "timestamp"])


@pytest.mark.parametrize(
    ("detector", "fault"),
    [
        ("forecast-band", "spike"),
        ("forecast-band", "drop"),
        ("forecast-band", "shift"),
        ("forecast-band", "broken-season"),
        ("robust-zscore", "spike"),
        ("robust-zscore", "drop"),
        ("robust-zscore", "shift"),
        ("rate", "drop"),
        ("rate", "shift"),
        ("auto", "spike"),
        ("auto", "drop"),
        ("auto", "shift"),
        ("auto", "broken-season"),
    ],
)
def test_detects_injected_fault_quickly(detector, fault):
    fired = fired_times(with_fault(fault), DetectorConfig(detector=detector))
    assert fired, f"{detector} missed {fault}"
    assert FAULT_AT <= fired[0] <= FAULT_AT + pd.Timedelta(minutes=30)


@pytest.mark.parametrize("detector", ["forecast-band", "robust-zscore", "rate", "auto"])
def test_quiet_on_clean_seasonal_series(detector):
    assert fired_times(seasonal(seed=3), DetectorConfig(detector=detector)) == []


def test_threshold_fires_after_for_and_not_before():
    y = seasonal(days=1)
    y[(y.index >= "2024-01-01 10:00") & (y.index < "2024-01-01 11:00")] = 200.0
    config = DetectorConfig(detector="threshold", threshold=Thresholds(above=150.0))
    frame = score_series(y, config)
    assert list(frame.loc[frame["fired"], "timestamp"]) == [pd.Timestamp("2024-01-01 10:05")]
    assert frame.loc[frame["value"] == 200.0, "anomaly_score"].min() > 0.9
    assert frame.loc[frame["value"] < 130.0, "anomaly_score"].max() == 0.0


def test_threshold_below_and_cold_start():
    detector = StreamingDetector(
        DetectorConfig(
            detector="threshold",
            threshold=Thresholds(below=10.0),
            for_=pd.Timedelta(0),
            step=pd.Timedelta("1min"),
        )
    )
    assert detector.update("2024-01-01 00:00", 5.0).fired


def test_direction_up_ignores_drops():
    y = with_fault("drop")
    ups = fired_times(y, DetectorConfig(direction="up"))
    # The recovery at the end of the drop is a rise against the followed level: fine.
    assert [t for t in ups if t < FAULT_AT + pd.Timedelta(hours=3)] == []
    assert fired_times(y, DetectorConfig(direction="down"))


def test_sensitivity_orders_scores():
    y = with_fault("spike")
    low = score_series(y, DetectorConfig(sensitivity=0.25))["anomaly_score"]
    high = score_series(y, DetectorConfig(sensitivity=0.75))["anomaly_score"]
    assert (high >= low - 1e-12).all() and (high > low).any()


def test_evidence_has_expected_range_containing_normal_points():
    frame = score_series(seasonal(), DetectorConfig(detector="forecast-band"))
    late = frame[frame["timestamp"] >= pd.Timestamp("2024-01-03")]
    inside = (late["value"] >= late["lower"]) & (late["value"] <= late["upper"])
    assert inside.mean() > 0.99
    assert (abs(late["expected"] - late["value"]) < 10).mean() > 0.95


def test_no_season_still_catches_spikes():
    fired = fired_times(with_fault("spike"), DetectorConfig(season=None))
    assert fired and fired[0] <= FAULT_AT + pd.Timedelta(minutes=30)


def test_missing_values_score_zero_and_do_not_move_the_gate():
    detector = StreamingDetector(DetectorConfig())
    y = seasonal(days=3)
    detector.feed(y)
    verdict = detector.update(y.index[-1] + pd.Timedelta("5min"), float("nan"))
    assert verdict.score == 0.0 and not verdict.firing and verdict.expected is None


def test_timestamps_must_increase():
    detector = StreamingDetector(DetectorConfig())
    detector.update("2024-01-01 00:00", 1.0)
    with pytest.raises(ValueError, match="not after"):
        detector.update("2024-01-01 00:00", 1.0)


def test_feed_skips_already_seen_points():
    y = seasonal(days=2)
    detector = StreamingDetector(DetectorConfig())
    first = detector.feed(y.iloc[:300])
    again = detector.feed(y.iloc[200:400])
    assert len(first) == 300 and len(again) == 100


def test_history_needed_covers_the_seasons():
    detector = StreamingDetector(DetectorConfig(seasons=3))
    assert detector.history_needed() == pd.Timedelta(days=4)


@pytest.mark.parametrize(("excess", "score"), [(0.0, 0.0), (1.0, 0.5), (-1.0, 0.0), (100.0, 1.0)])
def test_score_map(excess, score):
    assert score_from_excess(excess) == pytest.approx(score)


def test_registry_has_every_kind():
    from prognos.anomaly import DETECTOR_KINDS

    assert set(SCORERS) == set(DETECTOR_KINDS)
    assert all(SCORERS[k].kind == k for k in SCORERS)


def test_constant_series_then_jump():
    index = pd.date_range("2024-01-01", periods=200, freq="1min")
    y = pd.Series(np.r_[np.full(150, 5.0), np.full(50, 6.0)], index=index)
    fired = fired_times(y, DetectorConfig(season=None))
    assert fired and fired[0] <= index[160]
