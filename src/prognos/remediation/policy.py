"""Typed RemediationPolicy configuration and the pure parser from the CRD spec.

The CRD schema refuses most bad specs at ``kubectl apply``; this parser is the second layer
(KEDA's lesson: each part parses its own typed config and fails fast). It runs in the operator
and in the unit tests, and whatever it refuses becomes ``Ready=False reason=InvalidSpec`` on the
policy instead of a crash loop or a silently ignored field.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from prognos.anomaly import DetectorConfig, config_from_spec
from prognos.anomaly import SpecError as DetectorSpecError
from prognos.anomaly.config import parse_duration as _anomaly_duration

SignalKind = Literal["prometheus", "kubernetes", "alert"]
ActionKind = Literal["rolloutRestart", "deletePod", "evictPod", "scaleOut", "rollback", "job"]

ACTION_KINDS: tuple[ActionKind, ...] = (
    "rolloutRestart",
    "deletePod",
    "evictPod",
    "scaleOut",
    "rollback",
    "job",
)
#: Actions that take pods down one by one; the blast-radius guard counts them.
POD_ACTIONS: frozenset[str] = frozenset({"deletePod", "evictPod"})
#: Actions that need a workload (not a bare pod) as target.
WORKLOAD_ACTIONS: frozenset[str] = frozenset({"rolloutRestart", "scaleOut", "rollback"})

_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


class SpecError(ValueError):
    """A policy spec that cannot be used; the message names the field."""


def parse_duration(raw: object, name: str) -> float:
    """Seconds of a Go/Prometheus duration ("90s", "5m", "7d"); SpecError names the field."""
    try:
        return _anomaly_duration(raw, name).total_seconds()
    except DetectorSpecError as exc:
        raise SpecError(str(exc)) from None


def parse_decimal(raw: object, name: str) -> float:
    """A decimal string (no floats in spec) as a float; SpecError names the field."""
    if isinstance(raw, bool) or not isinstance(raw, str | int):
        raise SpecError(f'{name}: expected a decimal string like "1.5", got {raw!r}')
    try:
        value = float(Decimal(str(raw).strip()))
    except InvalidOperation:
        raise SpecError(f'{name}: expected a decimal string like "1.5", got {raw!r}') from None
    if not math.isfinite(value):
        raise SpecError(f"{name}: must be finite")
    return value


@dataclass(frozen=True)
class Target:
    """A workload (or, for selector policies without an owner, a pod)."""

    api_version: str
    kind: str
    name: str

    @classmethod
    def from_spec(cls, ref: Mapping[str, Any]) -> Target:
        return cls(str(ref["apiVersion"]), str(ref["kind"]), str(ref["name"]))

    def to_dict(self) -> dict[str, str]:
        return {"apiVersion": self.api_version, "kind": self.kind, "name": self.name}

    @property
    def is_pod(self) -> bool:
        return self.kind == "Pod"

    def __str__(self) -> str:
        return f"{self.kind}/{self.name}"


@dataclass(frozen=True)
class Selector:
    """A metav1.LabelSelector, matched in Python against the pod cache."""

    match_labels: Mapping[str, str] = field(default_factory=dict)
    expressions: tuple[tuple[str, str, tuple[str, ...]], ...] = ()

    @classmethod
    def from_spec(cls, raw: Mapping[str, Any] | None) -> Selector:
        raw = raw or {}
        labels = {str(k): str(v) for k, v in (raw.get("matchLabels") or {}).items()}
        exprs = []
        for e in raw.get("matchExpressions") or []:
            op = str(e.get("operator", ""))
            if op not in ("In", "NotIn", "Exists", "DoesNotExist"):
                raise SpecError(f"selector: unknown operator {op!r}")
            values = tuple(str(v) for v in e.get("values") or [])
            if op in ("In", "NotIn") and not values:
                raise SpecError(f"selector: operator {op} needs values")
            exprs.append((str(e["key"]), op, values))
        return cls(labels, tuple(exprs))

    @property
    def empty(self) -> bool:
        return not self.match_labels and not self.expressions

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Label-selector semantics; an empty selector matches nothing (never every pod)."""
        if self.empty:
            return False
        if any(labels.get(k) != v for k, v in self.match_labels.items()):
            return False
        for key, op, values in self.expressions:
            present = key in labels
            if op == "In" and (not present or labels[key] not in values):
                return False
            if op == "NotIn" and present and labels[key] in values:
                return False
            if op == "Exists" and not present:
                return False
            if op == "DoesNotExist" and present:
                return False
        return True


@dataclass(frozen=True)
class PrometheusSignal:
    query: str
    interval_s: float
    detector: DetectorConfig
    raw: Mapping[str, Any]


@dataclass(frozen=True)
class KubernetesSignal:
    crash_loop: bool = False
    oom_killed: bool = False
    restarts_above: tuple[int, float] | None = None  # (count, window seconds)
    not_ready_for_s: float | None = None


