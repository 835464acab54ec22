"""A wall-clock deadline on one model fit, enforced inside the fit worker.

auto fits a week of 5-minute data in tens of milliseconds and a library model in seconds; a fit
still running after minutes is stuck (a solver that does not converge). Waiting for it would
freeze that scaler's forecast silently and hold one of the few pool workers for ever. A timeout
in the operator cannot stop the worker (a process pool has no per-task cancel) and would count
the time a fit waited in the pool's queue, which under a thousand scalers is legitimately long.
So the worker arms ``SIGALRM`` for itself when the fit starts: the interrupt unwinds the fit and
the worker is free again. The exception derives from ``BaseException`` so that model code that
catches ``Exception`` (auto skips a failing candidate) cannot swallow it.

This module stays free of Kopf and the Kubernetes client: the pool's worker processes import
it to run a fit.
"""

from __future__ import annotations

import os
import signal
import threading
from datetime import datetime, timedelta
from types import FrameType

import pandas as pd

from prognos.scaling import FittedModel, ForecastConfig, fit_model
from prognos.scaling.calculator import epoch_seconds

#: Seconds one fit may run in its worker (``PROGNOS_FIT_TIMEOUT``).
FIT_TIMEOUT_S = float(os.environ.get("PROGNOS_FIT_TIMEOUT", "300"))


class FitTimeout(BaseException):
    """The fit ran past its deadline (see the module docstring for why BaseException)."""


def fit_within(
    deadline_s: float,
    config: ForecastConfig,
    history: pd.Series,
    now: datetime,
    lookahead: timedelta | None = None,
) -> FittedModel:
    """``fit_model``, but a fit still running after ``deadline_s`` becomes a failed model whose
    error starts with ``"fit timed out"``. Without a main thread to signal (a thread pool, as
    in tests) the fit runs unguarded."""
    if threading.current_thread() is not threading.main_thread() or deadline_s <= 0:
        return fit_model(config, history, now, lookahead=lookahead)

    def expired(_signum: int, _frame: FrameType | None) -> None:
        raise FitTimeout

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, deadline_s)
    try:
        return fit_model(config, history, now, lookahead=lookahead)
    except FitTimeout:
        return FittedModel(
            model=config.model,
            fitted_at=epoch_seconds(now),  # as fit_model stamps it (naive = UTC)
            error=f"fit timed out: the {config.model} fit ran longer than {deadline_s:g}s",
        )
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
