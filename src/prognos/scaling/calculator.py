"""The replica calculator: Kubernetes HPA semantics plus the Prognos forecast rules.

This is a transcription of the HPA controller (``pkg/controller/podautoscaler/horizontal.go``
and ``replica_calculator.go``, ``AverageValue`` targets) so that a PredictiveScaler with the
forecast switched off behaves exactly like an HPA with the same ``behavior``:

1. raw recommendation ``ceil(load / target)``, unless ``|1 - load / (target * current)|`` is
   within the tolerance, in which case ``current`` (no change);
2. stabilization: every raw recommendation is remembered with its time; the result is ``current``
   raised to the lowest recommendation of the scale-up window and lowered to the highest of the
   scale-down window (so a scale-down only happens once the whole window agrees);
3. rate policies: the change is limited relative to the replica count at the start of each
   policy's period (recent scale events are subtracted), ``select_policy`` picks the policy
   allowing the most (``Max``) or least (``Min``) change, ``Disabled`` forbids the direction;
4. min/max clamp.

Prognos adds one rule before step 2: a second raw recommendation from the forecast load (the
upper bound at the configured quantile over the horizon), and ``desired = max(forecast,
reactive)``. The forecast can therefore only raise the recommendation: a scale-down always needs
the reactive (observed) load to agree, and the forecast can make it smaller or cancel it.

And one rule in step 2, forecast-confirmed scale-down (``forecast.confirmedScaleDown``, on by
default; off, or without a usable forecast, the window is plain HPA): the scale-down window
exists because a reactive controller cannot tell a dip from a drop, so it waits to see whether
the load comes back. When the caller passes ``confirm_load``, the forecast upper bound over the
whole window, the answer is known: if the window holds a scale-down back, the result may go down
at once to ``max(reactive, forecast, raw(confirm_load))``. It is never below the observed load
(a forecast alone never scales down), never below what the forecast needs within the window, and
the recommendation remembered for later windows is unchanged.

Everything is pure: time is passed in as seconds, and ``CalculatorState`` holds the remembered
recommendations and scale events so the operator can persist it in status and restore it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from prognos.scaling.config import PolicyType, ScalerConfig, ScalingRules, SelectPolicy

# Loads are floats; without this a load of exactly 3 * target computed as 3.0000000000000004
# would ask for a fourth replica. The HPA avoids the issue with integer milli-units.
_EPSILON = 1e-9


class Reason(StrEnum):
    """Why a decision came out as it did; several may apply, the first is the main one."""

    SCALE_UP_FORECAST = "ScaleUpForecast"
    SCALE_UP_REACTIVE = "ScaleUpReactive"
    SCALE_DOWN_REACTIVE = "ScaleDownReactive"
    SCALE_DOWN_LIMITED_BY_FORECAST = "ScaleDownLimitedByForecast"
    HOLD_FORECAST = "HoldForecast"
    HOLD_TOLERANCE = "HoldTolerance"
    HOLD_STEADY = "HoldSteady"
    STABILIZED_UP = "StabilizedUp"
    STABILIZED_DOWN = "StabilizedDown"
    LIMITED_BY_RATE_POLICY = "LimitedByRatePolicy"
    SCALING_DISABLED = "ScalingDisabled"
    LIMITED_BY_MAX = "LimitedByMax"
    LIMITED_BY_MIN = "LimitedByMin"
    # Set by the engine, not the calculator:
    FALLBACK_HOLD = "FallbackHold"
    FALLBACK_REPLICAS = "FallbackReplicas"
    INSUFFICIENT_HISTORY = "InsufficientHistory"
    FORECAST_DEGRADED = "ForecastDegraded"
    FORECAST_UNAVAILABLE = "ForecastUnavailable"
    FORECAST_DISABLED = "ForecastDisabled"
    RECOMMEND_ONLY = "RecommendOnly"
    # Prognos: a scale-down that skipped the stabilization window because the observed load and
    # the forecast over the whole window both support the lower count.
    SCALE_DOWN_FORECAST_CONFIRMED = "ScaleDownForecastConfirmed"


_CONSTRAINTS = frozenset(
    {
        Reason.STABILIZED_UP,
        Reason.STABILIZED_DOWN,
        Reason.LIMITED_BY_RATE_POLICY,
        Reason.SCALING_DISABLED,
        Reason.LIMITED_BY_MAX,
        Reason.LIMITED_BY_MIN,
    }
)


def epoch_seconds(t: datetime) -> float:
    """Seconds since the epoch; a naive time is taken as UTC (traces carry naive stamps)."""
    if t.tzinfo is None:
        t = t.replace(tzinfo=UTC)
    return t.timestamp()


@dataclass
class CalculatorState:
    """The HPA controller's memory for one target, explicit so it can live in status.

    ``recommendations``: (time, raw recommendation) pairs inside the longest stabilization window.
    ``scale_up_events`` / ``scale_down_events``: (time, replicas added/removed) inside the longest
    policy period. Times are epoch seconds.
    """

    recommendations: list[tuple[float, int]] = field(default_factory=list)
    scale_up_events: list[tuple[float, int]] = field(default_factory=list)
    scale_down_events: list[tuple[float, int]] = field(default_factory=list)

    def to_dict(self) -> dict[str, list[list[Any]]]:
        """JSON-ready form: ``{"recommendations": [["<RFC 3339 time>", n], ...], ...}``."""
        return {
            "recommendations": [[_iso(t), n] for t, n in self.recommendations],
            "scaleUpEvents": [[_iso(t), n] for t, n in self.scale_up_events],
            "scaleDownEvents": [[_iso(t), n] for t, n in self.scale_down_events],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CalculatorState:
        """Inverse of ``to_dict``; malformed entries raise ``ValueError``."""

        def parse(key: str) -> list[tuple[float, int]]:
            out: list[tuple[float, int]] = []
            for item in data.get(key) or []:
                stamp, count = item
                out.append((epoch_seconds(datetime.fromisoformat(str(stamp))), int(count)))
            return out

        return cls(parse("recommendations"), parse("scaleUpEvents"), parse("scaleDownEvents"))


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, tz=UTC).isoformat().replace("+00:00", "Z")


@dataclass(frozen=True)
class Recommendation:
    """The calculator's answer: the replica count and how it was reached."""

    desired: int
    reactive: int
    forecast: int | None
    combined: int
    stabilized: int
    reasons: tuple[Reason, ...]
    confirmed: int | None = None


