"""The custom resources' one source of truth: OpenAPI schemas with CEL rules, and CRD YAML.

``manifests/crd/`` and the Helm chart's ``crds/`` are generated from here by ``prognos crds``;
a unit test fails when a checked-in file drifts from what this package generates.
"""

GROUP = "prognos.io"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
CATEGORY = "prognos"
PAUSED_ANNOTATION = "prognos.io/paused"
