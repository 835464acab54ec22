"""Trace replay through the PredictiveScaler engine, and a reactive HPA baseline.

The replay drives ``prognos.scaling.ScalerEngine`` exactly as the operator does (``needs_refit``
-> ``fit`` -> ``install`` -> ``decide`` on every tick), so its figures are evidence about the
operator, not about a look-alike.

Time model (chosen to be causal and to match Prometheus semantics):

* A row ``(t_i, v_i)`` is the load over ``(t_{i-1}, t_i]`` (a rate over the last step), and it is
  visible to the scaler from ``t_i`` on. Decisions happen every ``interval`` (default: the row
  step, at most one minute, like an HPA sync with a sample-and-hold metric); a tick at ``tau``
  sees the rows with ``t_i <= tau`` only, and the load it must serve is the next, unseen row.
* ``replicas`` means the workload's desired count (the scale subresource). Added pods become ready
  ``startup`` later; removed pods go at once, not-yet-ready ones first (as a ReplicaSet does).
* Figures over the scored ticks: under-provisioned minutes (load above ready capacity), unserved
  load fraction (integral of the excess over the integral of load), pod-minutes (all existing
  pods, starting ones included: they cost as much), scaling actions (changes of the desired count).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd

from prognos.scaling.config import Behavior, Mode, ScalerConfig
from prognos.scaling.engine import ScalerEngine


@dataclass(frozen=True)
class ReplayOptions:
    """``score_after``: ticks before ``first timestamp + score_after`` are replayed, not scored."""

    startup: timedelta = timedelta(minutes=2)
    interval: timedelta | None = None
    score_after: timedelta = timedelta(0)
    initial_replicas: int | None = None


@dataclass(frozen=True)
class ReplayFigures:
    under_provisioned_minutes: float
    unserved_fraction: float
    pod_minutes: float
    scaling_actions: int
    scored_minutes: float

    def ratio_to(self, base: ReplayFigures) -> dict[str, float]:
        """This run's figures divided by ``base``'s (inf when base is 0 and this is not)."""

        def div(a: float, b: float) -> float:
            if b == 0:
                return 0.0 if a == 0 else math.inf
            return a / b

        return {
            "under_provisioned_minutes": div(
                self.under_provisioned_minutes, base.under_provisioned_minutes
            ),
            "unserved_fraction": div(self.unserved_fraction, base.unserved_fraction),
            "pod_minutes": div(self.pod_minutes, base.pod_minutes),
            "scaling_actions": div(self.scaling_actions, base.scaling_actions),
        }


@dataclass
class ReplayResult:
    """``timeline``: one row per input row (``timestamp,load,forecast,replicas``)."""

    timeline: pd.DataFrame
    figures: ReplayFigures
    reasons: Counter[str] = field(default_factory=Counter)
    fits: int = 0
    decide_seconds: float = 0.0
    ticks: int = 0


def hpa_baseline_config(config: ScalerConfig) -> ScalerConfig:
    """The reactive HPA a user would otherwise run: same bounds, target and tolerance, the HPA
    default behavior (300 s scale-down window), no forecast, acting."""
    return replace(
        config,
        behavior=Behavior(tolerance=config.behavior.tolerance),
        forecast=replace(config.forecast, enabled=False),
        mode=Mode.AUTO,
    )


def default_interval(step: timedelta) -> timedelta:
    return min(step, timedelta(minutes=1))


def series_step(series: pd.Series) -> timedelta:
    stamps = pd.DatetimeIndex(series.index).asi8
    if len(stamps) < 2:
        raise ValueError("a trace needs at least two rows")
    return timedelta(microseconds=float(np.median(np.diff(stamps))) / 1000.0)


def replay(
    series: pd.Series,
    config: ScalerConfig,
    options: ReplayOptions | None = None,
    *,
    engine: ScalerEngine | None = None,
    clock: Callable[[], float] | None = None,
) -> ReplayResult:
    """Replay ``series`` through a fresh engine (or ``engine``) acting on its own decisions.

    Recommend mode is replayed as Auto: the point of a simulation is what acting would do.
    ``clock`` (e.g. ``time.process_time``) measures the CPU time of ``decide`` calls only.
    """
    opts = options or ReplayOptions()
    if config.mode is Mode.RECOMMEND:
        config = replace(config, mode=Mode.AUTO)
    eng = engine or ScalerEngine(config)
    index = pd.DatetimeIndex(series.index)
    if index.tz is not None:
        index = index.tz_convert("UTC").tz_localize(None)
    times = index.asi8.astype(np.float64) / 1e9
    values = pd.to_numeric(series, errors="coerce").to_numpy(dtype=np.float64)
    if len(times) < 2 or not np.all(np.diff(times) > 0):
        raise ValueError("a trace needs at least two rows with increasing timestamps")
    history = pd.Series(values, index=index)
    interval = (opts.interval or default_interval(series_step(series))).total_seconds()
    if interval <= 0:
        raise ValueError("interval must be positive")
    startup = opts.startup.total_seconds()
    startup_ticks = math.ceil(startup / interval - 1e-9)
    score_from = times[0] + opts.score_after.total_seconds()
    target = config.target_per_replica

    first = values[np.isfinite(values)]
    initial = opts.initial_replicas
    if initial is None:
        initial = math.ceil(float(first[0]) / target) if len(first) else config.min_replicas
    current = min(max(initial, config.min_replicas), config.max_replicas)

    n_ticks = int((times[-1] - times[0]) // interval) + 1
    tick_times = times[0] + interval * np.arange(n_ticks)
    # Row visible at each tick, and the row whose interval the tick's serving period falls in.
    seen = np.searchsorted(times, tick_times + 1e-6, side="right") - 1
    serving = np.minimum(
        np.searchsorted(times, tick_times + interval / 2, side="left"), len(times) - 1
    )

    desired_per_tick = np.empty(n_ticks, dtype=np.int64)
    forecast_per_tick = np.full(n_ticks, np.nan)
    ready = current
    pending: list[tuple[int, int]] = []  # (tick at which ready, pods)
    under = unserved = load_total = pods = scored = 0.0
    actions = 0
    reasons: Counter[str] = Counter()
    fits = 0
    spent = 0.0
    prev_desired = current
    for k in range(n_ticks):
        tau = float(tick_times[k])
        now = datetime.fromtimestamp(tau, tz=UTC)
        j = int(seen[k])
        if eng.needs_refit(now):
            eng.install(eng.fit(history.iloc[: j + 1], now))
            fits += 1
        value = float(values[j])
        t0 = clock() if clock else 0.0
        decision = eng.decide(
            now=now,
            current_replicas=current,
            load=value if math.isfinite(value) else None,
            load_time=datetime.fromtimestamp(float(times[j]), tz=UTC),
        )
        if clock:
            spent += clock() - t0
        reasons[decision.reasons[0].value] += 1
        desired = decision.desired_replicas
        desired_per_tick[k] = desired
        if decision.forecast_load is not None:
            forecast_per_tick[k] = decision.forecast_load
        # Apply: scale-ups become ready after start-up, scale-downs remove pods at once.
        if desired > current:
            pending.append((k + startup_ticks, desired - current))
        elif desired < current:
            remove = current - desired
            while remove and pending:
                at, n = pending.pop()
                if n > remove:
                    pending.append((at, n - remove))
                    remove = 0
                else:
                    remove -= n
            ready -= remove
        current = desired
        while pending and pending[0][0] <= k:
            ready += pending.pop(0)[1]
        if tau >= score_from:
            load = float(values[int(serving[k])])
            minutes = interval / 60.0
            scored += minutes
            pods += current * minutes
            if desired != prev_desired:
                actions += 1
            if math.isfinite(load):
                capacity = ready * target
                load_total += load * minutes
                if load > capacity * (1 + 1e-9):
                    under += minutes
                    unserved += (load - capacity) * minutes
        prev_desired = desired

    row_tick = np.clip(((times - times[0]) // interval).astype(np.int64), 0, n_ticks - 1)
    timeline = pd.DataFrame(
        {
            "timestamp": index,
            "load": values,
            "forecast": forecast_per_tick[row_tick],
            "replicas": desired_per_tick[row_tick],
        }
    )
    figures = ReplayFigures(
        under_provisioned_minutes=under,
        unserved_fraction=unserved / load_total if load_total > 0 else 0.0,
        pod_minutes=pods,
        scaling_actions=actions,
        scored_minutes=scored,
    )
    return ReplayResult(timeline, figures, reasons, fits, spent, n_ticks)


def compare(
    series: pd.Series,
    config: ScalerConfig,
    options: ReplayOptions | None = None,
    clock: Callable[[], float] | None = None,
) -> tuple[ReplayResult, ReplayResult]:
    """Replay Prognos with ``config`` and the reactive HPA baseline on the same trace."""
    prognos = replay(series, config, options, clock=clock)
    baseline = replay(series, hpa_baseline_config(config), options)
    return prognos, baseline


__all__ = [
    "ReplayFigures",
    "ReplayOptions",
    "ReplayResult",
    "compare",
    "default_interval",
    "hpa_baseline_config",
    "replay",
    "series_step",
]
