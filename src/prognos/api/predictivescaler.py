"""The ``PredictiveScaler`` custom resource: schema, CEL rules, printer columns.

The schema refuses at ``kubectl apply`` what can be refused statically (types, ranges, enums,
patterns, min <= max, mutually exclusive fallback fields, duration bounds). The
operator then parses the same spec with ``prognos.scaling.spec.config_from_spec`` (one function
shared with ``prognos simulate``), so anything the schema cannot express, such as quantities
with units, still ends in a ``Ready=False reason=InvalidSpec`` condition and never in a crash.
"""

from __future__ import annotations

from typing import Any

from prognos.api import CATEGORY, GROUP, VERSION
from prognos.api.schema import (
    DECIMAL_PATTERN,
    DURATION_PATTERN,
    LONG_DURATION_PATTERN,
    QUANTITY_PATTERN,
    array,
    boolean,
    column,
    conditions,
    crd,
    free_object,
    integer,
    obj,
    rule,
    string,
)
from prognos.forecasting import MODEL_NAMES

KIND = "PredictiveScaler"
PLURAL = "predictivescalers"


def _positive_long_duration(field: str) -> dict[str, Any]:
    """CEL cannot parse days ("14d"), so the rule refuses the all-zero spellings instead."""
    return rule("!self.matches('^(0+(\\\\.0+)?(ms|s|m|h|d))+$')", f"{field} must be longer than 0")


def _rules(direction: str) -> dict[str, Any]:
    return obj(
        {
            "stabilizationWindowSeconds": integer(
                "Seconds of past recommendations considered (down: highest, up: lowest).",
                minimum=0,
                maximum=3600,
            ),
            "selectPolicy": string(
                "Which policy wins: the one allowing most change (Max), least (Min), or none.",
                enum=["Max", "Min", "Disabled"],
            ),
            "policies": array(
                obj(
                    {
                        "type": string("Pods or Percent.", enum=["Pods", "Percent"]),
                        "value": integer("Change allowed per period.", minimum=1),
                        "periodSeconds": integer("Window for the limit.", minimum=1, maximum=1800),
                    },
                    required=["type", "value", "periodSeconds"],
                ),
                "Rate limits for this direction (HPA semantics).",
                min_items=1,
                max_items=10,
                list_type="atomic",
            ),
        },
        description=f"HPA scaling rules for scaling {direction}.",
    )