@dataclass(frozen=True)
class AlertMatch:
    alertname: str
    labels: Mapping[str, str] = field(default_factory=dict)

    def matches(self, alertname: str, labels: Mapping[str, str]) -> bool:
        return alertname == self.alertname and all(
            labels.get(k) == v for k, v in self.labels.items()
        )


@dataclass(frozen=True)
class SignalSpec:
    name: str
    kind: SignalKind
    prometheus: PrometheusSignal | None = None
    kubernetes: KubernetesSignal | None = None
    alert: AlertMatch | None = None


@dataclass(frozen=True)
class ActionSpec:
    rung: int
    name: str
    kind: ActionKind
    verify_within_s: float
    scale_by: int | None = None
    scale_factor: float | None = None
    scale_max: int | None = None
    job_template: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class Limit:
    """At most ``count`` actions in any ``window_s`` seconds (a circuit breaker)."""

    count: int
    window_s: float

    @classmethod
    def parse(cls, raw: str) -> Limit:
        """``"20/1h"``: the operator-wide breaker's command-line form."""
        count, _, window = raw.partition("/")
        try:
            n = int(count)
        except ValueError:
            raise SpecError(f"max actions: expected COUNT/WINDOW like 20/1h, got {raw!r}") from None
        if n < 1:
            raise SpecError("max actions: count must be at least 1")
        return cls(n, parse_duration(window or "1h", "max actions window"))


@dataclass(frozen=True)
class PolicyConfig:
    target: Target | None
    selector: Selector | None
    signals: tuple[SignalSpec, ...]
    actions: tuple[ActionSpec, ...]
    cooldown_s: float = 300.0
    max_actions: Limit | None = None
    max_unavailable: int = 1
    dry_run: bool = False
    notify: tuple[str, ...] = ()
    keep_resolved: int = 20
    ttl_s: float = 7 * 86400.0

    def signal(self, name: str) -> SignalSpec | None:
        return next((s for s in self.signals if s.name == name), None)


def _prometheus(raw: Mapping[str, Any], where: str) -> PrometheusSignal:
    query = str(raw.get("query") or "").strip()
    if not query:
        raise SpecError(f"{where}.query: must not be empty")
    interval = parse_duration(raw.get("interval", "15s"), f"{where}.interval")
    if interval < 1:
        raise SpecError(f"{where}.interval: must be at least 1s")
    detector_spec = dict(raw)
    # The evaluation interval is the sampling step of the series the detector sees.
    detector_spec.setdefault("step", raw.get("interval", "15s"))
    try:
        detector = config_from_spec(detector_spec, ignore_keys=("query", "interval"))
    except DetectorSpecError as exc:
        raise SpecError(f"{where}: {exc}") from None
    return PrometheusSignal(query, interval, detector, dict(raw))


def _kubernetes(raw: Mapping[str, Any], where: str) -> KubernetesSignal:
    restarts = None
    if raw.get("restartsAbove") is not None:
        ra = raw["restartsAbove"]
        count = int(ra.get("count", -1))
        if count < 0:
            raise SpecError(f"{where}.restartsAbove.count: must be 0 or more")
        restarts = (count, parse_duration(ra.get("window"), f"{where}.restartsAbove.window"))
    not_ready = None
    if raw.get("notReadyFor") is not None:
        not_ready = parse_duration(raw["notReadyFor"], f"{where}.notReadyFor")
    out = KubernetesSignal(
        crash_loop=bool(raw.get("crashLoop", False)),
        oom_killed=bool(raw.get("oomKilled", False)),
        restarts_above=restarts,
        not_ready_for_s=not_ready,
    )
    if not (out.crash_loop or out.oom_killed or restarts or not_ready is not None):
        raise SpecError(f"{where}: needs crashLoop, oomKilled, restartsAbove or notReadyFor")
    return out


def _signal(raw: Mapping[str, Any], index: int) -> SignalSpec:
    where = f"signals[{index}]"
    name = str(raw.get("name") or "")
    if not _NAME.match(name) or len(name) > 40:
        raise SpecError(f"{where}.name: {name!r} must be a DNS label of at most 40 characters")
    kinds = [k for k in ("prometheus", "kubernetes", "alert") if raw.get(k) is not None]
    if len(kinds) != 1:
        raise SpecError(f"{where}: needs exactly one of prometheus, kubernetes, alert")
    kind = kinds[0]
    if kind == "prometheus":
        return SignalSpec(name, "prometheus", prometheus=_prometheus(raw[kind], f"{where}.{kind}"))
    if kind == "kubernetes":
        return SignalSpec(name, "kubernetes", kubernetes=_kubernetes(raw[kind], f"{where}.{kind}"))
    alert = raw["alert"]
    alertname = str(alert.get("alertname") or "")
    if not alertname:
        raise SpecError(f"{where}.alert.alertname: must not be empty")
    labels = {str(k): str(v) for k, v in (alert.get("labels") or {}).items()}
    return SignalSpec(name, "alert", alert=AlertMatch(alertname, labels))


