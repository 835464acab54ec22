"""Helpers shared by the integration and e2e tiers (imported as ``kubehelpers``)."""

from __future__ import annotations

import base64
import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException

from prognos.sandbox.objects import demo_deployment
from prognos.sandbox.procs import free_port
from prognos.sandbox.stages import FAULT_LABEL

GROUP, VERSION = "prognos.io", "v1alpha1"


def wait_for(
    predicate: Callable[[], Any],
    timeout: float = 60,
    what: str = "condition",
    interval: float = 0.5,
) -> Any:
    """Poll until ``predicate`` is truthy; API errors count as "not yet"."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = predicate()
        except ApiException as exc:
            last = exc
        else:
            if last:
                return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


def condition(obj: dict[str, Any], type_: str) -> dict[str, Any]:
    for cond in (obj.get("status") or {}).get("conditions") or []:
        if cond.get("type") == type_:
            return dict(cond)
    return {}


class OperatorProcess:
    """``prognos run`` as a real subprocess against the sandbox: can be killed and restarted."""

    def __init__(self, sandbox: dict[str, Any], log_path: Path, extra: list[str] | None = None):
        self.sandbox = sandbox
        self.log_path = log_path
        self.extra = extra or []
        #: Extra environment for the next start (test hooks such as PROGNOS_TEST_PAUSE_*).
        self.env: dict[str, str] = {}
        self.proc: subprocess.Popen[bytes] | None = None
        self.liveness_port = 0
        self.metrics_port = 0

    def start(self, timeout: float = 60) -> None:
        self.liveness_port, self.metrics_port = free_port(), free_port()
        argv = [
            sys.executable,
            "-m",
            "prognos",
            "run",
            f"--kubeconfig={self.sandbox['kubeconfig']}",
            f"--prometheus-url={self.sandbox['prometheus']}",
            "--liveness-host=127.0.0.1",
            f"--liveness-port={self.liveness_port}",
            f"--metrics-port={self.metrics_port}",
            *self.extra,
        ]
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            argv,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            env=dict(os.environ, PYTHONUNBUFFERED="1", **self.env),
        )
        log.close()

        def live() -> bool:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"operator exited {self.proc.returncode}:\n{self.logs()[-3000:]}"
                )
            with urllib.request.urlopen(
                f"http://127.0.0.1:{self.liveness_port}/healthz", timeout=2
            ) as resp:
                return bool(resp.status == 200)

        def probe() -> bool:
            with contextlib.suppress(OSError):
                return live()
            return False

        wait_for(probe, timeout, "operator liveness")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20) -> int | None:
        if self.proc is None or self.proc.poll() is not None:
            return None if self.proc is None else self.proc.returncode
        os.killpg(self.proc.pid, sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            return self.proc.wait(5)

    def metrics(self) -> str:
        with urllib.request.urlopen(
            f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5
        ) as resp:
            return str(resp.read().decode())

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def custom(kube: Any) -> Any:
    return k8s.CustomObjectsApi(kube)


def get_psc(kube: Any, ns: str, name: str) -> dict[str, Any]:
    obj: dict[str, Any] = custom(kube).get_namespaced_custom_object(
        GROUP, VERSION, ns, "predictivescalers", name
    )
    return obj


def create_psc(
    kube: Any, ns: str, name: str, spec: dict[str, Any], annotations: dict[str, str] | None = None
) -> dict[str, Any]:
    body = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "PredictiveScaler",
        "metadata": {"name": name, "annotations": annotations or {}},
        "spec": spec,
    }
    obj: dict[str, Any] = custom(kube).create_namespaced_custom_object(
        GROUP, VERSION, ns, "predictivescalers", body
    )
    return obj


def fresh_namespace(
    kube: Any, prefix: str, *, wait_gone: bool = False, suffix_len: int = 8
) -> Iterator[str]:
    """Create a uniquely named namespace ``<prefix>-<hex>``, yield its name, then delete it.

    Meant for a test file's ``namespace`` fixture to ``yield from``. ``wait_gone=True`` also
    waits (up to 120 s) until the namespace is really gone, while the session operator is still
    up to release its finalizers.
    """
    name = f"{prefix}-{uuid.uuid4().hex[:suffix_len]}"
    body: Any = {"metadata": {"name": name}}
    k8s.CoreV1Api(kube).create_namespace(body)
    yield name
    k8s.CoreV1Api(kube).delete_namespace(name)
    if wait_gone:

        def gone() -> bool:
            try:
                k8s.CoreV1Api(kube).read_namespace(name)
            except ApiException as exc:
                return exc.status == 404
            return False

        wait_for(gone, 120, f"namespace {name} to be deleted")


def live_pods(kube: Any, ns: str, name: str) -> list[Any]:
    """Pods of workload ``name`` (label ``app.kubernetes.io/name``) not being deleted."""
    items = (
        k8s.CoreV1Api(kube)
        .list_namespaced_pod(ns, label_selector=f"app.kubernetes.io/name={name}")
        .items
    )
    return [p for p in items if p.metadata.deletion_timestamp is None]


def ready_pods(kube: Any, ns: str, name: str) -> list[Any]:
    """``live_pods`` whose Ready condition is True."""
    return [
        p
        for p in live_pods(kube, ns, name)
        if any(c.type == "Ready" and c.status == "True" for c in p.status.conditions or [])
    ]


def incidents(kube: Any, ns: str) -> list[dict[str, Any]]:
    """Every Incident in ``ns``."""
    items: list[dict[str, Any]] = custom(kube).list_namespaced_custom_object(
        GROUP, VERSION, ns, "incidents"
    )["items"]
    return items


def replicas(kube: Any, ns: str, name: str) -> int:
    """The replicas Deployment ``name`` asks for (its scale subresource)."""
    scale: Any = k8s.AppsV1Api(kube).read_namespaced_deployment_scale(name, ns)
    return int(scale.spec.replicas)


def wait_psc_condition(
    kube: Any, ns: str, name: str, type_: str, status: str, timeout: float, what: str
) -> dict[str, Any]:
    """Wait until PredictiveScaler ``name``'s condition ``type_`` has ``status``; return it."""
    return dict(
        wait_for(
            lambda: (c := condition(get_psc(kube, ns, name), type_)).get("status") == status and c,
            timeout=timeout,
            what=what,
        )
    )


