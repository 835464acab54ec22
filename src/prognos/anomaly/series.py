"""Validation of a ``timestamp,value`` table into the series the detectors accept.

Pure (the caller reads the file): the CLI, the benchmark and tests share one definition of good
input, and every refusal is one :class:`InputError` whose message names the first bad row (data
rows are numbered from 1, so row N is line N + 1 of a CSV with a header).
"""

from __future__ import annotations

import numpy as np
import pandas as pd


class InputError(ValueError):
    """A series the detectors cannot use; the message says what and where."""


def series_from_frame(frame: pd.DataFrame) -> pd.Series:
    """A float series indexed by strictly increasing, tz-naive UTC timestamps."""
    missing = [c for c in ("timestamp", "value") if c not in frame.columns]
    if missing:
        raise InputError(
            f"missing column(s) {', '.join(missing)}; expected the header 'timestamp,value'"
        )
    if len(frame) == 0:
        raise InputError("no data rows")
    stamps = pd.to_datetime(frame["timestamp"], errors="coerce", utc=True, format="ISO8601")
    bad = np.flatnonzero(stamps.isna().to_numpy())
    if len(bad):
        row = int(bad[0])
        raise InputError(f"row {row + 1}: bad timestamp {frame['timestamp'].iloc[row]!r}")
    values = pd.to_numeric(frame["value"], errors="coerce").astype("float64")
    bad = np.flatnonzero(~np.isfinite(values.to_numpy()))
    if len(bad):
        row = int(bad[0])
        raise InputError(
            f"row {row + 1}: value {frame['value'].iloc[row]!r} is not a finite number"
        )
    index = pd.DatetimeIndex(stamps).tz_convert(None)
    steps = np.diff(index.asi8)
    bad = np.flatnonzero(steps <= 0)
    if len(bad):
        row = int(bad[0]) + 1
        raise InputError(
            f"row {row + 1}: timestamp {frame['timestamp'].iloc[row]!r} is not after the "
            "previous one; timestamps must be strictly increasing"
        )
    return pd.Series(values.to_numpy(), index=index, name="value")
