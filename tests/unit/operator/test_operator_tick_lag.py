"""``prognos_scaler_tick_lag_seconds``: delay from when a scaler tick was due to its decision."""

from __future__ import annotations

import asyncio
import time
from types import SimpleNamespace
from typing import Any

import pytest

from prognos.metrics import Sample
from prognos.notify.base import NullNotifier
from prognos.operator import metrics as m
from prognos.operator.scaler import ScalerRunner
from prognos.remediation.kube import ScaleState

BODY: dict[str, Any] = {
    "metadata": {"name": "web", "namespace": "demo", "generation": 1, "uid": "u1"},
    "spec": {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
        "minReplicas": 1,
        "maxReplicas": 10,
        "interval": "30s",
        "metric": {"query": "sum(load)", "targetPerReplica": "50"},
        "forecast": {"enabled": False},
    },
}


class _Kube:
    api = None

    def read_scale(self, namespace: str, ref: Any) -> ScaleState:
        return ScaleState(2, 2, {}, "uid-t", "1")


class _Prometheus:
    def instant(self, query: str) -> Sample:
        return Sample(100.0, time.time())


def _runner() -> tuple[ScalerRunner, list[dict[str, Any]]]:
    services: Any = SimpleNamespace(
        kube=_Kube(), prometheus=_Prometheus(), fit_pool=None, notifier=NullNotifier()
    )
    runner = ScalerRunner("demo", "web", services, {})
    written: list[dict[str, Any]] = []

    async def patch(status: dict[str, Any]) -> None:
        written.append(status)

    runner._patch_status = patch  # type: ignore[method-assign]
    return runner, written


def _lag_hist() -> tuple[float, float]:
    samples = {s.name: s.value for s in next(iter(m.TICK_LAG_SECONDS.collect())).samples}
    return samples["prognos_scaler_tick_lag_seconds_count"], samples[
        "prognos_scaler_tick_lag_seconds_sum"
    ]


def test_tick_observes_lag_from_due_time_once() -> None:
    runner, written = _runner()
    count0, sum0 = _lag_hist()
    runner.due = time.monotonic() - 2.0  # the tick was due two seconds ago
    asyncio.run(runner.tick(BODY))
    count1, sum1 = _lag_hist()
    assert count1 == count0 + 1
    assert 2.0 <= sum1 - sum0 < 10.0
    assert runner.due is None  # one observation per due time
    assert written and written[-1]["desiredReplicas"] == 2  # the decision itself is unchanged


def test_tick_without_due_time_observes_nothing() -> None:
    runner, _ = _runner()
    count0, _sum = _lag_hist()
    asyncio.run(runner.tick(BODY))
    assert _lag_hist()[0] == count0


def test_a_tick_run_early_never_reports_negative_lag() -> None:
    runner, _ = _runner()
    _c, sum0 = _lag_hist()
    runner.due = time.monotonic() + 60.0
    asyncio.run(runner.tick(BODY))
    assert _lag_hist()[1] == pytest.approx(sum0)
