"""The chart's Grafana dashboard queries only metrics the operator really exports.

A renamed or removed metric leaves a panel silently empty; this catches it at the unit tier.
"""

from __future__ import annotations

import importlib
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from prometheus_client import REGISTRY

DASHBOARD = Path(__file__).resolve().parents[2] / "helm" / "prognos" / "dashboards" / "prognos.json"

#: Every module that registers Prognos metrics in the process registry on import.
METRIC_MODULES = (
    "prognos.operator.metrics",
    "prognos.notify.metrics",
    "prognos.remediation.metrics",
)

METRIC = re.compile(r"\bprognos_[a-zA-Z0-9_:]*")
#: Series suffixes a query may use on a histogram or summary.
SERIES_SUFFIXES = ("_bucket", "_sum", "_count")


def queries(node: Any) -> Iterator[str]:
    """Every PromQL string of the dashboard: panel targets' ``expr`` and variables' ``query``."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("expr", "query") and isinstance(value, str):
                yield value
            elif key == "query" and isinstance(value, dict):
                yield from (v for v in value.values() if isinstance(v, str))
            else:
                yield from queries(value)
    elif isinstance(node, list):
        for item in node:
            yield from queries(item)


def dashboard_metrics() -> set[str]:
    names = set()
    for query in queries(json.loads(DASHBOARD.read_text())):
        for name in METRIC.findall(query):
            for suffix in SERIES_SUFFIXES:
                if name.endswith(suffix):
                    name = name.removesuffix(suffix)
                    break
            names.add(name)
    return names


def registered_metrics() -> set[str]:
    """Names the operator's registry exports. A counter's family is named without ``_total``
    (``collect()`` drops it) while its series and queries carry it: both spellings count."""
    for module in METRIC_MODULES:
        importlib.import_module(module)
    names = set()
    for family in REGISTRY.collect():
        names.add(family.name)
        if family.type == "counter":
            names.add(f"{family.name}_total")
        names.update(sample.name for sample in family.samples)
    return names


def test_the_dashboard_queries_metrics():
    # Guards the extraction itself: a dashboard with no Prognos query would pass vacuously.
    assert {"prognos_scaler_desired_replicas", "prognos_reconcile_duration_seconds"} <= (
        dashboard_metrics()
    )


def test_every_dashboard_metric_is_registered_by_the_code():
    missing = sorted(dashboard_metrics() - registered_metrics())
    assert missing == [], f"the dashboard queries metrics no module registers: {missing}"
