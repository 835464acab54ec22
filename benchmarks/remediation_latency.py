"""Time to remediation in the real sandbox: signal onset to action applied, p50 and p95.

Crash-loop episodes: a pod of a healthy Deployment is labelled with the kwok crash-loop fault.
*Onset* is the moment the benchmark's own pod watch sees the pod's ``CrashLoopBackOff`` status
in the API; *applied* is the moment its Deployment watch sees the new
``kubectl.kubernetes.io/restartedAt`` value. Both clocks are the benchmark's, both through
watches, so the figure is what a user would see. Target: p95 <= 5 s.

Metric-anomaly episodes: the demo exporter's ``web`` error ratio is set to 0.3. *Onset* is the
POST to the exporter (the anomaly starts there); *applied* is the replica change of the target
seen by the Deployment watch. Target: one scrape interval (5 s) + one evaluation interval (5 s)
+ 5 s = 15 s.

Each episode waits for the Incident to resolve and the workload to be healthy before the next.
The operator runs as a subprocess (``prognos run``), exactly as in the integration tests.

    PROGNOS_SANDBOX_DIR=/tmp/sbx nice python benchmarks/remediation_latency.py \
        --crash-episodes 20 --metric-episodes 5
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

from kubernetes import client as k8s
from kubernetes import watch

from prognos.sandbox.cluster import Sandbox
from prognos.sandbox.objects import api_client, apply_crds, demo_deployment
from prognos.sandbox.procs import free_port
from prognos.sandbox.stages import FAULT_LABEL

GROUP, VERSION = "prognos.io", "v1alpha1"
RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"
ERROR_QUERY = 'max(prognos_demo_error_ratio{namespace="demo",workload="web"})'


class Watcher:
    """Pod and Deployment watches of one namespace, timestamped on arrival."""

    def __init__(self, kube: Any, namespace: str) -> None:
        self.kube, self.namespace = kube, namespace
        self.crashloop_seen: dict[str, float] = {}  # pod -> first CrashLoopBackOff
        self.restarts: list[tuple[float, str, str]] = []  # (time, deployment, restartedAt)
        self.replicas: list[tuple[float, str, int]] = []
        self._stop = threading.Event()
        self._last: dict[str, tuple[str | None, int]] = {}
        for fn in (self._pods, self._deployments):
            threading.Thread(target=fn, daemon=True).start()

    def stop(self) -> None:
        self._stop.set()

    def _pods(self) -> None:
        core = k8s.CoreV1Api(self.kube)
        while not self._stop.is_set():
            for ev in watch.Watch().stream(
                core.list_namespaced_pod, self.namespace, timeout_seconds=30
            ):
                pod = ev["object"]
                for cs in pod.status.container_statuses or []:
                    waiting = cs.state.waiting if cs.state else None
                    if waiting is not None and waiting.reason == "CrashLoopBackOff":
                        self.crashloop_seen.setdefault(pod.metadata.name, time.time())

    def _deployments(self) -> None:
        apps = k8s.AppsV1Api(self.kube)
        while not self._stop.is_set():
            for ev in watch.Watch().stream(
                apps.list_namespaced_deployment, self.namespace, timeout_seconds=30
            ):
                dep = ev["object"]
                now = time.time()
                name = dep.metadata.name
                stamp = (dep.spec.template.metadata.annotations or {}).get(RESTARTED_AT)
                replicas = int(dep.spec.replicas or 0)
                before = self._last.get(name)
                if before is not None and stamp != before[0] and stamp:
                    self.restarts.append((now, name, stamp))
                if before is not None and replicas != before[1]:
                    self.replicas.append((now, name, replicas))
                self._last[name] = (stamp, replicas)


def wait_for(predicate: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            out = predicate()
        except k8s.ApiException:
            out = None
        if out:
            return out
        time.sleep(0.2)
    raise TimeoutError(f"timed out waiting for {what}")


def ready_pods(kube: Any, ns: str, name: str) -> list[str]:
    items = (
        k8s.CoreV1Api(kube)
        .list_namespaced_pod(ns, label_selector=f"app.kubernetes.io/name={name}")
        .items
    )
    return [
        p.metadata.name
        for p in items
        if p.metadata.deletion_timestamp is None
        and any(c.type == "Ready" and c.status == "True" for c in p.status.conditions or [])
    ]


def open_incidents(kube: Any, ns: str) -> int:
    items = k8s.CustomObjectsApi(kube).list_namespaced_custom_object(
        GROUP, VERSION, ns, "incidents"
    )["items"]
    return sum(1 for i in items if (i.get("status") or {}).get("state") != "Resolved")


def policy(name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "RemediationPolicy",
        "metadata": {"name": name},
        "spec": spec,
    }


def exporter(url: str, body: dict[str, Any]) -> None:
    req = urllib.request.Request(
        f"{url}/control/web",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    urllib.request.urlopen(req, timeout=5).close()


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def summary(name: str, values: list[float], target: float) -> str:
    if not values:
        return f"{name}: no episodes"
    p50, p95 = statistics.median(values), pct(values, 0.95)
    verdict = "met" if p95 <= target else "MISSED"
    return (
        f"{name}: n={len(values)} p50={p50:.2f}s p95={p95:.2f}s max={max(values):.2f}s "
        f"(target p95 <= {target:.0f}s: {verdict})"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--crash-episodes", type=int, default=20)
    parser.add_argument("--metric-episodes", type=int, default=5)
    args = parser.parse_args()

    state_dir = os.environ.get("PROGNOS_SANDBOX_DIR")
    box = Sandbox(Path(state_dir) if state_dir else None)
    sbx = box.up(timeout=300)
    kube = api_client(Path(sbx["kubeconfig"]))
    from prognos.api import crds

    apply_crds(kube, [build() for build in crds.DEFINITIONS.values()])
    ns = f"rem-bench-{uuid.uuid4().hex[:6]}"
    core, apps = k8s.CoreV1Api(kube), k8s.AppsV1Api(kube)
    custom = k8s.CustomObjectsApi(kube)
    core.create_namespace({"metadata": {"name": ns}})
    log = Path(tempfile.mkdtemp()) / "operator.log"
    op = subprocess.Popen(
        [
            sys.executable, "-m", "prognos", "run",
            f"--kubeconfig={sbx['kubeconfig']}",
            f"--prometheus-url={sbx['prometheus']}",
            "--liveness-host=127.0.0.1", f"--liveness-port={free_port()}",
            "--metrics-port=0", "-n", ns,
        ],
        stdout=log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True,
        env=dict(os.environ, PROGNOS_MAX_ACTIONS="off"),
    )  # fmt: skip
    watcher = Watcher(kube, ns)
    crash: list[float] = []
    metric: list[float] = []
    try:
        apps.create_namespaced_deployment(ns, demo_deployment(ns, "crash", replicas=2))
        apps.create_namespaced_deployment(ns, demo_deployment(ns, "errors", replicas=2))
        wait_for(lambda: len(ready_pods(kube, ns, "crash")) == 2, 60, "crash ready")
        custom.create_namespaced_custom_object(
            GROUP, VERSION, ns, "remediationpolicies",
            policy("crash", {
                "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "crash"},
                "signals": [{"name": "crashloop", "kubernetes": {"crashLoop": True}}],
                "actions": [{"rolloutRestart": {}, "verifyWithin": "60s"}],
                "cooldown": "0s",
                "incidentRetention": {"keepResolved": 5},
            }),
        )  # fmt: skip
        time.sleep(5)  # the operator has started its daemon and watches
        for i in range(args.crash_episodes):
            victim = ready_pods(kube, ns, "crash")[0]
            seen = len(watcher.restarts)
            core.patch_namespaced_pod(
                victim, ns, {"metadata": {"labels": {FAULT_LABEL: "crashloop"}}}
            )
            onset = wait_for(lambda v=victim: watcher.crashloop_seen.get(v), 60, "crash loop")
            applied = wait_for(
                lambda s=seen: watcher.restarts[s][0] if len(watcher.restarts) > s else None,
                60, "the restart",
            )  # fmt: skip
            crash.append(applied - onset)
            print(f"crash episode {i + 1}: {applied - onset:.3f}s", flush=True)
            wait_for(lambda: open_incidents(kube, ns) == 0, 90, "resolution")
            wait_for(lambda: len(ready_pods(kube, ns, "crash")) == 2, 90, "healthy again")

        if args.metric_episodes:
            custom.create_namespaced_custom_object(
                GROUP, VERSION, ns, "remediationpolicies",
                policy("errors", {
                    "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "errors"},
                    "signals": [{"name": "errors", "prometheus": {
                        "query": ERROR_QUERY, "interval": "5s", "detector": "threshold",
                        "threshold": {"above": "0.1"}, "for": "0s", "rearmAfter": "0s",
                    }}],
                    "actions": [{"scaleOut": {"by": 1, "max": 50}, "verifyWithin": "2m"}],
                    "cooldown": "0s",
                    "incidentRetention": {"keepResolved": 5},
                }),
            )  # fmt: skip
            time.sleep(15)  # normal evaluations first
        for i in range(args.metric_episodes):
            seen = len(watcher.replicas)
            onset = time.time()
            exporter(sbx["exporter"], {"error_ratio": 0.3})
            try:
                applied = wait_for(
                    lambda s=seen: next(
                        (t for t, n, _ in watcher.replicas[s:] if n == "errors"), None
                    ),
                    90, "the scale-out",
                )  # fmt: skip
            finally:
                exporter(sbx["exporter"], {})
            metric.append(applied - onset)
            print(f"metric episode {i + 1}: {applied - onset:.3f}s", flush=True)
            wait_for(lambda: open_incidents(kube, ns) == 0, 120, "resolution")
            time.sleep(10)
    finally:
        watcher.stop()
        os.killpg(op.pid, signal.SIGTERM)
        op.wait(20)
        core.delete_namespace(ns)
    print()
    print(summary("crash loop -> rollout restart", crash, 5.0))
    print(summary("error-rate anomaly -> scale out", metric, 15.0))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
