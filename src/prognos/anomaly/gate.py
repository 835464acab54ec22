"""Persistence and hysteresis: turn a stream of scores into a firing verdict that does not flap.

* Persistence (``for``/``within``): fire only when at least ``for_points`` of the last
  ``within_points`` points scored at or above ``fire_above``, and the current one did too. One
  noisy point never fires; a real fault that dips under the line for a point still does.
* Hysteresis (``clear_below``/``clear_points``): once firing, clear only after ``clear_points``
  consecutive points scored below the lower ``clear_below``. A signal hovering around the firing
  line stays one episode instead of many.
* Re-arm (``rearm_after``): after clearing, do not fire again for that long. A flapping fault
  becomes one alert per re-arm period, which is what an operator acting on alerts needs.

The gate is a few integers and a bounded deque: cheap to keep and rebuilt by replaying history.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from enum import StrEnum


class AlertState(StrEnum):
    OK = "ok"
    PENDING = "pending"
    FIRING = "firing"


@dataclass(frozen=True)
class Transition:
    """The gate's state after a point and whether this point fired or cleared the alert."""

    state: AlertState
    fired: bool = False
    cleared: bool = False


class PersistenceGate:
    def __init__(
        self,
        *,
        for_points: int,
        within_points: int,
        fire_above: float,
        clear_below: float,
        clear_points: int,
        rearm_after: float,
    ) -> None:
        if not 1 <= for_points <= within_points:
            raise ValueError("need 1 <= for_points <= within_points")
        if not 0.0 <= clear_below <= fire_above:
            raise ValueError("need 0 <= clear_below <= fire_above")
        self.for_points = for_points
        self.fire_above = fire_above
        self.clear_below = clear_below
        self.clear_points = max(1, clear_points)
        self.rearm_after = rearm_after
        self._flags: deque[bool] = deque(maxlen=within_points)
        self._hits = 0
        self._calm = 0
        self._cleared_at = -math.inf
        self.firing = False
        self.fired_at: float | None = None

    def update(self, t: float, score: float) -> Transition:
        if self.firing:
            self._calm = self._calm + 1 if score < self.clear_below else 0
            if self._calm >= self.clear_points:
                self.firing = False
                self.fired_at = None
                self._cleared_at = t
                self._flags.clear()
                self._hits = 0
                self._calm = 0
                return Transition(AlertState.OK, cleared=True)
            return Transition(AlertState.FIRING)
        anomalous = score >= self.fire_above
        if len(self._flags) == self._flags.maxlen and self._flags[0]:
            self._hits -= 1
        self._flags.append(anomalous)
        self._hits += anomalous
        if anomalous and self._hits >= self.for_points and t - self._cleared_at >= self.rearm_after:
            self.firing = True
            self.fired_at = t
            self._calm = 0
            return Transition(AlertState.FIRING, fired=True)
        return Transition(AlertState.PENDING if self._hits else AlertState.OK)
