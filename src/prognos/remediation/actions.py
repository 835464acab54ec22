"""What each action changes, decided up front so it can be logged before it runs. Pure.

:func:`plan` turns a rung and the observed world into the exact parameters of the change; they
are written into the Incident as ``Planned`` before :mod:`prognos.remediation.kube` executes
them. Each plan is idempotent by construction, so executing it twice changes nothing twice:

* ``rolloutRestart``: a fixed ``restartedAt`` value (patching the same value again is a no-op);
* ``deletePod``/``evictPod``: pod names *and UIDs*; the UID is a precondition, so a replacement
  pod with the same name is never touched;
* ``scaleOut``: an absolute replica count (``to``), never "+N";
* ``rollback``: the revision rolled back *from*; a Deployment already past it is left alone;
* ``job``: a Job name derived from the idempotency key (a second create is a 409).

:func:`took_effect` is the restart path: given what the cluster shows now, did a ``Planned``
action already happen? Only when it did not is it executed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from prognos.remediation.incidents import ActionRecord, dns_label, iso
from prognos.remediation.policy import ActionSpec, Target

RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"


class PlanError(Exception):
    """The rung cannot apply to this target (e.g. no previous revision): the ladder moves on."""


@dataclass(frozen=True)
class World:
    """What the planner may look at; gathered by the runner through ``kube``."""

    target: Target
    replicas: int | None = None
    revision: int | None = None
    previous_revision: int | None = None
    pods: Mapping[str, str] = field(default_factory=dict)  # name -> uid of the target's pods


def plan(
    spec: ActionSpec, world: World, pods: Sequence[str], incident: str, key: str, now: float
) -> dict[str, Any]:
    """The parameters of the change ``spec`` makes now, or :class:`PlanError`."""
    target = world.target
    if spec.kind == "rolloutRestart":
        if target.kind not in ("Deployment", "StatefulSet", "DaemonSet"):
            raise PlanError(
                f"rolloutRestart needs a Deployment, StatefulSet or DaemonSet, not {target.kind}"
            )
        return {"restartedAt": iso(now)}
    if spec.kind in ("deletePod", "evictPod"):
        chosen = [{"name": p, "uid": world.pods[p]} for p in pods if p in world.pods]
        if not chosen:
            raise PlanError("no affected pod left to act on")
        return {"pods": chosen}
    if spec.kind == "scaleOut":
        if world.replicas is None:
            raise PlanError(f"{target} has no readable /scale")
        current = world.replicas
        if spec.scale_by is not None:
            wanted = current + spec.scale_by
        else:
            # In decimal, as the spec wrote it: in binary floating point 50 x 1.1 is
            # 55.00000000000001 and would round up to 56.
            factor = Decimal(str(spec.scale_factor or 1.0))
            wanted = math.ceil(current * factor)
        to = min(spec.scale_max or wanted, max(wanted, current + 1))
        if to <= current:
            raise PlanError(f"{target} already has {current} replicas (max {spec.scale_max})")
        return {"from": current, "to": to}
    if spec.kind == "rollback":
        if target.kind != "Deployment":
            raise PlanError(f"rollback supports Deployments, not {target.kind}")
        if world.revision is None or world.previous_revision is None:
            raise PlanError(f"{target} has no previous revision to roll back to")
        return {"fromRevision": world.revision, "toRevision": world.previous_revision}
    if spec.kind == "job":
        return {"jobName": f"{dns_label(incident, 45)}-{key[:8]}"}
    raise PlanError(f"unknown action {spec.kind}")


def took_effect(record: ActionRecord, observed: Mapping[str, Any]) -> bool:
    """Whether the cluster already shows ``record``'s change (the restart path).

    ``observed`` is what ``kube.observe_action`` read: ``restartedAt`` (the template
    annotation), ``pods`` (name -> uid of pods present and not being deleted), ``replicas``,
    ``revision``, ``jobExists``.
    """
    params = record.params
    if record.type == "rolloutRestart":
        return bool(params.get("restartedAt")) and observed.get("restartedAt") == params.get(
            "restartedAt"
        )
    if record.type in ("deletePod", "evictPod"):
        present: Mapping[str, str] = observed.get("pods") or {}
        return all(present.get(p["name"]) != p["uid"] for p in params.get("pods") or [])
    if record.type == "scaleOut":
        replicas = observed.get("replicas")
        return replicas is not None and int(replicas) >= int(params.get("to", 0))
    if record.type == "rollback":
        revision = observed.get("revision")
        return revision is not None and int(revision) > int(params.get("fromRevision", 0))
    if record.type == "job":
        return bool(observed.get("jobExists"))
    return False


def describe(record: ActionRecord, target: Target) -> str:
    """One line for people: what the action does (or did) to what."""
    p = record.params
    if record.type == "rolloutRestart":
        return f"rollout restart of {target} (restartedAt={p.get('restartedAt')})"
    if record.type in ("deletePod", "evictPod"):
        verb = "delete" if record.type == "deletePod" else "evict"
        return f"{verb} pod(s) {', '.join(x['name'] for x in p.get('pods') or [])} of {target}"
    if record.type == "scaleOut":
        return f"scale {target} from {p.get('from')} to {p.get('to')} replicas"
    if record.type == "rollback":
        return f"roll {target} back from revision {p.get('fromRevision')} to {p.get('toRevision')}"
    if record.type == "job":
        return f"run Job {p.get('jobName')} for {target}"
    return f"{record.type} on {target}"