def create_crashloop_ladder(
    kube: Any,
    ns: str,
    *,
    name: str = "sick-health",
    target: str = "sick",
    verify_within: str = "5s",
    rungs: int = 3,
    max_replicas: int = 20,
    notify: list[str] | None = None,
    actions: list[dict[str, Any]] | None = None,
    max_unavailable: int | None = None,
) -> None:
    """A crash-looping Deployment ``target`` (2 replicas, pod-template label FAULT_LABEL=
    crashloop) and a RemediationPolicy ``name`` on it: a ladder of ``rungs`` identical
    ``scaleOut`` rungs (by 1, up to ``max_replicas``), cooldown 1h, notifying ``notify``.
    ``actions`` replaces that ladder with these rungs (each given ``verify_within``);
    ``max_unavailable`` sets the policy's blast radius for pod actions (deletePod, evictPod).

    No rung can cure the crash loop, so every rung runs once and the ladder escalates.
    """
    sick: Any = demo_deployment(ns, target, replicas=2)
    sick["spec"]["template"]["metadata"]["labels"][FAULT_LABEL] = "crashloop"
    k8s.AppsV1Api(kube).create_namespaced_deployment(ns, sick)
    rung = {"scaleOut": {"by": 1, "max": max_replicas}, "verifyWithin": verify_within}
    ladder = [rung] * rungs
    if actions is not None:
        ladder = [{**a, "verifyWithin": verify_within} for a in actions]
    spec: dict[str, Any] = {
        "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": target},
        "signals": [{"name": "crashloop", "kubernetes": {"crashLoop": True}}],
        "actions": ladder,
        "cooldown": "1h",
    }
    if notify is not None:
        spec["notify"] = list(notify)
    if max_unavailable is not None:
        spec["maxUnavailable"] = max_unavailable
    policy = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "RemediationPolicy",
        "metadata": {"name": name},
        "spec": spec,
    }
    custom(kube).create_namespaced_custom_object(GROUP, VERSION, ns, "remediationpolicies", policy)


