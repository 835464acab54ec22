"""The per-tick decision object shared by the operator and the simulator.

One ``ScalerEngine`` per PredictiveScaler. The operator handler and ``prognos simulate`` call the
very same methods, in the same order, so a replay is evidence about production behaviour
(DESIGN §5 rule 4):

1. ``needs_refit(now)`` -- cheap; True when no model is installed or it is older than
   ``forecast.refit_interval``;
2. ``fit_model(config.forecast, history, now)`` -- the expensive step, a pure module function with
   picklable inputs and output so the operator can run it in a worker pool off the event loop;
   it fits the model and predicts once for the whole refit interval plus horizon, because a
   forecast per tick would cost a model ``predict`` (Prophet: ~100 ms) every 15 s;
3. ``install(fitted)`` -- swaps the cached model in (also on failure: the error is kept and
   reported, and the next attempt waits for the refit interval);
4. ``decide(now=..., current_replicas=..., load=..., load_time=...)`` -- cheap (a slice of the
   cached forecast and the calculator), returns a ``Decision``.

Between fits the cached forecast is re-anchored on the latest observation: the path is shifted by
(last actual - cached mean at that time). Load errors are strongly autocorrelated, so this turns
an hour-old forecast into a good short-horizon one at the cost of a subtraction; the shape
(the predicted change over the horizon) and the interval width still come from the model.

Safety (DESIGN §5 rule 1): a missing, non-finite, negative or stale load never lowers capacity;
the engine holds the current count or goes up to the declared fallback count.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

from prognos.forecasting.base import ForecastError
from prognos.scaling.accuracy import AccuracyTracker, BoundCalibrator
from prognos.scaling.calculator import (
    CalculatorState,
    Reason,
    epoch_seconds,
    recommend,
    record_scale,
)
from prognos.scaling.config import FallbackKind, ForecastConfig, Mode, ScalerConfig
from prognos.scaling.models import FloatArray, ModelFactory, make_model


@dataclass(frozen=True)
class FittedModel:
    """A fitted model reduced to what ``decide`` needs: the forecast path on a regular grid.

    ``start``/``step`` are epoch seconds of the first forecast point and the grid step;
    ``mean``/``upper`` the point forecast and the upper bound at the configured quantile;
    ``naive`` the seasonal-naive forecast of the same points (for the accuracy guard). A failed
    or refused fit has ``error`` set (``insufficient_history`` for a cold start) and empty arrays.
    Plain arrays and floats: cheap to pickle back from a worker process.
    """

    model: str
    fitted_at: float
    start: float = 0.0
    step: float = 0.0
    mean: FloatArray = field(default_factory=lambda: np.empty(0))
    upper: FloatArray = field(default_factory=lambda: np.empty(0))
    naive: FloatArray = field(default_factory=lambda: np.empty(0))
    error: str | None = None
    insufficient_history: bool = False

    @property
    def ok(self) -> bool:
        return self.error is None and len(self.mean) > 0


def fit_model(
    config: ForecastConfig,
    history: pd.Series,
    now: datetime,
    factory: ModelFactory = make_model,
    *,
    lookahead: timedelta | None = None,
) -> FittedModel:
    """Fit ``config.model`` on ``history`` and predict the next refit interval plus horizon.

    ``lookahead`` (``ScalerEngine.fit_lookahead``) extends the prediction when decisions look
    further ahead than the horizon (forecast-confirmed scale-down looks over the scale-down
    window); without it, confirmation is skipped near the end of a refit interval.

    Pure and synchronous; never raises for bad data (returns a ``FittedModel`` with ``error``),
    so a worker-pool future always yields something to ``install``. Only data up to ``now`` is
    used, which keeps replays causal even if the caller passes more.
    """
    fitted_at = epoch_seconds(now)
    try:
        y = _clean_history(history, now, config)
        span = (y.index[-1] - y.index[0]) if len(y) else pd.Timedelta(0)
        if len(y) < 3 or span < config.min_seasons * pd.Timedelta(config.season):
            return FittedModel(
                model=config.model,
                fitted_at=fitted_at,
                error=f"{span} of history, {config.min_seasons} seasons of {config.season} needed",
                insufficient_history=True,
            )
        model = factory(config.model, config.season)
        model.fit(y)
        step = pd.Timedelta(np.median(np.diff(pd.DatetimeIndex(y.index).asi8)), unit="ns")
        ahead = config.horizon if lookahead is None else max(config.horizon, lookahead)
        cover = pd.Timedelta(config.refit_interval + ahead) + 2 * step
        steps = max(1, math.ceil(cover / step))
        level = config.interval_level
        forecast = model.predict(steps, levels=(level,) if level is not None else (0.8,))
        mean = np.asarray(forecast.mean, dtype=np.float64)
        upper = mean if level is None else np.asarray(forecast.upper[level], dtype=np.float64)
        stamps = pd.DatetimeIndex(forecast.timestamps)
        lagged = y.reindex(stamps - pd.Timedelta(config.season))
        name = str(getattr(forecast, "model", config.model))
        grid_step = (
            (stamps[1] - stamps[0]).total_seconds() if len(stamps) > 1 else step.total_seconds()
        )
        if not (np.all(np.isfinite(mean)) and np.all(np.isfinite(upper))):
            raise ForecastError("model produced non-finite values")
        return FittedModel(
            model=name,
            fitted_at=fitted_at,
            start=epoch_seconds(stamps[0].to_pydatetime()),
            step=float(grid_step),
            mean=mean,
            upper=np.maximum(upper, mean),
            naive=lagged.to_numpy(dtype=np.float64),
        )
    except (ForecastError, ValueError, ArithmeticError) as exc:
        return FittedModel(model=config.model, fitted_at=fitted_at, error=str(exc) or repr(exc))


def _clean_history(
    history: pd.Series,
    now: datetime,
    config: ForecastConfig,
) -> pd.Series:
    y = pd.to_numeric(history, errors="coerce").astype("float64")
    index = pd.DatetimeIndex(y.index)
    if index.tz is not None:
        index = index.tz_convert("UTC").tz_localize(None)
    y.index = index
    y = y[np.isfinite(y.to_numpy()) & (y.to_numpy() >= 0)].sort_index()
    y = y[~y.index.duplicated(keep="last")]
    end = pd.Timestamp(datetime.fromtimestamp(epoch_seconds(now), tz=UTC).replace(tzinfo=None))
    return y[(y.index <= end) & (y.index > end - pd.Timedelta(config.history))]


@dataclass(frozen=True)
class Decision:
    """One tick's outcome: what to ask for, from what, and why.

    ``desired_replicas`` is always within [min, max]. ``recommend_only`` is True in Recommend
    mode: publish, never act (``should_scale`` is then False). ``reasons[0]`` is the main reason;
    later codes qualify it (limits, stabilization, why the forecast was or was not used).
    ``forecast_load`` is the upper bound at the configured quantile, maximised over the horizon
    and re-anchored on the latest observation; ``model_error`` the rolling MAE of the model
    relative to seasonal naive (None until enough points were scored).
    """

    time: datetime
    current_replicas: int
    desired_replicas: int
    load: float | None
    forecast_load: float | None
    reactive_replicas: int | None
    forecast_replicas: int | None
    reasons: tuple[Reason, ...]
    model: str | None
    forecast_used: bool
    model_error: float | None
    recommend_only: bool

    @property
    def should_scale(self) -> bool:
        return not self.recommend_only and self.desired_replicas != self.current_replicas

    @property
    def message(self) -> str:
        """One line for Events and status: the result, its inputs and its reasons."""
        load = "missing" if self.load is None else f"{self.load:.4g}"
        fc = "n/a" if self.forecast_load is None else f"{self.forecast_load:.4g}"
        return (
            f"{self.current_replicas} -> {self.desired_replicas} replicas "
            f"(load {load}, forecast {fc}, model {self.model or 'none'}): "
            + ", ".join(r.value for r in self.reasons)
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, camelCase, for status and structured logs."""
        return {
            "time": _iso(self.time),
            "currentReplicas": self.current_replicas,
            "desiredReplicas": self.desired_replicas,
            "currentLoad": self.load,
            "forecastLoad": self.forecast_load,
            "reactiveReplicas": self.reactive_replicas,
            "forecastReplicas": self.forecast_replicas,
            "reasons": [r.value for r in self.reasons],
            "model": self.model,
            "forecastUsed": self.forecast_used,
            "modelRelativeError": self.model_error,
            "recommendOnly": self.recommend_only,
        }


