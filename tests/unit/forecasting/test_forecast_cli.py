"""``prognos forecast``: output contract, bad-input handling (exit 2, one line), plots, pool."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from prognos.cli import main
from prognos.forecasting import ForecastError, read_series


def write_series(path, values, freq="5min"):
    stamps = pd.date_range("2024-01-01", periods=len(values), freq=freq)
    pd.DataFrame({"timestamp": stamps, "value": values}).to_csv(path, index=False)
    return path


def load(n=700, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    return 20 + 5 * np.sin(2 * np.pi * t / 288) + rng.normal(0, 0.5, n)


def test_writes_the_forecast_file_for_the_steps_after_the_last_row(tmp_path, capsys):
    src = write_series(tmp_path / "load.csv", load())
    out = tmp_path / "out"
    assert main(["forecast", str(src), "--horizon", "6", "--output-dir", str(out)]) == 0
    frame = pd.read_csv(out / "load.csv", parse_dates=["timestamp"])
    assert list(frame.columns) == ["timestamp", "yhat", "yhat_lower", "yhat_upper"]
    assert len(frame) == 6
    last = pd.Timestamp("2024-01-01") + 699 * pd.Timedelta("5min")
    assert frame["timestamp"].iloc[0] == last + pd.Timedelta("5min")
    assert (frame["yhat_lower"] <= frame["yhat"]).all()
    assert (frame["yhat"] <= frame["yhat_upper"]).all()
    assert "auto(" in capsys.readouterr().err


def test_constant_series_is_a_flat_forecast_with_zero_width(tmp_path):
    src = write_series(tmp_path / "flat.csv", np.full(50, 3.0))
    assert main(["forecast", str(src), "--horizon", "4", "--output-dir", str(tmp_path)]) == 0
    frame = pd.read_csv(tmp_path / "flat.csv")
    assert (frame["yhat"] == 3.0).all()
    assert (frame["yhat_upper"] == frame["yhat_lower"]).all()


BAD_FILES = [
    ("empty.csv", "", "empty"),
    ("header.csv", "timestamp,value\n", "no data rows"),
    ("short.csv", "timestamp,value\n2024-01-01 00:00,1\n2024-01-01 00:05,2\n", "too short"),
    ("words.csv", "timestamp,value\n2024-01-01 00:00,1\n2024-01-01 00:05,abc\n", "not a number"),
    ("when.csv", "timestamp,value\nyesterday,1\n", "cannot parse timestamp"),
    ("cols.csv", "time,load\n2024-01-01,1\n", "header must be"),
    (
        "order.csv",
        "timestamp,value\n2024-01-01 00:10,1\n2024-01-01 00:05,2\n2024-01-01 00:15,2\n",
        "not in increasing order",
    ),
    ("inf.csv", "timestamp,value\n2024-01-01 00:00,1\n2024-01-01 00:05,inf\n", "infinite"),
    (
        "offsets.csv",
        "timestamp,value\n2024-01-01T00:00,1\n2024-01-01T00:05+01:00,2\n2024-01-01T00:10,3\n",
        "mix UTC offsets",
    ),
    ("same.csv", "timestamp,value\n2024-01-01,1\n2024-01-01,2\n2024-01-01,3\n", "one timestamp"),
]


@pytest.mark.parametrize(("name", "content", "message"), BAD_FILES)
def test_bad_input_is_one_line_on_stderr_and_exit_2(tmp_path, capsys, name, content, message):
    src = tmp_path / name
    src.write_text(content)
    code = main(["forecast", str(src), "--horizon", "3", "--output-dir", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 2
    assert message in err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert err.count(name) == 1, "the file is named once"
    if message not in (
        "too short",
        "one timestamp",
    ):  # length is checked by cleaning, not by the reader
        with pytest.raises(ForecastError, match=message):
            read_series(src)


def test_missing_file_and_bad_horizon(tmp_path, capsys):
    code = main(["forecast", str(tmp_path / "nope.csv"), "--horizon", "3", "--output-dir", "x"])
    assert code == 2
    assert "no such file" in capsys.readouterr().err
    src = write_series(tmp_path / "a.csv", load(20))
    assert main(["forecast", str(src), "--horizon", "0", "--output-dir", str(tmp_path)]) == 2


def test_many_files_use_the_pool_and_a_bad_one_does_not_stop_the_rest(tmp_path, capsys):
    good = [write_series(tmp_path / f"s{i}.csv", load(400, seed=i)) for i in range(3)]
    bad = tmp_path / "bad.csv"
    bad.write_text("timestamp,value\n")
    out = tmp_path / "out"
    args = ["forecast", *map(str, [*good, bad]), "--horizon", "5", "--output-dir", str(out)]
    assert main([*args, "--jobs", "2", "--model", "seasonal-ar"]) == 2
    err = capsys.readouterr().err
    assert "bad.csv: no data rows" in err
    assert "4/4" in err  # progress bar reached the end
    assert sorted(p.name for p in out.iterdir()) == ["s0.csv", "s1.csv", "s2.csv"]


def test_plot_file_and_plot_directory(tmp_path):
    a = write_series(tmp_path / "a.csv", load(400))
    b = write_series(tmp_path / "b.csv", load(400, seed=1))
    out = str(tmp_path / "out")
    png = tmp_path / "one.png"
    assert (
        main(["forecast", str(a), "--horizon", "3", "--output-dir", out, "--plot", str(png)]) == 0
    )
    assert png.read_bytes()[:4] == b"\x89PNG"
    plots = tmp_path / "plots"
    args = ["forecast", str(a), str(b), "--horizon", "3", "--output-dir", out, "--jobs", "1"]
    assert main([*args, "--plot", str(plots)]) == 0
    assert sorted(p.name for p in plots.iterdir()) == ["a.png", "b.png"]
    assert main([*args, "--plot", str(png)]) == 2  # one .png for two files is ambiguous


def test_evaluate_prints_a_table_per_model(tmp_path, capsys):
    src = write_series(tmp_path / "a.csv", load(800))
    args = ["forecast", str(src), "--horizon", "6", "--output-dir", str(tmp_path / "o")]
    assert main([*args, "--evaluate", "--evaluate-models", "seasonal-naive,naive,auto"]) == 0
    out = capsys.readouterr().out
    assert "MASE" in out and "cov80" in out
    for name in ("seasonal-naive", "naive", "auto"):
        assert f"  {name} " in out


def test_duplicate_output_names_are_refused(tmp_path, capsys):
    (tmp_path / "x").mkdir()
    a = write_series(tmp_path / "a.csv", load(50))
    b = write_series(tmp_path / "x" / "a.csv", load(50))
    assert main(["forecast", str(a), str(b), "--horizon", "3", "--output-dir", str(tmp_path)]) == 2
    assert "collide" in capsys.readouterr().err


def test_a_daylight_saving_switch_is_read_as_utc(tmp_path, capsys):
    """A local-time export changes its offset at the switch; the instants stay exact."""
    stamps = pd.date_range("2026-03-28", periods=288 * 2, freq="5min", tz="Europe/Berlin")
    src = tmp_path / "local.csv"
    src.write_text(
        "timestamp,value\n" + "".join(f"{t.isoformat()},{i % 288}\n" for i, t in enumerate(stamps))
    )
    assert {t.isoformat()[-6:] for t in stamps} == {"+01:00", "+02:00"}
    y = read_series(src)
    assert str(y.index.tz) == "UTC"
    assert (np.diff(y.index.asi8) == 300 * 10**9).all(), "no hour lost or repeated at the switch"
    assert y.index[0] == stamps[0]
    code = main(["forecast", str(src), "--horizon", "3", "--output-dir", str(tmp_path / "o")])
    assert code == 0, capsys.readouterr().err
    sim = ["simulate", str(src), "--target-per-replica", "30", "--output", str(tmp_path / "s.csv")]
    assert main(sim) == 0, capsys.readouterr().err
    det = ["detect", str(src), "--output-dir", str(tmp_path / "d")]
    assert main(det) == 0, capsys.readouterr().err
