"""Helpers shared by the integration and e2e tiers (imported as ``kubehelpers``)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException

from prognos.sandbox.procs import free_port

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
