"""RemediationPolicy handlers: a pod watch feeding the runtime, one daemon per policy.

Thin by design (DESIGN §2): the pod watch hands every pod event to
``RemediationRuntime.on_pod_event`` (a cache update plus a wake-up of the policies of that
namespace: no polling, so a CrashLoopBackOff is acted on within the watch latency), and each
RemediationPolicy gets a Kopf daemon that runs its ``PolicyRunner`` until the policy is deleted
or the operator stops. Everything else lives in ``prognos.remediation``. Nothing raises out of a
handler: bad specs become conditions, API failures cost a tick.
"""

from __future__ import annotations

import os
import weakref
from collections.abc import Mapping
from typing import Any

import kopf

from prognos.api import GROUP, PAUSED_ANNOTATION, VERSION
from prognos.api.remediationpolicy import PLURAL
from prognos.logs import get_logger
from prognos.operator import sharding
from prognos.operator.services import Services
from prognos.remediation.kube import RemediationKube
from prognos.remediation.policy import Limit, SpecError
from prognos.remediation.runner import PolicyRunner, RemediationRuntime

log = get_logger("prognos.remediation")

#: Operator-wide circuit breaker, ``COUNT/WINDOW`` (e.g. ``20/1h``); empty or ``off`` disables.
MAX_ACTIONS_ENV = "PROGNOS_MAX_ACTIONS"
DEFAULT_MAX_ACTIONS = "30/1h"


def global_limit(raw: str | None) -> Limit | None:
    text = (raw if raw is not None else DEFAULT_MAX_ACTIONS).strip()
    if not text or text.lower() == "off":
        return None
    try:
        return Limit.parse(text)
    except SpecError as exc:
        log.error("remediation.bad_max_actions", value=text, error=str(exc))
        return Limit.parse(DEFAULT_MAX_ACTIONS)


class WatchedKube(RemediationKube):
    """RemediationKube for an operator that watches a set of namespaces (``--namespace``; none:
    cluster-wide, which changes nothing).

    The runtime seeds its operator-wide breaker and per-target cooldowns from "every Incident"
    (``list_incidents(None, ...)``), a cluster-wide list. A namespaced operator may not list
    cluster-wide (the chart's namespaced mode grants Incidents in the watched namespaces only),
    and Incidents elsewhere belong to other operators anyway: here every Incident means every
    Incident of the watched namespaces, one list each.
    """

    def __init__(self, api_client: Any, namespaces: tuple[str, ...] | list[str]) -> None:
        super().__init__(api_client)
        self.namespaces = tuple(namespaces)

    def list_incidents(self, namespace: str | None, label_selector: str) -> list[dict[str, Any]]:
        if namespace is not None or not self.namespaces:
            return super().list_incidents(namespace, label_selector)
        items: list[dict[str, Any]] = []
        for watched in self.namespaces:  # a loop: super() does not work in a comprehension
            items += super().list_incidents(watched, label_selector)
        return items


@kopf.on.startup()
async def start_remediation(memo: kopf.Memo, **_: Any) -> None:
    """Build the shared runtime once the services exist (the app's start-up handler)."""
    services: Services | None = memo.get("services")
    if services is None:
        raise kopf.TemporaryError("services not ready yet", delay=0.5)
    namespaces = getattr(memo.get("options"), "namespaces", None) or ()
    memo["remediation"] = RemediationRuntime(
        kube=WatchedKube(services.kube.api, namespaces),
        prometheus=services.prometheus,
        notifier_of=lambda: services.notifier,
        alerts=services.alerts,
        # ``prognos run --max-actions`` (its default reads the env); the env alone otherwise.
        global_limit=global_limit(
            getattr(memo.get("options"), "max_actions", None) or os.environ.get(MAX_ACTIONS_ENV)
        ),
    )


@kopf.on.event("", "v1", "pods")
async def pod_event(*, type: str | None, body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    """Every pod event: update the cache, wake the policies of its namespace. Never raises."""
    runtime: RemediationRuntime | None = memo.get("remediation")
    if runtime is None:
        return
    try:
        runtime.on_pod_event(type, body)
    except Exception:
        log.exception("remediation.pod_event_failed")


@kopf.daemon(GROUP, VERSION, PLURAL, cancellation_timeout=10.0, when=sharding.owned)
async def remediation_policy(
    *,
    stopped: kopf.DaemonStopped,
    name: str,
    namespace: str | None,
    body: kopf.Body,
    memo: kopf.Memo,
    **_: Any,
) -> None:
    """Run one policy until it is deleted or the operator stops; never raise."""
    runtime: RemediationRuntime | None = memo.get("remediation")
    if namespace is None or runtime is None:
        return
    # Kopf's body is a live view: spec edits reach the runner at its next tick.
    runner = PolicyRunner(runtime, namespace, name, lambda: body)
    runtime.runners[(namespace, name)] = runner
    log.info("remediation.started", policy=f"{namespace}/{name}")
    try:
        await runner.run(stopped)
    finally:
        if runtime.runners.get((namespace, name)) is runner:
            del runtime.runners[(namespace, name)]
        log.info("remediation.stopped", policy=f"{namespace}/{name}")


#: What of a policy, when changed, needs its runner at once: the spec (generation) and the pause
#: annotation. Other metadata (labels, other annotations, our own status writes) waits for the
#: runner's next tick; a tool rewriting a label every 50 ms would otherwise make it tick 20
#: times a second.
_seen: weakref.WeakKeyDictionary[PolicyRunner, tuple[int, str]] = weakref.WeakKeyDictionary()


def wake_worthy(runner: PolicyRunner, body: Mapping[str, Any]) -> bool:
    meta = body.get("metadata") or {}
    fingerprint = (
        int(meta.get("generation") or 0),
        str((meta.get("annotations") or {}).get(PAUSED_ANNOTATION, "")),
    )
    if _seen.get(runner) == fingerprint:
        return False
    _seen[runner] = fingerprint
    return True


@kopf.on.event(GROUP, VERSION, PLURAL, when=sharding.owned)
async def policy_event(
    *, name: str, namespace: str | None, body: kopf.Body, memo: kopf.Memo, **_: Any
) -> None:
    """Wake the runner at once when the policy's spec or pause annotation changes.

    An event handler, not ``on.update``: it needs no diff-base annotation written on the
    user's object.
    """
    runtime: RemediationRuntime | None = memo.get("remediation")
    if runtime is not None and namespace is not None:
        runner = runtime.runners.get((namespace, name))
        if runner is not None and wake_worthy(runner, body):
            runner.wake()
