"""The stateful detector the operator keeps per signal: feed points, read verdicts.

One :class:`StreamingDetector` per (policy, signal, series). ``update(timestamp, value)``
scores the new point from earlier ones only, runs the persistence/hysteresis gate and returns a
:class:`Verdict` with the evidence an Incident records (score, expected value and normal range).
After a restart, :meth:`StreamingDetector.from_history` rebuilds the same state by replaying a
range query of :meth:`history_needed`; batch scoring (:func:`prognos.anomaly.score_series`) is
literally this replay, so batch and streaming cannot disagree.

The sampling step comes from ``config.step`` or, when absent, from the smallest gap among the
first ``PROBE_POINTS`` points (those points score 0: nothing fires on a cold start anyway).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Self

import pandas as pd

from prognos.anomaly.config import DetectorConfig
from prognos.anomaly.gate import AlertState, PersistenceGate
from prognos.anomaly.scorers import Scorer, make_scorer
from prognos.anomaly.scorers.base import Evidence

PROBE_POINTS = 3

TimestampLike = pd.Timestamp | datetime | str | float | int


@dataclass(frozen=True)
class Verdict:
    """What the detector concluded about one point.

    ``anomalous``: this point alone scored at or above ``fire_above``. ``firing``: the alert is
    on after persistence and hysteresis; ``fired``/``cleared`` mark the points where it turned
    on/off. ``expected``/``lower``/``upper`` are the forecast and the normal range (``None``
    while the detector is warming up or when the kind has no such notion).
    """

    timestamp: pd.Timestamp
    value: float
    score: float
    anomalous: bool
    state: AlertState
    fired: bool
    cleared: bool
    expected: float | None
    lower: float | None
    upper: float | None
    detector: str

    @property
    def firing(self) -> bool:
        return self.state is AlertState.FIRING


def to_timestamp(raw: TimestampLike) -> pd.Timestamp:
    """A tz-naive UTC timestamp; numbers are seconds since the epoch."""
    if isinstance(raw, int | float) and not isinstance(raw, bool):
        return pd.Timestamp(raw, unit="s")
    ts = pd.Timestamp(raw)
    if ts.tzinfo is not None:
        ts = ts.tz_convert("UTC").tz_localize(None)
    return ts


def _optional(x: float) -> float | None:
    return None if math.isnan(x) else x


class StreamingDetector:
    def __init__(self, config: DetectorConfig) -> None:
        self.config = config
        self._probe: list[tuple[float, float]] = []
        self._scorer: Scorer | None = None
        self._gate: PersistenceGate | None = None
        self._last: float = -math.inf
        self.step: float | None = None
        if config.step is not None:
            self._start(config.step.total_seconds())

    @classmethod
    def from_history(cls, config: DetectorConfig, history: pd.Series) -> Self:
        """A detector in the state it would have after seeing ``history`` point by point."""
        detector = cls(config)
        detector.feed(history)
        return detector

    def history_needed(self) -> timedelta:
        """How much history to replay so that a rebuilt detector is warm (seasons + 1 day)."""
        season = self.config.season or timedelta(0)
        return season * self.config.seasons + timedelta(days=1)

    @property
    def firing(self) -> bool:
        return self._gate is not None and self._gate.firing

    def feed(self, series: pd.Series) -> list[Verdict]:
        """Update with every point of ``series`` newer than the last one seen, in order.

        Overlapping range queries are therefore safe: already-seen points are skipped.
        """
        out: list[Verdict] = []
        for stamp, value in zip(series.index, series.to_numpy(dtype=float), strict=True):
            ts = to_timestamp(stamp)
            if ts.value / 1e9 <= self._last:
                continue
            out.append(self.update(ts, float(value)))
        return out

    def update(self, timestamp: TimestampLike, value: float) -> Verdict:
        """Score a new point. Timestamps must increase; a NaN value is "no data" and scores 0.

        Missing data never raises the score nor moves the gate: no data is no evidence.
        """
        ts = to_timestamp(timestamp)
        t = ts.value / 1e9
        if t <= self._last:
            raise ValueError(f"timestamp {ts} is not after the previous point")
        self._last = t
        value = float(value)
        if math.isnan(value) or math.isinf(value):
            return self._verdict(ts, value, Evidence(score=0.0), None)
        if self._scorer is None:
            self._probe.append((t, value))
            if len(self._probe) >= PROBE_POINTS:
                times = [p[0] for p in self._probe]
                self._start(min(b - a for a, b in itertools.pairwise(times)))
                assert self._scorer is not None
                for pt, pv in self._probe[:-1]:
                    self._scorer.update(pt, pv)
                    self._gate_update(pt, 0.0)
                self._probe.clear()
            else:
                return self._verdict(ts, value, Evidence(score=0.0), None)
        assert self._scorer is not None
        evidence = self._scorer.update(t, value)
        return self._verdict(ts, value, evidence, self._gate_update(t, evidence.score))

    def _gate_update(self, t: float, score: float) -> tuple[AlertState, bool, bool]:
        assert self._gate is not None
        tr = self._gate.update(t, score)
        return tr.state, tr.fired, tr.cleared

    def _verdict(
        self,
        ts: pd.Timestamp,
        value: float,
        evidence: Evidence,
        transition: tuple[AlertState, bool, bool] | None,
    ) -> Verdict:
        if transition is None:
            state = AlertState.FIRING if self.firing else AlertState.OK
            transition = (state, False, False)
        return Verdict(
            timestamp=ts,
            value=value,
            score=evidence.score,
            anomalous=evidence.score >= self.config.fire_above,
            state=transition[0],
            fired=transition[1],
            cleared=transition[2],
            expected=_optional(evidence.expected),
            lower=_optional(evidence.lower),
            upper=_optional(evidence.upper),
            detector=self.config.detector,
        )

    def _start(self, step: float) -> None:
        cfg = self.config
        self.step = step
        for_points = max(1, round(cfg.for_.total_seconds() / step))
        if cfg.within is None:
            within_points = math.ceil(1.5 * for_points)
        else:
            within_points = max(for_points, round(cfg.within.total_seconds() / step))
        clear_points = (
            for_points
            if cfg.clear_for is None
            else max(1, round(cfg.clear_for.total_seconds() / step))
        )
        self._scorer = make_scorer(cfg, step)
        self._gate = PersistenceGate(
            for_points=for_points,
            within_points=within_points,
            fire_above=cfg.fire_above,
            clear_below=cfg.clear_below,
            clear_points=clear_points,
            rearm_after=cfg.rearm_after.total_seconds(),
        )


def replay(config: DetectorConfig, points: Iterable[tuple[TimestampLike, float]]) -> list[Verdict]:
    """Verdicts for a sequence of points, fed one by one to a fresh detector."""
    detector = StreamingDetector(config)
    return [detector.update(t, v) for t, v in points]
