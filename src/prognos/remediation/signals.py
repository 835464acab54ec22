"""Kubernetes health signals computed from watched pod objects, with no Prometheus involved.

Pure: the operator's pod watch hands raw pod bodies to :func:`pod_view`, which keeps only what
the signals need; :func:`evaluate_kubernetes` turns a set of pod views into a
:class:`Observation` (firing or not, the affected pods, the evidence for the Incident and the
next time the answer could change on its own, so a ``notReadyFor`` deadline needs no polling).
"""

from __future__ import annotations

import datetime as dt
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from prognos.remediation.policy import KubernetesSignal, Target

#: An OOM kill older than this no longer counts: ``lastState`` keeps it until the next crash.
OOM_RECENT_S = 600.0
_OWNER_KINDS = {"StatefulSet": "apps/v1", "DaemonSet": "apps/v1", "Deployment": "apps/v1"}


def parse_time(raw: object) -> float | None:
    """RFC 3339 (the API's timestamps) to epoch seconds; None when absent or unparsable."""
    if isinstance(raw, dt.datetime):
        return raw.timestamp()
    if not isinstance(raw, str) or not raw:
        return None
    try:
        return dt.datetime.fromisoformat(raw.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


@dataclass(frozen=True)
class ContainerView:
    name: str
    restart_count: int
    waiting_reason: str | None
    terminated_reason: str | None
    last_terminated_reason: str | None
    last_finished_at: float | None


@dataclass(frozen=True)
class PodView:
    """What the signals need from a pod; built from a watch event body."""

    namespace: str
    name: str
    uid: str
    labels: Mapping[str, str]
    phase: str
    deleting: bool
    ready: bool
    ready_since: float | None  # lastTransitionTime of the Ready condition
    started_at: float | None
    owner: Target | None  # the controlling workload, when one can be named
    containers: tuple[ContainerView, ...] = ()

    @property
    def restarts(self) -> int:
        return sum(c.restart_count for c in self.containers)

    @property
    def active(self) -> bool:
        """Counts for health and for the blast radius: not finished, not being deleted."""
        return not self.deleting and self.phase not in ("Succeeded", "Failed")

    @property
    def target(self) -> Target:
        return self.owner or Target("v1", "Pod", self.name)


def _owner(meta: Mapping[str, Any]) -> Target | None:
    """The workload controlling a pod. A ReplicaSet created by a Deployment is named
    ``<deployment>-<pod-template-hash>``, which is how ``kubectl`` names it too."""
    labels = meta.get("labels") or {}
    for ref in meta.get("ownerReferences") or []:
        if not ref.get("controller"):
            continue
        kind, name = str(ref.get("kind")), str(ref.get("name"))
        if kind in _OWNER_KINDS:
            return Target(_OWNER_KINDS[kind], kind, name)
        if kind == "ReplicaSet":
            h = labels.get("pod-template-hash")
            if h and name.endswith(f"-{h}"):
                return Target("apps/v1", "Deployment", name[: -len(h) - 1])
            return Target("apps/v1", "ReplicaSet", name)
        return Target(str(ref.get("apiVersion", "")), kind, name)
    return None


def pod_view(body: Mapping[str, Any]) -> PodView:
    meta = body.get("metadata") or {}
    status = body.get("status") or {}
    ready, ready_since = False, None
    for cond in status.get("conditions") or []:
        if cond.get("type") == "Ready":
            ready = cond.get("status") == "True"
            ready_since = parse_time(cond.get("lastTransitionTime"))
    containers = []
    for cs in status.get("containerStatuses") or []:
        state = cs.get("state") or {}
        last = (cs.get("lastState") or {}).get("terminated") or {}
        containers.append(
            ContainerView(
                name=str(cs.get("name", "")),
                restart_count=int(cs.get("restartCount") or 0),
                waiting_reason=(state.get("waiting") or {}).get("reason"),
                terminated_reason=(state.get("terminated") or {}).get("reason"),
                last_terminated_reason=last.get("reason"),
                last_finished_at=parse_time(last.get("finishedAt")),
            )
        )
    return PodView(
        namespace=str(meta.get("namespace", "")),
        name=str(meta.get("name", "")),
        uid=str(meta.get("uid", "")),
        labels=dict(meta.get("labels") or {}),
        phase=str(status.get("phase") or "Pending"),
        deleting=meta.get("deletionTimestamp") is not None,
        ready=ready,
        ready_since=ready_since,
        started_at=parse_time(status.get("startTime")),
        owner=_owner(meta),
        containers=tuple(containers),
    )


class RestartTracker:
    """Restart counts seen per pod over time, for ``restartsAbove {count, window}``.

    Bounded: samples older than the longest window asked for are dropped, pods that disappear
    are forgotten. A pod first seen with restarts already counted is charged with them only if
    it started within the window (the restarts happened after its start).
    """

    def __init__(self, horizon_s: float = 3600.0) -> None:
        self.horizon_s = horizon_s
        self._samples: dict[str, deque[tuple[float, int]]] = {}

    def observe(self, pod: PodView, now: float) -> None:
        samples = self._samples.setdefault(pod.uid, deque())
        if not samples:
            baseline = (
                0
                if (pod.started_at is not None and now - pod.started_at <= self.horizon_s)
                else pod.restarts
            )
            samples.append((pod.started_at or now, baseline))
        if samples[-1][1] != pod.restarts:
            samples.append((now, pod.restarts))
        while len(samples) > 1 and samples[1][0] < now - self.horizon_s:
            samples.popleft()

    def forget(self, uid: str) -> None:
        self._samples.pop(uid, None)

    def increase(self, pod: PodView, window_s: float, now: float) -> int:
        """Restarts within the last ``window_s``: now minus the count at the window's start."""
        samples = self._samples.get(pod.uid)
        if not samples:
            return 0
        start = now - window_s
        before = [count for t, count in samples if t <= start]
        base = before[-1] if before else samples[0][1]
        return max(0, pod.restarts - base)


@dataclass(frozen=True)
class Observation:
    """One signal's state for one target at one moment."""

    firing: bool
    summary: str
    evidence: dict[str, Any] = field(default_factory=dict)
    pods: tuple[str, ...] = ()  # affected pods (what deletePod/evictPod act on)
    next_change: float | None = None  # when the answer may flip without any new event


def _pod_evidence(pod: PodView, reason: str) -> dict[str, Any]:
    return {
        "name": pod.name,
        "reason": reason,
        "restarts": pod.restarts,
        "ready": pod.ready,
        "phase": pod.phase,
    }


def evaluate_kubernetes(
    spec: KubernetesSignal,
    pods: Iterable[PodView],
    now: float,
    restarts: RestartTracker | None = None,
) -> Observation:
    """Is ``spec`` firing for these pods (one target's pods) at ``now``?"""
    affected: list[dict[str, Any]] = []
    next_change: float | None = None
    for pod in sorted(pods, key=lambda p: p.name):
        if not pod.active:
            continue
        reason = None
        if spec.crash_loop and any(c.waiting_reason == "CrashLoopBackOff" for c in pod.containers):
            reason = "CrashLoopBackOff"
        elif spec.oom_killed and any(
            c.terminated_reason == "OOMKilled"
            or (
                c.last_terminated_reason == "OOMKilled"
                and c.last_finished_at is not None
                and now - c.last_finished_at <= OOM_RECENT_S
            )
            for c in pod.containers
        ):
            reason = "OOMKilled"
        elif spec.restarts_above is not None and restarts is not None:
            count, window = spec.restarts_above
            if restarts.increase(pod, window, now) > count:
                reason = f"RestartsAbove{count}In{int(window)}s"
        if (
            reason is None
            and spec.not_ready_for_s is not None
            and pod.phase == "Running"
            and not pod.ready
            and pod.ready_since is not None
        ):
            due = pod.ready_since + spec.not_ready_for_s
            if now >= due:
                reason = f"NotReadyFor{int(spec.not_ready_for_s)}s"
            else:
                next_change = due if next_change is None else min(next_change, due)
        if reason is not None:
            affected.append(_pod_evidence(pod, reason))
    if not affected:
        return Observation(False, "all pods healthy", {"pods": []}, (), next_change)
    reasons = sorted({a["reason"] for a in affected})
    names = tuple(a["name"] for a in affected)
    summary = f"{len(names)} pod(s) {', '.join(reasons)}: {', '.join(names[:5])}"
    return Observation(True, summary, {"pods": affected[:20]}, names, next_change)
