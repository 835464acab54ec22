"""Kopf's peering CRDs (``kopf.dev``), shipped with Prognos for active/standby replicas.

Kopf keeps replicas of one operator from acting twice through a peering object whose
``status`` every replica refreshes as a keep-alive; the replica with the highest priority runs
and the others pause until it stops refreshing. Kopf does not install these CRDs itself, so
Prognos ships them (generated here, like its own) and the chart creates the peering object
when ``peering`` is set.
"""

from __future__ import annotations

from typing import Any

KOPF_GROUP = "kopf.dev"


def _definition(kind: str, plural: str, scope: str) -> dict[str, Any]:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": f"{plural}.{KOPF_GROUP}",
            "labels": {"app.kubernetes.io/part-of": "prognos"},
        },
        "spec": {
            "group": KOPF_GROUP,
            "scope": scope,
            "names": {"kind": kind, "plural": plural, "singular": kind.lower()},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "description": "Keep-alives of the operator replicas (Kopf).",
                            "properties": {
                                "status": {
                                    "type": "object",
                                    "x-kubernetes-preserve-unknown-fields": True,
                                }
                            },
                        }
                    },
                }
            ],
        },
    }


def cluster_definition() -> dict[str, Any]:
    return _definition("ClusterKopfPeering", "clusterkopfpeerings", "Cluster")


def namespaced_definition() -> dict[str, Any]:
    return _definition("KopfPeering", "kopfpeerings", "Namespaced")
