"""Pure decision code of the PredictiveScaler: config, HPA calculator, per-tick engine.

No Kubernetes, kopf or Prometheus here: the operator maps a CR onto ``ScalerConfig`` with
``config_from_spec``, feeds ``ScalerEngine`` with samples and writes the ``Decision`` to status;
``prognos simulate`` feeds the same engine from a CSV trace.
"""

from prognos.scaling.calculator import CalculatorState, Reason, Recommendation, recommend
from prognos.scaling.config import (
    Behavior,
    Fallback,
    FallbackKind,
    ForecastConfig,
    Mode,
    PolicyType,
    ScalerConfig,
    ScalingPolicy,
    ScalingRules,
    SelectPolicy,
)
from prognos.scaling.engine import Decision, EngineState, FittedModel, ScalerEngine, fit_model
from prognos.scaling.spec import SpecError, config_from_spec

__all__ = [
    "Behavior",
    "CalculatorState",
    "Decision",
    "EngineState",
    "Fallback",
    "FallbackKind",
    "FittedModel",
    "ForecastConfig",
    "Mode",
    "PolicyType",
    "Reason",
    "Recommendation",
    "ScalerConfig",
    "ScalerEngine",
    "ScalingPolicy",
    "ScalingRules",
    "SelectPolicy",
    "SpecError",
    "config_from_spec",
    "fit_model",
    "recommend",
]
