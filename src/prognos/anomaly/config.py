"""Typed detector configuration and the pure parser from a CRD-style spec dict.

The operator reads ``signals[].prometheus`` from a RemediationPolicy and hands its detector part
to :func:`config_from_spec`. Everything is validated here, once, so that a bad spec is refused
with one clear message (a :class:`SpecError`) before any detector runs: the KEDA lesson of each
implementation parsing its own typed config and failing fast.

Kubernetes API conventions forbid floats in a spec, so every number may also be given as a
string (``"0.7"``) or a Quantity (``"1500m"``, ``"2k"``, ``"512Mi"``), and durations use the
Prometheus notation (``"30s"``, ``"5m"``, ``"1h30m"``, ``"1d"``, ``"1w"``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Literal

DetectorKind = Literal["forecast-band", "robust-zscore", "threshold", "rate", "auto"]
Direction = Literal["both", "up", "down"]

DETECTOR_KINDS: tuple[DetectorKind, ...] = (
    "forecast-band",
    "robust-zscore",
    "threshold",
    "rate",
    "auto",
)
DIRECTIONS: tuple[Direction, ...] = ("both", "up", "down")

#: Named sensitivities, as positions on the numeric 0..1 scale (1 = most sensitive).
SENSITIVITY_LEVELS: dict[str, float] = {"low": 0.25, "medium": 0.5, "high": 0.75}

#: Keys :func:`config_from_spec` understands (camelCase, as in the CRD).
SPEC_KEYS: frozenset[str] = frozenset(
    {
        "detector",
        "sensitivity",
        "for",
        "within",
        "threshold",
        "direction",
        "season",
        "seasons",
        "fireAbove",
        "clearBelow",
        "clearFor",
        "rearmAfter",
        "step",
    }
)


class SpecError(ValueError):
    """A detector spec that cannot be used; the message names the field and what is wrong."""


@dataclass(frozen=True)
class Thresholds:
    """Static bounds: a point is out of bounds at or above ``above`` / at or below ``below``."""

    above: float | None = None
    below: float | None = None

    @property
    def any(self) -> bool:
        return self.above is not None or self.below is not None


@dataclass(frozen=True)
class DetectorConfig:
    """Everything one detector needs; build it with :func:`config_from_spec` or directly.

    ``sensitivity`` is on a 0..1 scale (``low``=0.25, ``medium``=0.5, ``high``=0.75) and sets
    how many robust standard deviations away from the expected value a point must be before
    its score reaches ``fire_above`` (see :attr:`z_threshold`).

    Persistence: the detector fires when at least ``for_`` worth of points (rounded to whole
    steps, at least one) scored at or above ``fire_above`` among the points of the last
    ``within`` (default: the same duration as ``for_`` rounded up, i.e. consecutive points, plus
    one step of slack). Hysteresis: once firing it clears only after ``clear_for`` of points
    (default: as many as ``for_``) scored below ``clear_below``, and it cannot fire again
    until ``rearm_after`` has passed since it cleared.
    """

    detector: DetectorKind = "auto"
    sensitivity: float = SENSITIVITY_LEVELS["medium"]
    for_: timedelta = timedelta(minutes=10)
    within: timedelta | None = None
    threshold: Thresholds = field(default_factory=Thresholds)
    direction: Direction = "both"
    season: timedelta | None = timedelta(days=1)
    seasons: int = 7
    fire_above: float = 0.5
    clear_below: float = 0.25
    clear_for: timedelta | None = None
    rearm_after: timedelta = timedelta(hours=2)
    step: timedelta | None = None

    def __post_init__(self) -> None:
        _check(self.detector in DETECTOR_KINDS, "detector", f"unknown {self.detector!r}")
        _check(0.0 <= self.sensitivity <= 1.0, "sensitivity", "must be between 0 and 1")
        _check(self.for_ >= timedelta(0), "for", "must not be negative")
        if self.within is not None:
            _check(self.within >= self.for_, "within", "must be at least as long as 'for'")
        _check(self.direction in DIRECTIONS, "direction", f"unknown {self.direction!r}")
        if self.season is not None:
            _check(self.season > timedelta(0), "season", "must be positive")
        _check(1 <= self.seasons <= 28, "seasons", "must be between 1 and 28")
        _check(0.0 < self.fire_above <= 1.0, "fireAbove", "must be in (0, 1]")
        _check(
            0.0 <= self.clear_below <= self.fire_above,
            "clearBelow",
            "must be between 0 and fireAbove",
        )
        _check(self.rearm_after >= timedelta(0), "rearmAfter", "must not be negative")
        if self.step is not None:
            _check(self.step > timedelta(0), "step", "must be positive")
        t = self.threshold
        if t.above is not None and t.below is not None:
            _check(t.below < t.above, "threshold", "'below' must be less than 'above'")
        if self.detector == "threshold":
            _check(t.any, "threshold", "the threshold detector needs 'above' and/or 'below'")

    @property
    def z_threshold(self) -> float:
        """Robust standard deviations from the expected value at which a point scores 0.5.

        Linear in sensitivity: 0 -> 8, low -> 6.75, medium -> 5.5, high -> 4.25, 1 -> 3.
        Residuals of real load are heavy-tailed, so thresholds far beyond the Gaussian 3 are
        what keeps false alarms near one a week (see benchmarks/RESULTS.md).
        """
        return 8.0 - 5.0 * self.sensitivity


def config_from_spec(
    spec: Mapping[str, Any], *, ignore_keys: Collection[str] = ()
) -> DetectorConfig:
    """Build a :class:`DetectorConfig` from a CRD-style dict, or raise :class:`SpecError`.

    Unknown keys are refused (a typo must not silently fall back to a default) unless listed in
    ``ignore_keys`` (for example ``("query",)`` when passing a whole Prometheus signal).
    """
    if not isinstance(spec, Mapping):
        raise SpecError(f"detector spec must be a mapping, got {type(spec).__name__}")
    unknown = sorted(set(spec) - SPEC_KEYS - set(ignore_keys))
    if unknown:
        raise SpecError(
            f"unknown detector field(s) {', '.join(map(repr, unknown))}; "
            f"known: {', '.join(sorted(SPEC_KEYS))}"
        )
    kwargs: dict[str, Any] = {}
    if "detector" in spec:
        kind = spec["detector"]
        if kind not in DETECTOR_KINDS:
            raise SpecError(
                f"detector: unknown {kind!r}; expected one of {', '.join(DETECTOR_KINDS)}"
            )
        kwargs["detector"] = kind
    if "sensitivity" in spec:
        kwargs["sensitivity"] = parse_sensitivity(spec["sensitivity"])
    if "for" in spec:
        kwargs["for_"] = _duration(spec["for"], "for", allow_zero=True)
    if "within" in spec:
        kwargs["within"] = _duration(spec["within"], "within", allow_zero=True)
    if "threshold" in spec:
        kwargs["threshold"] = _thresholds(spec["threshold"])
    if "direction" in spec:
        direction = spec["direction"]
        if direction not in DIRECTIONS:
            raise SpecError(f"direction: unknown {direction!r}; expected both, up or down")
        kwargs["direction"] = direction
    if "season" in spec:
        season = spec["season"]
        kwargs["season"] = None if season in (None, "none") else _duration(season, "season")
    if "seasons" in spec:
        kwargs["seasons"] = _integer(spec["seasons"], "seasons")
    if "fireAbove" in spec:
        kwargs["fire_above"] = parse_number(spec["fireAbove"], "fireAbove")
    if "clearBelow" in spec:
        kwargs["clear_below"] = parse_number(spec["clearBelow"], "clearBelow")
    if "clearFor" in spec:
        kwargs["clear_for"] = _duration(spec["clearFor"], "clearFor", allow_zero=True)
    if "rearmAfter" in spec:
        kwargs["rearm_after"] = _duration(spec["rearmAfter"], "rearmAfter", allow_zero=True)
    if "step" in spec:
        kwargs["step"] = _duration(spec["step"], "step")
    return DetectorConfig(**kwargs)


def parse_sensitivity(raw: object) -> float:
    """``low``/``medium``/``high`` or a number in [0, 1] (1 = most sensitive)."""
    if isinstance(raw, str) and raw.strip().lower() in SENSITIVITY_LEVELS:
        return SENSITIVITY_LEVELS[raw.strip().lower()]
    try:
        value = parse_number(raw, "sensitivity")
    except SpecError:
        raise SpecError(
            f"sensitivity: expected low, medium, high or a number in [0, 1], got {raw!r}"
        ) from None
    if not 0.0 <= value <= 1.0:
        raise SpecError(f"sensitivity: {raw!r} is outside [0, 1]")
    return value


_DURATION_RE = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")
_DURATION_UNITS = {
    "ms": 0.001,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
    "d": 86400.0,
    "w": 604800.0,
}


def parse_duration(raw: object, name: str = "duration") -> timedelta:
    """Prometheus-style duration (``"90s"``, ``"1h30m"``, ``"1d"``) or integer seconds."""
    if isinstance(raw, timedelta):
        return raw
    if isinstance(raw, bool):
        raise SpecError(f"{name}: expected a duration like '5m', got {raw!r}")
    if isinstance(raw, int):
        return timedelta(seconds=raw)
    if not isinstance(raw, str) or not raw.strip():
        raise SpecError(f"{name}: expected a duration like '5m', got {raw!r}")
    text = raw.strip()
    if text == "0":
        return timedelta(0)
    pos, seconds = 0, 0.0
    for match in _DURATION_RE.finditer(text):
        if match.start() != pos:
            break
        seconds += float(match.group(1)) * _DURATION_UNITS[match.group(2)]
        pos = match.end()
    if pos != len(text) or pos == 0:
        raise SpecError(f"{name}: expected a duration like '30s', '5m', '1h30m', got {raw!r}")
    return timedelta(seconds=seconds)


_QUANTITY_RE = re.compile(r"^([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)([a-zA-Z]*)$")
_QUANTITY_SUFFIXES = {
    "": 1.0,
    "n": 1e-9,
    "u": 1e-6,
    "m": 1e-3,
    "k": 1e3,
    "M": 1e6,
    "G": 1e9,
    "T": 1e12,
    "P": 1e15,
    "E": 1e18,
    "Ki": 2.0**10,
    "Mi": 2.0**20,
    "Gi": 2.0**30,
    "Ti": 2.0**40,
    "Pi": 2.0**50,
    "Ei": 2.0**60,
}


def parse_number(raw: object, name: str = "value") -> float:
    """A finite number: int, float, numeric string, or Kubernetes Quantity (``"500m"``)."""
    if isinstance(raw, bool):
        raise SpecError(f"{name}: expected a number, got {raw!r}")
    value: float
    if isinstance(raw, int | float):
        value = float(raw)
    elif isinstance(raw, str):
        match = _QUANTITY_RE.match(raw.strip())
        if match is None or match.group(2) not in _QUANTITY_SUFFIXES:
            raise SpecError(f"{name}: expected a number or quantity, got {raw!r}")
        value = float(match.group(1)) * _QUANTITY_SUFFIXES[match.group(2)]
    else:
        raise SpecError(f"{name}: expected a number, got {raw!r}")
    if not math.isfinite(value):
        raise SpecError(f"{name}: must be finite, got {raw!r}")
    return value


def _duration(raw: object, name: str, *, allow_zero: bool = False) -> timedelta:
    value = parse_duration(raw, name)
    if value < timedelta(0) or (value == timedelta(0) and not allow_zero):
        raise SpecError(f"{name}: must be positive, got {raw!r}")
    return value


def _integer(raw: object, name: str) -> int:
    value = parse_number(raw, name)
    if value != int(value):
        raise SpecError(f"{name}: expected a whole number, got {raw!r}")
    return int(value)


def _thresholds(raw: object) -> Thresholds:
    if not isinstance(raw, Mapping):
        raise SpecError("threshold: expected a mapping with 'above' and/or 'below'")
    unknown = sorted(set(raw) - {"above", "below"})
    if unknown:
        raise SpecError(f"threshold: unknown field(s) {', '.join(map(repr, unknown))}")
    above = raw.get("above")
    below = raw.get("below")
    return Thresholds(
        above=None if above is None else parse_number(above, "threshold.above"),
        below=None if below is None else parse_number(below, "threshold.below"),
    )


def _check(ok: bool, name: str, problem: str) -> None:
    if not ok:
        raise SpecError(f"{name}: {problem}")
