"""The operator's own Prometheus metrics, served on ``/metrics``.

Per scaler: current load, forecast, desired replicas, model error and decisions by reason; per
handler kind: reconcile duration. prometheus_client keeps metrics in its process-wide registry,
which is the library's intended use; runtime state of handlers stays in Kopf's memo.
"""

from __future__ import annotations

import contextlib

from prometheus_client import Counter, Gauge, Histogram, start_http_server

_SCALER = ["namespace", "name"]

CURRENT_LOAD = Gauge("prognos_scaler_current_load", "Load at the last decision.", _SCALER)
FORECAST_LOAD = Gauge(
    "prognos_scaler_forecast_load", "Upper forecast bound over the horizon.", _SCALER
)
DESIRED_REPLICAS = Gauge("prognos_scaler_desired_replicas", "Replicas Prognos asks for.", _SCALER)
CURRENT_REPLICAS = Gauge("prognos_scaler_current_replicas", "Replicas of the target.", _SCALER)
MODEL_ERROR = Gauge(
    "prognos_scaler_model_relative_error",
    "Rolling forecast MAE relative to seasonal naive (below 1 beats it).",
    _SCALER,
)
DECISIONS = Counter(
    "prognos_scaler_decisions_total", "Decisions by main reason.", [*_SCALER, "reason"]
)
SCALE_ACTIONS = Counter(
    "prognos_scaler_actions_total", "Replica changes applied.", [*_SCALER, "direction"]
)
FIT_SECONDS = Histogram(
    "prognos_model_fit_seconds", "Wall time of a model fit.", buckets=(0.1, 0.5, 1, 2, 5, 10, 30)
)
RECONCILE_SECONDS = Histogram(
    "prognos_reconcile_duration_seconds",
    "Wall time of one reconcile tick.",
    ["kind"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
TICK_LAG_SECONDS = Histogram(
    "prognos_scaler_tick_lag_seconds",
    "Delay from when a PredictiveScaler tick was due to when its decision was made.",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 3, 5, 7.5, 10, 20, 30, 60),
)


def forget_scaler(namespace: str, name: str) -> None:
    """Drop a deleted scaler's series so dashboards do not show ghosts."""
    for gauge in (CURRENT_LOAD, FORECAST_LOAD, DESIRED_REPLICAS, CURRENT_REPLICAS, MODEL_ERROR):
        with contextlib.suppress(KeyError):
            gauge.remove(namespace, name)


def serve(port: int, host: str = "0.0.0.0") -> None:
    start_http_server(port, addr=host)
