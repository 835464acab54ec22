"""Property tests: bounded scores, causality, streaming == batch, rebuild from history."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from prognos.anomaly import DETECTOR_KINDS, DetectorConfig, StreamingDetector, Thresholds
from prognos.anomaly import score_series as batch

values = st.lists(
    st.floats(min_value=-1e6, max_value=1e6, allow_nan=False), min_size=1, max_size=160
)
kinds = st.sampled_from(DETECTOR_KINDS)


def config(kind: str) -> DetectorConfig:
    # A one-hour season keeps the seasonal code paths exercised on short series.
    return DetectorConfig(
        detector=kind,  # type: ignore[arg-type]
        season=pd.Timedelta(hours=1),
        seasons=3,
        threshold=Thresholds(above=100.0, below=-100.0),
    )


def series(xs: list[float]) -> pd.Series:
    return pd.Series(xs, index=pd.date_range("2024-01-01", periods=len(xs), freq="5min"))


fast = settings(max_examples=25, deadline=None)


@fast
@given(xs=values, kind=kinds)
def test_scores_are_in_unit_interval(xs, kind):
    scores = batch(series(xs), config(kind))["anomaly_score"].to_numpy()
    assert np.all((scores >= 0.0) & (scores <= 1.0))


@fast
@given(xs=values, tail=values, cut=st.integers(min_value=0, max_value=159), kind=kinds)
def test_causal_changing_later_rows_never_changes_earlier_scores(xs, tail, cut, kind):
    cut = min(cut, len(xs))
    other = xs[:cut] + tail
    a = batch(series(xs), config(kind)).iloc[:cut]
    b = batch(series(other), config(kind)).iloc[:cut]
    pd.testing.assert_frame_equal(a.reset_index(drop=True), b.reset_index(drop=True))


@fast
@given(xs=values, kind=kinds)
def test_streaming_equals_batch(xs, kind):
    y = series(xs)
    frame = batch(y, config(kind))
    detector = StreamingDetector(config(kind))
    streamed = [detector.update(t, v) for t, v in zip(y.index, xs, strict=True)]
    assert [v.score for v in streamed] == frame["anomaly_score"].tolist()
    assert [v.firing for v in streamed] == frame["firing"].tolist()


@fast
@given(xs=values, split=st.integers(min_value=0, max_value=160), kind=kinds)
def test_rebuilt_from_history_continues_like_the_original(xs, split, kind):
    y = series(xs)
    split = min(split, len(xs))
    whole = batch(y, config(kind))
    rebuilt = StreamingDetector.from_history(config(kind), y.iloc[:split])
    rest = rebuilt.feed(y.iloc[split:])
    assert [v.score for v in rest] == whole["anomaly_score"].iloc[split:].tolist()
