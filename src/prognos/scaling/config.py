"""Typed, frozen configuration of one PredictiveScaler decision loop.

The shapes mirror the HorizontalPodAutoscaler ``autoscaling/v2`` API on purpose: operators who
know HPA ``behavior`` should be able to read a PredictiveScaler without learning new semantics,
and the calculator can be checked against the Kubernetes controller line by line. Field names are
the snake_case of the CRD's camelCase (``stabilizationWindowSeconds`` ->
``stabilization_window_seconds``) so that ``prognos.scaling.spec.config_from_spec`` is a plain
mapping.

Everything here is validated in ``__post_init__`` so that an invalid config cannot exist: the
engine and calculator never re-check. Durations are ``datetime.timedelta`` (the CRD carries Go
duration strings such as ``"5m"``; ``spec.parse_duration`` converts them).

Prognos additions to the HPA model (forecast, mode, fallback, accuracy guard) are kept in their
own dataclasses so the HPA part stays recognisable.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum


class PolicyType(StrEnum):
    """How a rate policy limits change per period: absolute pods, or percent of the start count."""

    PODS = "Pods"
    PERCENT = "Percent"


class SelectPolicy(StrEnum):
    """Which policy wins when several apply: the largest change, the smallest, or none at all."""

    MAX = "Max"
    MIN = "Min"
    DISABLED = "Disabled"


class Mode(StrEnum):
    """``Auto`` acts on decisions; ``Recommend`` computes and publishes them but never acts."""

    AUTO = "Auto"
    RECOMMEND = "Recommend"


class FallbackKind(StrEnum):
    """What to do while the load metric is missing, stale or malformed."""

    HOLD = "Hold"
    REPLICAS = "Replicas"


@dataclass(frozen=True)
class ScalingPolicy:
    """One HPA rate policy: at most ``value`` pods (or percent) of change per ``period_seconds``."""

    type: PolicyType
    value: int
    period_seconds: int

    def __post_init__(self) -> None:
        if self.value <= 0:
            raise ValueError(f"policy value must be > 0, got {self.value}")
        # HPA caps the period at 30 minutes because events older than that are not kept.
        if not 0 < self.period_seconds <= 1800:
            raise ValueError(
                f"policy periodSeconds must be in (0, 1800], got {self.period_seconds}"
            )


@dataclass(frozen=True)
class ScalingRules:
    """HPA ``HPAScalingRules`` for one direction.

    ``stabilization_window_seconds``: scale-down uses the highest recommendation seen in the
    window, scale-up the lowest, which damps flapping. ``policies`` limit the rate of change and
    ``select_policy`` picks between them (``Max`` = the policy allowing the most change).
    """

    stabilization_window_seconds: int
    policies: tuple[ScalingPolicy, ...]
    select_policy: SelectPolicy = SelectPolicy.MAX

    def __post_init__(self) -> None:
        if not 0 <= self.stabilization_window_seconds <= 3600:
            raise ValueError(
                "stabilizationWindowSeconds must be in [0, 3600], "
                f"got {self.stabilization_window_seconds}"
            )
        if not self.policies and self.select_policy is not SelectPolicy.DISABLED:
            raise ValueError("at least one policy is needed unless selectPolicy is Disabled")


def default_scale_up() -> ScalingRules:
    """The HPA default for scale-up: no window; double or add 4 pods per 15 s, whichever is more."""
    return ScalingRules(
        stabilization_window_seconds=0,
        policies=(
            ScalingPolicy(PolicyType.PERCENT, 100, 15),
            ScalingPolicy(PolicyType.PODS, 4, 15),
        ),
        select_policy=SelectPolicy.MAX,
    )


def default_scale_down() -> ScalingRules:
    """The HPA default for scale-down: a 300 s window, then any amount per 15 s."""
    return ScalingRules(
        stabilization_window_seconds=300,
        policies=(ScalingPolicy(PolicyType.PERCENT, 100, 15),),
        select_policy=SelectPolicy.MAX,
    )


@dataclass(frozen=True)
class Behavior:
    """HPA ``behavior``: tolerance plus rules for each direction."""

    scale_up: ScalingRules = field(default_factory=default_scale_up)
    scale_down: ScalingRules = field(default_factory=default_scale_down)
    tolerance: float = 0.1

    def __post_init__(self) -> None:
        if not 0.0 <= self.tolerance < 1.0:
            raise ValueError(f"tolerance must be in [0, 1), got {self.tolerance}")


@dataclass(frozen=True)
class ForecastConfig:
    """How the forecast is made and used.

    ``quantile`` is the quantile of the predictive distribution that scaling provisions for
    (0.9: enough capacity for the load to stay below it 90% of the time). Models publish central
    intervals; a central interval at level ``L`` has its upper bound at quantile ``(1 + L) / 2``,
    so the engine asks for level ``2 * quantile - 1`` and uses its upper bound (see
    ``interval_level``). ``quantile = 0.5`` means the point forecast.

    ``horizon`` should cover pod start-up plus scrape lag: capacity requested now only helps
    after that long, so that is the load to provision for. ``history`` bounds how much data a fit
    reads; ``season`` is the main seasonality (cold start = fewer than ``min_seasons`` seasons of
    history, and the accuracy guard compares against seasonal naive at this lag).

    The accuracy guard: the rolling mean absolute error of the model's forecasts over
    ``accuracy_window`` is compared with seasonal naive's over the same points; when the ratio
    exceeds ``max_relative_error`` (after ``min_accuracy_points`` points) the forecast is ignored
    and scaling is reactive until the ratio recovers below ``recover_relative_error``.

    ``confirmed_scale_down`` (Prognos, on by default): a scale-down the observed load allows
    does not wait for the scale-down stabilization window when the forecast upper bound over
    ``max(horizon, window)`` supports the lower count too (see ``prognos.scaling.calculator``).
    Off, a PredictiveScaler scales down exactly like an HPA with the same ``behavior``.

    ``calibrated_bounds`` (Prognos, on by default): once enough forecasts have been scored, the
    bound used for scaling is the anchored point forecast plus the ``quantile`` of its own recent
    errors over the same look-ahead (``accuracy.BoundCalibrator``) instead of the model's
    interval. ``anchor_smoothing`` is the weight of the previous anchor offset in the
    exponentially smoothed re-anchoring (0 = the newest sample alone).
    """

    model: str = "auto"
    horizon: timedelta = timedelta(minutes=5)
    history: timedelta = timedelta(days=14)
    quantile: float = 0.9
    refit_interval: timedelta = timedelta(hours=1)
    season: timedelta = timedelta(days=1)
    min_seasons: int = 2
    accuracy_window: timedelta = timedelta(days=1)
    min_accuracy_points: int = 12
    max_relative_error: float = 1.0
    recover_relative_error: float = 0.9
    enabled: bool = True
    confirmed_scale_down: bool = True
    calibrated_bounds: bool = True
    anchor_smoothing: float = 0.5

    def __post_init__(self) -> None:
        if not self.model:
            raise ValueError("forecast model must be named")
        if not 0.5 <= self.quantile < 1.0:
            raise ValueError(f"forecast quantile must be in [0.5, 1), got {self.quantile}")
        for name in ("horizon", "history", "refit_interval", "season", "accuracy_window"):
            if getattr(self, name) <= timedelta(0):
                raise ValueError(f"forecast {name} must be positive")
        if self.min_seasons < 0 or self.min_accuracy_points < 1:
            raise ValueError("min_seasons must be >= 0 and min_accuracy_points >= 1")
        if not 0.0 <= self.anchor_smoothing < 1.0:
            raise ValueError(f"anchor smoothing must be in [0, 1), got {self.anchor_smoothing}")
        if not 0 < self.recover_relative_error <= self.max_relative_error:
            raise ValueError("need 0 < recover_relative_error <= max_relative_error")

    @property
    def interval_level(self) -> float | None:
        """The central-interval level whose upper bound is ``quantile``; None = the mean."""
        level = round(2.0 * self.quantile - 1.0, 6)
        return level if level > 0.0 else None


@dataclass(frozen=True)
class Fallback:
    """Behaviour while the load metric is missing, stale or malformed (DESIGN §5 rule 1).

    ``Hold`` keeps the current replicas (fail static). ``Replicas`` goes to ``replicas`` but
    never below the current count: missing data may add capacity, never remove it.
    """

    kind: FallbackKind = FallbackKind.HOLD
    replicas: int | None = None

    def __post_init__(self) -> None:
        if self.kind is FallbackKind.REPLICAS and (self.replicas is None or self.replicas < 0):
            raise ValueError("fallback Replicas needs a replica count >= 0")
        if self.kind is FallbackKind.HOLD and self.replicas is not None:
            raise ValueError("fallback Hold takes no replica count")


@dataclass(frozen=True)
class ScalerConfig:
    """Everything one PredictiveScaler decision needs, apart from the data.

    ``target_per_replica`` is the load one replica serves (HPA ``AverageValue`` target), so the
    reactive recommendation is ``ceil(load / target_per_replica)``. ``metric_stale_after``: a
    load sample older than this is treated as missing. ``unit`` names the load's unit for people
    (``spec.metric.unit``, e.g. "rps"; empty: none); no decision depends on it.
    """

    min_replicas: int
    max_replicas: int
    target_per_replica: float
    unit: str = ""
    behavior: Behavior = field(default_factory=Behavior)
    forecast: ForecastConfig = field(default_factory=ForecastConfig)
    mode: Mode = Mode.AUTO
    fallback: Fallback = field(default_factory=Fallback)
    metric_stale_after: timedelta = timedelta(minutes=10)

    def __post_init__(self) -> None:
        if self.min_replicas < 0:
            raise ValueError(f"minReplicas must be >= 0, got {self.min_replicas}")
        if self.max_replicas < max(self.min_replicas, 1):
            raise ValueError(f"maxReplicas ({self.max_replicas}) must be >= max(minReplicas, 1)")
        if not self.target_per_replica > 0.0 or self.target_per_replica == float("inf"):
            raise ValueError(
                f"targetPerReplica must be a positive number, got {self.target_per_replica}"
            )
        if self.metric_stale_after <= timedelta(0):
            raise ValueError("metric_stale_after must be positive")