def raw_replicas(current: int, load: float, target: float, tolerance: float) -> int:
    """HPA ``GetExternalPerPodMetricReplicas``: ``ceil(load / target)`` outside the tolerance.

    With ``current == 0`` the tolerance cannot be expressed as a ratio, so the plain
    recommendation is returned (scaling from zero).
    """
    if current > 0:
        ratio = load / (target * current)
        if abs(1.0 - ratio) <= tolerance:
            return current
    return max(0, math.ceil(load / target - _EPSILON))


def within_tolerance(current: int, load: float, target: float, tolerance: float) -> bool:
    return current > 0 and abs(1.0 - load / (target * current)) <= tolerance


def _change_in_period(events: Sequence[tuple[float, int]], period: int, now: float) -> int:
    cutoff = now - period
    return sum(n for t, n in events if t > cutoff)


def scale_up_limit(current: int, rules: ScalingRules, state: CalculatorState, now: float) -> int:
    """HPA ``calculateScaleUpLimitWithScalingRules``."""
    if rules.select_policy is SelectPolicy.DISABLED:
        return current
    pick = min if rules.select_policy is SelectPolicy.MIN else max
    result: int | None = None
    for policy in rules.policies:
        added = _change_in_period(state.scale_up_events, policy.period_seconds, now)
        removed = _change_in_period(state.scale_down_events, policy.period_seconds, now)
        start = current - added + removed
        if policy.type is PolicyType.PODS:
            proposed = start + policy.value
        else:
            # Rounded up, or a small workload could never grow by a percentage.
            proposed = math.ceil(start * (1.0 + policy.value / 100.0) - _EPSILON)
        result = proposed if result is None else pick(result, proposed)
    return current if result is None else result


