"""PredictiveScaler spec -> ScalerConfig: defaults, overrides, and clear errors."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from prognos.scaling import Mode, PolicyType, SelectPolicy, SpecError, config_from_spec
from prognos.scaling.config import FallbackKind
from prognos.scaling.spec import parse_duration, parse_quantity

MINIMAL = {"maxReplicas": 10, "metric": {"query": "sum(rate(x[1m]))", "targetPerReplica": "100"}}


def test_minimal_spec_gets_hpa_defaults():
    c = config_from_spec(MINIMAL)
    assert (c.min_replicas, c.max_replicas, c.target_per_replica) == (1, 10, 100.0)
    assert c.behavior.tolerance == 0.1
    assert c.behavior.scale_up.stabilization_window_seconds == 0
    assert c.behavior.scale_down.stabilization_window_seconds == 300
    assert {p.type for p in c.behavior.scale_up.policies} == {PolicyType.PODS, PolicyType.PERCENT}
    assert c.mode is Mode.AUTO and c.fallback.kind is FallbackKind.HOLD
    assert c.forecast.model == "auto" and c.forecast.interval_level == pytest.approx(0.8)


def test_metric_unit_is_carried_for_notifications():
    assert config_from_spec(MINIMAL).unit == ""
    spec = {**MINIMAL, "metric": {**MINIMAL["metric"], "unit": "rps"}}
    assert config_from_spec(spec).unit == "rps"


def test_full_spec():
    spec = {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
        "interval": "15s",
        "minReplicas": 2,
        "maxReplicas": 40,
        "metric": {"query": "q", "targetPerReplica": "250m"},
        "forecast": {"model": "ets", "horizon": "3m", "history": "7d", "quantile": "0.95",
                     "refitInterval": "30m", "season": "1d"},
        "behavior": {
            "tolerance": "0.05",
            "scaleUp": {"stabilizationWindowSeconds": 30, "selectPolicy": "Min",
                        "policies": [{"type": "Pods", "value": 2, "periodSeconds": 60}]},
            "scaleDown": {"selectPolicy": "Disabled"},
        },
        "mode": "Recommend",
        "fallback": {"action": "Replicas", "replicas": 6},
    }  # fmt: skip
    c = config_from_spec(spec)
    assert c.target_per_replica == pytest.approx(0.25)
    assert c.forecast.horizon == timedelta(minutes=3)
    assert c.forecast.history == timedelta(days=7)
    assert c.forecast.interval_level == pytest.approx(0.9)
    assert c.behavior.scale_up.select_policy is SelectPolicy.MIN
    assert c.behavior.scale_up.policies[0].value == 2
    assert c.behavior.scale_down.select_policy is SelectPolicy.DISABLED
    assert c.behavior.scale_down.stabilization_window_seconds == 300
    assert c.mode is Mode.RECOMMEND
    assert c.fallback.replicas == 6


@pytest.mark.parametrize(
    ("patch", "path"),
    [
        ({"maxReplicas": None}, "spec.maxReplicas"),
        ({"maxReplicas": 0}, "spec.maxReplicas"),
        ({"minReplicas": 5, "maxReplicas": 3}, "spec.maxReplicas"),
        ({"minReplicas": "1"}, "spec.minReplicas"),
        ({"metric": {"query": "q"}}, "spec.metric.targetPerReplica"),
        ({"metric": {"targetPerReplica": 0.5}}, "spec.metric.targetPerReplica"),
        ({"metric": {"targetPerReplica": "lots"}}, "spec.metric.targetPerReplica"),
        ({"metric": {"targetPerReplica": "0"}}, "spec.metric.targetPerReplica"),
        ({"metric": {"targetPerReplica": "1", "unit": "x" * 17}}, "spec.metric.unit"),
        ({"metric": {"targetPerReplica": "1", "unit": 5}}, "spec.metric.unit"),
        ({"forecast": {"horizon": "5 minutes"}}, "spec.forecast.horizon"),
        ({"forecast": {"quantile": "1.5"}}, "spec.forecast.quantile"),
        ({"forecast": {"quantile": 0.9}}, "spec.forecast.quantile"),
        ({"forecast": {"model": "Prophet!"}}, "spec.forecast.model"),
        ({"forecast": {"horizont": "5m"}}, "spec.forecast"),
        ({"behavior": {"tolerance": "abc"}}, "spec.behavior.tolerance"),
        ({"behavior": {"scaleUp": {"selectPolicy": "max"}}}, "spec.behavior.scaleUp.selectPolicy"),
        (
            {
                "behavior": {
                    "scaleDown": {"policies": [{"type": "Pods", "value": 0, "periodSeconds": 15}]}
                }
            },
            "spec.behavior.scaleDown.policies[0].value",
        ),
        (
            {
                "behavior": {
                    "scaleDown": {"policies": [{"type": "pods", "value": 1, "periodSeconds": 15}]}
                }
            },
            "spec.behavior.scaleDown.policies[0].type",
        ),
        (
            {"behavior": {"scaleDown": {"stabilizationWindowSeconds": 4000}}},
            "spec.behavior.scaleDown.stabilizationWindowSeconds",
        ),
        ({"mode": "auto"}, "spec.mode"),
        ({"fallback": {"action": "Replicas"}}, "spec.fallback.replicas"),
        ({"fallback": {"action": "Zero"}}, "spec.fallback.action"),
        ({"replicas": 3}, "spec"),
    ],
)
def test_bad_specs_name_the_field(patch, path):
    spec = {**MINIMAL, **patch}
    spec = {k: v for k, v in spec.items() if v is not None}
    with pytest.raises(SpecError) as info:
        config_from_spec(spec)
    assert str(info.value).startswith(path + ":") or str(info.value).startswith(path + "."), (
        info.value
    )
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize(
    ("text", "value"),
    [("100", 100.0), (7, 7.0), ("250m", 0.25), ("1.5", 1.5), ("2k", 2000.0), ("1Ki", 1024.0),
     ("1e3", 1000.0), (".5", 0.5)],
)  # fmt: skip
def test_quantities(text, value):
    assert parse_quantity(text, "x") == pytest.approx(value)


@pytest.mark.parametrize(
    ("text", "value"),
    [("90s", timedelta(seconds=90)), ("1h30m", timedelta(minutes=90)), ("14d", timedelta(days=14)),
     ("500ms", timedelta(milliseconds=500))],
)  # fmt: skip
def test_durations(text, value):
    assert parse_duration(text, "x") == value


@pytest.mark.parametrize("text", ["", "5", "m5", "5x", "-5m", "0s", 300])
def test_bad_durations(text):
    with pytest.raises(SpecError):
        parse_duration(text, "x")


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(
            [
                "minReplicas",
                "maxReplicas",
                "metric",
                "mode",
                "behavior",
                "forecast",
                "fallback",
                "other",
            ]
        ),
        st.one_of(
            st.none(),
            st.integers(-5, 50),
            st.text(max_size=5),
            st.floats(allow_nan=True),
            st.lists(st.integers(), max_size=2),
            st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
        ),
    )
)
def test_arbitrary_specs_give_a_config_or_a_spec_error(spec):  # fmt: skip
    try:
        c = config_from_spec(spec)
    except SpecError:
        return
    assert 0 <= c.min_replicas <= c.max_replicas