def spec_schema() -> dict[str, Any]:
    return obj(
        {
            "scaleTargetRef": obj(
                {
                    "apiVersion": string("API version of the target, e.g. apps/v1.", min_length=1),
                    "kind": string(
                        "Kind of the target; it must have a /scale subresource.",
                        min_length=1,
                        max_length=63,
                    ),
                    "name": string("Name of the target in this namespace.", min_length=1),
                },
                required=["apiVersion", "kind", "name"],
                description="The workload to scale, through its scale subresource.",
            ),
            "minReplicas": integer("Lower bound for replicas.", minimum=0, default=1),
            "maxReplicas": integer("Upper bound for replicas.", minimum=1),
            "interval": string(
                "How often the scaler decides.",
                pattern=DURATION_PATTERN,
                default="30s",
                max_length=32,
                rules=[
                    rule("duration(self) >= duration('5s')", "interval must be at least 5s"),
                    rule("duration(self) <= duration('1h')", "interval must be at most 1h"),
                ],
            ),
            "metric": obj(
                {
                    "query": string(
                        "PromQL returning exactly one series: the load.",
                        min_length=1,
                        max_length=4096,
                    ),
                    "targetPerReplica": string(
                        'Load one replica serves, as a quantity ("100", "250m", "2k").',
                        pattern=QUANTITY_PATTERN,
                        max_length=32,
                        rules=[
                            rule(
                                "quantity(self).isGreaterThan(quantity('0'))",
                                "targetPerReplica must be greater than 0",
                            )
                        ],
                    ),
                    "unit": string(
                        'Unit shown in notifications, e.g. "rps".',
                        min_length=1,
                        max_length=16,
                    ),
                },
                required=["query", "targetPerReplica"],
                description="The load metric and the load one replica serves.",
            ),
            "forecast": obj(
                {
                    "model": string("Forecasting model.", enum=list(MODEL_NAMES), default="auto"),
                    "horizon": string(
                        "How far ahead to provision: pod start-up plus scrape lag.",
                        pattern=DURATION_PATTERN,
                        max_length=32,
                        rules=[
                            rule("duration(self) <= duration('24h')", "horizon must be at most 24h")
                        ],
                    ),
                    "history": string(
                        "How much history a fit reads (e.g. 14d).",
                        pattern=LONG_DURATION_PATTERN,
                        max_length=32,
                        rules=[_positive_long_duration("history")],
                    ),
                    "season": string(
                        "Main seasonality (e.g. 1d).",
                        pattern=LONG_DURATION_PATTERN,
                        max_length=32,
                        rules=[_positive_long_duration("season")],
                    ),
                    "refitInterval": string(
                        "How often the model is refit.",
                        pattern=DURATION_PATTERN,
                        max_length=32,
                        rules=[
                            rule(
                                "duration(self) >= duration('1m')",
                                "refitInterval must be at least 1m",
                            ),
                            rule(
                                "duration(self) <= duration('24h')",
                                "refitInterval must be at most 24h",
                            ),
                        ],
                    ),
                    "quantile": string(
                        "Quantile of the forecast to provision for, as a decimal string.",
                        pattern=DECIMAL_PATTERN,
                        max_length=16,
                        rules=[
                            rule(
                                "double(self) >= 0.5 && double(self) < 1.0",
                                'quantile must be in [0.5, 1), e.g. "0.9"',
                            )
                        ],
                    ),
                    "enabled": boolean("Set false for purely reactive scaling.", default=True),
                    "confirmedScaleDown": boolean(
                        "Scale down without waiting for the scale-down window when the observed "
                        "load and the forecast over the window both allow it.",
                        default=True,
                    ),
                    "calibratedBounds": boolean(
                        "Size the forecast bound from its own recent errors at the quantile.",
                        default=True,
                    ),
                    "anchorSmoothing": string(
                        'Weight of the previous re-anchoring offset, decimal in [0, 1) ("0.5").',
                        pattern=DECIMAL_PATTERN,
                        max_length=16,
                        rules=[
                            rule(
                                "double(self) >= 0.0 && double(self) < 1.0",
                                'anchorSmoothing must be in [0, 1), e.g. "0.5"',
                            )
                        ],
                    ),
                },
                description="How load is forecast and used.",
            ),
            "behavior": obj(
                {
                    "tolerance": string(
                        'Relative change ignored, as a decimal string (HPA default "0.1").',
                        pattern=DECIMAL_PATTERN,
                        max_length=16,
                        rules=[rule("double(self) < 1.0", "tolerance must be below 1")],
                    ),
                    "scaleUp": _rules("up"),
                    "scaleDown": _rules("down"),
                },
                description="HPA-compatible scaling behavior.",
            ),
            "mode": string(
                "Auto acts; Recommend only computes and publishes.",
                enum=["Auto", "Recommend"],
                default="Auto",
            ),
            "fallback": obj(
                {
                    "action": string(
                        "Hold current replicas, or go to a fixed count.",
                        enum=["Hold", "Replicas"],
                        default="Hold",
                    ),
                    "replicas": integer(
                        "Replica count for action Replicas (never lowers).", minimum=0
                    ),
                },
                description="What to do while the metric is missing, stale or malformed.",
                rules=[
                    rule(
                        "self.action != 'Replicas' || has(self.replicas)",
                        "fallback.replicas is required when action is Replicas",
                    ),
                    rule(
                        "self.action != 'Hold' || !has(self.replicas)",
                        "fallback.replicas and action Hold are mutually exclusive",
                    ),
                ],
            ),
        },
        required=["scaleTargetRef", "maxReplicas", "metric"],
        rules=[
            rule(
                "!has(self.minReplicas) || self.minReplicas <= self.maxReplicas",
                "minReplicas must be less than or equal to maxReplicas",
            ),
            rule(
                "!has(self.fallback) || !has(self.fallback.replicas) || "
                "self.fallback.replicas <= self.maxReplicas",
                "fallback.replicas must not exceed maxReplicas",
            ),
        ],
    )


def status_schema() -> dict[str, Any]:
    return obj(
        {
            "observedGeneration": {"type": "integer", "format": "int64"},
            "conditions": conditions(),
            "target": string("kind/name of the scale target."),
            "currentReplicas": integer("Replicas of the target at the last decision."),
            "desiredReplicas": integer("Replicas Prognos asks for."),
            "currentLoad": string("Load at the last decision.", max_length=64),
            "forecastLoad": string("Upper forecast bound over the horizon.", max_length=64),
            "capacity": string("Load the current replicas serve.", max_length=64),
            "reasons": array(
                string(max_length=64), "Reason codes of the last decision.", max_items=16
            ),
            "model": string("Model in use, and why if it is a fallback.", max_length=256),
            "modelError": string(
                "Recent forecast error relative to seasonal naive.", max_length=64
            ),
            "forecastUsed": boolean("Whether the forecast shaped the last decision."),
            "lastDecisionTime": {"type": "string", "format": "date-time"},
            "lastScaleTime": {"type": "string", "format": "date-time"},
            "lastFitTime": {"type": "string", "format": "date-time"},
            "engine": free_object("Decision state that survives an operator restart."),
        }
    )


def definition() -> dict[str, Any]:
    ready = '.status.conditions[?(@.type=="Ready")].status'
    return crd(
        group=GROUP,
        version=VERSION,
        kind=KIND,
        plural=PLURAL,
        short_names=["psc"],
        categories=[CATEGORY],
        description="Forecast-driven horizontal scaling of anything with a /scale subresource.",
        spec=spec_schema(),
        status=status_schema(),
        printer_columns=[
            column("Target", ".spec.scaleTargetRef.name"),
            column("Min", ".spec.minReplicas", "integer"),
            column("Max", ".spec.maxReplicas", "integer"),
            column("Current", ".status.currentReplicas", "integer"),
            column("Desired", ".status.desiredReplicas", "integer"),
            column("Load", ".status.currentLoad"),
            column("Forecast", ".status.forecastLoad"),
            column("Ready", ready),
            column("Mode", ".spec.mode", priority=1),
            column("Model", ".status.model", priority=1),
            column("Age", ".metadata.creationTimestamp", "date"),
        ],
    )
