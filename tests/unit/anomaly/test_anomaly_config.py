"""Spec parsing: every field, and a clear SpecError naming the field for every bad value."""

from __future__ import annotations

from datetime import timedelta

import pytest

from prognos.anomaly import DetectorConfig, SpecError, Thresholds, config_from_spec


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({}, DetectorConfig()),
        ({"detector": "robust-zscore"}, DetectorConfig(detector="robust-zscore")),
        ({"sensitivity": "high"}, DetectorConfig(sensitivity=0.75)),
        ({"sensitivity": "LOW"}, DetectorConfig(sensitivity=0.25)),
        ({"sensitivity": "0.9"}, DetectorConfig(sensitivity=0.9)),
        ({"sensitivity": 1}, DetectorConfig(sensitivity=1.0)),
        ({"for": "1h30m"}, DetectorConfig(for_=timedelta(minutes=90))),
        ({"for": "0"}, DetectorConfig(for_=timedelta(0))),
        ({"for": 120}, DetectorConfig(for_=timedelta(seconds=120))),
        (
            {"detector": "threshold", "threshold": {"above": "1500m", "below": 0}},
            DetectorConfig(detector="threshold", threshold=Thresholds(above=1.5, below=0.0)),
        ),
        ({"threshold": {"above": "2Ki"}}, DetectorConfig(threshold=Thresholds(above=2048.0))),
        ({"season": "none"}, DetectorConfig(season=None)),
        ({"season": "1w", "seasons": "3"}, DetectorConfig(season=timedelta(weeks=1), seasons=3)),
        ({"direction": "up"}, DetectorConfig(direction="up")),
        (
            {"fireAbove": "0.7", "clearBelow": "0.1", "clearFor": "15m", "rearmAfter": "1h"},
            DetectorConfig(
                fire_above=0.7,
                clear_below=0.1,
                clear_for=timedelta(minutes=15),
                rearm_after=timedelta(hours=1),
            ),
        ),
        (
            {"step": "30s", "within": "20m"},
            DetectorConfig(step=timedelta(seconds=30), within=timedelta(minutes=20)),
        ),
    ],
)
def test_valid_specs(spec, expected):
    assert config_from_spec(spec) == expected


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({"detector": "magic"}, "detector"),
        ({"sensitivity": "extreme"}, "sensitivity"),
        ({"sensitivity": 1.5}, "sensitivity"),
        ({"sensitivity": True}, "sensitivity"),
        ({"for": "5 minutes"}, "for"),
        ({"for": "-5m"}, "for"),
        ({"for": ""}, "for"),
        ({"for": "10m", "within": "5m"}, "within"),
        ({"detector": "threshold"}, "threshold"),
        ({"threshold": {"above": 1, "below": 2}}, "threshold"),
        ({"threshold": {"over": 1}}, "threshold"),
        ({"threshold": [1]}, "threshold"),
        ({"threshold": {"above": "lots"}}, "threshold.above"),
        ({"threshold": {"above": "nan"}}, "threshold.above"),
        ({"direction": "sideways"}, "direction"),
        ({"seasons": 0}, "seasons"),
        ({"seasons": "2.5"}, "seasons"),
        ({"season": "0s"}, "season"),
        ({"fireAbove": 0}, "fireAbove"),
        ({"clearBelow": 0.9}, "clearBelow"),
        ({"sensitivty": "high"}, "sensitivty"),
    ],
)
def test_invalid_specs_name_the_field(spec, field):
    with pytest.raises(SpecError, match=field):
        config_from_spec(spec)


def test_spec_error_is_a_value_error():
    assert issubclass(SpecError, ValueError)


def test_not_a_mapping():
    with pytest.raises(SpecError, match="mapping"):
        config_from_spec(["detector"])  # type: ignore[arg-type]


def test_ignore_keys_lets_a_whole_signal_through():
    spec = {"query": "sum(rate(x[5m]))", "detector": "rate"}
    with pytest.raises(SpecError, match="query"):
        config_from_spec(spec)
    assert config_from_spec(spec, ignore_keys=("query",)).detector == "rate"


def test_higher_sensitivity_means_lower_threshold():
    zs = [config_from_spec({"sensitivity": s}).z_threshold for s in ("low", "medium", "high")]
    assert zs[0] > zs[1] > zs[2] > 0