def create_busy_scaler(kube: Any, ns: str, query: str, *, name: str = "busy") -> None:
    """A Deployment ``name`` (1 replica) and a reactive PredictiveScaler of the same name on it:
    ``query`` at 50 per replica, up to 60 replicas, every 5 s, forecast off."""
    busy: Any = demo_deployment(ns, name, replicas=1)
    k8s.AppsV1Api(kube).create_namespaced_deployment(ns, busy)
    create_psc(
        kube,
        ns,
        name,
        {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
            "maxReplicas": 60,
            "interval": "5s",
            "metric": {"query": query, "targetPerReplica": "50"},
            "forecast": {"enabled": False},
        },
    )


def create_webhook_channel(
    kube: Any,
    ns: str,
    name: str,
    url: str,
    signing_secret: str,
    *,
    secret_name: str | None = None,
    per_minute: int = 600,
    burst: int = 100,
    timeout: str | None = None,
) -> None:
    """A Secret ``secret_name`` (default ``name``) holding ``url`` and ``signing_secret``, and a
    signed-webhook NotificationChannel ``name`` reading both from it, with that rate limit and
    (if given) delivery timeout."""
    data = {"url": url, "secret": signing_secret}
    ref = secret_name or name
    secret: Any = {
        "metadata": {"name": ref},
        "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()},
    }
    k8s.CoreV1Api(kube).create_namespaced_secret(ns, secret)
    spec: dict[str, Any] = {
        "webhook": {"urlSecretRef": {"name": ref}, "signingSecretRef": {"name": ref}},
        "rateLimit": {"perMinute": per_minute, "burst": burst},
    }
    if timeout is not None:
        spec["timeout"] = timeout
    channel = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "NotificationChannel",
        "metadata": {"name": name},
        "spec": spec,
    }
    custom(kube).create_namespaced_custom_object(
        GROUP, VERSION, ns, "notificationchannels", channel
    )


def wait_channels_ready(kube: Any, ns: str, count: int, timeout: float, what: str) -> None:
    """Wait until ``count`` NotificationChannels in ``ns`` say ``Ready=True``."""

    def ready() -> bool:
        items = custom(kube).list_namespaced_custom_object(
            GROUP, VERSION, ns, "notificationchannels"
        )["items"]
        return sum(condition(c, "Ready").get("status") == "True" for c in items) == count

    wait_for(ready, timeout, what)


def wait_ladder_escalated(
    kube: Any, ns: str, timeout: float, what: str, rungs: int = 3, types: list[str] | None = None
) -> dict[str, Any]:
    """Wait until the namespace's only Incident is Escalated after a ``rungs``-rung scaleOut
    ladder (or a ladder of these action ``types``), each rung applied exactly once; return that
    Incident's status."""
    expected = ["scaleOut"] * rungs if types is None else list(types)
    inc = wait_for(
        lambda: (
            (items := incidents(kube, ns))
            and (items[0].get("status") or {}).get("state") == "Escalated"
            and items
        ),
        timeout,
        what,
    )
    assert len(inc) == 1, [i["metadata"]["name"] for i in inc]
    status: dict[str, Any] = inc[0]["status"]
    actions = status["actions"]
    assert [a["type"] for a in actions] == expected, actions
    assert all(a["state"] in ("Unverified", "Applied") for a in actions), actions
    assert status["actionCount"] == len(expected), status
    return status