def scale_down_limit(current: int, rules: ScalingRules, state: CalculatorState, now: float) -> int:
    """HPA ``calculateScaleDownLimitWithBehaviors``; ``Min`` means the smallest change."""
    if rules.select_policy is SelectPolicy.DISABLED:
        return current
    pick = max if rules.select_policy is SelectPolicy.MIN else min
    result: int | None = None
    for policy in rules.policies:
        added = _change_in_period(state.scale_up_events, policy.period_seconds, now)
        removed = _change_in_period(state.scale_down_events, policy.period_seconds, now)
        start = current - added + removed
        if policy.type is PolicyType.PODS:
            proposed = start - policy.value
        else:
            # Truncated like the controller's int32 conversion.
            proposed = int(start * (1.0 - policy.value / 100.0) + _EPSILON)
        result = proposed if result is None else pick(result, proposed)
    return current if result is None else result


def stabilize(
    config: ScalerConfig, state: CalculatorState, now: float, current: int, recommendation: int
) -> int:
    """HPA ``stabilizeRecommendationWithBehaviors``; records ``recommendation`` in ``state``."""
    up_cutoff = now - config.behavior.scale_up.stabilization_window_seconds
    down_cutoff = now - config.behavior.scale_down.stabilization_window_seconds
    up_rec = recommendation
    down_rec = recommendation
    for t, rec in state.recommendations:
        if t > up_cutoff:
            up_rec = min(up_rec, rec)
        if t > down_cutoff:
            down_rec = max(down_rec, rec)
    result = current
    result = max(result, up_rec)
    result = min(result, down_rec)
    oldest = min(up_cutoff, down_cutoff)
    state.recommendations = [(t, r) for t, r in state.recommendations if t > oldest]
    state.recommendations.append((now, recommendation))
    return result


def record_scale(
    state: CalculatorState, config: ScalerConfig, now: float, old: int, new: int
) -> None:
    """HPA ``storeScaleEvent``: remember a change so rate policies can count it."""
    longest = max(
        (
            p.period_seconds
            for r in (config.behavior.scale_up, config.behavior.scale_down)
            for p in r.policies
        ),
        default=0,
    )
    cutoff = now - longest
    state.scale_up_events = [(t, n) for t, n in state.scale_up_events if t > cutoff]
    state.scale_down_events = [(t, n) for t, n in state.scale_down_events if t > cutoff]
    if new > old:
        state.scale_up_events.append((now, new - old))
    elif new < old:
        state.scale_down_events.append((now, old - new))


def _direction_reasons(
    current: int,
    reactive: int,
    forecast: int | None,
    combined: int,
    reactive_in_tolerance: bool,
) -> list[Reason]:
    if combined > current:
        if forecast is not None and forecast > reactive:
            return [Reason.SCALE_UP_FORECAST]
        return [Reason.SCALE_UP_REACTIVE]
    if combined < current:
        if forecast is not None and forecast > reactive:
            return [Reason.SCALE_DOWN_REACTIVE, Reason.SCALE_DOWN_LIMITED_BY_FORECAST]
        return [Reason.SCALE_DOWN_REACTIVE]
    if reactive < current:
        return [Reason.HOLD_FORECAST]
    return [Reason.HOLD_TOLERANCE if reactive_in_tolerance else Reason.HOLD_STEADY]


