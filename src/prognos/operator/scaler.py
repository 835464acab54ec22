"""PredictiveScaler handler: one Kopf daemon per object, ticking at ``spec.interval``.

Each tick: parse the spec (shared with ``prognos simulate``), read the target's /scale, read the
current load, start a refit in the process pool when due, ask the pure ``ScalerEngine`` for a
decision, apply it through /scale (Auto mode, not paused), and write status, conditions, Events
and metrics. Nothing in a tick raises out of the daemon: bad specs, missing targets and
Prometheus failures become conditions, never a crash loop.

A fit never blocks a tick: it runs as a background task (range read in a thread, model fit in
the process pool) and is installed when done; until then the engine decides reactively or with
the previous model.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import kopf
import pandas as pd
from kubernetes import client as k8s

from prognos.api import GROUP, PAUSED_ANNOTATION, VERSION
from prognos.api.conditions import now_iso, set_condition
from prognos.api.predictivescaler import PLURAL
from prognos.logs import get_logger
from prognos.metrics import MetricsError, Sample
from prognos.notify.scaling import scaling_event
from prognos.operator import metrics as m
from prognos.operator import sharding
from prognos.operator.fitdeadline import FIT_TIMEOUT_S, fit_within
from prognos.operator.services import Services
from prognos.remediation.kube import ScaleState, TargetError, TargetRef
from prognos.scaling import (
    Decision,
    EngineState,
    FittedModel,
    Reason,
    ScalerConfig,
    ScalerEngine,
    SpecError,
    config_from_spec,
)
from prognos.scaling.spec import parse_duration

log = get_logger("prognos.scaler")

#: Spec fields the operator reads itself; everything else is the decision config.
_OPERATOR_ONLY = ("scaleTargetRef", "interval")
_LIMITS = {Reason.LIMITED_BY_MAX, Reason.LIMITED_BY_MIN, Reason.LIMITED_BY_RATE_POLICY}
#: Retry a failed history read after this long instead of waiting a whole refit interval.
_FIT_RETRY_S = 60.0
#: Prometheus keeps at most 11,000 points per series in a range answer.
_MAX_POINTS = 5000


def _fmt(value: float | None) -> str | None:
    return None if value is None else f"{value:.4g}"


def history_step(history: timedelta) -> float:
    """Range-read step: at least 60 s, coarse enough to stay under ``_MAX_POINTS`` points."""
    step = max(60.0, history.total_seconds() / _MAX_POINTS)
    return float(60 * -(-step // 60))


class ScalerRunner:
    """The state of one PredictiveScaler's daemon between ticks."""

    def __init__(
        self, namespace: str, name: str, services: Services, status: Mapping[str, Any]
    ) -> None:
        self.namespace = namespace
        self.name = name
        self.services = services
        self.engine: ScalerEngine | None = None
        self.spec_key: str | None = None
        self.restored = EngineState.from_dict(status.get("engine") or {})
        self.conditions: list[dict[str, Any]] = list(status.get("conditions") or [])
        self.fit_task: asyncio.Task[None] | None = None
        self.next_fit_attempt = 0.0
        self.last_fit_time: str | None = status.get("lastFitTime")
        self.last_scale_time: str | None = status.get("lastScaleTime")
        self.fit_note: tuple[str, str] | None = None
        #: ``time.monotonic()`` at which the current tick was due (set by the daemon loop);
        #: the delay to the decision is ``prognos_scaler_tick_lag_seconds``.
        self.due: float | None = None

    # -- helpers ---------------------------------------------------------------------------
    def _cond(self, type_: str, status: bool | str, reason: str, message: str, gen: int) -> None:
        self.conditions = set_condition(self.conditions, type_, status, reason, message, gen)

    async def _patch_status(self, status: dict[str, Any]) -> None:
        api = k8s.CustomObjectsApi(self.services.kube.api)
        try:
            await asyncio.to_thread(
                api.patch_namespaced_custom_object_status,
                GROUP,
                VERSION,
                self.namespace,
                PLURAL,
                self.name,
                {"status": status},
            )
        except k8s.ApiException as exc:
            if exc.status != 404:  # deleted meanwhile: nothing to report on
                log.warning("status.patch_failed", scaler=self.name, status=exc.status)

    def _event(
        self, body: Mapping[str, Any], reason: str, message: str, warn: bool = False
    ) -> None:
        involved = {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "PredictiveScaler",
            "name": self.name,
            "uid": str(body.get("metadata", {}).get("uid", "")),
        }
        self.services.kube.event(
            self.namespace, involved, reason, message, "Warning" if warn else "Normal"
        )

    def _engine_for(self, spec: Mapping[str, Any]) -> ScalerEngine:
        decision_spec = {k: v for k, v in spec.items() if k not in _OPERATOR_ONLY}
        key = repr(sorted(decision_spec.items()))
        if self.engine is None or key != self.spec_key:
            config: ScalerConfig = config_from_spec(decision_spec)
            state = self.engine.state if self.engine is not None else self.restored
            self.engine = ScalerEngine(config, state)
            self.spec_key = key
            if self.fit_task is not None:
                self.fit_task.cancel()
                self.fit_task = None
            self.next_fit_attempt = 0.0
        return self.engine

    # -- fitting ---------------------------------------------------------------------------
    def _maybe_start_fit(self, engine: ScalerEngine, query: str, now: datetime) -> None:
        if self.fit_task is not None or time.time() < self.next_fit_attempt:
            return
        if not engine.needs_refit(now):
            return
        self.fit_task = asyncio.create_task(self._fit(engine, query, now))

    async def _fit(self, engine: ScalerEngine, query: str, now: datetime) -> None:
        cfg = engine.config.forecast
        end = now.timestamp()
        try:
            history = await asyncio.to_thread(
                self.services.prometheus.range,
                query,
                end - cfg.history.total_seconds(),
                end,
                history_step(cfg.history),
            )
        except MetricsError as exc:
            self.next_fit_attempt = time.time() + _FIT_RETRY_S
            self.fit_note = ("HistoryUnavailable", exc.message)
            self.fit_task = None
            return
        history.index = pd.DatetimeIndex(history.index).tz_convert(None)
        started = time.monotonic()
        loop = asyncio.get_running_loop()
        try:
            fitted: FittedModel = await loop.run_in_executor(
                self.services.fit_pool,
                functools.partial(
                    fit_within, FIT_TIMEOUT_S, cfg, history, now, engine.fit_lookahead
                ),
            )
        except Exception as exc:  # a dead worker must not take the scaler down
            fitted = FittedModel(model=cfg.model, fitted_at=end, error=f"fit crashed: {exc}")
        m.FIT_SECONDS.observe(time.monotonic() - started)
        if engine is self.engine:
            engine.install(fitted)
            self.last_fit_time = now_iso()
            self.fit_note = (
                None
                if fitted.ok
                else (
                    "FitTimeout"
                    if (fitted.error or "").startswith("fit timed out")
                    else "InsufficientHistory"
                    if fitted.insufficient_history
                    else "FitFailed",
                    fitted.error or "fit failed",
                )
            )
            log.info(
                "scaler.fitted",
                scaler=f"{self.namespace}/{self.name}",
                model=fitted.model,
                ok=fitted.ok,
                error=fitted.error,
                points=len(history),
                seconds=round(time.monotonic() - started, 3),
            )
        self.fit_task = None

    # -- one tick --------------------------------------------------------------------------
    async def tick(self, body: Mapping[str, Any]) -> float:
        """Run one decision; return seconds until the next one."""
        started = time.monotonic()
        try:
            return await self._tick(body)
        finally:
            m.RECONCILE_SECONDS.labels("PredictiveScaler").observe(time.monotonic() - started)

    async def _tick(self, body: Mapping[str, Any]) -> float:
        spec: Mapping[str, Any] = body.get("spec") or {}
        meta: Mapping[str, Any] = body.get("metadata") or {}
        gen = int(meta.get("generation") or 0)
        interval = 30.0
        try:
            interval = parse_duration(spec.get("interval", "30s"), "spec.interval").total_seconds()
            engine = self._engine_for(spec)
            ref = TargetRef.from_spec(dict(spec["scaleTargetRef"]))
        except (SpecError, KeyError, TypeError) as exc:
            self._cond("Ready", False, "InvalidSpec", str(exc), gen)
            await self._patch_status({"observedGeneration": gen, "conditions": self.conditions})
            return max(interval, 5.0)
        now = datetime.now(UTC)
        try:
            scale: ScaleState = await asyncio.to_thread(
                self.services.kube.read_scale, self.namespace, ref
            )
        except TargetError as exc:
            self._cond("Ready", False, exc.reason, exc.message, gen)
            await self._patch_status({"observedGeneration": gen, "conditions": self.conditions})
            return interval

        query = str(spec["metric"]["query"])
        load: float | None = None
        load_time: datetime | None = None
        try:
            sample: Sample = await asyncio.to_thread(self.services.prometheus.instant, query)
            load, load_time = sample.value, datetime.fromtimestamp(sample.timestamp, UTC)
            self._cond("MetricsAvailable", True, "QuerySucceeded", f"load {sample.value:.4g}", gen)
        except MetricsError as exc:
            self._cond("MetricsAvailable", False, exc.reason, exc.message, gen)

        if load is not None:
            self._maybe_start_fit(engine, query, now)
        if self.due is not None:
            m.TICK_LAG_SECONDS.observe(max(0.0, time.monotonic() - self.due))
            self.due = None
        decision = engine.decide(
            now=now, current_replicas=scale.spec_replicas, load=load, load_time=load_time
        )
        paused_on = [
            who
            for who, annotations in (
                ("PredictiveScaler", meta.get("annotations") or {}),
                (str(ref), scale.annotations),
            )
            if str(annotations.get(PAUSED_ANNOTATION, "")).lower() == "true"
        ]
        applied = False
        if decision.should_scale and not paused_on:
            applied = await self._apply(body, ref, scale, decision)
        would = decision.recommend_only and decision.desired_replicas != scale.spec_replicas
        if applied or would:  # channels opt in (spec.scaling); publish never blocks
            event = scaling_event(
                self.namespace, self.name, str(ref), decision, engine.config, applied
            )
            self.services.notifier.publish(event, None, self.namespace)
        self._report(decision, gen, paused_on, applied)
        await self._write(decision, ref, scale, gen, applied)
        return interval

    async def _apply(
        self, body: Mapping[str, Any], ref: TargetRef, scale: ScaleState, decision: Decision
    ) -> bool:
        try:
            await asyncio.to_thread(
                self.services.kube.patch_scale,
                self.namespace,
                ref,
                decision.desired_replicas,
                scale.resource_version,
            )
        except TargetError as exc:
            # A 409 means someone changed the target since we read it: decide again next tick.
            log.warning(
                "scaler.scale_failed",
                scaler=f"{self.namespace}/{self.name}",
                reason=exc.reason,
                message=exc.message,
            )
            self._event(body, "ScaleFailed", f"{ref}: {exc.message}", warn=True)
            return False
        up = decision.desired_replicas > decision.current_replicas
        reason = "ScaledUp" if up else "ScaledDown"
        involved = {
            "apiVersion": ref.api_version,
            "kind": ref.kind,
            "name": ref.name,
            "uid": scale.uid,
        }
        message = f"PredictiveScaler {self.name}: {decision.message}"
        await asyncio.to_thread(self.services.kube.event, self.namespace, involved, reason, message)
        await asyncio.to_thread(self._event, body, reason, decision.message)
        m.SCALE_ACTIONS.labels(self.namespace, self.name, "up" if up else "down").inc()
        self.last_scale_time = now_iso()
        log.info(
            "scaler.scaled",
            scaler=f"{self.namespace}/{self.name}",
            target=str(ref),
            **{k: v for k, v in decision.to_dict().items() if k != "time"},
        )
        return True

    def _report(self, decision: Decision, gen: int, paused_on: list[str], applied: bool) -> None:
        reasons = set(decision.reasons)
        if paused_on:
            self._cond(
                "Ready",
                True,
                "Paused",
                f"paused by {PAUSED_ANNOTATION} on {', '.join(paused_on)}: "
                f"would do {decision.message}",
                gen,
            )
        elif decision.recommend_only:
            self._cond("Ready", True, "RecommendOnly", f"recommends {decision.message}", gen)
        else:
            self._cond("Ready", True, "Decided", decision.message, gen)
        engine = self.engine
        model = engine.model if engine is not None else None
        if engine is not None and not engine.config.forecast.enabled:
            self._cond("ForecastReady", False, "ForecastDisabled", "reactive scaling only", gen)
        elif Reason.FORECAST_DEGRADED in reasons:
            err = decision.model_error
            self._cond(
                "ForecastReady",
                False,
                "ForecastDegraded",
                f"model error {err:.2f}x seasonal naive: scaling reactively"
                if err is not None
                else "model worse than seasonal naive",
                gen,
            )
        elif model is not None and model.ok:
            self._cond("ForecastReady", True, "ModelFitted", f"model {model.model}", gen)
        elif self.fit_note is not None:
            self._cond(
                "ForecastReady",
                False,
                self.fit_note[0],
                f"{self.fit_note[1]}; scaling reactively",
                gen,
            )
        else:
            self._cond("ForecastReady", "Unknown", "Fitting", "first fit in progress", gen)
        limited = sorted(r.value for r in reasons & _LIMITS)
        self._cond(
            "ScalingLimited",
            bool(limited),
            limited[0] if limited else "WithinLimits",
            ", ".join(limited) or "desired replicas within bounds and rate limits",
            gen,
        )
        labels = (self.namespace, self.name)
        if decision.load is not None:
            m.CURRENT_LOAD.labels(*labels).set(decision.load)
        if decision.forecast_load is not None:
            m.FORECAST_LOAD.labels(*labels).set(decision.forecast_load)
        if decision.model_error is not None:
            m.MODEL_ERROR.labels(*labels).set(decision.model_error)
        m.DESIRED_REPLICAS.labels(*labels).set(decision.desired_replicas)
        m.CURRENT_REPLICAS.labels(*labels).set(decision.current_replicas)
        m.DECISIONS.labels(*labels, decision.reasons[0].value if decision.reasons else "None").inc()

    async def _write(
        self, decision: Decision, ref: TargetRef, scale: ScaleState, gen: int, applied: bool
    ) -> None:
        engine = self.engine
        model = engine.model if engine is not None else None
        cfg = engine.config if engine is not None else None
        capacity = scale.spec_replicas * cfg.target_per_replica if cfg is not None else None
        status: dict[str, Any] = {
            "observedGeneration": gen,
            "conditions": self.conditions,
            "target": str(ref),
            "currentReplicas": decision.current_replicas,
            "desiredReplicas": decision.desired_replicas,
            "currentLoad": _fmt(decision.load),
            "forecastLoad": _fmt(decision.forecast_load),
            "capacity": _fmt(capacity),
            "reasons": [r.value for r in decision.reasons][:16],
            "model": (
                model.model
                if model is not None and model.ok
                else f"none ({model.error})"
                if model is not None
                else "none (not fitted yet)"
            )[:256],
            "modelError": _fmt(decision.model_error),
            "forecastUsed": decision.forecast_used,
            "lastDecisionTime": now_iso(),
            "lastScaleTime": self.last_scale_time,
            "lastFitTime": self.last_fit_time,
            "engine": engine.state.to_dict() if engine is not None else {},
        }
        await self._patch_status({k: v for k, v in status.items() if v is not None})


