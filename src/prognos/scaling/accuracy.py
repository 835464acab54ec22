"""Online accuracy guard: is the forecast currently better than seasonal naive?

A model that was fine at fit time can go bad (a regime change, a holiday, a broken metric), and
a bad forecast that raises capacity costs money while one that fails to raise it costs nothing
compared with plain HPA. So the engine keeps scoring the forecasts it uses (the path shifted by
its smoothed anchor, see ``ScalerEngine._score``) against what happened, next to the error
seasonal naive (the value one season earlier) would have made on the same points. The ratio of
the two mean absolute errors is a relative MAE (MASE with the out-of-sample seasonal-naive error
as the scale); above a threshold the engine ignores the forecast until the ratio recovers, with
hysteresis so it does not toggle every tick.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections import deque
from dataclasses import dataclass, field


@dataclass
class AccuracyTracker:
    """Rolling sums of |actual - forecast| and |actual - seasonal naive| over a time window."""

    window_seconds: float
    min_points: int
    _points: deque[tuple[float, float, float]] = field(default_factory=deque)
    _model_sum: float = 0.0
    _naive_sum: float = 0.0
    last_time: float = float("-inf")

    def observe(self, t: float, actual: float, predicted: float, naive: float) -> None:
        """Score one point (times must increase; repeated or older points are ignored)."""
        if t <= self.last_time:
            return
        self.last_time = t
        model_err = abs(actual - predicted)
        naive_err = abs(actual - naive)
        self._points.append((t, model_err, naive_err))
        self._model_sum += model_err
        self._naive_sum += naive_err
        cutoff = t - self.window_seconds
        while self._points and self._points[0][0] <= cutoff:
            _, m, n = self._points.popleft()
            self._model_sum -= m
            self._naive_sum -= n

    @property
    def count(self) -> int:
        return len(self._points)

    @property
    def ratio(self) -> float | None:
        """Model MAE / seasonal-naive MAE over the window; None until enough points."""
        if len(self._points) < self.min_points:
            return None
        if self._naive_sum <= 0.0:
            return 0.0 if self._model_sum <= 0.0 else float("inf")
        return max(self._model_sum, 0.0) / self._naive_sum


@dataclass
class BoundCalibrator:
    """Empirical upper bound of the anchored forecast's error over a look-ahead range.

    Each tick registers what the anchored point forecast said the highest load over
    ``(now, end]`` would be. Once a sample past ``end`` arrives, the highest observed load in the
    range is known and ``observed max - predicted max`` is one residual. The bound used for
    scaling is the point forecast plus the ``q`` quantile of the residuals of the last
    ``window_seconds`` (split-conformal calibration on the engine's own recent errors): a model
    that has been accurate lately gets a narrow margin, a noisy trace or a bad model a wide one,
    and the anchoring noise (the newest sample's own deviation) is part of what is measured.
    """

    window_seconds: float
    min_points: int
    _pending: deque[list[float]] = field(default_factory=deque)  # [start, end, predicted, seen]
    _residuals: deque[tuple[float, float]] = field(default_factory=deque)
    _sorted: list[float] = field(default_factory=list)

    def predict(self, now: float, end: float, predicted: float) -> None:
        """Register a prediction of the highest load over ``(now, end]``."""
        self._pending.append([now, end, predicted, float("-inf")])

    def observe(self, t: float, actual: float) -> None:
        """A new sample at ``t`` (times increase): update and close the ranges it reaches."""
        while self._pending and self._pending[0][1] < t:
            _, end, predicted, seen = self._pending.popleft()
            if seen > float("-inf"):
                self._residuals.append((end, seen - predicted))
                insort(self._sorted, seen - predicted)
        for item in self._pending:
            if item[0] < t <= item[1]:
                item[3] = max(item[3], actual)
        cutoff = t - self.window_seconds
        while self._residuals and self._residuals[0][0] <= cutoff:
            _, old = self._residuals.popleft()
            del self._sorted[bisect_left(self._sorted, old)]

    @property
    def count(self) -> int:
        return len(self._residuals)

    def margin(self, q: float) -> float | None:
        """The ``q`` quantile of recent residuals; None until ``min_points`` were scored."""
        if len(self._residuals) < self.min_points:
            return None
        values = self._sorted
        pos = q * (len(values) - 1)
        lo = int(pos)
        hi = min(lo + 1, len(values) - 1)
        return values[lo] + (values[hi] - values[lo]) * (pos - lo)
