"""What a PredictiveScaler reports on the real sandbox: operator metrics and conditions.

The decision itself is covered by ``test_predictive_scaler.py``; these tests check that what
the operator publishes about it (``/metrics`` series per scaler, the ``ScalingLimited`` and
``ForecastReady`` conditions) is there and agrees with the object's status.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client as k8s
from prometheus_client.parser import text_string_to_metric_families

from kubehelpers import (
    condition,
    create_psc,
    fresh_namespace,
    get_psc,
    replicas,
    wait_for,
    wait_psc_condition,
)
from prognos.sandbox.objects import demo_deployment

pytestmark = pytest.mark.integration

QUERY = 'sum(prognos_demo_requests_per_second{namespace="demo",workload="web"})'
TARGET = 50

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


@pytest.fixture
def namespace(kube: Any) -> Iterator[str]:
    yield from fresh_namespace(kube, "psr")


def _scaler(kube: Any, ns: str, name: str, query: str, **overrides: Any) -> None:
    k8s.AppsV1Api(kube).create_namespaced_deployment(ns, demo_deployment(ns, name, replicas=1))
    spec: dict[str, Any] = {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
        "minReplicas": 1,
        "maxReplicas": 60,
        "interval": "5s",
        "metric": {"query": query, "targetPerReplica": str(TARGET)},
        "forecast": {"enabled": False},
        "behavior": {"scaleDown": {"stabilizationWindowSeconds": 900}},
    }
    spec.update(overrides)
    create_psc(kube, ns, name, spec)


def _samples(text: str) -> Samples:
    out: Samples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, frozenset(s.labels.items()))] = float(s.value)
    return out


def _of(samples: Samples, metric: str, **labels: str) -> float | None:
    return samples.get((metric, frozenset(labels.items())))


def _by_reason(samples: Samples, ns: str, name: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for (metric, labels), value in samples.items():
        d = dict(labels)
        if metric == "prognos_scaler_decisions_total" and (d["namespace"], d["name"]) == (
            ns,
            name,
        ):
            out[d["reason"]] = value
    return out


def _close(metric: float | None, status: str | None) -> bool:
    """A gauge against the status' 4-significant-digit rendering of the same value."""
    return (
        metric is not None
        and status is not None
        and math.isclose(metric, float(status), rel_tol=1e-3, abs_tol=1e-9)
    )


