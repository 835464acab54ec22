"""PredictiveScaler decisions as notification events (applied scales and Recommend would-dos).

The scaler calls ``scaling_event`` when it applied a scale, or in Recommend mode when it would
change replicas, and publishes it with ``channels=None``: channels in the scaler's namespace
receive it only when they opt in (``spec.scaling.decisions``: LargeJumps or All), so decisions
are off by default. ``details`` carry what the Slack diff line shows:
``4 → 9 replicas: p90 forecast 870 rps at 14:55, capacity 600`` (the unit is the scaler's
``spec.metric.unit``, left out when unset).
"""

from __future__ import annotations

from datetime import UTC, datetime

from prognos.notify.events import EventType, NotificationEvent, Severity
from prognos.scaling import Decision, ScalerConfig


def _iso(t: datetime) -> str:
    return t.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def scaling_event(
    namespace: str,
    scaler: str,
    target: str,
    decision: Decision,
    config: ScalerConfig,
    applied: bool,
) -> NotificationEvent:
    """``applied`` False means Recommend mode: the same decision, sent as "would do"."""
    before, after = decision.current_replicas, decision.desired_replicas
    verb = "scaled" if applied else "would scale"
    direction = "up" if after > before else "down"
    capacity = before * config.target_per_replica
    forecast_time = decision.time + config.forecast.horizon
    details: dict[str, object] = {
        "fromReplicas": before,
        "toReplicas": after,
        "currentLoad": decision.load,
        "forecastLoad": decision.forecast_load,
        "forecastTime": _iso(forecast_time) if decision.forecast_load is not None else None,
        "quantile": f"{config.forecast.quantile:g}",
        "capacity": capacity,
        "targetPerReplica": config.target_per_replica,
        "unit": config.unit or None,
        "reasons": [r.value for r in decision.reasons],
        "model": decision.model,
        "forecastUsed": decision.forecast_used,
        "mode": "Recommend" if decision.recommend_only else "Auto",
    }
    return NotificationEvent(
        type=EventType.SCALING_DECISION if applied else EventType.WOULD_DO,
        severity=Severity.INFO,
        title=f"{target} {verb} {direction}: {before} → {after} replicas",
        text=f"PredictiveScaler {scaler}: {decision.message}",
        namespace=namespace,
        target=target,
        source=f"PredictiveScaler/{scaler}",
        time=_iso(decision.time),
        dedup_key=None if applied else f"{namespace}/{scaler}/would/{before}->{after}",
        thread_key=f"{namespace}/PredictiveScaler/{scaler}",
        details={k: v for k, v in details.items() if v is not None},
    )
