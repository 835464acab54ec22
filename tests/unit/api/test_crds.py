from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from prognos.api import crds, predictivescaler
from prognos.api.conditions import get_condition, set_condition

ROOT = Path(__file__).resolve().parents[3]


def test_checked_in_crds_match_the_generated_ones():
    # manifests/ and the Helm chart ship the same generated files: one source of truth.
    assert crds.drift(ROOT / "manifests" / "crd") == []
    assert crds.drift(ROOT / "helm" / "prognos" / "crds") == []


def _walk(schema: dict[str, Any], path: str = "") -> list[str]:
    """Paths that break Kubernetes' structural-schema rules (untyped or $ref)."""
    problems = []
    if "$ref" in schema:
        problems.append(path)
    if "type" not in schema and not schema.get("x-kubernetes-int-or-string"):
        problems.append(path or "<root>")
    for name, sub in (schema.get("properties") or {}).items():
        problems += _walk(sub, f"{path}.{name}")
    if isinstance(schema.get("items"), dict):
        problems += _walk(schema["items"], f"{path}[]")
    if isinstance(schema.get("additionalProperties"), dict):
        problems += _walk(schema["additionalProperties"], f"{path}{{}}")
    return problems


@pytest.mark.parametrize("build", list(crds.DEFINITIONS.values()))
def test_every_schema_is_structural(build):
    definition = build()
    version = definition["spec"]["versions"][0]
    assert _walk(version["schema"]["openAPIV3Schema"]) == []
    assert definition["metadata"]["labels"]["app.kubernetes.io/part-of"] == "prognos"
    if definition["spec"]["group"] == "prognos.io":  # not Kopf's peering CRDs
        assert version["subresources"] == {"status": {}}
        assert "prognos" in definition["spec"]["names"]["categories"]


def test_predictive_scaler_schema_carries_the_cel_rules_users_hit():
    spec = predictivescaler.spec_schema()
    rules = " ".join(r["message"] for r in spec["x-kubernetes-validations"])
    assert "minReplicas must be less than or equal to maxReplicas" in rules
    fallback = spec["properties"]["fallback"]["x-kubernetes-validations"]
    assert any("mutually exclusive" in r["message"] for r in fallback)
    columns = {
        c["name"]
        for c in predictivescaler.definition()["spec"]["versions"][0]["additionalPrinterColumns"]
    }
    assert {"Target", "Min", "Max", "Current", "Desired", "Load", "Forecast", "Ready"} <= columns


def test_condition_transition_time_changes_only_with_status():
    conds = set_condition(None, "Ready", True, "Decided", "ok", 1, now="2026-01-01T00:00:00Z")
    conds = set_condition(
        conds, "Ready", True, "Decided", "still ok", 2, now="2026-01-01T00:05:00Z"
    )
    ready = get_condition(conds, "Ready")
    assert ready["lastTransitionTime"] == "2026-01-01T00:00:00Z"
    assert ready["message"] == "still ok"
    assert ready["observedGeneration"] == 2
    conds = set_condition(
        conds, "Ready", False, "InvalidSpec", "bad", 3, now="2026-01-01T00:09:00Z"
    )
    assert get_condition(conds, "Ready")["lastTransitionTime"] == "2026-01-01T00:09:00Z"
    conds = set_condition(conds, "MetricsAvailable", "Unknown", "Starting", "", 3)
    assert [c["type"] for c in conds] == ["Ready", "MetricsAvailable"]
