"""PredictiveScaler ``spec`` (a plain dict from YAML or the API) -> ``ScalerConfig``.

One pure function shared by the operator and ``prognos simulate`` so that a spec which
simulates is a spec which runs. It fails fast on the first problem with a ``SpecError`` whose
message starts with the field path (``spec.behavior.scaleDown.policies[0].type: ...``), which is
what both ``kubectl`` users and CLI users need to fix it.

Following the Kubernetes API conventions there are no floats in the spec: ``targetPerReplica``
is a Quantity (``"250m"``, ``"1.5"``, ``"2k"``, ``"1Gi"``, or an integer), ``tolerance`` and
``quantile`` are decimal strings (``"0.1"``), durations are Go-style strings (``"90s"``,
``"5m"``, ``"1h30m"``; ``"d"`` for days is also accepted for ``history``/``season``).

Accepted shape (every field except ``maxReplicas`` and ``metric.targetPerReplica`` optional)::

    minReplicas: 1
    maxReplicas: 20
    metric: {query: "...", targetPerReplica: "100"}
    forecast: {model: auto, horizon: 5m, history: 14d, quantile: "0.9", refitInterval: 1h,
               season: 1d, enabled: true, confirmedScaleDown: true, calibratedBounds: true,
               anchorSmoothing: "0.5"}
    behavior:
      tolerance: "0.1"
      scaleUp:   {stabilizationWindowSeconds: 0, selectPolicy: Max,
                  policies: [{type: Percent, value: 100, periodSeconds: 15}]}
      scaleDown: {stabilizationWindowSeconds: 300, ...}
    mode: Auto | Recommend
    fallback: {action: Hold} | {action: Replicas, replicas: 5}

A direction given without ``policies`` (or ``selectPolicy``/window) gets the HPA defaults for
the missing fields, as the HPA API does.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from prognos.scaling.config import (
    Behavior,
    Fallback,
    FallbackKind,
    ForecastConfig,
    Mode,
    PolicyType,
    ScalerConfig,
    ScalingPolicy,
    ScalingRules,
    SelectPolicy,
    default_scale_down,
    default_scale_up,
)


class SpecError(ValueError):
    """An invalid PredictiveScaler spec; the message starts with the offending field path."""


# Fields the operator uses that are not part of the decision config.
_OPERATOR_FIELDS = frozenset({"scaleTargetRef", "interval"})
_TOP_FIELDS = frozenset(
    {"minReplicas", "maxReplicas", "metric", "forecast", "behavior", "mode", "fallback"}
)

_DECIMAL_SUFFIX = {
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "": Decimal(1),
    "k": Decimal("1e3"),
    "M": Decimal("1e6"),
    "G": Decimal("1e9"),
    "T": Decimal("1e12"),
    "P": Decimal("1e15"),
    "E": Decimal("1e18"),
}
_BINARY_SUFFIX = {
    s: Decimal(1024) ** (i + 1) for i, s in enumerate(("Ki", "Mi", "Gi", "Ti", "Pi", "Ei"))
}
_QUANTITY = re.compile(
    r"^([+-]?(?:\d+\.?\d*|\.\d+))(?:([eE][+-]?\d+)|(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]))?$"
)
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_DURATION_UNIT = {
    "ms": timedelta(milliseconds=1),
    "s": timedelta(seconds=1),
    "m": timedelta(minutes=1),
    "h": timedelta(hours=1),
    "d": timedelta(days=1),
}


def parse_quantity(value: Any, path: str) -> float:
    """A Kubernetes Quantity (string or integer) as a float; floats are refused."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise SpecError(f'{path}: must be a quantity string such as "100" or "250m", got {value!r}')
    text = str(value).strip()
    match = _QUANTITY.match(text)
    if not match:
        raise SpecError(
            f'{path}: {value!r} is not a quantity (examples: "100", "250m", "2k", "1Gi")'
        )
    number, exponent, suffix = match.groups()
    try:
        amount = Decimal(number)
        if exponent:
            amount *= Decimal(10) ** int(exponent[1:])
        elif suffix:
            amount *= _BINARY_SUFFIX.get(suffix) or _DECIMAL_SUFFIX[suffix]
    except (InvalidOperation, KeyError) as exc:  # pragma: no cover - regex guards both
        raise SpecError(f"{path}: {value!r} is not a quantity") from exc
    return float(amount)


