"""RemediationPolicy spec parsing: what the operator accepts, and the messages it refuses with."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from prognos.api import remediationpolicy
from prognos.remediation.policy import Limit, Selector, SpecError, policy_from_spec


def base(**overrides: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
        "signals": [{"name": "crash", "kubernetes": {"crashLoop": True}}],
        "actions": [{"rolloutRestart": {}}],
    }
    spec.update(overrides)
    return spec


def test_defaults():
    policy = policy_from_spec(base())
    assert policy.cooldown_s == 300
    assert policy.max_unavailable == 1
    assert policy.actions[0].verify_within_s == 120
    assert policy.actions[0].kind == "rolloutRestart"
    assert policy.dry_run is False
    assert policy.keep_resolved == 20


def test_prometheus_signal_reaches_the_anomaly_parser():
    spec = base(
        signals=[
            {
                "name": "errors",
                "prometheus": {
                    "query": "sum(x)",
                    "interval": "10s",
                    "detector": "threshold",
                    "threshold": {"above": "0.1"},
                    "for": "30s",
                    "sensitivity": "high",
                },
            }
        ]
    )
    sig = policy_from_spec(spec).signals[0]
    assert sig.prometheus is not None
    assert sig.prometheus.interval_s == 10
    assert sig.prometheus.detector.threshold.above == pytest.approx(0.1)
    assert sig.prometheus.detector.step is not None
    assert sig.prometheus.detector.step.total_seconds() == 10  # the evaluation interval


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"selector": {"matchLabels": {"a": "b"}}}, "exactly one of targetRef and selector"),
        ({"signals": []}, "at least one signal"),
        ({"actions": []}, "at least one action"),
        ({"actions": [{"scaleOut": {"max": 3}}]}, "exactly one of 'by' and 'factor'"),
        ({"actions": [{"scaleOut": {"by": 1, "factor": "2", "max": 3}}]}, "exactly one"),
        ({"actions": [{"scaleOut": {"factor": "1", "max": 3}}]}, "greater than 1"),
        ({"actions": [{"rolloutRestart": {}, "deletePod": {}}]}, "exactly one of"),
        ({"actions": [{"rolloutRestart": {}, "verifyWithin": "1s"}]}, "at least 5s"),
        ({"actions": [{"job": {"template": {}}}]}, "pod template"),
        ({"signals": [{"name": "Bad_Name", "kubernetes": {"crashLoop": True}}]}, "DNS label"),
        ({"signals": [{"name": "a", "kubernetes": {}}]}, "needs crashLoop"),
        (
            {"signals": [{"name": "a", "prometheus": {"query": "x", "detector": "magic"}}]},
            "detector",
        ),
        (
            {
                "signals": [
                    {"name": "a", "kubernetes": {"crashLoop": True}},
                    {"name": "a", "kubernetes": {"oomKilled": True}},
                ]
            },
            "unique",
        ),
        ({"cooldown": "soon"}, "cooldown"),
    ],
)
def test_refusals_name_the_field(overrides, message):
    with pytest.raises(SpecError, match=message):
        policy_from_spec(base(**overrides))


def test_selector_policies_cannot_use_workload_only_actions_or_queries():
    spec = base(selector={"matchLabels": {"app": "x"}}, actions=[{"rollback": {}}])
    del spec["targetRef"]
    with pytest.raises(SpecError, match="need targetRef"):
        policy_from_spec(spec)
    spec["actions"] = [{"deletePod": {}}]
    spec["signals"] = [{"name": "q", "prometheus": {"query": "x"}}]
    with pytest.raises(SpecError, match="need targetRef"):
        policy_from_spec(spec)


def test_limit_parse():
    assert Limit.parse("20/1h") == Limit(20, 3600.0)
    with pytest.raises(SpecError):
        Limit.parse("many/1h")


@pytest.mark.parametrize(
    ("selector", "labels", "matches"),
    [
        ({"matchLabels": {"app": "a"}}, {"app": "a", "x": "y"}, True),
        ({"matchLabels": {"app": "a"}}, {"app": "b"}, False),
        ({"matchExpressions": [{"key": "t", "operator": "In", "values": ["1"]}]}, {"t": "1"}, True),
        ({"matchExpressions": [{"key": "t", "operator": "NotIn", "values": ["1"]}]}, {}, True),
        ({"matchExpressions": [{"key": "t", "operator": "Exists"}]}, {}, False),
        ({"matchExpressions": [{"key": "t", "operator": "DoesNotExist"}]}, {"t": "1"}, False),
        ({}, {"app": "a"}, False),  # empty selector never means "every pod"
    ],
)
def test_selector_semantics(selector, labels, matches):
    assert Selector.from_spec(selector).matches(labels) is matches


@given(
    by=st.one_of(st.none(), st.integers(min_value=1, max_value=50)),
    factor=st.one_of(st.none(), st.decimals(min_value="1.01", max_value="9", places=2)),
    maximum=st.integers(min_value=1, max_value=100),
)
def test_scale_out_accepts_exactly_one_of_by_and_factor(by, factor, maximum):
    so: dict[str, Any] = {"max": maximum}
    if by is not None:
        so["by"] = by
    if factor is not None:
        so["factor"] = str(factor)
    spec = base(actions=[{"scaleOut": so}])
    if (by is None) == (factor is None):
        with pytest.raises(SpecError):
            policy_from_spec(spec)
    else:
        action = policy_from_spec(spec).actions[0]
        assert action.scale_max == maximum
        assert (action.scale_by is None) != (action.scale_factor is None)


def test_schema_has_readable_cel_messages_and_printer_columns():
    spec = remediationpolicy.spec_schema()
    messages = " ".join(r["message"] for r in spec["x-kubernetes-validations"])
    assert "set exactly one of targetRef (a workload) and selector (pods)" in messages
    version = remediationpolicy.definition()["spec"]["versions"][0]
    columns = {c["name"] for c in version["additionalPrinterColumns"]}
    assert {"Target", "Signals", "DryRun", "Open", "Ready", "Age"} <= columns
    assert version["subresources"] == {"status": {}}


def test_no_floats_in_the_spec_schema():
    def walk(schema: dict[str, Any]) -> list[str]:
        found = [] if schema.get("type") != "number" else ["number"]
        for sub in (schema.get("properties") or {}).values():
            found += walk(sub)
        if isinstance(schema.get("items"), dict):
            found += walk(schema["items"])
        return found

    assert walk(remediationpolicy.spec_schema()) == []
