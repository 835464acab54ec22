"""``auto``: pick or combine models per series by rolling-origin backtests on its own history.

Why this design (measured, see docs/forecasting.md):

* Candidates are cheap by default (seasonal naive daily and weekly, naive, linear, seasonal
  profile + AR in two flavours). Each refits in about a millisecond, so ``auto`` can afford a
  dozen backtest origins and still fit a 2,016-point series well under half a second. Heavy
  models (ETS, Prophet, statsforecast ARIMA/Theta/MSTL) can be added with ``candidates=``; each
  candidate has a time budget and is dropped, not waited for, when it exceeds it.
* Origins are spread over the last day (``n_origins`` of them), so the backtest sees every part
  of the daily cycle rather than only the last hour.
* Selection is by MASE against seasonal naive; the mean of the best two or three candidates is
  also tried and wins when its backtest MASE is lower (combinations are robust on load data).
* Intervals are conformal: the chosen forecast's backtest errors give a smooth error scale per
  lead time and a multiplier per level, so the 80% band covers about 80% on the backtests
  whatever the models' own (usually too narrow) Gaussian bands say.
* A candidate that raises is skipped; if nothing survives, the fallback is naive, which cannot
  fail on a cleaned series. ``auto`` never fails because one model did.
* Cold start: with less than two days of history no daily-season model is trusted; ``auto``
  uses only models that need no season, sets ``cold_start_`` and explains in ``reason_``.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Self

import numpy as np
import pandas as pd

from prognos.forecasting.backtest import mase_scale, origins, sub_prepared
from prognos.forecasting.base import FloatArray, Forecaster
from prognos.forecasting.clean import Prepared
from prognos.forecasting.intervals import (
    Bands,
    calibrate_scale,
    conformal_bands,
    conformal_quantiles,
    extend_scale,
)

VARIANTS: Mapping[str, tuple[str, Mapping[str, Any]]] = {
    "seasonal-naive": ("seasonal-naive", {}),
    "seasonal-naive-weekly": ("seasonal-naive", {"season": "weekly"}),
    "naive": ("naive", {}),
    "linear": ("linear", {}),
    "seasonal-ar": ("seasonal-ar", {}),
    "seasonal-ari": ("seasonal-ar", {"integrated": True}),
}
"""Candidate label -> (registry name, parameters); any registry name is also a valid label."""

DEFAULT_CANDIDATES: tuple[str, ...] = (
    "seasonal-naive",
    "seasonal-naive-weekly",
    "naive",
    "linear",
    "seasonal-ar",
    "seasonal-ari",
)
CALIBRATED_LEVELS: tuple[float, ...] = (0.5, 0.8, 0.9, 0.95)


def _build(label: str) -> Forecaster:
    from prognos.forecasting.registry import make_forecaster

    name, params = VARIANTS.get(label, (label, {}))
    return make_forecaster(name, **params)


def default_backtest_horizon(step: pd.Timedelta) -> int:
    """One hour ahead, and at least 12 steps: the lead time a scaler typically needs."""
    return max(12, int(pd.Timedelta(hours=1) / step))


class AutoForecaster(Forecaster):
    """Backtest-selected model or combination with conformal intervals (see module docstring).

    After ``fit``: ``chosen_`` (labels used), ``scores_`` (backtest MASE per candidate),
    ``cold_start_`` and ``reason_`` (human-readable: what was chosen and why).
    """

    name: ClassVar[str] = "auto"

    chosen_: tuple[str, ...]
    scores_: dict[str, float]
    skipped_: dict[str, str]
    cold_start_: bool
    members_: list[Forecaster]
    scale_: FloatArray
    multipliers_: dict[float, float]
    backtest_horizon_: int
    calibrated_: bool

    def __init__(
        self,
        candidates: Sequence[str] | None = None,
        horizon: int | None = None,
        n_origins: int = 24,
        span_days: float = 1.0,
        time_budget: float = 2.0,
        combine: bool = True,
    ) -> None:
        self.candidates = tuple(candidates) if candidates is not None else DEFAULT_CANDIDATES
        self.horizon = horizon
        self.n_origins = n_origins
        self.span_days = span_days
        self.time_budget = time_budget
        self.combine = combine

    @property
    def label(self) -> str:
        chosen = getattr(self, "chosen_", ())
        return f"auto({'+'.join(chosen)})" if chosen else "auto"

    def fit_prepared(self, prepared: Prepared) -> Self:
        self.prepared_ = prepared  # _fit needs the timestamps' step to cut backtest origins
        return super().fit_prepared(prepared)

    def _candidate_labels(self) -> list[str]:
        daily = self.daily_season_ if self.daily_season_ in self.seasons_ else None
        self.cold_start_ = daily is None
        labels: list[str] = []
        for label in self.candidates:
            model = _build(label)
            if self.cold_start_ and model.min_seasons > 0:
                continue
            if label == "seasonal-naive-weekly" and (
                daily is None or 7 * daily not in self.seasons_
            ):
                continue
            labels.append(label)
        return labels or ["naive"]

    def _fit(self, values: FloatArray) -> None:
        prep = self.prepared_
        n = len(values)
        labels = self._candidate_labels()
        daily = self.daily_season_ if not self.cold_start_ else None
        horizon = self.horizon or default_backtest_horizon(self.step_)
        horizon = max(1, min(horizon, n // 3))
        self.backtest_horizon_ = horizon
        if daily:
            # Over the last day, or two horizons when longer (hourly data, 48 steps ahead), so the
            # errors used for calibration do not all come from one overlapping window.
            span = max(self.span_days * daily, 2.0 * horizon)
            spacing = max(1, round(span / self.n_origins))
            min_train = 2 * daily  # seasonal candidates stay seasonal at every origin
        else:
            spacing, min_train = max(1, horizon // 2), max(3, n // 2)
        cuts = origins(n, horizon, self.n_origins, spacing, min_train)
        if len(cuts) < 3:  # short history: denser origins rather than too few
            cuts = origins(n, horizon, self.n_origins, max(1, spacing // 4), max(3, n // 2))
        cuts = cuts or [n - horizon]
        scale = mase_scale(values, daily)
        errors: dict[str, FloatArray] = {}
        self.skipped_ = {}
        train_sets = [sub_prepared(prep, o) for o in cuts]
        for label in labels:
            e = np.full((len(cuts), horizon), np.nan)
            started = time.perf_counter()
            for i, (o, train) in enumerate(zip(cuts, train_sets, strict=True)):
                if time.perf_counter() - started > self.time_budget:
                    self.skipped_.setdefault(label, f"time budget {self.time_budget:g}s exceeded")
                    break
                try:
                    fc = _build(label).fit_prepared(train).predict(horizon, (0.8,))
                except Exception as exc:  # any model failure: skip it, never fail auto
                    self.skipped_[label] = f"{type(exc).__name__}: {exc}"
                    break
                e[i] = values[o : o + horizon] - fc.mean
            done = ~np.isnan(e).any(axis=1)
            if done.sum() >= min(3, len(cuts)):
                errors[label] = e  # rows = origins; NaN rows (cut off by budget) are ignored
        self.scores_ = {
            k: float(np.nanmean(np.abs(v)) / scale) if scale > 0 else float(np.nanmean(np.abs(v)))
            for k, v in errors.items()
        }
        chosen, chosen_err = self._select(errors)
        self.members_ = []
        for label in chosen:
            try:
                self.members_.append(_build(label).fit_prepared(prep))
            except Exception as exc:
                self.skipped_[label] = f"final fit failed: {type(exc).__name__}: {exc}"
        if not self.members_:
            from prognos.forecasting.models.naive import Naive

            self.members_ = [Naive().fit_prepared(prep)]
            chosen = ("naive",)
        self.chosen_ = chosen
        # Without any backtest errors (everything failed) there is nothing to calibrate on: the
        # fallback model's own band is used rather than an invented zero-width one.
        self.calibrated_ = bool(np.isfinite(chosen_err).any())
        self.scale_ = calibrate_scale(chosen_err) if self.calibrated_ else np.zeros(horizon)
        self.multipliers_ = conformal_quantiles(chosen_err, self.scale_, CALIBRATED_LEVELS)
        self.reason_ = self._explain(n)

    def _select(self, errors: dict[str, FloatArray]) -> tuple[tuple[str, ...], FloatArray]:
        if not errors:
            return ("naive",), np.zeros((0, 0))
        ranked = sorted(errors, key=lambda k: float(np.nanmean(np.abs(errors[k]))))
        best: tuple[str, ...] = (ranked[0],)
        best_err = errors[ranked[0]]
        best_mae = float(np.nanmean(np.abs(best_err)))
        if self.combine:
            for k in (2, 3):
                if len(ranked) < k:
                    break
                combo = np.mean([errors[r] for r in ranked[:k]], axis=0)
                mae = float(np.nanmean(np.abs(combo)))
                if mae < best_mae:
                    best, best_err, best_mae = tuple(ranked[:k]), combo, mae
        return best, best_err

    def _explain(self, n: int) -> str:
        parts = [f"chose {'+'.join(self.chosen_)} by backtest MASE"]
        if self.scores_:
            top = sorted(self.scores_.items(), key=lambda kv: kv[1])[:4]
            parts.append("(" + ", ".join(f"{k} {v:.2f}" for k, v in top) + ")")
        if self.cold_start_:
            days = n * self.step_ / pd.Timedelta(days=1)
            parts.insert(
                0,
                f"cold start: {days:.1f} days of history, under two daily seasons; "
                "using models that need no season;",
            )
        if self.skipped_:
            parts.append("; skipped " + ", ".join(f"{k} ({v})" for k, v in self.skipped_.items()))
        return " ".join(parts)

    def _predict(self, horizon: int, levels: tuple[float, ...]) -> tuple[FloatArray, Bands]:
        if not self.calibrated_:
            fc = self.members_[0].predict(horizon, levels)
            return fc.mean, {lv: (fc.lower[lv], fc.upper[lv]) for lv in levels}
        means = [m.predict(horizon, (0.8,)).mean for m in self.members_]
        mean: FloatArray = np.mean(means, axis=0)
        scale = extend_scale(self.scale_, horizon)
        return mean, conformal_bands(mean, scale, self.multipliers_, levels)
