"""Trace replay: causality, start-up delay accounting, figures, and the simulate CLI."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd
import pytest

import prognos.cli
from prognos.scaling import ForecastConfig, ScalerConfig
from prognos.sim.replay import ReplayOptions, hpa_baseline_config, replay

STEP = pd.Timedelta(minutes=5)


def trace(days: float = 2.5, seed: int = 0) -> pd.Series:
    n = int(days * 288)
    rng = np.random.default_rng(seed)
    phase = 2 * np.pi * np.arange(n) / 288
    values = 100 + 50 * np.sin(phase) + rng.normal(0, 5, n)
    return pd.Series(values, index=pd.date_range("2024-01-01", periods=n, freq=STEP))


def config() -> ScalerConfig:
    return ScalerConfig(
        min_replicas=1,
        max_replicas=100,
        target_per_replica=10.0,
        forecast=ForecastConfig(
            model="seasonal-naive", horizon=timedelta(minutes=7), min_seasons=1
        ),
    )


FAST = ReplayOptions(interval=timedelta(minutes=5))


def test_replicas_at_t_do_not_depend_on_later_rows():
    y = trace()
    cut = 400
    altered = y.copy()
    altered.iloc[cut + 1 :] = altered.iloc[cut + 1 :] * 3 + 500
    a = replay(y, config(), FAST).timeline
    b = replay(altered, config(), FAST).timeline
    assert a["forecast"].iloc[300:cut].notna().any()  # the forecast was in play
    pd.testing.assert_frame_equal(a.iloc[: cut + 1], b.iloc[: cut + 1])
    assert not a["replicas"].iloc[cut + 1 :].equals(b["replicas"].iloc[cut + 1 :])


def test_timeline_has_one_row_per_input_row():
    y = trace(1)
    t = replay(y, config()).timeline
    assert list(t.columns) == ["timestamp", "load", "forecast", "replicas"]
    assert len(t) == len(y)
    assert (t["timestamp"].to_numpy() == y.index.to_numpy()).all()


def test_constant_load_needs_no_action():
    y = pd.Series(100.0, index=pd.date_range("2024-01-01", periods=100, freq=STEP))
    r = replay(y, config(), FAST)
    assert r.figures.scaling_actions == 0
    assert r.figures.under_provisioned_minutes == 0
    assert r.figures.pod_minutes == pytest.approx(10 * 5 * 100)


@pytest.mark.parametrize(("startup", "under"), [(timedelta(0), 6.0), (timedelta(minutes=4), 10.0)])
def test_startup_delay_is_counted_as_under_provisioning(startup, under):
    # Load steps from 100 to 300 at row 10; the scaler sees it one row late (rows summarise the
    # interval that ends at their timestamp): 5 blind minutes. HPA's default rate policy then
    # doubles 10 -> 20 and only a sync later reaches 30, and each step waits for start-up.
    values = np.r_[np.full(10, 100.0), np.full(20, 300.0)]
    y = pd.Series(values, index=pd.date_range("2024-01-01", periods=30, freq=STEP))
    opts = ReplayOptions(startup=startup, interval=timedelta(minutes=1))
    r = replay(y, hpa_baseline_config(config()), opts)
    assert r.figures.under_provisioned_minutes == pytest.approx(under)
    assert r.figures.scaling_actions >= 1


def test_missing_rows_hold_capacity():
    y = trace(1)
    y.iloc[100:130] = np.nan
    t = replay(y, config(), FAST).timeline
    held = t["replicas"].iloc[100:130]
    assert (held >= t["replicas"].iloc[99]).all()


def test_hpa_baseline_is_reactive():
    base = hpa_baseline_config(config())
    assert not base.forecast.enabled
    assert base.behavior.scale_down.stabilization_window_seconds == 300


# -- CLI -------------------------------------------------------------------------------------


@pytest.fixture
def cli(monkeypatch):
    """The real ``prognos`` entry point with only this command registered (others are tested
    by their owners and may need tools this test does not)."""
    monkeypatch.setattr(prognos.cli, "COMMAND_MODULES", ("simulate",))
    return prognos.cli.main


@pytest.fixture
def csv(tmp_path):
    path = tmp_path / "load.csv"
    trace(2.2).rename_axis("timestamp").rename("value").to_csv(path)
    return path


def test_cli_writes_timeline_and_prints_figures(cli, csv, tmp_path, capsys):
    out = tmp_path / "timeline.csv"
    code = cli(["simulate", str(csv), "--target-per-replica", "10", "--output", str(out)])
    assert code == 0
    frame = pd.read_csv(out)
    assert list(frame.columns) == ["timestamp", "load", "forecast", "replicas"]
    assert len(frame) == len(pd.read_csv(csv))
    text = capsys.readouterr().out
    assert "pod-minutes" in text and "hpa" in text


def test_cli_reads_a_policy(cli, csv, tmp_path, capsys):
    policy = tmp_path / "scaler.yaml"
    policy.write_text(
        "apiVersion: prognos.io/v1alpha1\nkind: PredictiveScaler\nmetadata: {name: web}\n"
        "spec:\n  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}\n"
        "  minReplicas: 2\n  maxReplicas: 12\n"
        "  metric: {query: q, targetPerReplica: '10'}\n"
        "  forecast: {model: seasonal-naive, quantile: '0.8'}\n"
    )
    out = tmp_path / "t.csv"
    assert cli(["simulate", str(csv), "--policy", str(policy), "--output", str(out)]) == 0
    replicas = pd.read_csv(out)["replicas"]
    assert replicas.min() >= 2 and replicas.max() <= 12


@pytest.mark.parametrize(
    ("args", "policy", "message"),
    [
        (["--target-per-replica", "ten"], None, "--target-per-replica"),
        ([], None, "--target-per-replica is required"),
        (["--target-per-replica", "10", "--startup", "2 minutes"], None, "--startup"),
        (["--target-per-replica", "10"], "kind: Deployment\n", "PredictiveScaler"),
        (["--target-per-replica", "10"], "{{{", "YAML"),
        (
            [],
            "apiVersion: prognos.io/v1alpha1\nkind: PredictiveScaler\nspec:\n"
            "  maxReplicas: 3\n  metric: {targetPerReplica: '10'}\n  mode: Sometimes\n",
            "spec.mode",
        ),
    ],
)
def test_cli_bad_input_exits_2_without_traceback(cli, csv, tmp_path, capsys, args, policy, message):
    extra = []
    if policy is not None:
        path = tmp_path / "p.yaml"
        path.write_text(policy)
        extra = ["--policy", str(path)]
    out = tmp_path / "t.csv"
    assert cli(["simulate", str(csv), *args, *extra, "--output", str(out)]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not out.exists()


def test_cli_missing_or_malformed_file_exits_2(cli, tmp_path, capsys):
    out = tmp_path / "t.csv"
    assert cli(["simulate", str(tmp_path / "nope.csv"), "--target-per-replica", "1",
                "--output", str(out)]) == 2  # fmt: skip
    bad = tmp_path / "bad.csv"
    bad.write_text("when,load\n1,2\n")
    assert cli(["simulate", str(bad), "--target-per-replica", "1", "--output", str(out)]) == 2
    assert "Traceback" not in capsys.readouterr().err


def test_cli_plot_writes_a_png(cli, csv, tmp_path):
    out, png = tmp_path / "t.csv", tmp_path / "timeline.png"
    args = ["simulate", str(csv), "--target-per-replica", "10", "--output", str(out)]
    assert cli([*args, "--plot", str(png)]) == 0
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert data[12:16] == b"IHDR" and data[-8:-4] == b"IEND"
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert width > height > 100  # the 14x5 inch figure, not an empty canvas
    assert len(data) > 20_000  # lines and a legend, not a blank image


def test_cli_plot_to_a_missing_directory_exits_2(cli, csv, tmp_path, capsys):
    out = tmp_path / "t.csv"
    png = tmp_path / "nowhere" / "t.png"
    args = ["simulate", str(csv), "--target-per-replica", "10", "--output", str(out)]
    assert cli([*args, "--plot", str(png)]) == 2
    err = capsys.readouterr().err
    assert "--plot" in err and "Traceback" not in err
