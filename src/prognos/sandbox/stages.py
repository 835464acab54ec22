"""kwok Stage definitions: how the sandbox's fake node and pods move through their lifecycle.

kwok adds no default stages once a config carries any, so this module defines the whole set:
node readiness and heartbeat, pod start, Job completion and deletion, plus the fault stages
that self-healing tests use. Faults are opted into per pod with the label
``prognos.io/sandbox-fault``:

* ``crashloop``: the container starts, then keeps failing. ``restartCount`` rises every
  ``CRASH_PERIOD_MS`` and the pod sits in ``CrashLoopBackOff``; the termination reason comes from
  the annotation ``prognos.io/sandbox-fault-reason`` (``Error`` by default, ``OOMKilled`` to
  simulate memory kills).
* ``notready``: the pod runs but its Ready condition goes False and stays so.

A rollout restart replaces such pods with new ones whose template no longer carries the label,
which is exactly how a real fix would look.
"""

from __future__ import annotations

from typing import Any

import yaml

FAULT_LABEL = "prognos.io/sandbox-fault"
FAULT_REASON_ANNOTATION = "prognos.io/sandbox-fault-reason"
NODE_ANNOTATION = "kwok.x-k8s.io/node"
CRASH_PERIOD_MS = 10_000

_NOT_DELETING = {"key": ".metadata.deletionTimestamp", "operator": "DoesNotExist"}


def _phase(*phases: str) -> dict[str, Any]:
    return {"key": ".status.phase", "operator": "In", "values": list(phases)}


def _fault(value: str, present: bool = True) -> dict[str, Any]:
    return {
        "key": f'.metadata.labels["{FAULT_LABEL}"]',
        "operator": "In" if present else "NotIn",
        "values": [value],
    }


def _stage(
    name: str, kind: str, match: list[dict[str, Any]], nxt: dict[str, Any], delay_ms: int = 0
) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "resourceRef": {"apiGroup": "v1", "kind": kind},
        "selector": {"matchExpressions": match},
        "next": nxt,
    }
    if delay_ms:
        spec["delay"] = {"durationMilliseconds": delay_ms}
    return {
        "apiVersion": "kwok.x-k8s.io/v1alpha1",
        "kind": "Stage",
        "metadata": {"name": name},
        "spec": spec,
    }


_NODE_STATUS = """\
{{ $now := Now }}
conditions:
{{ range NodeConditions }}
- lastHeartbeatTime: {{ $now | Quote }}
  lastTransitionTime: {{ $now | Quote }}
  message: {{ .message | Quote }}
  reason: {{ .reason | Quote }}
  status: {{ .status | Quote }}
  type: {{ .type | Quote }}
{{ end }}
addresses:
- address: {{ NodeIP | Quote }}
  type: InternalIP
- address: {{ NodeName | Quote }}
  type: Hostname
allocatable: {cpu: "64", memory: 512Gi, pods: "20000"}
capacity: {cpu: "64", memory: 512Gi, pods: "20000"}
nodeInfo:
  architecture: amd64
  kubeletVersion: {{ printf "kwok-%s" Version | Quote }}
  kubeProxyVersion: {{ printf "kwok-%s" Version | Quote }}
  containerRuntimeVersion: {{ printf "kwok-%s" Version | Quote }}
  kernelVersion: {{ printf "kwok-%s" Version | Quote }}
  operatingSystem: linux
  osImage: kwok
  machineID: ""
  systemUUID: ""
  bootID: ""
phase: Running
"""

_POD_IPS = """\
hostIP: {{ NodeIPWith .spec.nodeName | Quote }}
podIP: {{ PodIPWith .spec.nodeName ( or .spec.hostNetwork false ) ( or .metadata.uid "" ) \
( or .metadata.name "" ) ( or .metadata.namespace "" ) | Quote }}
"""


def _conditions(ready_reason: str | None) -> str:
    """Pod conditions: all True, or Ready/ContainersReady False for ``ready_reason``."""
    now = "lastTransitionTime: {{ $now | Quote }}"
    if ready_reason is None:
        ready = f'status: "True", {now}'
    else:
        ready = f'status: "False", reason: {ready_reason}, {now}'
    return (
        "conditions:\n"
        f'- {{type: Initialized, status: "True", {now}}}\n'
        f"- {{type: Ready, {ready}}}\n"
        f"- {{type: ContainersReady, {ready}}}\n"
        f'- {{type: PodScheduled, status: "True", {now}}}\n'
    )


_POD_RUNNING = (
    "{{ $now := Now }}\n"
    + _conditions(None)
    + """\
containerStatuses:
{{ range .spec.containers }}
- name: {{ .name | Quote }}
  image: {{ .image | Quote }}
  ready: true
  started: true
  restartCount: 0
  state: {running: {startedAt: {{ $now | Quote }}}}
{{ end }}
"""
    + _POD_IPS
    + """\
phase: Running
startTime: {{ $now | Quote }}
"""
)