def test_scaler_metrics_agree_with_its_status(kube, namespace, operator):
    """Every per-scaler series of /metrics is exported and says what the status says."""
    ns, name = namespace, "shop"
    _scaler(
        kube,
        ns,
        name,
        QUERY,
        forecast={
            "model": "seasonal-naive",
            "horizon": "3m",
            "history": "3d",
            "quantile": "0.9",
            "refitInterval": "30m",
        },
    )
    wait_psc_condition(kube, ns, name, "ForecastReady", "True", 120, "a fitted model")
    key = {"namespace": ns, "name": name}

    def reconcile_count() -> float:
        count = _of(
            _samples(operator.metrics()),
            "prognos_reconcile_duration_seconds_count",
            kind="PredictiveScaler",
        )
        return count or 0.0

    reconciles = reconcile_count()

    def consistent() -> tuple[dict[str, Any], Samples] | None:
        """Status and metrics of the same tick (retried when a tick lands in between)."""
        before = get_psc(kube, ns, name)["status"]
        samples = _samples(operator.metrics())
        status: dict[str, Any] = get_psc(kube, ns, name)["status"]
        if before.get("lastDecisionTime") != status.get("lastDecisionTime"):
            return None
        ok = (
            _of(samples, "prognos_scaler_desired_replicas", **key) == status["desiredReplicas"]
            and _of(samples, "prognos_scaler_current_replicas", **key) == status["currentReplicas"]
            and _close(_of(samples, "prognos_scaler_current_load", **key), status["currentLoad"])
            and status.get("forecastUsed") is True
            and _close(
                _of(samples, "prognos_scaler_forecast_load", **key), status.get("forecastLoad")
            )
        )
        return (status, samples) if ok else None

    status, samples = wait_for(consistent, 30, "metrics matching the status of one tick")
    # The target really carries the desired count (Auto mode, scale-up is not stabilized).
    wait_for(
        lambda: replicas(kube, ns, name) == get_psc(kube, ns, name)["status"]["desiredReplicas"],
        30,
        "the target at the desired replicas",
    )
    # Forecast in use, so it is at least what the observed load needs, as the status says.
    assert float(status["forecastLoad"]) > 0
    reasons = _by_reason(samples, ns, name)
    assert sum(reasons.values()) >= 1, reasons
    assert reasons.get(status["reasons"][0], 0) >= 1, (reasons, status["reasons"])
    # This scaler's ticks are timed (it is the only PredictiveScaler ticking here).
    wait_for(lambda: reconcile_count() > max(reconciles, 0), 20, "timed reconcile ticks")

    # The accuracy ratio needs min_accuracy_points (12) scored samples, one per 5 s tick, and
    # the cached forecast path starts one history step (60 s) after the fit, so the samples of
    # the first ~30 s have no forecast point to score: about 90 s after the fit in all. It must
    # then be exported and equal status.modelError.
    def scored() -> tuple[dict[str, Any], float] | None:
        before = get_psc(kube, ns, name)["status"]
        value = _of(_samples(operator.metrics()), "prognos_scaler_model_relative_error", **key)
        after: dict[str, Any] = get_psc(kube, ns, name)["status"]
        if before.get("lastDecisionTime") != after.get("lastDecisionTime"):
            return None
        return (
            (after, value) if value is not None and _close(value, after.get("modelError")) else None
        )

    status, error = wait_for(scored, 120, "a scored model error", interval=2)
    assert error >= 0
    # Decisions keep counting per tick, by the main reason.
    later = _by_reason(_samples(operator.metrics()), ns, name)
    assert sum(later.values()) > sum(reasons.values()), (reasons, later)

    # Deleting the scaler drops its gauges (no ghost series on the dashboard).
    k8s.CustomObjectsApi(kube).delete_namespaced_custom_object(
        "prognos.io", "v1alpha1", ns, "predictivescalers", name
    )
    wait_for(
        lambda: _of(_samples(operator.metrics()), "prognos_scaler_desired_replicas", **key) is None,
        30,
        "the scaler's gauges removed",
    )


def test_scaling_limited_and_insufficient_history_conditions(kube, namespace, operator):
    ns = namespace
    # 1000 / 50 = 20 replicas wanted, 3 allowed.
    _scaler(kube, ns, "capped", "vector(1000)", maxReplicas=3)
    # A series that only exists since a few minutes ago: the range read for the fit returns
    # minutes of history, far from the two seasons (days) a forecast needs.
    since = int(time.time()) - 300
    fresh = f"(vector(time()) > {since}) * 0 + 100"
    _scaler(
        kube,
        ns,
        "fresh",
        fresh,
        forecast={"model": "seasonal-naive", "history": "3d", "refitInterval": "30m"},
    )

    limited = wait_psc_condition(kube, ns, "capped", "ScalingLimited", "True", 60, "clipped")
    assert limited["reason"] == "LimitedByMax", limited
    assert "LimitedByMax" in limited["message"]
    capped = get_psc(kube, ns, "capped")["status"]
    assert capped["desiredReplicas"] == 3, capped
    assert "LimitedByMax" in capped["reasons"], capped
    wait_for(lambda: replicas(kube, ns, "capped") == 3, 30, "capped target at maxReplicas")

    ready = wait_psc_condition(kube, ns, "fresh", "ForecastReady", "False", 60, "no history")
    assert ready["reason"] == "InsufficientHistory", ready
    # e.g. "0 days 00:04:00 of history, 2 seasons of 1 day, 0:00:00 needed; scaling reactively"
    assert "of history" in ready["message"], ready
    assert "2 seasons" in ready["message"], ready
    assert ready["message"].endswith("scaling reactively"), ready
    status = get_psc(kube, ns, "fresh")["status"]
    assert "InsufficientHistory" in status["reasons"], status
    assert status["forecastUsed"] is False, status
    assert status["model"].startswith("none ("), status
    # Reactive scaling still works: 100 / 50 = 2 replicas, within bounds.
    wait_for(lambda: replicas(kube, ns, "fresh") == 2, 30, "reactive scaling without a model")
    within = condition(get_psc(kube, ns, "fresh"), "ScalingLimited")
    assert (within["status"], within["reason"]) == ("False", "WithinLimits"), within