def parse_decimal(value: Any, path: str) -> float:
    """A decimal as a string (``"0.1"``) or integer; floats are refused (no floats in spec)."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise SpecError(f'{path}: must be a decimal string such as "0.1", got {value!r}')
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation as exc:
        raise SpecError(f"{path}: {value!r} is not a decimal number") from exc
    if not number.is_finite():
        raise SpecError(f"{path}: {value!r} is not a finite number")
    return float(number)


def parse_duration(value: Any, path: str) -> timedelta:
    """A Go-style duration string (``"90s"``, ``"1h30m"``), plus ``d`` for days."""
    if not isinstance(value, str) or not value.strip():
        raise SpecError(f'{path}: must be a duration string such as "5m" or "1h30m", got {value!r}')
    text = value.strip()
    pos = 0
    total = timedelta(0)
    for match in _DURATION_PART.finditer(text):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _DURATION_UNIT[match.group(2)]
        pos = match.end()
    if pos != len(text) or pos == 0:
        raise SpecError(
            f'{path}: {value!r} is not a duration (examples: "90s", "5m", "1h30m", "14d")'
        )
    if total <= timedelta(0):
        raise SpecError(f"{path}: duration must be positive, got {value!r}")
    return total


def _int(value: Any, path: str, minimum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise SpecError(f"{path}: must be an integer, got {value!r}")
    if minimum is not None and value < minimum:
        raise SpecError(f"{path}: must be >= {minimum}, got {value}")
    return value


def _mapping(value: Any, path: str, allowed: frozenset[str]) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise SpecError(f"{path}: must be a mapping, got {type(value).__name__}")
    unknown = sorted(str(k) for k in value if k not in allowed)
    if unknown:
        raise SpecError(
            f"{path}: unknown field(s) {', '.join(unknown)} (allowed: {', '.join(sorted(allowed))})"
        )
    return value


def _enum(enum: type[PolicyType] | type[SelectPolicy] | type[Mode], value: Any, path: str) -> Any:
    choices = [m.value for m in enum]
    if value not in choices:
        raise SpecError(f"{path}: must be one of {', '.join(choices)}, got {value!r}")
    return enum(value)


def _rules(value: Any, path: str, default: ScalingRules) -> ScalingRules:
    raw = _mapping(
        value, path, frozenset({"stabilizationWindowSeconds", "selectPolicy", "policies"})
    )
    window = default.stabilization_window_seconds
    if "stabilizationWindowSeconds" in raw:
        window = _int(raw["stabilizationWindowSeconds"], f"{path}.stabilizationWindowSeconds", 0)
        if window > 3600:
            raise SpecError(f"{path}.stabilizationWindowSeconds: must be <= 3600, got {window}")
    select = default.select_policy
    if "selectPolicy" in raw:
        select = _enum(SelectPolicy, raw["selectPolicy"], f"{path}.selectPolicy")
    policies = default.policies
    if raw.get("policies") is not None:
        items = raw["policies"]
        if not isinstance(items, list) or not items:
            raise SpecError(f"{path}.policies: must be a non-empty list")
        parsed = []
        for i, item in enumerate(items):
            ppath = f"{path}.policies[{i}]"
            p = _mapping(item, ppath, frozenset({"type", "value", "periodSeconds"}))
            for key in ("type", "value", "periodSeconds"):
                if key not in p:
                    raise SpecError(f"{ppath}.{key}: required")
            kind = _enum(PolicyType, p["type"], f"{ppath}.type")
            amount = _int(p["value"], f"{ppath}.value", 1)
            period = _int(p["periodSeconds"], f"{ppath}.periodSeconds", 1)
            if period > 1800:
                raise SpecError(f"{ppath}.periodSeconds: must be <= 1800, got {period}")
            parsed.append(ScalingPolicy(kind, amount, period))
        policies = tuple(parsed)
    return ScalingRules(window, policies, select)


def _forecast(value: Any) -> ForecastConfig:
    path = "spec.forecast"
    raw = _mapping(
        value,
        path,
        frozenset(
            {
                "model",
                "horizon",
                "history",
                "quantile",
                "refitInterval",
                "season",
                "enabled",
                "confirmedScaleDown",
                "calibratedBounds",
                "anchorSmoothing",
            }
        ),
    )
    config = ForecastConfig()
    changes: dict[str, Any] = {}
    if "model" in raw:
        model = raw["model"]
        if not isinstance(model, str) or not re.fullmatch(r"[a-z][a-z0-9-]*", model):
            raise SpecError(f"{path}.model: must be a model name such as auto, got {model!r}")
        changes["model"] = model
    for key, attr in (
        ("horizon", "horizon"),
        ("history", "history"),
        ("refitInterval", "refit_interval"),
        ("season", "season"),
    ):
        if key in raw:
            changes[attr] = parse_duration(raw[key], f"{path}.{key}")
    if "quantile" in raw:
        q = parse_decimal(raw["quantile"], f"{path}.quantile")
        if not 0.5 <= q < 1.0:
            raise SpecError(f"{path}.quantile: must be in [0.5, 1), got {raw['quantile']!r}")
        changes["quantile"] = q
    for key, attr in (
        ("enabled", "enabled"),
        ("confirmedScaleDown", "confirmed_scale_down"),
        ("calibratedBounds", "calibrated_bounds"),
    ):
        if key in raw:
            if not isinstance(raw[key], bool):
                raise SpecError(f"{path}.{key}: must be true or false")
            changes[attr] = raw[key]
    if "anchorSmoothing" in raw:
        a = parse_decimal(raw["anchorSmoothing"], f"{path}.anchorSmoothing")
        if not 0.0 <= a < 1.0:
            raise SpecError(
                f"{path}.anchorSmoothing: must be in [0, 1), got {raw['anchorSmoothing']!r}"
            )
        changes["anchor_smoothing"] = a
    try:
        return replace(config, **changes)
    except ValueError as exc:
        raise SpecError(f"{path}: {exc}") from exc


def _fallback(value: Any) -> Fallback:
    path = "spec.fallback"
    raw = _mapping(value, path, frozenset({"action", "replicas"}))
    action = raw.get("action", "Replicas" if "replicas" in raw else "Hold")
    if action == "Hold":
        if "replicas" in raw:
            raise SpecError(f"{path}.replicas: not allowed with action Hold")
        return Fallback()
    if action == "Replicas":
        if "replicas" not in raw:
            raise SpecError(f"{path}.replicas: required with action Replicas")
        return Fallback(FallbackKind.REPLICAS, _int(raw["replicas"], f"{path}.replicas", 0))
    raise SpecError(f"{path}.action: must be one of Hold, Replicas, got {action!r}")


def config_from_spec(spec: Mapping[str, Any]) -> ScalerConfig:
    """Validate a PredictiveScaler ``spec`` mapping and build its ``ScalerConfig``."""
    if not isinstance(spec, Mapping):
        raise SpecError(f"spec: must be a mapping, got {type(spec).__name__}")
    raw = _mapping(spec, "spec", _TOP_FIELDS | _OPERATOR_FIELDS)
    min_replicas = _int(raw.get("minReplicas", 1), "spec.minReplicas", 0)
    if "maxReplicas" not in raw:
        raise SpecError("spec.maxReplicas: required")
    max_replicas = _int(raw["maxReplicas"], "spec.maxReplicas", 1)
    if max_replicas < min_replicas:
        raise SpecError(
            f"spec.maxReplicas: must be >= minReplicas ({min_replicas}), got {max_replicas}"
        )

    metric = _mapping(
        raw.get("metric"), "spec.metric", frozenset({"query", "targetPerReplica", "unit"})
    )
    if "targetPerReplica" not in metric:
        raise SpecError("spec.metric.targetPerReplica: required")
    target = parse_quantity(metric["targetPerReplica"], "spec.metric.targetPerReplica")
    if target <= 0:
        raise SpecError(
            f"spec.metric.targetPerReplica: must be > 0, got {metric['targetPerReplica']!r}"
        )
    if "query" in metric and not isinstance(metric["query"], str):
        raise SpecError("spec.metric.query: must be a string")
    unit = metric.get("unit", "")
    if not isinstance(unit, str) or len(unit) > 16:
        raise SpecError(
            f"spec.metric.unit: must be a string of at most 16 characters, got {unit!r}"
        )

    behavior_raw = _mapping(
        raw.get("behavior"), "spec.behavior", frozenset({"tolerance", "scaleUp", "scaleDown"})
    )
    tolerance = 0.1
    if "tolerance" in behavior_raw:
        tolerance = parse_decimal(behavior_raw["tolerance"], "spec.behavior.tolerance")
        if not 0.0 <= tolerance < 1.0:
            raise SpecError(
                f"spec.behavior.tolerance: must be in [0, 1), got {behavior_raw['tolerance']!r}"
            )
    behavior = Behavior(
        scale_up=_rules(behavior_raw.get("scaleUp"), "spec.behavior.scaleUp", default_scale_up()),
        scale_down=_rules(
            behavior_raw.get("scaleDown"), "spec.behavior.scaleDown", default_scale_down()
        ),
        tolerance=tolerance,
    )
    mode = _enum(Mode, raw.get("mode", "Auto"), "spec.mode")
    try:
        return ScalerConfig(
            min_replicas=min_replicas,
            max_replicas=max_replicas,
            target_per_replica=target,
            unit=unit,
            behavior=behavior,
            forecast=_forecast(raw.get("forecast")),
            mode=mode,
            fallback=_fallback(raw.get("fallback")),
        )
    except ValueError as exc:
        if isinstance(exc, SpecError):
            raise
        raise SpecError(f"spec: {exc}") from exc
