"""Read a ``timestamp,value`` CSV into a series, refusing bad files with a one-line reason.

Shared by ``prognos forecast``, ``detect`` and ``simulate``. It is stricter than
:func:`prognos.forecasting.clean.prepare`: a file whose timestamps go backwards was almost
certainly concatenated or exported wrongly, so we say so (with the line number) instead of
silently sorting; NaN and empty values are kept as missing and repaired later by cleaning.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from prognos.forecasting.base import ForecastError


def read_series(path: str | Path) -> pd.Series:
    """``timestamp,value`` CSV -> float Series on a DatetimeIndex (ForecastError if unusable)."""
    p = Path(path)
    try:
        frame = pd.read_csv(p, dtype=str, keep_default_na=False)
    except FileNotFoundError:
        raise ForecastError(f"{p}: no such file") from None
    except pd.errors.EmptyDataError:
        raise ForecastError(f"{p}: file is empty") from None
    except (OSError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ForecastError(f"{p}: cannot read as CSV ({first})") from None
    columns = [c.strip().lower() for c in frame.columns]
    if columns[:2] != ["timestamp", "value"]:
        raise ForecastError(
            f"{p}: header must be 'timestamp,value', got {','.join(frame.columns)!r}"
        )
    frame.columns = pd.Index(columns)
    if len(frame) == 0:
        raise ForecastError(f"{p}: no data rows")
    with warnings.catch_warnings():
        # Mixed UTC offsets parse to objects with a FutureWarning; _index converts them to UTC.
        warnings.simplefilter("ignore", FutureWarning)
        stamps = pd.to_datetime(frame["timestamp"].str.strip(), errors="coerce", format="mixed")
    bad = np.flatnonzero(stamps.isna().to_numpy())
    if len(bad):
        row = int(bad[0])
        raise ForecastError(
            f"{p}: line {row + 2}: cannot parse timestamp {frame['timestamp'].iloc[row]!r}"
        )
    raw = frame["value"].str.strip()
    missing = raw.str.lower().isin(["", "nan", "na", "null", "none"])
    values = pd.to_numeric(raw.where(~missing), errors="coerce")
    bad = np.flatnonzero((values.isna() & ~missing).to_numpy())
    if len(bad):
        row = int(bad[0])
        raise ForecastError(f"{p}: line {row + 2}: value {raw.iloc[row]!r} is not a number")
    arr = values.to_numpy(dtype=np.float64)
    if bool(np.any(np.isinf(arr))):
        row = int(np.flatnonzero(np.isinf(arr))[0])
        raise ForecastError(f"{p}: line {row + 2}: infinite value")
    idx = _index(p, frame["timestamp"].str.strip(), stamps)
    back = np.flatnonzero(np.diff(idx.asi8) < 0)
    if len(back):
        row = int(back[0]) + 1
        raise ForecastError(
            f"{p}: line {row + 2}: timestamps are not in increasing order "
            f"({stamps.iloc[row]} after {stamps.iloc[row - 1]})"
        )
    if bool(np.all(np.isnan(arr))):
        raise ForecastError(f"{p}: no numeric values")
    return pd.Series(arr, index=idx, name=p.stem)


def _index(p: Path, text: pd.Series, stamps: pd.Series) -> pd.DatetimeIndex:
    """One DatetimeIndex from parsed stamps.

    A local-time export carries an offset that changes at a daylight-saving switch
    (``+01:00`` then ``+02:00``); pandas cannot hold several offsets in one index, so such a
    file is converted to UTC, which keeps every instant exact. Stamps with an offset mixed with
    stamps without one are ambiguous (the latter could be local time or UTC), so they are
    refused with the first line of each kind rather than guessed.
    """
    try:
        return pd.DatetimeIndex(stamps)
    except (TypeError, ValueError):
        pass
    aware = np.array([getattr(s, "tzinfo", None) is not None for s in stamps])
    if bool(aware.any()) and not bool(aware.all()):
        with_tz, without = int(np.flatnonzero(aware)[0]), int(np.flatnonzero(~aware)[0])
        raise ForecastError(
            f"{p}: timestamps mix UTC offsets (line {with_tz + 2}: {text.iloc[with_tz]!r}) "
            f"with none (line {without + 2}: {text.iloc[without]!r}); give every timestamp "
            "an offset or none"
        )
    return pd.DatetimeIndex(pd.to_datetime(text, utc=True, format="mixed"))
