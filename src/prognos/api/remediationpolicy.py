"""The ``RemediationPolicy`` custom resource: what is unhealthy and what to do about it.

The schema refuses at ``kubectl apply`` what can be refused statically: exactly one of
``targetRef``/``selector``, exactly one kind per signal and per action rung, ``scaleOut`` with
exactly one of ``by``/``factor``, durations CEL can parse, no floats (sensitivity, factor and
thresholds are decimal strings). The operator parses the same spec with
``prognos.remediation.policy.policy_from_spec``; whatever that refuses (a detector option the
anomaly package rejects, for instance) becomes ``Ready=False reason=InvalidSpec``.
"""

from __future__ import annotations

from typing import Any

from prognos.anomaly import DETECTOR_KINDS
from prognos.api import CATEGORY, GROUP, VERSION
from prognos.api.schema import (
    DECIMAL_PATTERN,
    DURATION_PATTERN,
    LONG_DURATION_PATTERN,
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
    string_map,
)

KIND = "RemediationPolicy"
PLURAL = "remediationpolicies"

#: A signal or rung name: a DNS label, so it can go into Incident names and labels.
NAME_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
#: A decimal or a keyword ("low", "medium", "high") for sensitivity.
SENSITIVITY_PATTERN = r"^(low|medium|high|0(\.[0-9]+)?|1(\.0+)?)$"
#: A signed decimal for thresholds ("-3", "0.25"): still a string, never a float.
SIGNED_DECIMAL_PATTERN = r"^-?[0-9]+(\.[0-9]+)?$"

ACTION_KINDS = ("rolloutRestart", "deletePod", "evictPod", "scaleOut", "rollback", "job")


def _duration(description: str, *, default: str | None = None, min_: str | None = None) -> Any:
    rules = (
        [rule(f"duration(self) >= duration('{min_}')", f"must be at least {min_}")]
        if min_
        else None
    )
    return string(
        description, pattern=DURATION_PATTERN, default=default, max_length=32, rules=rules
    )


def _target_ref() -> dict[str, Any]:
    return obj(
        {
            "apiVersion": string("API version of the workload, e.g. apps/v1.", min_length=1),
            "kind": string(
                "Deployment, StatefulSet, DaemonSet or any kind with a /scale subresource.",
                min_length=1,
                max_length=63,
            ),
            "name": string("Name of the workload in this namespace.", min_length=1),
        },
        required=["apiVersion", "kind", "name"],
        description="The workload this policy heals; its pod selector picks the pods watched.",
    )


def _selector() -> dict[str, Any]:
    return obj(
        {
            "matchLabels": string_map("Pods carrying all these labels."),
            "matchExpressions": array(
                obj(
                    {
                        "key": string("Label key.", min_length=1, max_length=317),
                        "operator": string(
                            "Set operator.", enum=["In", "NotIn", "Exists", "DoesNotExist"]
                        ),
                        "values": array(string(max_length=63), max_items=64, list_type="atomic"),
                    },
                    required=["key", "operator"],
                ),
                "Set-based requirements (metav1.LabelSelector).",
                max_items=16,
                list_type="atomic",
            ),
        },
        description="Pods to watch when there is no single workload; incidents group by owner.",
        rules=[
            rule(
                "has(self.matchLabels) || has(self.matchExpressions)",
                "selector needs matchLabels or matchExpressions (an empty selector would "
                "match every pod of the namespace)",
            )
        ],
    )


def _prometheus_signal() -> dict[str, Any]:
    return obj(
        {
            "query": string(
                "PromQL returning exactly one series: the health indicator (e.g. error ratio).",
                min_length=1,
                max_length=4096,
            ),
            "interval": string(
                "How often the query is evaluated.",
                pattern=DURATION_PATTERN,
                default="15s",
                max_length=32,
                rules=[
                    rule("duration(self) >= duration('1s')", "interval must be at least 1s"),
                    rule("duration(self) <= duration('10m')", "interval must be at most 10m"),
                ],
            ),
            "detector": string(
                "How the series is scored (docs/anomaly.md).",
                enum=list(DETECTOR_KINDS),
                default="auto",
            ),
            "sensitivity": string(
                'low, medium, high, or a decimal in [0, 1] ("0.7"); higher fires sooner.',
                pattern=SENSITIVITY_PATTERN,
                max_length=16,
            ),
            "for": _duration("Anomalous for this long before the signal fires."),
            "within": _duration("Window the 'for' points are counted in (M of N)."),
            "clearFor": _duration("Normal for this long before the signal clears."),
            "rearmAfter": _duration("No new firing this long after a clear."),
            "direction": string("Which deviations count.", enum=["both", "up", "down"]),
            "season": string(
                "Main seasonality (e.g. 1d) or none.",
                pattern=LONG_DURATION_PATTERN + "|^none$",
                max_length=32,
            ),
            "seasons": integer("Seasons of history the detector keeps.", minimum=1, maximum=28),
            "threshold": obj(
                {
                    "above": string(
                        "Fire at or above this value (decimal string).",
                        pattern=SIGNED_DECIMAL_PATTERN,
                        max_length=32,
                    ),
                    "below": string(
                        "Fire at or below this value (decimal string).",
                        pattern=SIGNED_DECIMAL_PATTERN,
                        max_length=32,
                    ),
                },
                description="Static bounds (the threshold detector, or added to auto).",
                rules=[
                    rule(
                        "has(self.above) || has(self.below)",
                        "threshold needs 'above' and/or 'below'",
                    )
                ],
            ),
        },
        required=["query"],
        description="An anomaly on a Prometheus series, scored causally (prognos.anomaly).",
        rules=[
            rule(
                "!has(self.detector) || self.detector != 'threshold' || has(self.threshold)",
                "the threshold detector needs threshold.above and/or threshold.below",
            )
        ],
    )


