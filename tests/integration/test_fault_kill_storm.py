"""A kill storm: the operator SIGKILLed at random points, 20+ times, while it heals and scales.

A RemediationPolicy climbs a three-rung ``scaleOut`` ladder on a Deployment whose pod template
crash-loops (no rung can cure it, so every rung runs once, then people are told), and a
PredictiveScaler scales another Deployment. Meanwhile the operator is killed with SIGKILL at a
random moment after each start, and restarted, at least 20 times. Afterwards the operator
finishes the ladder, and the counts must agree: the Incident records exactly three actions, each
applied once, and the Deployment has exactly 2 + 3 replicas (a repeated action would show as
more, a lost one as fewer); the scaler's status matches its target.
"""

from __future__ import annotations

import os
import random
import signal
import time
from collections.abc import Iterator
from typing import Any

import pytest

from kubehelpers import (
    create_busy_scaler,
    create_crashloop_ladder,
    fresh_namespace,
    get_psc,
    replicas,
    wait_for,
    wait_ladder_escalated,
)

pytestmark = pytest.mark.integration

KILLS = int(os.environ.get("PROGNOS_TEST_KILLS", "20"))
QUERY = 'sum(prognos_demo_requests_per_second{namespace="demo",workload="web"})'


@pytest.fixture
def namespace(kube: Any) -> Iterator[str]:
    yield from fresh_namespace(kube, "kill")


def test_twenty_random_sigkills_lose_and_repeat_no_action(
    kube: Any, namespace: str, operator: Any
) -> None:
    create_crashloop_ladder(kube, namespace)
    create_busy_scaler(kube, namespace, QUERY)

    rng = random.Random(os.environ.get("PROGNOS_TEST_SEED", str(time.time_ns())))
    offset = len(operator.logs())
    try:
        for _ in range(KILLS):
            time.sleep(rng.uniform(0.0, 4.0))  # anywhere: start-up, planning, acting, writing
            operator.stop(sig=signal.SIGKILL)
            operator.start(timeout=90)
    finally:
        if operator.proc is None or operator.proc.poll() is not None:
            operator.start(timeout=90)

    status = wait_ladder_escalated(kube, namespace, 240, "the ladder to finish after the storm")
    actions = status["actions"]
    time.sleep(6)  # one more tick: nothing runs again
    assert replicas(kube, namespace, "sick") == 2 + 3, (actions, status.get("message"))

    def truthful() -> bool:
        st = get_psc(kube, namespace, "busy").get("status") or {}
        actual = replicas(kube, namespace, "busy")
        return bool(st.get("desiredReplicas") == actual and actual > 1)

    wait_for(truthful, 60, "the scaler's status to match its target")
    assert "Traceback" not in operator.logs()[offset:], operator.logs()[offset:][-3000:]
