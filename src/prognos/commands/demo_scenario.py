"""Pieces of ``prognos demo`` for notifications and the self-healing scenario.

* ``install_webhook_channel``: a Secret (URL and signing secret) and a NotificationChannel
  ``demo-webhook`` that receives every event in the demo namespace, scaling decisions included,
  so everything the demo does is also POSTed, signed, to the user's URL.
* ``start_crashloop``: a RemediationPolicy with a rolloutRestart rung for the demo ``web``
  Deployment, then the fault: its running pods get ``prognos.io/sandbox-fault=crashloop`` (kwok
  crash-loops them). The restart replaces them with pods from the unlabelled template, which is
  what a real fix looks like; labelling the template instead would make every new pod crash too.
* ``IncidentWatcher``: a thread that follows the scenario's incident and stops the in-process
  operator (SIGINT, which Kopf handles gracefully) once it is resolved or the timeout passes.
"""

from __future__ import annotations

import base64
import os
import signal
import threading
import time
from datetime import datetime
from typing import Any

from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException

from prognos.api import GROUP, VERSION
from prognos.commands import UsageError
from prognos.sandbox.stages import FAULT_LABEL

CHANNEL = "demo-webhook"
SECRET = "prognos-demo-webhook"
POLICY = "web-crashloop"


def install_webhook_channel(api: Any, namespace: str, url: str, signing_secret: str) -> None:
    core: Any = k8s.CoreV1Api(api)  # accepts plain dict bodies at runtime
    custom: Any = k8s.CustomObjectsApi(api)
    data = {"url": url, "secret": signing_secret}
    body = {
        "metadata": {"name": SECRET, "namespace": namespace},
        "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()},
    }
    try:
        _install(core, custom, namespace, body)
    except ApiException as exc:
        raise UsageError(
            f"creating the demo webhook channel failed: {exc.status} {exc.reason}"
        ) from exc


def _install(core: Any, custom: Any, namespace: str, body: Any) -> None:
    try:
        core.create_namespaced_secret(namespace, body)
    except ApiException as exc:
        if exc.status != 409:
            raise
        core.replace_namespaced_secret(SECRET, namespace, body)
    channel = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "NotificationChannel",
        "metadata": {"name": CHANNEL, "namespace": namespace},
        "spec": {
            "webhook": {"urlSecretRef": {"name": SECRET}, "signingSecretRef": {"name": SECRET}},
            "scaling": {"decisions": "All"},
            "rateLimit": {"perMinute": 120, "burst": 30},
        },
    }
    try:
        custom.create_namespaced_custom_object(
            GROUP, VERSION, namespace, "notificationchannels", channel
        )
    except ApiException as exc:
        if exc.status != 409:
            raise
        custom.patch_namespaced_custom_object(
            GROUP, VERSION, namespace, "notificationchannels", CHANNEL, {"spec": channel["spec"]}
        )


def _ensure_policy(custom: Any, namespace: str, policy: dict[str, Any]) -> None:
    """Create the policy, or replace the spec of the one a previous run left."""
    for _ in range(30):
        try:
            current = custom.get_namespaced_custom_object(
                GROUP, VERSION, namespace, "remediationpolicies", POLICY
            )
        except ApiException as exc:
            if exc.status != 404:
                raise
            custom.create_namespaced_custom_object(
                GROUP, VERSION, namespace, "remediationpolicies", policy
            )
            return
        if not current["metadata"].get("deletionTimestamp"):
            custom.patch_namespaced_custom_object(
                GROUP, VERSION, namespace, "remediationpolicies", POLICY, {"spec": policy["spec"]}
            )
            return
        # Deleted while no operator ran: its finalizer would hold it forever. It is ours.
        custom.patch_namespaced_custom_object(
            GROUP,
            VERSION,
            namespace,
            "remediationpolicies",
            POLICY,
            {"metadata": {"finalizers": None}},
        )
        time.sleep(1.0)
    raise UsageError(f"policy {namespace}/{POLICY} is stuck in deletion")


def start_crashloop(api: Any, namespace: str, target: str, notify: list[str]) -> float:
    """Apply the policy, then crash-loop the target's pods; return the scenario start time."""
    custom: Any = k8s.CustomObjectsApi(api)
    core: Any = k8s.CoreV1Api(api)
    started = time.time()
    policy = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "RemediationPolicy",
        "metadata": {"name": POLICY, "namespace": namespace},
        "spec": {
            "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": target},
            "signals": [{"name": "crashloop", "kubernetes": {"crashLoop": True}}],
            "actions": [{"rolloutRestart": {}, "verifyWithin": "2m"}],
            "cooldown": "10s",
            "notify": notify,
        },
    }
    try:
        _ensure_policy(custom, namespace, policy)
        deadline = time.monotonic() + 60
        while True:
            pods = [
                p
                for p in core.list_namespaced_pod(
                    namespace, label_selector=f"app.kubernetes.io/name={target}"
                ).items
                if p.metadata.deletion_timestamp is None
            ]
            if pods or time.monotonic() > deadline:
                break
            time.sleep(1.0)
        for pod in pods:
            core.patch_namespaced_pod(
                pod.metadata.name, namespace, {"metadata": {"labels": {FAULT_LABEL: "crashloop"}}}
            )
    except ApiException as exc:
        raise UsageError(
            f"setting up the crash-loop scenario failed: {exc.status} {exc.reason}"
        ) from exc
    if not pods:
        raise UsageError(f"no pods of {namespace}/{target} to crash-loop")
    return started


class IncidentWatcher(threading.Thread):
    """Follows the scenario's incident; SIGINTs this process when it is resolved or too late."""

    def __init__(self, api: Any, namespace: str, since: float, timeout_s: float) -> None:
        super().__init__(daemon=True, name="incident-watcher")
        self.api = api
        self.namespace = namespace
        self.since = since
        self.timeout_s = timeout_s
        self.resolved = False
        self.seen: dict[str, str] = {}

    def _incidents(self) -> list[dict[str, Any]]:
        custom: Any = k8s.CustomObjectsApi(self.api)
        out = custom.list_namespaced_custom_object(GROUP, VERSION, self.namespace, "incidents")
        items = []
        for inc in out.get("items") or []:
            created = inc["metadata"].get("creationTimestamp") or ""
            try:
                when = datetime.fromisoformat(created.replace("Z", "+00:00")).timestamp()
            except ValueError:
                continue
            if (inc.get("spec") or {}).get("policy") == POLICY and when >= self.since - 5:
                items.append(inc)
        return items

    def run(self) -> None:
        deadline = time.monotonic() + self.timeout_s
        time.sleep(3.0)  # let the operator start and install its signal handlers
        while time.monotonic() < deadline:
            try:
                for inc in self._incidents():
                    name = inc["metadata"]["name"]
                    state = str((inc.get("status") or {}).get("state") or "Open")
                    if self.seen.get(name) != state:
                        self.seen[name] = state
                        print(f"[demo] incident {name}: {state}", flush=True)
                    if state == "Resolved":
                        self.resolved = True
                if self.resolved:
                    break
            except ApiException as exc:
                print(f"[demo] reading incidents failed: {exc.status}", flush=True)
            time.sleep(2.0)
        if not self.resolved:
            print(f"[demo] no resolved incident within {self.timeout_s:.0f}s", flush=True)
        os.kill(os.getpid(), signal.SIGINT)