def _kubernetes_signal() -> dict[str, Any]:
    return obj(
        {
            "crashLoop": boolean("A container of a pod is in CrashLoopBackOff."),
            "oomKilled": boolean("A container was OOMKilled in the last 10 minutes."),
            "restartsAbove": obj(
                {
                    "count": integer("More restarts than this...", minimum=0, maximum=10000),
                    "window": _duration("...within this window.", min_="10s"),
                },
                required=["count", "window"],
                description="Restart count rising faster than allowed, per pod.",
            ),
            "notReadyFor": _duration("A running pod not Ready for longer than this.", min_="1s"),
        },
        description="Pod health read from watches: no Prometheus needed.",
        rules=[
            rule(
                "(has(self.crashLoop) && self.crashLoop) || (has(self.oomKilled) && "
                "self.oomKilled) || has(self.restartsAbove) || has(self.notReadyFor)",
                "a kubernetes signal needs crashLoop, oomKilled, restartsAbove or notReadyFor",
            )
        ],
    )


def _alert_signal() -> dict[str, Any]:
    return obj(
        {
            "alertname": string("Alertmanager alert name.", min_length=1, max_length=256),
            "labels": string_map("Labels the alert must carry (exact match)."),
        },
        required=["alertname"],
        description="A firing Alertmanager alert; a resolved alert only closes incidents.",
    )


def _signal() -> dict[str, Any]:
    kinds = ("prometheus", "kubernetes", "alert")
    exactly_one = " + ".join(f"(has(self.{k}) ? 1 : 0)" for k in kinds) + " == 1"
    return obj(
        {
            "name": string(
                "Signal name (a DNS label), unique in the policy; it names incidents.",
                pattern=NAME_PATTERN,
                max_length=40,
            ),
            "prometheus": _prometheus_signal(),
            "kubernetes": _kubernetes_signal(),
            "alert": _alert_signal(),
        },
        required=["name"],
        rules=[rule(exactly_one, "each signal needs exactly one of prometheus, kubernetes, alert")],
    )


def _action() -> dict[str, Any]:
    exactly_one = " + ".join(f"(has(self.{k}) ? 1 : 0)" for k in ACTION_KINDS) + " == 1"
    return obj(
        {
            "name": string(
                "Rung name (defaults to the action kind).", pattern=NAME_PATTERN, max_length=40
            ),
            "rolloutRestart": obj(
                {}, description="Restart the workload's pods (kubectl rollout restart)."
            ),
            "deletePod": obj(
                {}, description="Delete the affected pods (their owner recreates them)."
            ),
            "evictPod": obj(
                {},
                description="Evict the affected pods through the Eviction API; a "
                "PodDisruptionBudget refusal (429) means wait, never force.",
            ),
            "scaleOut": obj(
                {
                    "by": integer("Add this many replicas.", minimum=1, maximum=1000),
                    "factor": string(
                        'Multiply replicas by this decimal ("1.5"); rounded up.',
                        pattern=DECIMAL_PATTERN,
                        max_length=16,
                        rules=[rule("double(self) > 1.0", "factor must be greater than 1")],
                    ),
                    "max": integer("Never above this many replicas.", minimum=1),
                },
                required=["max"],
                description="Add replicas through the /scale subresource, up to max.",
                rules=[
                    rule(
                        "has(self.by) != has(self.factor)",
                        "scaleOut needs exactly one of 'by' and 'factor'",
                    )
                ],
            ),
            "rollback": obj(
                {}, description="Roll a Deployment back to its previous ReplicaSet revision."
            ),
            "job": obj(
                {
                    "template": free_object(
                        "A batch/v1 Job spec (spec.template, backoffLimit, ...) to run once."
                    )
                },
                required=["template"],
                description="Run a Job, e.g. a cache flush or a diagnostics dump.",
            ),
            "verifyWithin": _duration(
                "The signal must be back to normal within this long, else the next rung runs.",
                default="2m",
                min_="5s",
            ),
        },
        rules=[
            rule(
                exactly_one,
                "each action needs exactly one of " + ", ".join(ACTION_KINDS),
            )
        ],
    )


