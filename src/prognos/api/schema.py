"""Small builders for Kubernetes structural OpenAPI v3 schemas.

Kubernetes wants structural schemas (every field typed, no ``$ref``), ``x-kubernetes-*``
extensions and CEL rules; generic JSON-schema generators produce neither, so these helpers keep
the CRD definitions short and readable instead.
"""

from __future__ import annotations

from typing import Any

Schema = dict[str, Any]

#: Go-style durations in s/m/h, the units CEL's ``duration()`` understands ("90s", "1h30m").
DURATION_PATTERN = r"^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$"
#: History lengths may also be given in days ("7d"), which CEL cannot parse; Python does.
LONG_DURATION_PATTERN = r"^([0-9]+(\.[0-9]+)?(ms|s|m|h|d))+$"
#: A decimal number written as a string: "no floats in spec" (API conventions).
DECIMAL_PATTERN = r"^[0-9]+(\.[0-9]+)?$"
#: A Kubernetes quantity ("600", "1.5k", "250m").
QUANTITY_PATTERN = r"^[0-9]+(\.[0-9]+)?(m|k|M|G|T|Ki|Mi|Gi|Ti)?$"


def rule(expr: str, message: str, field_path: str | None = None) -> dict[str, str]:
    out = {"rule": expr, "message": message}
    if field_path:
        out["fieldPath"] = field_path
    return out


def obj(
    properties: dict[str, Schema],
    *,
    required: list[str] | None = None,
    description: str = "",
    rules: list[dict[str, str]] | None = None,
) -> Schema:
    out: Schema = {"type": "object", "properties": properties}
    if description:
        out["description"] = description
    if required:
        out["required"] = required
    if rules:
        out["x-kubernetes-validations"] = rules
    return out


def string(
    description: str = "",
    *,
    pattern: str | None = None,
    enum: list[str] | None = None,
    default: str | None = None,
    max_length: int | None = 253,
    min_length: int | None = None,
    rules: list[dict[str, str]] | None = None,
) -> Schema:
    out: Schema = {"type": "string"}
    if description:
        out["description"] = description
    if pattern:
        out["pattern"] = pattern
    if enum:
        out["enum"] = enum
    if default is not None:
        out["default"] = default
    if max_length is not None and not enum:
        out["maxLength"] = max_length
    if min_length is not None:
        out["minLength"] = min_length
    if rules:
        out["x-kubernetes-validations"] = rules
    return out


def integer(
    description: str = "",
    *,
    minimum: int | None = None,
    maximum: int | None = None,
    default: int | None = None,
) -> Schema:
    out: Schema = {"type": "integer", "format": "int32"}
    if description:
        out["description"] = description
    if minimum is not None:
        out["minimum"] = minimum
    if maximum is not None:
        out["maximum"] = maximum
    if default is not None:
        out["default"] = default
    return out


def boolean(description: str = "", *, default: bool | None = None) -> Schema:
    out: Schema = {"type": "boolean"}
    if description:
        out["description"] = description
    if default is not None:
        out["default"] = default
    return out


def array(
    items: Schema,
    description: str = "",
    *,
    min_items: int | None = None,
    max_items: int | None = None,
    list_type: str | None = None,
    list_keys: list[str] | None = None,
) -> Schema:
    out: Schema = {"type": "array", "items": items}
    if description:
        out["description"] = description
    if min_items is not None:
        out["minItems"] = min_items
    if max_items is not None:
        out["maxItems"] = max_items
    if list_type:
        out["x-kubernetes-list-type"] = list_type
    if list_keys:
        out["x-kubernetes-list-map-keys"] = list_keys
    return out


def free_object(description: str = "") -> Schema:
    out: Schema = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
    if description:
        out["description"] = description
    return out


def string_map(description: str = "", max_properties: int = 64) -> Schema:
    out: Schema = {
        "type": "object",
        "additionalProperties": {"type": "string", "maxLength": 1024},
        "maxProperties": max_properties,
    }
    if description:
        out["description"] = description
    return out


def conditions() -> Schema:
    """``[]metav1.Condition`` exactly as the API conventions define it."""
    return array(
        obj(
            {
                "type": string("Type of condition in CamelCase.", max_length=316),
                "status": string("True, False or Unknown.", enum=["True", "False", "Unknown"]),
                "reason": string("Machine-readable CamelCase reason.", max_length=1024),
                "message": string("Human-readable details.", max_length=32768),
                "lastTransitionTime": {"type": "string", "format": "date-time"},
                "observedGeneration": {"type": "integer", "format": "int64", "minimum": 0},
            },
            required=["type", "status", "reason", "message", "lastTransitionTime"],
        ),
        "Latest observations of the object's state (metav1.Condition).",
        max_items=16,
        list_type="map",
        list_keys=["type"],
    )


def crd(
    *,
    group: str,
    version: str,
    kind: str,
    plural: str,
    short_names: list[str],
    categories: list[str],
    spec: Schema,
    status: Schema,
    printer_columns: list[dict[str, Any]],
    description: str,
    scope: str = "Namespaced",
) -> dict[str, Any]:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": f"{plural}.{group}",
            "labels": {"app.kubernetes.io/part-of": "prognos"},
        },
        "spec": {
            "group": group,
            "scope": scope,
            "names": {
                "kind": kind,
                "listKind": f"{kind}List",
                "plural": plural,
                "singular": kind.lower(),
                "shortNames": short_names,
                "categories": categories,
            },
            "versions": [
                {
                    "name": version,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": printer_columns,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "description": description,
                            "properties": {
                                "apiVersion": {"type": "string"},
                                "kind": {"type": "string"},
                                "metadata": {"type": "object"},
                                "spec": spec,
                                "status": status,
                            },
                            "required": ["spec"],
                        }
                    },
                }
            ],
        },
    }


def column(name: str, json_path: str, type_: str = "string", priority: int = 0) -> dict[str, Any]:
    out: dict[str, Any] = {"name": name, "type": type_, "jsonPath": json_path}
    if priority:
        out["priority"] = priority
    return out