@kopf.daemon(GROUP, VERSION, PLURAL, cancellation_timeout=10.0, when=sharding.owned)
async def predictive_scaler(
    *,
    stopped: kopf.DaemonStopped,
    name: str,
    namespace: str | None,
    body: kopf.Body,
    status: kopf.Status,
    memo: kopf.Memo,
    **_: Any,
) -> None:
    """Tick until the object is deleted or the operator stops; never raise (no crash loops)."""
    services: Services = memo["services"]
    if namespace is None:  # the CRD is namespaced; kopf types allow cluster-scoped kinds too
        return
    runner = ScalerRunner(namespace, name, services, dict(status))
    log.info("scaler.started", scaler=f"{namespace}/{name}")
    try:
        runner.due = time.monotonic()  # the first tick is due when the daemon starts
        while not stopped:
            try:
                delay = await runner.tick(body)
            except Exception:  # a bug must cost a tick, not the scaler
                log.exception("scaler.tick_failed", scaler=f"{namespace}/{name}")
                delay = 30.0
            runner.due = time.monotonic() + delay
            await stopped.wait(delay)
    finally:
        if runner.fit_task is not None:
            runner.fit_task.cancel()
        m.forget_scaler(namespace, name)
        log.info("scaler.stopped", scaler=f"{namespace}/{name}")
