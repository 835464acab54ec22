"""manifests/samples: every sample parses, passes its kind's spec parser and the CRD schema.

The samples are what users copy first; a sample the operator refuses (``Ready=False``) or the
apiserver rejects or silently prunes is a broken first impression. The schema check is a small
structural validator for the keywords the generated CRDs use (type, required, properties,
enum, pattern, bounds); CEL rules are left to the apiserver and the spec parsers.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from prognos.api import crds
from prognos.notify.config import channel_from_spec
from prognos.remediation.policy import policy_from_spec
from prognos.scaling.spec import config_from_spec

ROOT = Path(__file__).resolve().parents[3]
SAMPLES = ROOT / "manifests" / "samples"
RESOURCE_FILES = sorted(p for p in SAMPLES.glob("*.yaml") if p.name != "kustomization.yaml")

#: kind -> the parser the operator runs on ``spec`` (each raises on a spec it refuses).
PARSERS: dict[str, Callable[[Mapping[str, Any]], object]] = {
    "PredictiveScaler": config_from_spec,
    "RemediationPolicy": policy_from_spec,
    "NotificationChannel": channel_from_spec,
}


def _schemas() -> dict[tuple[str, str], dict[str, Any]]:
    """(apiVersion, kind) -> openAPIV3Schema of every generated CRD version."""
    out = {}
    for build in crds.DEFINITIONS.values():
        spec = build()["spec"]
        for version in spec["versions"]:
            key = (f"{spec['group']}/{version['name']}", spec["names"]["kind"])
            out[key] = version["schema"]["openAPIV3Schema"]
    return out


TYPES: dict[str, tuple[type, ...]] = {
    "object": (dict,),
    "array": (list,),
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
}


def schema_errors(value: Any, schema: Mapping[str, Any], path: str = "") -> list[str]:
    """Violations of ``schema`` by ``value``; unknown fields count (the apiserver prunes them)."""
    where = path or "<root>"
    if schema.get("x-kubernetes-int-or-string"):
        ok = isinstance(value, int | str) and not isinstance(value, bool)
        return [] if ok else [f"{where}: must be an integer or a string"]
    expected = schema.get("type")
    if expected is not None:
        if isinstance(value, bool) and expected != "boolean":
            return [f"{where}: must be {expected}, got a boolean"]
        if not isinstance(value, TYPES[expected]):
            return [f"{where}: must be {expected}, got {type(value).__name__}"]
    errors: list[str] = []
    if "enum" in schema and value not in schema["enum"]:
        errors.append(f"{where}: {value!r} not in {schema['enum']}")
    if isinstance(value, str):
        if "pattern" in schema and not re.search(schema["pattern"], value):
            errors.append(f"{where}: {value!r} does not match {schema['pattern']}")
        if len(value) < schema.get("minLength", 0):
            errors.append(f"{where}: shorter than {schema['minLength']}")
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            errors.append(f"{where}: longer than {schema['maxLength']}")
    if isinstance(value, int | float) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            errors.append(f"{where}: below {schema['minimum']}")
        if "maximum" in schema and value > schema["maximum"]:
            errors.append(f"{where}: above {schema['maximum']}")
    if isinstance(value, list):
        if len(value) < schema.get("minItems", 0):
            errors.append(f"{where}: fewer than {schema['minItems']} items")
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            errors.append(f"{where}: more than {schema['maxItems']} items")
        if isinstance(schema.get("items"), dict):
            for i, item in enumerate(value):
                errors += schema_errors(item, schema["items"], f"{path}[{i}]")
    if isinstance(value, dict):
        errors += [f"{where}: missing {k}" for k in schema.get("required", []) if k not in value]
        if "maxProperties" in schema and len(value) > schema["maxProperties"]:
            errors.append(f"{where}: more than {schema['maxProperties']} properties")
        properties = schema.get("properties") or {}
        extra = schema.get("additionalProperties")
        for key, item in value.items():
            if key in properties:
                errors += schema_errors(item, properties[key], f"{path}.{key}")
            elif isinstance(extra, dict):
                errors += schema_errors(item, extra, f"{path}.{key}")
            elif not schema.get("x-kubernetes-preserve-unknown-fields") and extra is not True:
                errors.append(f"{path}.{key}: unknown field (the apiserver would prune it)")
    return errors


def spec_errors(spec: Any, schema: Mapping[str, Any]) -> list[str]:
    """``spec`` against the CRD's spec schema (metadata is the apiserver's own business)."""
    return schema_errors(spec, schema["properties"]["spec"], ".spec")


def test_the_validator_catches_what_the_apiserver_would_refuse_or_prune():
    schema = _schemas()[("prognos.io/v1alpha1", "PredictiveScaler")]
    good = yaml.safe_load((SAMPLES / "predictivescaler-web.yaml").read_text())["spec"]
    assert spec_errors(good, schema) == []
    bad = yaml.safe_load((SAMPLES / "predictivescaler-web.yaml").read_text())["spec"]
    bad["maxReplicas"] = "40"
    bad["mode"] = "Sometimes"
    bad["forecast"]["quantile"] = 0.9
    bad["metric"]["targetPerReplicas"] = "50"
    del bad["scaleTargetRef"]
    text = "\n".join(spec_errors(bad, schema))
    for fragment in (".spec.maxReplicas", ".spec.mode", ".spec.forecast.quantile",
                     ".spec.metric.targetPerReplicas", "missing scaleTargetRef"):  # fmt: skip
        assert fragment in text


def test_kustomization_lists_every_sample():
    kustomization = yaml.safe_load((SAMPLES / "kustomization.yaml").read_text())
    assert sorted(kustomization["resources"]) == [p.name for p in RESOURCE_FILES]
    assert {"PredictiveScaler", "RemediationPolicy"} <= {
        yaml.safe_load(p.read_text())["kind"] for p in RESOURCE_FILES
    }


@pytest.mark.parametrize("path", RESOURCE_FILES, ids=lambda p: p.name)
def test_sample_parses_and_passes_its_spec_parser_and_crd_schema(path):
    documents = [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
    assert documents, f"{path.name} is empty"
    schemas = _schemas()
    for doc in documents:
        key = (doc.get("apiVersion"), doc.get("kind"))
        assert key in schemas, f"{path.name}: no generated CRD for {key}"
        assert doc["metadata"]["name"]
        assert spec_errors(doc["spec"], schemas[key]) == []
        assert key[1] in PARSERS, f"{path.name}: no spec parser registered for {key[1]}"
        PARSERS[key[1]](doc["spec"])  # raises the operator's SpecError on a refused spec