def _action(raw: Mapping[str, Any], rung: int) -> ActionSpec:
    where = f"actions[{rung}]"
    kinds = [k for k in ACTION_KINDS if raw.get(k) is not None]
    if len(kinds) != 1:
        raise SpecError(f"{where}: needs exactly one of {', '.join(ACTION_KINDS)}")
    kind = kinds[0]
    verify = parse_duration(raw.get("verifyWithin", "2m"), f"{where}.verifyWithin")
    if verify < 5:
        raise SpecError(f"{where}.verifyWithin: must be at least 5s")
    name = str(raw.get("name") or kind.lower())
    action = ActionSpec(rung=rung, name=name, kind=kind, verify_within_s=verify)
    if kind == "scaleOut":
        so = raw["scaleOut"]
        by, factor = so.get("by"), so.get("factor")
        if (by is None) == (factor is None):
            raise SpecError(f"{where}.scaleOut: needs exactly one of 'by' and 'factor'")
        if so.get("max") is None or int(so["max"]) < 1:
            raise SpecError(f"{where}.scaleOut.max: required, at least 1")
        f = parse_decimal(factor, f"{where}.scaleOut.factor") if factor is not None else None
        if f is not None and f <= 1.0:
            raise SpecError(f"{where}.scaleOut.factor: must be greater than 1")
        if by is not None and int(by) < 1:
            raise SpecError(f"{where}.scaleOut.by: must be at least 1")
        return ActionSpec(
            rung=rung,
            name=name,
            kind=kind,
            verify_within_s=verify,
            scale_by=None if by is None else int(by),
            scale_factor=f,
            scale_max=int(so["max"]),
        )
    if kind == "job":
        template = raw["job"].get("template")
        if not isinstance(template, Mapping) or not isinstance(template.get("template"), Mapping):
            raise SpecError(f"{where}.job.template: must be a Job spec with a pod template")
        return ActionSpec(
            rung=rung, name=name, kind=kind, verify_within_s=verify, job_template=template
        )
    return action


def policy_from_spec(spec: Mapping[str, Any]) -> PolicyConfig:
    """Parse a RemediationPolicy spec or raise :class:`SpecError` naming the bad field."""
    if not isinstance(spec, Mapping):
        raise SpecError("spec must be a mapping")
    has_target, has_selector = spec.get("targetRef") is not None, spec.get("selector") is not None
    if has_target == has_selector:
        raise SpecError("set exactly one of targetRef and selector")
    target = None
    selector = None
    if has_target:
        try:
            target = Target.from_spec(spec["targetRef"])
        except (KeyError, TypeError):
            raise SpecError("targetRef needs apiVersion, kind and name") from None
    else:
        selector = Selector.from_spec(spec["selector"])
        if selector.empty:
            raise SpecError("selector must not be empty")
    raw_signals: Sequence[Mapping[str, Any]] = spec.get("signals") or []
    if not raw_signals:
        raise SpecError("signals: at least one signal is needed")
    signals = tuple(_signal(s, i) for i, s in enumerate(raw_signals))
    names = [s.name for s in signals]
    if len(set(names)) != len(names):
        raise SpecError("signals: names must be unique")
    raw_actions: Sequence[Mapping[str, Any]] = spec.get("actions") or []
    if not raw_actions:
        raise SpecError("actions: at least one action is needed")
    actions = tuple(_action(a, i) for i, a in enumerate(raw_actions))
    if selector is not None:
        if any(s.kind != "kubernetes" for s in signals):
            raise SpecError("prometheus and alert signals need targetRef")
        if any(a.kind in ("scaleOut", "rollback") for a in actions):
            raise SpecError("scaleOut and rollback need targetRef")
    limit = None
    if spec.get("maxActions") is not None:
        ma = spec["maxActions"]
        limit = Limit(int(ma["count"]), parse_duration(ma["window"], "maxActions.window"))
        if limit.count < 1:
            raise SpecError("maxActions.count: must be at least 1")
    retention = spec.get("incidentRetention") or {}
    max_unavailable = int(spec.get("maxUnavailable", 1))
    if max_unavailable < 0:
        raise SpecError("maxUnavailable: must be 0 or more")
    return PolicyConfig(
        target=target,
        selector=selector,
        signals=signals,
        actions=actions,
        cooldown_s=parse_duration(spec.get("cooldown", "5m"), "cooldown"),
        max_actions=limit,
        max_unavailable=max_unavailable,
        dry_run=bool(spec.get("dryRun", False)),
        notify=tuple(str(c) for c in spec.get("notify") or []),
        keep_resolved=int(retention.get("keepResolved", 20)),
        ttl_s=parse_duration(retention.get("ttl", "168h"), "incidentRetention.ttl"),
    )