def _iso(t: datetime) -> str:
    return datetime.fromtimestamp(epoch_seconds(t), tz=UTC).isoformat().replace("+00:00", "Z")


@dataclass
class EngineState:
    """What must survive an operator restart: the HPA memory and the accuracy verdict.

    The fitted model and the accuracy window are not persisted: a restarted operator refits at
    once (``needs_refit``) and re-scores from scratch, keeping the last verdict meanwhile.
    """

    calculator: CalculatorState = field(default_factory=CalculatorState)
    degraded: bool = False
    last_scale_time: float | None = None
    # Last tick whose load was missing or stale: no forecast-confirmed scale-down within one
    # scale-down window of it (the held count must age out of the window first, as in HPA).
    last_fallback_time: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.calculator.to_dict(),
            "forecastDegraded": self.degraded,
            "lastScaleTime": _iso_or_none(self.last_scale_time),
            "lastFallbackTime": _iso_or_none(self.last_fallback_time),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EngineState:
        return cls(
            calculator=CalculatorState.from_dict(data),
            degraded=bool(data.get("forecastDegraded", False)),
            last_scale_time=_epoch_or_none(data.get("lastScaleTime")),
            last_fallback_time=_epoch_or_none(data.get("lastFallbackTime")),
        )


def _iso_or_none(t: float | None) -> str | None:
    return None if t is None else _iso(datetime.fromtimestamp(t, tz=UTC))


