"""etcd briefly unavailable under a running operator: nothing lost, nothing repeated, no crash.

The sandbox's etcd is stopped for about 12 s and started again while a RemediationPolicy climbs
a three-rung ``scaleOut`` ladder on a Deployment whose pod template crash-loops (no rung can cure
it, so every rung runs once) and a PredictiveScaler scales another Deployment. The kube-apiserver
stays up meanwhile, so every request the operator makes reaches it and then fails or hangs:
reads, watches, scale writes, Incident and status writes.

The operator's liveness endpoint keeps answering during the outage (a failing probe would have
the kubelet restart a healthy operator). Afterwards the operator is the same process (no crash,
no restart); it logged no traceback; the Incident records exactly three actions, each applied
once, and the Deployment has exactly 2 + 3 replicas (a repeated action shows as more, a lost one
as fewer); the scaler decides again, its ``Ready`` condition is ``Decided`` and its
``desiredReplicas`` matches what the target really has. etcd is always started again, so the
shared sandbox stays healthy for the tests after this one.
"""

from __future__ import annotations

import time
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from kubehelpers import (
    condition,
    create_busy_scaler,
    create_crashloop_ladder,
    fresh_namespace,
    get_psc,
    incidents,
    replicas,
    wait_for,
    wait_ladder_escalated,
)
from prognos.sandbox.cluster import Sandbox

pytestmark = pytest.mark.integration

QUERY = 'sum(prognos_demo_requests_per_second{namespace="demo",workload="web"})'
OUTAGE_S = 12.0


@pytest.fixture
def namespace(kube: Any) -> Iterator[str]:
    yield from fresh_namespace(kube, "etcd", wait_gone=True)


def _live(operator: Any) -> bool:
    with urllib.request.urlopen(
        f"http://127.0.0.1:{operator.liveness_port}/healthz", timeout=5
    ) as resp:
        return bool(resp.status == 200)


def _since(stamp: str | None, when: datetime) -> bool:
    return bool(stamp) and datetime.fromisoformat(str(stamp).replace("Z", "+00:00")) > when


def test_operator_survives_an_etcd_outage_and_loses_or_repeats_no_action(
    kube: Any, namespace: str, operator: Any, sandbox: dict[str, Any]
) -> None:
    # Verification windows long enough that the outage falls in the middle of the ladder.
    create_crashloop_ladder(kube, namespace, verify_within="15s")
    create_busy_scaler(kube, namespace, QUERY)
    wait_for(lambda: replicas(kube, namespace, "busy") > 1, 90, "the scaler acting")
    # The ladder is under way: its first action is on record, the others are still to come.
    wait_for(
        lambda: (
            (items := incidents(kube, namespace))
            and (items[0].get("status") or {}).get("actionCount", 0) >= 1
        ),
        120,
        "the first rung of the ladder",
    )
    # The first rung's verification deadline (15 s after it) falls in the outage: the climb to
    # the next rung, its write-ahead record and its scale all meet an unavailable etcd.
    time.sleep(8)
    pid = operator.proc.pid
    offset = len(operator.logs())

    box = Sandbox(Path(sandbox["dir"]))
    box.stop_component("etcd")
    try:
        # The apiserver is up, but every read and write fails or hangs; liveness must hold.
        deadline = time.monotonic() + OUTAGE_S
        while time.monotonic() < deadline:
            assert _live(operator), "liveness failed during the outage"
            time.sleep(2)
        assert operator.proc.poll() is None, operator.logs()[offset:][-3000:]
    finally:
        box.start_component("etcd", timeout=120)
    recovered = datetime.now(UTC)

    # The process never went away, and it is live.
    assert operator.proc.poll() is None and operator.proc.pid == pid, operator.logs()[-3000:]
    wait_for(lambda: _live(operator), 60, "operator liveness after the outage")

    # The ladder finishes: exactly three actions, each applied once.
    status = wait_ladder_escalated(kube, namespace, 180, "the ladder to finish after the outage")
    actions = status["actions"]

    # The scaler decides again after the outage, says Ready, and its status tells the truth.
    def truthful() -> bool:
        psc = get_psc(kube, namespace, "busy")
        st = psc.get("status") or {}
        actual = replicas(kube, namespace, "busy")
        return bool(
            _since(st.get("lastDecisionTime"), recovered)
            and condition(psc, "Ready").get("reason") == "Decided"
            and condition(psc, "MetricsAvailable").get("status") == "True"
            and st.get("desiredReplicas") == actual
            and actual > 1
        )

    wait_for(truthful, 90, "the scaler's status to recover and match its target")
    time.sleep(20)  # more ticks and a verification window: nothing runs again
    assert replicas(kube, namespace, "sick") == 2 + 3, (actions, status.get("message"))
    assert incidents(kube, namespace)[0]["status"]["actionCount"] == 3
    assert truthful(), get_psc(kube, namespace, "busy").get("status")
    assert operator.proc.poll() is None and operator.proc.pid == pid
    fresh = operator.logs()[offset:]
    assert "Traceback" not in fresh, fresh[-3000:]
