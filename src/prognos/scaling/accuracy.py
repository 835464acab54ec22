"""Online accuracy guard: is the forecast currently better than seasonal naive?

A model that was fine at fit time can go bad (a regime change, a holiday, a broken metric), and
a bad forecast that raises capacity costs money while one that fails to raise it costs nothing
compared with plain HPA. So the engine keeps scoring the forecasts it actually used against what
happened, next to the error seasonal naive (the value one season earlier) would have made on the
same points. The ratio of the two mean absolute errors is a relative MAE (MASE with the
out-of-sample seasonal-naive error as the scale); above a threshold the engine ignores the
forecast until the ratio recovers, with hysteresis so it does not toggle every tick.
"""

from __future__ import annotations

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
