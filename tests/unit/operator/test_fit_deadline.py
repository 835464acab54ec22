"""A stuck model fit is cut off inside its worker, and the scaler says ``FitTimeout``."""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import signal
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd

from prognos.notify.base import NullNotifier
from prognos.operator import fitdeadline, scaler
from prognos.operator.fitdeadline import fit_within
from prognos.operator.scaler import ScalerRunner
from prognos.scaling import FittedModel, ForecastConfig, ScalerEngine, config_from_spec

NOW = datetime(2026, 1, 8, tzinfo=UTC)


def history(days: int = 7) -> pd.Series:
    index = pd.date_range(end=NOW, periods=days * 288, freq="5min")
    k = np.arange(len(index))
    return pd.Series(500 + 200 * np.sin(2 * np.pi * k / 288), index=index)


def test_a_fit_that_swallows_exceptions_is_still_cut_off(monkeypatch: Any) -> None:
    def stuck(*_args: Any, **_kw: Any) -> FittedModel:
        while True:  # a solver that never converges and retries on any Exception
            with contextlib.suppress(Exception):  # what a careless model would do
                time.sleep(0.01)

    monkeypatch.setattr(fitdeadline, "fit_model", stuck)
    started = time.monotonic()
    fitted = fit_within(0.2, ForecastConfig(), history(), NOW)
    assert time.monotonic() - started < 2.0
    assert not fitted.ok
    assert fitted.error is not None and fitted.error.startswith("fit timed out")
    assert signal.getsignal(signal.SIGALRM) is signal.SIG_DFL


def test_a_fit_within_its_deadline_is_returned_and_the_timer_disarmed() -> None:
    fitted = fit_within(30.0, replace(ForecastConfig(), model="seasonal-naive"), history(), NOW)
    assert fitted.ok, fitted.error
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)


def test_in_a_real_worker_process_the_stuck_fit_frees_the_worker() -> None:
    """One forkserver worker, as the operator uses: a fit past its deadline (Prophet given
    50 ms) comes back failed, and the same worker then runs the next fit."""
    ctx = multiprocessing.get_context("forkserver")
    with ProcessPoolExecutor(max_workers=1, mp_context=ctx) as pool:
        slow = replace(ForecastConfig(), model="prophet")
        first = pool.submit(fit_within, 0.05, slow, history(14), NOW).result(timeout=120)
        assert first.error is not None and first.error.startswith("fit timed out"), first
        fast = replace(ForecastConfig(), model="seasonal-naive")
        second = pool.submit(fit_within, 30.0, fast, history(), NOW).result(timeout=60)
        assert second.ok, second.error


def test_the_scaler_reports_fit_timeout(monkeypatch: Any) -> None:
    def timed_out(_deadline: float, config: ForecastConfig, *_a: Any, **_k: Any) -> FittedModel:
        return FittedModel(model=config.model, fitted_at=NOW.timestamp(), error="fit timed out: x")

    monkeypatch.setattr(scaler, "fit_within", timed_out)
    prometheus = SimpleNamespace(range=lambda *_a: history())
    services: Any = SimpleNamespace(
        kube=None, prometheus=prometheus, fit_pool=ThreadPoolExecutor(1), notifier=NullNotifier()
    )
    runner = ScalerRunner("demo", "web", services, {})
    cfg = config_from_spec(
        {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
            "maxReplicas": 10,
            "metric": {"query": "q", "targetPerReplica": "50"},
        }
    )
    engine = ScalerEngine(cfg)
    runner.engine = engine
    asyncio.run(runner._fit(engine, "q", NOW))
    assert runner.fit_note is not None and runner.fit_note[0] == "FitTimeout"
    assert runner.fit_task is None
    assert engine.model is not None and not engine.model.ok
    services.fit_pool.shutdown()