def spec_schema() -> dict[str, Any]:
    return obj(
        {
            "targetRef": _target_ref(),
            "selector": _selector(),
            "signals": array(
                _signal(),
                "What counts as unhealthy; any firing signal opens an incident.",
                min_items=1,
                max_items=16,
                list_type="map",
                list_keys=["name"],
            ),
            "actions": array(
                _action(),
                "The escalation ladder, tried in order; after the last rung, people are told.",
                min_items=1,
                max_items=10,
                list_type="atomic",
            ),
            "cooldown": _duration(
                "No new incident's first action on a target sooner than this after the last.",
                default="5m",
            ),
            "maxActions": obj(
                {
                    "count": integer("At most this many actions...", minimum=1, maximum=1000),
                    "window": _duration("...in any window this long.", min_="1s"),
                },
                required=["count", "window"],
                description="Circuit breaker for this policy (the operator has a global one).",
            ),
            "maxUnavailable": integer(
                "Blast radius: pod actions never leave more than this many pods unavailable.",
                minimum=0,
                default=1,
            ),
            "dryRun": boolean(
                "Decide and record what would be done, change nothing.", default=False
            ),
            "notify": array(
                string("NotificationChannel name.", pattern=NAME_PATTERN, max_length=63),
                "NotificationChannels (this namespace) told about incidents.",
                max_items=16,
                list_type="set",
            ),
            "incidentRetention": obj(
                {
                    "keepResolved": integer(
                        "Resolved incidents kept per policy.", minimum=0, maximum=1000, default=20
                    ),
                    "ttl": string(
                        "Resolved incidents older than this are deleted (e.g. 7d).",
                        pattern=LONG_DURATION_PATTERN,
                        default="168h",
                        max_length=32,
                    ),
                },
                description="Bounded history of resolved incidents.",
            ),
        },
        required=["signals", "actions"],
        rules=[
            rule(
                "has(self.targetRef) != has(self.selector)",
                "set exactly one of targetRef (a workload) and selector (pods)",
            ),
            rule(
                "has(self.targetRef) || self.signals.all(s, has(s.kubernetes))",
                "prometheus and alert signals need targetRef: a query or an alert names no pod",
            ),
            rule(
                "has(self.targetRef) || self.actions.all(a, has(a.deletePod) || "
                "has(a.evictPod) || has(a.rolloutRestart) || has(a.job))",
                "with selector, only pod actions, rolloutRestart (of each pod's owner) and job "
                "are possible; use targetRef for scaleOut and rollback",
            ),
        ],
    )


def status_schema() -> dict[str, Any]:
    return obj(
        {
            "observedGeneration": {"type": "integer", "format": "int64"},
            "conditions": conditions(),
            "openIncidents": integer("Incidents not yet resolved."),
            "actionsInWindow": integer("Actions counted by the circuit breaker now."),
            "lastActionTime": {"type": "string", "format": "date-time"},
            "lastIncident": string("Name of the most recent Incident."),
            "signals": array(
                obj(
                    {
                        "name": string(max_length=40),
                        "firing": boolean(),
                        "message": string(max_length=1024),
                    },
                    required=["name", "firing"],
                ),
                "Current state of each signal (over all targets).",
                max_items=16,
            ),
        }
    )


def definition() -> dict[str, Any]:
    ready = '.status.conditions[?(@.type=="Ready")].status'
    return crd(
        group=GROUP,
        version=VERSION,
        kind=KIND,
        plural=PLURAL,
        short_names=["rpol"],
        categories=[CATEGORY],
        description="What is unhealthy (signals) and what to do about it (an escalation ladder).",
        spec=spec_schema(),
        status=status_schema(),
        printer_columns=[
            column("Target", ".spec.targetRef.name"),
            column("Signals", ".spec.signals[*].name"),
            column("DryRun", ".spec.dryRun", "boolean"),
            column("Open", ".status.openIncidents", "integer"),
            column("Ready", ready),
            column("Last-Action", ".status.lastActionTime", "date", priority=1),
            column("Age", ".metadata.creationTimestamp", "date"),
        ],
    )
