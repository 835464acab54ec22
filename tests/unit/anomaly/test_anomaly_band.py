"""The forecast band's terms: variance change, sustained windows, time-of-day spread, warm-up."""

from __future__ import annotations

import numpy as np
import pandas as pd

from prognos.anomaly import DetectorConfig, score_series
from prognos.anomaly.scorers.band import SustainedTerm, VarianceTerm


def seasonal(days: float = 4, seed: int = 0, noise: float = 1.0) -> pd.Series:
    index = pd.date_range("2024-01-01", periods=int(days * 288), freq="5min")
    t = np.asarray((index - index[0]) / pd.Timedelta(days=1))
    rng = np.random.default_rng(seed)
    values = 100 + 20 * np.sin(2 * np.pi * t) + rng.normal(0, noise, len(index))
    return pd.Series(values, index=index)


def fired(y: pd.Series, config: DetectorConfig | None = None) -> list[pd.Timestamp]:
    frame = score_series(y, config or DetectorConfig())
    return list(frame.loc[frame["fired"], "timestamp"])


def test_variance_term_rises_with_added_noise_only():
    rng = np.random.default_rng(0)
    term = VarianceTerm(12, 864, 1)
    quiet = []
    for x in rng.normal(100, 1, 3 * 288):
        quiet.append(term.excess(x, 4.0))
        term.learn(x)
    noisy = []
    for x in rng.normal(100, 10, 24):
        noisy.append(term.excess(x, 4.0))
        term.learn(x)
    assert max(quiet[288:]) < 1.0
    assert max(noisy[12:]) > 1.0


def test_variance_change_fires_on_a_seasonal_series():
    y = seasonal(days=5)
    start = pd.Timestamp("2024-01-04 10:00")
    window = (y.index >= start) & (y.index < start + pd.Timedelta(hours=4))
    y[window] += np.random.default_rng(1).normal(0, 5, int(window.sum()))
    alarms = fired(y)
    assert any(start <= t <= start + pd.Timedelta(hours=4) for t in alarms)
    # Drops-only detectors do not use the variance term and stay quiet on symmetric noise.
    assert fired(seasonal(days=5), DetectorConfig()) == []


def test_sustained_term_ignores_one_outlier_and_calibrates_on_history():
    term = SustainedTerm(6, 300, 1)
    rng = np.random.default_rng(2)
    for x in rng.normal(0, 1, 300):
        term.excess(float(x), 7.0, "both")
        term.learn(7.0)
    assert abs(term.scale() - 1 / np.sqrt(5)) < 0.15  # white noise: mean of 5 values
    for x in [0.0, 0.0, 0.0, 0.0, 0.0, 30.0]:
        one = term.excess(x, 7.0, "both")
    assert one == 0.0  # the largest value is left out
    for x in [4.0] * 6:
        level = term.excess(x, 7.0, "both")
    assert level > 1.0
    assert term.excess(4.0, 7.0, "down") == 0.0


def test_sustained_moderate_shift_fires_where_no_single_point_would():
    y = seasonal(days=5)
    start = pd.Timestamp("2024-01-04 12:00")
    y[(y.index >= start) & (y.index < start + pd.Timedelta(hours=2))] += 4.0
    frame = score_series(y, DetectorConfig())
    inside = frame[
        (frame["timestamp"] >= start) & (frame["timestamp"] < start + pd.Timedelta("2h"))
    ]
    assert (inside["value"] < inside["upper"]).mean() > 0.9  # points inside the band
    assert inside["fired"].any()


def test_band_is_wider_at_the_noisy_time_of_day():
    y = seasonal(days=5, noise=0.5)
    noisy_hour = y.index.hour == 9
    y[noisy_hour] += np.random.default_rng(3).normal(0, 4, int(noisy_hour.sum()))
    frame = score_series(y, DetectorConfig()).set_index("timestamp")
    last = frame.loc["2024-01-05"]
    width = last["upper"] - last["lower"]
    assert width[last.index.hour == 9].median() > 1.5 * width[last.index.hour == 3].median()


def test_seasonal_band_is_silent_during_warm_up():
    y = seasonal(days=3)
    y[(y.index >= "2024-01-01 20:00") & (y.index < "2024-01-01 21:00")] += 80
    frame = score_series(y, DetectorConfig())
    early = frame[frame["timestamp"] < pd.Timestamp("2024-01-03")]
    assert early["anomaly_score"].max() == 0.0 and early["expected"].isna().all()
    # Without a season there is no warm-up to wait for: the same spike fires.
    assert fired(y, DetectorConfig(season=None))