def recommend(
    config: ScalerConfig,
    state: CalculatorState,
    *,
    now: float,
    current: int,
    load: float,
    forecast_load: float | None = None,
    confirm_load: float | None = None,
    record: bool = True,
) -> Recommendation:
    """One HPA sync plus the forecast rules. Mutates ``state`` (recommendation, scale event).

    ``confirm_load`` (forecast-confirmed scale-down, see the module docstring) is the forecast
    upper bound over the whole scale-down stabilization window: when the window holds a
    scale-down back, the count ``max(reactive, forecast, raw(confirm_load))`` is taken at once
    instead. None (no usable forecast, the option off, data missing in the window) keeps the plain
    HPA window. ``record=False`` leaves out the scale event, for callers that will not act on the
    answer (Recommend mode): rate policies must count changes that really happened.
    """
    if current < 0:
        raise ValueError(f"current replicas must be >= 0, got {current}")
    if not math.isfinite(load) or load < 0:
        raise ValueError(f"load must be a finite number >= 0, got {load}")
    if forecast_load is not None and (not math.isfinite(forecast_load) or forecast_load < 0):
        raise ValueError(f"forecast load must be a finite number >= 0, got {forecast_load}")
    if confirm_load is not None and (not math.isfinite(confirm_load) or confirm_load < 0):
        raise ValueError(f"confirm load must be a finite number >= 0, got {confirm_load}")
    target = config.target_per_replica
    tolerance = config.behavior.tolerance
    reactive = raw_replicas(current, load, target, tolerance)
    forecast = (
        None if forecast_load is None else raw_replicas(current, forecast_load, target, tolerance)
    )
    combined = reactive if forecast is None else max(reactive, forecast)
    reasons = _direction_reasons(
        current, reactive, forecast, combined, within_tolerance(current, load, target, tolerance)
    )

    stabilized = stabilize(config, state, now, current, combined)
    confirmed: int | None = None
    if confirm_load is not None:
        # Never below the observed load, nor below the forecast over the horizon or the window.
        confirmed = max(combined, raw_replicas(current, confirm_load, target, tolerance))
    if confirmed is not None and combined <= confirmed < stabilized <= current:
        # The window is holding a scale-down back, and the forecast says the load will not come
        # back above ``confirmed`` within it: what the window waits to find out is known.
        stabilized = confirmed
        reasons = [Reason.SCALE_DOWN_REACTIVE, Reason.SCALE_DOWN_FORECAST_CONFIRMED]
        if confirmed > reactive:
            reasons.append(Reason.SCALE_DOWN_LIMITED_BY_FORECAST)
    elif stabilized != combined:
        reasons.append(Reason.STABILIZED_DOWN if combined < stabilized else Reason.STABILIZED_UP)

    desired = stabilized
    if desired > current:
        rules = config.behavior.scale_up
        limit = max(scale_up_limit(current, rules, state, now), current)
        if limit < config.max_replicas and desired > limit:
            desired = limit
            reasons.append(
                Reason.SCALING_DISABLED
                if rules.select_policy is SelectPolicy.DISABLED
                else Reason.LIMITED_BY_RATE_POLICY
            )
    elif desired < current:
        rules = config.behavior.scale_down
        limit = min(scale_down_limit(current, rules, state, now), current)
        if limit > config.min_replicas and desired < limit:
            desired = limit
            reasons.append(
                Reason.SCALING_DISABLED
                if rules.select_policy is SelectPolicy.DISABLED
                else Reason.LIMITED_BY_RATE_POLICY
            )
    # HPA clamps a count outside [min, max] even when the metrics ask for no change.
    if desired > config.max_replicas:
        desired = config.max_replicas
        reasons.append(Reason.LIMITED_BY_MAX)
    elif desired < config.min_replicas:
        desired = config.min_replicas
        reasons.append(Reason.LIMITED_BY_MIN)

    # The constraint applied last decided the outcome: make it the main reason, so status says
    # "StabilizedDown" rather than "ScaleDownReactive" when nothing was removed.
    constraints = [r for r in reasons if r in _CONSTRAINTS]
    if constraints:
        main = constraints[-1]
        reasons = [main] + [r for r in reasons if r is not main]
    if record:
        record_scale(state, config, now, current, desired)
    return Recommendation(
        desired=desired,
        reactive=reactive,
        forecast=forecast,
        combined=combined,
        stabilized=stabilized,
        reasons=tuple(reasons),
        confirmed=confirmed,
    )
