"""``prognos run`` shuts down gracefully: SIGTERM and SIGINT end it with exit 0, promptly.

A pod is sent SIGTERM on every rollout and node drain; an operator that needs SIGKILL after the
grace period leaves half-written state and a misleading exit code. The operator runs here as a
real subprocess against the sandbox, watching one fresh namespace so it never acts beside the
session's operator, and holds a PredictiveScaler so its handlers are busy when the signal comes.
"""

from __future__ import annotations

import json
import signal
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest

from kubehelpers import OperatorProcess, create_busy_scaler, fresh_namespace, wait_psc_condition

pytestmark = pytest.mark.integration

#: Kopf's own default is to wait for handlers to finish; ours must end well inside a pod's
#: default 30 s termination grace period.
STOP_WITHIN_S = 15.0


@pytest.fixture
def namespace(kube: Any) -> Iterator[str]:
    yield from fresh_namespace(kube, "stop")


def _closed(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1", port)) != 0


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_stops_the_operator_with_exit_0(
    kube: Any, sandbox: Any, crds: None, namespace: str, tmp_path: Any, sig: signal.Signals
) -> None:
    ns = namespace
    create_busy_scaler(kube, ns, "vector(3)")
    proc = OperatorProcess(sandbox, tmp_path / "operator.log", [f"--namespace={ns}"])
    proc.start()
    try:
        wait_psc_condition(kube, ns, "busy", "MetricsAvailable", "True", 60, "a first tick")
        assert proc.proc is not None
        started = time.monotonic()
        proc.proc.send_signal(sig)
        code = proc.proc.wait(timeout=STOP_WITHIN_S)
        took = time.monotonic() - started
    finally:
        proc.stop(signal.SIGKILL)
    logs = proc.logs()
    assert code == 0, f"exit {code} after {took:.1f} s:\n{logs[-3000:]}"
    assert _closed(proc.liveness_port), "the liveness endpoint outlived the process"
    events = [json.loads(line) for line in logs.splitlines() if line.startswith("{")]
    names = [e.get("event") for e in events]
    assert "operator.starting" in names
    assert names[-1] == "operator.stopped", names[-5:]
    assert "Traceback" not in logs