# One template serves the first crash and every later one: restartCount grows by one each time.
_POD_CRASHED = """\
{{ $now := Now }}
{{ $annotations := or .metadata.annotations dict }}
{{ $reason := or ( index $annotations "@REASON@" ) "Error" }}
{{ $code := 1 }}{{ if eq $reason "OOMKilled" }}{{ $code = 137 }}{{ end }}
{{ $restarts := 0 }}
{{ range .status.containerStatuses }}{{ $restarts = .restartCount }}{{ end }}
@CONDITIONS@containerStatuses:
{{ range .spec.containers }}
- name: {{ .name | Quote }}
  image: {{ .image | Quote }}
  ready: false
  started: false
  restartCount: {{ add1 $restarts }}
  lastState:
    terminated: {exitCode: {{ $code }}, reason: {{ $reason | Quote }}, \
startedAt: {{ $now | Quote }}, finishedAt: {{ $now | Quote }}}
  state:
    waiting: {reason: CrashLoopBackOff, message: "back-off restarting failed container"}
{{ end }}
phase: Running
""".replace("@REASON@", FAULT_REASON_ANNOTATION).replace(
    "@CONDITIONS@", _conditions("ContainersNotReady")
)

_POD_UNREADY = (
    "{{ $now := Now }}\n"
    + _conditions("ReadinessProbeFailed")
    + """\
containerStatuses:
{{ range .spec.containers }}
- name: {{ .name | Quote }}
  image: {{ .image | Quote }}
  ready: false
  started: true
  restartCount: 0
  state: {running: {startedAt: {{ $now | Quote }}}}
{{ end }}
phase: Running
"""
)

_POD_SUCCEEDED = """\
{{ $now := Now }}
containerStatuses:
{{ range .spec.containers }}
- name: {{ .name | Quote }}
  image: {{ .image | Quote }}
  ready: false
  started: false
  restartCount: 0
  state: {terminated: {exitCode: 0, reason: Completed, startedAt: {{ $now | Quote }}, \
finishedAt: {{ $now | Quote }}}}
{{ end }}
phase: Succeeded
"""


def stages() -> list[dict[str, Any]]:
    """Every Stage the sandbox's kwok runs with."""
    ready_true = {
        "key": '.status.conditions.[] | select( .type == "Ready" ) | .status',
        "operator": "In",
        "values": ["True"],
    }
    ready_not_true = dict(ready_true, operator="NotIn")
    first_state = ".status.containerStatuses.[0].state"
    return [
        _stage("node-initialize", "Node", [ready_not_true], {"statusTemplate": _NODE_STATUS}),
        _stage(
            "node-heartbeat",
            "Node",
            [_phase("Running"), ready_true],
            {"statusTemplate": _NODE_STATUS},
            delay_ms=20_000,
        ),
        _stage(
            "pod-ready",
            "Pod",
            [_NOT_DELETING, _phase("Pending"), ready_not_true],
            {"statusTemplate": _POD_RUNNING},
        ),
        _stage(
            "pod-complete",
            "Pod",
            [
                _NOT_DELETING,
                _phase("Running"),
                {"key": ".metadata.ownerReferences.[].kind", "operator": "In", "values": ["Job"]},
            ],
            {"statusTemplate": _POD_SUCCEEDED},
            delay_ms=1_000,
        ),
        _stage(
            "pod-crash",
            "Pod",
            [
                _NOT_DELETING,
                _phase("Running"),
                _fault("crashloop"),
                {"key": f"{first_state}.running", "operator": "Exists"},
            ],
            {"statusTemplate": _POD_CRASHED},
            delay_ms=1_000,
        ),
        _stage(
            "pod-crash-again",
            "Pod",
            [
                _NOT_DELETING,
                _phase("Running"),
                _fault("crashloop"),
                {
                    "key": f"{first_state}.waiting.reason",
                    "operator": "In",
                    "values": ["CrashLoopBackOff"],
                },
            ],
            {"statusTemplate": _POD_CRASHED},
            delay_ms=CRASH_PERIOD_MS,
        ),
        _stage(
            "pod-unready",
            "Pod",
            [_NOT_DELETING, _phase("Running"), _fault("notready"), ready_true],
            {"statusTemplate": _POD_UNREADY},
            delay_ms=1_000,
        ),
        _stage(
            "pod-delete",
            "Pod",
            [{"key": ".metadata.deletionTimestamp", "operator": "Exists"}],
            {"delete": True},
        ),
    ]


def render() -> str:
    """The kwok ``--config`` file body: every stage as one multi-document YAML."""
    return yaml.safe_dump_all(stages(), sort_keys=False)
