"""``prognos detect``: same rows and order, causal scores in [0, 1], exit 2 on bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from prognos.cli import main


def write_series(path, n=600, spike_at=None):
    index = pd.date_range("2024-01-01", periods=n, freq="5min")
    rng = np.random.default_rng(1)
    values = 50 + 10 * np.sin(np.arange(n) * 2 * np.pi / 288) + rng.normal(0, 0.5, n)
    if spike_at is not None:
        values[spike_at : spike_at + 4] += 30
    frame = pd.DataFrame({"timestamp": index.strftime("%Y-%m-%d %H:%M:%S"), "value": values})
    frame.to_csv(path, index=False)
    return frame


def test_same_rows_order_and_bounded_scores(tmp_path):
    src = tmp_path / "in" / "load.csv"
    src.parent.mkdir()
    # Past the two-day warm-up of the seasonal band (a younger series scores 0).
    write_series(src, n=900, spike_at=800)
    assert main(["detect", str(src), "--output-dir", str(tmp_path / "out")]) == 0
    raw = pd.read_csv(src, dtype=str)
    out = pd.read_csv(tmp_path / "out" / "load.csv", dtype=str)
    assert list(out.columns) == ["timestamp", "value", "anomaly_score"]
    assert out["timestamp"].tolist() == raw["timestamp"].tolist()
    assert out["value"].tolist() == raw["value"].tolist()
    scores = out["anomaly_score"].astype(float)
    assert scores.between(0, 1).all()
    assert scores.iloc[800:804].min() > 0.9
    assert scores.iloc[:700].max() < 0.5


def test_scores_are_causal_through_the_cli(tmp_path):
    full = tmp_path / "a" / "s.csv"
    cut = tmp_path / "b" / "s.csv"
    full.parent.mkdir()
    cut.parent.mkdir()
    frame = write_series(full, spike_at=450)
    frame.iloc[:300].to_csv(cut, index=False)
    main(["detect", str(full), "--output-dir", str(tmp_path / "o1")])
    main(["detect", str(cut), "--output-dir", str(tmp_path / "o2")])
    a = pd.read_csv(tmp_path / "o1" / "s.csv")["anomaly_score"].iloc[:300]
    b = pd.read_csv(tmp_path / "o2" / "s.csv")["anomaly_score"]
    assert a.tolist() == b.tolist()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "empty"),
        ("timestamp,value\n", "no data rows"),
        ("time,val\n2024-01-01 00:00:00,1\n", "header"),
        ("timestamp,value\n2024-01-01 00:00:00,abc\n", "not a number"),
        ("timestamp,value\nyesterday,1\n", "timestamp"),
        ("timestamp,value\n2024-01-01 00:05:00,1\n2024-01-01 00:00:00,2\n", "increasing"),
        ("timestamp,value\n2024-01-01 00:00:00,1\n2024-01-01 00:00:00,2\n", "repeated"),
    ],
)
def test_bad_input_exits_2_with_one_line(tmp_path, capsys, content, message):
    src = tmp_path / "bad.csv"
    src.write_text(content)
    assert main(["detect", str(src), "--output-dir", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err
    assert len(err.splitlines()) == 1
    assert not (tmp_path / "out" / "bad.csv").exists()


def test_missing_file_and_bad_sensitivity(tmp_path, capsys):
    assert main(["detect", str(tmp_path / "nope.csv"), "--output-dir", str(tmp_path)]) == 2
    src = tmp_path / "in" / "ok.csv"
    src.parent.mkdir()
    write_series(src)
    args = ["detect", str(src), "--output-dir", str(tmp_path / "o"), "--sensitivity", "7"]
    assert main(args) == 2
    assert "sensitivity" in capsys.readouterr().err


def test_refuses_to_overwrite_input(tmp_path):
    src = tmp_path / "s.csv"
    write_series(src)
    assert main(["detect", str(src), "--output-dir", str(tmp_path)]) == 2