def _epoch_or_none(value: Any) -> float | None:
    return None if value is None else epoch_seconds(datetime.fromisoformat(str(value)))


# Scored ranges needed before the calibrated margin replaces the model's interval.
CALIBRATION_POINTS = 120


class ScalerEngine:
    """Decision loop for one PredictiveScaler; see the module docstring for the call order."""

    def __init__(
        self,
        config: ScalerConfig,
        state: EngineState | None = None,
        *,
        factory: ModelFactory = make_model,
    ) -> None:
        self.config = config
        self.state = state if state is not None else EngineState()
        self.factory = factory
        self.model: FittedModel | None = None
        self.tracker = AccuracyTracker(
            window_seconds=config.forecast.accuracy_window.total_seconds(),
            min_points=config.forecast.min_accuracy_points,
        )
        window = config.forecast.accuracy_window.total_seconds()
        self.horizon_bounds = BoundCalibrator(window, CALIBRATION_POINTS)
        self.window_bounds = BoundCalibrator(window, CALIBRATION_POINTS)
        self._last_sample = float("-inf")
        self._anchor: float | None = None
        self._anchor_time = float("-inf")

    # -- fitting ---------------------------------------------------------------------------

    def needs_refit(self, now: datetime) -> bool:
        if not self.config.forecast.enabled:
            return False
        if self.model is None:
            return True
        age = epoch_seconds(now) - self.model.fitted_at
        return age >= self.config.forecast.refit_interval.total_seconds()

    @property
    def fit_lookahead(self) -> timedelta:
        """How far past ``now`` decisions read the forecast: the horizon, or the scale-down
        window when forecast-confirmed scale-down looks further. Pass it to ``fit_model``."""
        fc = self.config.forecast
        if not fc.confirmed_scale_down:
            return fc.horizon
        window = timedelta(seconds=self.config.behavior.scale_down.stabilization_window_seconds)
        return max(fc.horizon, window)

    def fit(self, history: pd.Series, now: datetime) -> FittedModel:
        """``fit_model`` with this engine's config and factory (does not install)."""
        return fit_model(
            self.config.forecast, history, now, self.factory, lookahead=self.fit_lookahead
        )

    def install(self, model: FittedModel) -> None:
        """Swap in a newly fitted model (or a failed fit, which disables the forecast)."""
        self.model = model
        self._anchor = None  # offsets are relative to the installed path

    # -- deciding --------------------------------------------------------------------------

    def decide(
        self,
        *,
        now: datetime,
        current_replicas: int,
        load: float | None,
        load_time: datetime | None = None,
    ) -> Decision:
        """One tick. ``load`` is the latest sample (None when the query returned nothing) and
        ``load_time`` its timestamp (default ``now``); a sample older than
        ``metric_stale_after`` counts as missing."""
        cfg = self.config
        if current_replicas < 0:
            raise ValueError(f"current replicas must be >= 0, got {current_replicas}")
        now_s = epoch_seconds(now)
        sample_s = now_s if load_time is None else epoch_seconds(load_time)
        usable = (
            load is not None
            and math.isfinite(load)
            and load >= 0.0
            and now_s - sample_s <= cfg.metric_stale_after.total_seconds()
        )
        record = cfg.mode is Mode.AUTO
        if not usable or load is None:
            return self._fallback(now, now_s, current_replicas, load, record)

        self._score(sample_s, load)
        if sample_s > self._last_sample:
            self._last_sample = sample_s
            self.horizon_bounds.observe(sample_s, load)
            self.window_bounds.observe(sample_s, load)
        forecast_load, confirm_load, notes = self._forecast_load(now_s, sample_s, load)
        rec = recommend(
            cfg,
            self.state.calculator,
            now=now_s,
            current=current_replicas,
            load=load,
            forecast_load=forecast_load,
            confirm_load=confirm_load,
            record=record,
        )
        reasons = rec.reasons + tuple(notes)
        if cfg.mode is Mode.RECOMMEND:
            reasons += (Reason.RECOMMEND_ONLY,)
        if record and rec.desired != current_replicas:
            self.state.last_scale_time = now_s
        return Decision(
            time=now,
            current_replicas=current_replicas,
            desired_replicas=rec.desired,
            load=load,
            forecast_load=forecast_load,
            reactive_replicas=rec.reactive,
            forecast_replicas=rec.forecast,
            reasons=reasons,
            model=self.model.model if self.model is not None and self.model.ok else None,
            forecast_used=forecast_load is not None,
            model_error=self.tracker.ratio,
            recommend_only=cfg.mode is Mode.RECOMMEND,
        )

    def _fallback(
        self, now: datetime, now_s: float, current: int, load: float | None, record: bool
    ) -> Decision:
        """Missing data: hold, or rise to the fallback count; never reduce (except above max)."""
        cfg = self.config
        if cfg.fallback.kind is FallbackKind.REPLICAS and cfg.fallback.replicas is not None:
            desired = max(current, cfg.fallback.replicas)
            reasons = [Reason.FALLBACK_REPLICAS]
        else:
            desired = current
            reasons = [Reason.FALLBACK_HOLD]
        if desired > cfg.max_replicas:
            desired = cfg.max_replicas
            reasons.append(Reason.LIMITED_BY_MAX)
        elif desired < cfg.min_replicas:
            desired = cfg.min_replicas
            reasons.append(Reason.LIMITED_BY_MIN)
        calc = self.state.calculator
        self.state.last_fallback_time = now_s
        # Remembered as a recommendation so a scale-down right after the data returns still
        # waits for the stabilization window.
        calc.recommendations.append((now_s, desired))
        if record:
            record_scale(calc, cfg, now_s, current, desired)
            if desired != current:
                self.state.last_scale_time = now_s
        if cfg.mode is Mode.RECOMMEND:
            reasons.append(Reason.RECOMMEND_ONLY)
        return Decision(
            time=now,
            current_replicas=current,
            desired_replicas=desired,
            load=None if load is None or not math.isfinite(load) else load,
            forecast_load=None,
            reactive_replicas=None,
            forecast_replicas=None,
            reasons=tuple(reasons),
            model=self.model.model if self.model is not None and self.model.ok else None,
            forecast_used=False,
            model_error=self.tracker.ratio,
            recommend_only=cfg.mode is Mode.RECOMMEND,
        )

    def _index(self, t: float) -> int | None:
        """Index of the cached forecast point at time ``t`` (within half a step), else None."""
        m = self.model
        if m is None or not m.ok:
            return None
        i = round((t - m.start) / m.step)
        if 0 <= i < len(m.mean) and abs(t - (m.start + i * m.step)) <= m.step / 2:
            return i
        return None

    def _score(self, sample_s: float, load: float) -> None:
        """Score this sample's forecast for the accuracy guard, then move the anchor onto it.

        What is scored is what the engine uses: the cached path shifted by the smoothed anchor
        as it stood before this sample, against seasonal naive (the value one season earlier).
        The anchor is kept here, for every sample, so that it also moves while the forecast is
        switched off and the guard can see a model recover.
        """
        m = self.model
        i = self._index(sample_s)
        if m is None or i is None or sample_s <= self._anchor_time:
            return
        naive = float(m.naive[i])
        if self._anchor is not None and math.isfinite(naive):
            self.tracker.observe(sample_s, load, float(m.mean[i]) + self._anchor, naive)
        # Exponentially smoothed anchor: one noisy sample does not move the whole path (nor,
        # unsmoothed, would the guard see the previous sample's noise twice and call a good
        # forecast of a noisy seasonal load no better than seasonal naive).
        offset = load - float(m.mean[i])
        a = self.config.forecast.anchor_smoothing
        self._anchor = offset if self._anchor is None else a * self._anchor + (1 - a) * offset
        self._anchor_time = sample_s
        ratio = self.tracker.ratio
        fc = self.config.forecast
        if ratio is not None:
            if not self.state.degraded and ratio > fc.max_relative_error:
                self.state.degraded = True
            elif self.state.degraded and ratio < fc.recover_relative_error:
                self.state.degraded = False

    def _forecast_load(
        self, now_s: float, sample_s: float, load: float
    ) -> tuple[float | None, float | None, list[Reason]]:
        """(forecast load over the horizon, over the scale-down window for confirmation, notes).

        The confirmation load is None unless the option is on, the cached path covers the whole
        window, and no tick in the last window lacked data.
        """
        fc = self.config.forecast
        if not fc.enabled:
            return None, None, [Reason.FORECAST_DISABLED]
        m = self.model
        if m is None or m.insufficient_history:
            return None, None, [Reason.INSUFFICIENT_HISTORY]
        if not m.ok:
            return None, None, [Reason.FORECAST_UNAVAILABLE]
        if self.state.degraded:
            return None, None, [Reason.FORECAST_DEGRADED]
        # Points whose interval (t - step, t] overlaps (now, now + horizon]: the load that
        # capacity requested now will meet once it is ready.
        lo = max(math.floor((now_s - m.start) / m.step) + 1, 0)
        hi = math.ceil((now_s + fc.horizon.total_seconds() - m.start) / m.step)
        hi = min(hi, len(m.upper) - 1)
        if hi < lo or lo >= len(m.upper):
            return None, None, [Reason.FORECAST_UNAVAILABLE]
        i = self._index(sample_s)
        offset = load - float(m.mean[i]) if i is not None else 0.0
        if i is not None and self._anchor is not None:
            offset = self._anchor  # smoothed, kept by _score
        value = self._bound(self.horizon_bounds, now_s, lo, hi, offset)
        return value, self._confirm_load(now_s, lo, offset), []

    def _bound(
        self, calibrator: BoundCalibrator, now_s: float, lo: int, hi: int, offset: float
    ) -> float:
        """Highest load over points ``lo..hi``: the anchored point forecast plus the calibrated
        margin, or the model's upper bound until enough errors were scored."""
        m = self.model
        assert m is not None
        fc = self.config.forecast
        bound = float(np.max(m.upper[lo : hi + 1])) + offset
        if fc.calibrated_bounds:
            point = float(np.max(m.mean[lo : hi + 1])) + offset
            calibrator.predict(now_s, m.start + hi * m.step, point)
            margin = calibrator.margin(fc.quantile)
            if margin is not None:
                bound = point + margin
        return max(bound, 0.0)

    def _confirm_load(self, now_s: float, lo: int, offset: float) -> float | None:
        """Forecast upper bound over ``(now, now + max(horizon, scale-down window)]``."""
        m = self.model
        cfg = self.config
        window = cfg.behavior.scale_down.stabilization_window_seconds
        if m is None or not cfg.forecast.confirmed_scale_down:
            return None
        last_gap = self.state.last_fallback_time
        if last_gap is not None and now_s - last_gap < window:
            return None
        ahead = max(cfg.forecast.horizon.total_seconds(), float(window))
        hi = math.ceil((now_s + ahead - m.start) / m.step)
        if hi >= len(m.upper):
            return None  # the cached path ends inside the window: let the window decide
        return self._bound(self.window_bounds, now_s, lo, hi, offset)
