"""Small fixed-size buffers that hold a detector's whole state.

State is bounded on purpose: the operator restarts, and a detector must be rebuilt by replaying
a range query of history (``seasons`` of it at most). Nothing here grows with the length of the
series, which also keeps per-point cost constant over thousands of points.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

#: Gaussian consistency constant: 1.4826 * MAD estimates the standard deviation.
MAD_TO_SIGMA = 1.4826


class Ring:
    """The last ``capacity`` floats, unordered (medians and MADs do not need order)."""

    def __init__(self, capacity: int) -> None:
        self._data = np.empty(max(1, capacity), dtype=np.float64)
        self._next = 0
        self._count = 0

    def push(self, value: float) -> None:
        self._data[self._next] = value
        self._next = (self._next + 1) % len(self._data)
        self._count = min(self._count + 1, len(self._data))

    def __len__(self) -> int:
        return self._count

    def values(self) -> FloatArray:
        return self._data[: self._count]


def robust_center_scale(values: FloatArray) -> tuple[float, float]:
    """Median and MAD-based standard deviation; (nan, nan) when there is nothing to measure."""
    if len(values) == 0:
        return math.nan, math.nan
    center = float(np.median(values))
    scale = MAD_TO_SIGMA * float(np.median(np.abs(values - center)))
    return center, scale


class SeasonalHistory:
    """Values of the last ``seasons`` seasons, addressable by phase.

    Time is cut into slots one step wide; slot ``s`` and slot ``s - k * per_season`` are the same
    phase ``k`` seasons apart. A flat ring keyed by absolute slot number (with the slot number
    stored beside each value, so stale or missing slots are recognised) makes gaps, restarts and
    the wrap at midnight need no special cases.
    """

    def __init__(self, *, step: float, season: float, seasons: int, tolerance: float) -> None:
        self.step = step
        self.per_season = max(1, round(season / step))
        self.seasons = seasons
        size = (seasons + 1) * self.per_season
        self._values = np.full(size, math.nan)
        self._slots = np.full(size, -1, dtype=np.int64)
        width = max(0, round(tolerance / step))
        ks = np.arange(1, seasons + 1, dtype=np.int64)[:, None] * self.per_season
        js = np.arange(-width, width + 1, dtype=np.int64)[None, :]
        self._offsets = (js - ks).ravel()
        self.samples_per_season = 2 * width + 1

    def slot(self, t: float) -> int:
        return math.floor(t / self.step)

    def push(self, t: float, value: float) -> None:
        slot = self.slot(t)
        index = slot % len(self._values)
        self._values[index] = value
        self._slots[index] = slot

    def same_phase(self, t: float) -> FloatArray:
        """Values at the same phase (within the tolerance) of previous seasons, oldest unordered."""
        wanted = self.slot(t) + self._offsets
        index = wanted % len(self._values)
        found: FloatArray = self._values[index[self._slots[index] == wanted]]
        return found
