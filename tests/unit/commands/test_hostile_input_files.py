"""Hostile input files for ``prognos forecast``, ``detect`` and ``simulate``: exit 0 or 2.

Hypothesis writes CSVs that are valid, slightly wrong (NaN, Inf, text, repeated or unordered
timestamps, missing columns, a missing header) or plain garbage; each command must finish with
0, or 2 and an error on stderr, and never let an exception (a traceback) escape.
"""

from __future__ import annotations

import contextlib
import io
import tempfile
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from prognos.cli import main

START = datetime(2026, 1, 1, tzinfo=UTC)

numbers = st.floats(min_value=0, max_value=1e6).map(lambda v: f"{v:.3f}")
weird = st.sampled_from(["nan", "inf", "-inf", "", "-5", "1e308", "abc", "1,5", "0"])
#: A weird value in about one row in twenty.
values = st.integers(0, 19).flatmap(lambda i: weird if i == 19 else numbers)


@st.composite
def csv_texts(draw: Any) -> str:
    kind = draw(st.sampled_from(["regular", "messy", "messy", "garbage"]))
    if kind == "garbage":
        return str(draw(st.text(max_size=200)))
    n = draw(st.integers(0, 3) if draw(st.integers(0, 9)) == 9 else st.integers(20, 80))
    step = draw(st.sampled_from([60, 300, 1]))
    stamps = [START + timedelta(seconds=i * step) for i in range(n)]
    if kind == "messy" and stamps:
        i = draw(st.integers(0, n - 1))
        stamps[i] = draw(
            st.sampled_from([stamps[0], START - timedelta(days=1), START + timedelta(days=999)])
        )
    fmt = draw(st.sampled_from(["iso"] * 7 + ["local", "epoch", "text"]))
    rows = []
    for i, t in enumerate(stamps):
        # "local": a local-time export whose UTC offset changes halfway (a daylight-saving
        # switch), sometimes with one stamp that lost its offset.
        local = t.astimezone(timezone(timedelta(hours=1 if i < n // 2 else 2))).isoformat()
        if fmt == "local" and kind == "messy" and i == n - 1:
            local = local[:-6]
        stamp = {
            "iso": t.isoformat(),
            "local": local,
            "epoch": str(int(t.timestamp())),
            "text": "yesterday",
        }[fmt]
        value = draw(values) if kind == "messy" else f"{10 + (hash(t) % 7):.1f}"
        rows.append(f"{stamp},{value}")
    header = draw(st.sampled_from(["timestamp,value"] * 8 + ["", "a,b,c", "value"]))
    return "\n".join([header, *rows]) if header else "\n".join(rows)


def _run(argv: list[str]) -> tuple[int, str]:
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            code = main(argv)
        except SystemExit as exc:  # argparse
            code = int(exc.code or 0)
    return code, err.getvalue()


def _check(code: int, stderr: str) -> None:
    event(f"exit {code} {stderr.split(': ')[-1][:40] if code else ''}")
    assert code in (0, 2), (code, stderr)
    assert "Traceback" not in stderr, stderr
    if code == 2:
        assert stderr.strip(), "exit 2 without a message"


FUZZ = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(text=csv_texts(), model=st.sampled_from(["naive", "seasonal-naive", "linear"]))
def test_forecast_exits_0_or_2(text: str, model: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "load.csv"
        path.write_text(text)
        out = Path(tmp) / "out"
        argv = ["forecast", str(path), "--horizon", "5", "--model", model, "--jobs", "1"]
        _check(*_run([*argv, "--output-dir", str(out)]))


@FUZZ
@given(text=csv_texts(), detector=st.sampled_from(["auto", "robust-zscore", "rate"]))
def test_detect_exits_0_or_2(text: str, detector: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "load.csv"
        path.write_text(text)
        out = Path(tmp) / "out"
        _check(*_run(["detect", str(path), "--output-dir", str(out), "--detector", detector]))


@FUZZ
@given(
    text=csv_texts(),
    target=st.sampled_from(["10", "250m", "0", "-1", "abc"]),
    startup=st.sampled_from(["30s", "2m", "0s", "x"]),
)
def test_simulate_exits_0_or_2(text: str, target: str, startup: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "load.csv"
        path.write_text(text)
        out = Path(tmp) / "timeline.csv"
        argv = ["simulate", str(path), "--target-per-replica", target, "--startup", startup]
        _check(*_run([*argv, "--output", str(out), "--model", "naive"]))
