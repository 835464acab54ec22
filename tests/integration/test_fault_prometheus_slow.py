"""Prometheus slow under live scalers: hold replicas, say why, keep the event loop free, recover.

A real HTTP proxy (``slowproxy``) sits between a dedicated operator and the sandbox's Prometheus;
the operator's query timeout is 2 s (``PROGNOS_PROMETHEUS_TIMEOUT``, the chart's
``prometheus.timeoutSeconds``). Three PredictiveScalers tick every 5 s: two read the ``web``
load, one the ``batch`` load. Once all three have scaled their targets up, the proxy starts
answering the ``web`` queries 6 s late, longer than the timeout, while ``batch`` queries stay
fast. Then:

* the two slow scalers hold their replicas exactly (no scale-down although their scale-down
  stabilization window is 0, no scale to zero or min, no change at all) and say so:
  ``MetricsAvailable=False reason=PrometheusTimeout``, decision reason ``FallbackHold``;
* the event loop is not blocked: ``/healthz`` answers within 2 s throughout, and the fast scaler
  keeps deciding: its target, scaled down to 1 by hand meanwhile, is scaled up again;
* when the proxy answers promptly again, the slow scalers recover: ``MetricsAvailable=True``,
  new decisions, and a target scaled down by hand is scaled up again.

The session's operator would act on these scalers too, so it is stopped for the duration of
the test and started again afterwards (as ``test_ha`` does).
"""

from __future__ import annotations

import contextlib
import time
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from kubernetes import client as k8s

from kubehelpers import (
    GROUP,
    VERSION,
    OperatorProcess,
    condition,
    create_psc,
    custom,
    fresh_namespace,
    get_psc,
    replicas,
    wait_for,
)
from prognos.sandbox.objects import demo_deployment
from slowproxy import SlowProxy

pytestmark = pytest.mark.integration

SLOW_MARK = 'workload="web"'
SLOW_QUERY = f'sum(prognos_demo_requests_per_second{{namespace="demo",{SLOW_MARK}}})'
FAST_QUERY = 'sum(prognos_demo_requests_per_second{namespace="demo",workload="batch"})'
TIMEOUT_S = 2
DELAY_S = 6.0
SLOW_FOR_S = 25.0
SLOW, FAST = ("slow-a", "slow-b"), "fast"


@pytest.fixture
def namespace(kube: Any) -> Iterator[str]:
    yield from fresh_namespace(kube, "promslow", wait_gone=True)


def _spec(target: str, query: str, per_replica: str) -> dict[str, Any]:
    return {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": target},
        "minReplicas": 1,
        "maxReplicas": 12,
        "interval": "5s",
        "metric": {"query": query, "targetPerReplica": per_replica},
        "forecast": {"enabled": False},
        # No stabilization: a timeout read as "no load" would show at once as a scale-down.
        "behavior": {"scaleDown": {"stabilizationWindowSeconds": 0}},
    }


def _stamp(value: Any) -> datetime:
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def _decided_since(psc: dict[str, Any], when: datetime) -> bool:
    stamp = (psc.get("status") or {}).get("lastDecisionTime")
    return bool(stamp) and _stamp(stamp) > when


def _healthz_seconds(op: OperatorProcess) -> float:
    started = time.monotonic()
    with urllib.request.urlopen(f"http://127.0.0.1:{op.liveness_port}/healthz", timeout=10) as r:
        assert r.status == 200
    return time.monotonic() - started


def _settled(kube: Any, ns: str, name: str) -> bool:
    psc = get_psc(kube, ns, name)
    st = psc.get("status") or {}
    actual = replicas(kube, ns, name)
    return bool(
        condition(psc, "MetricsAvailable").get("status") == "True"
        and condition(psc, "Ready").get("reason") == "Decided"
        and st.get("desiredReplicas") == actual
        and "LimitedByRatePolicy" not in (st.get("reasons") or [])
        and actual > 1
    )


def test_slow_prometheus_holds_replicas_reports_it_and_recovers(
    kube: Any, namespace: str, operator: OperatorProcess, sandbox: dict[str, Any], tmp_path: Any
) -> None:
    apps = k8s.AppsV1Api(kube)
    for name in (*SLOW, FAST):
        body: Any = demo_deployment(namespace, name, replicas=1)
        apps.create_namespaced_deployment(namespace, body)

    proxy = SlowProxy(sandbox["prometheus"], delay=0.0, only=SLOW_MARK).start()
    ours = OperatorProcess(
        dict(sandbox, prometheus=proxy.url),
        tmp_path / "operator.log",
        [f"--namespace={namespace}"],
    )
    ours.env["PROGNOS_PROMETHEUS_TIMEOUT"] = str(TIMEOUT_S)
    operator.stop()  # the session operator is cluster-wide: it would act on these scalers too
    try:
        ours.start()
        pid = ours.proc.pid if ours.proc else None
        for name in SLOW:
            create_psc(kube, namespace, name, _spec(name, SLOW_QUERY, "150"))
        create_psc(kube, namespace, FAST, _spec(FAST, FAST_QUERY, "50"))
        for name in (*SLOW, FAST):
            wait_for(lambda n=name: _settled(kube, namespace, n), 120, f"{name} to scale up")
        before = {name: replicas(kube, namespace, name) for name in SLOW}

        # Prometheus turns slow for the web queries: longer than the operator's timeout.
        proxy.delay = DELAY_S
        slow_since = datetime.now(UTC)
        apps.patch_namespaced_deployment_scale(FAST, namespace, {"spec": {"replicas": 1}})

        def timing_out(name: str) -> dict[str, Any] | None:
            psc = get_psc(kube, namespace, name)
            cond = condition(psc, "MetricsAvailable")
            ok = (
                cond.get("status") == "False"
                and cond.get("reason") == "PrometheusTimeout"
                and _decided_since(psc, slow_since)
            )
            return psc if ok else None

        for name in SLOW:
            wait_for(lambda n=name: timing_out(n), 60, f"{name} to report the timeout")
        held = {name: replicas(kube, namespace, name) for name in SLOW}
        assert all(held[n] >= before[n] for n in SLOW), (before, held)  # never down

        probes: list[float] = []
        seen: dict[str, set[int]] = {name: set() for name in SLOW}
        deadline = time.monotonic() + SLOW_FOR_S
        while time.monotonic() < deadline:
            probes.append(_healthz_seconds(ours))
            for name in SLOW:
                seen[name].add(replicas(kube, namespace, name))
            time.sleep(1)
        assert ours.proc is not None and ours.proc.poll() is None, ours.logs()[-3000:]
        assert proxy.delayed > 0, (proxy.requests, proxy.delayed)

        # Fail static: not one change, and the status says why.
        assert seen == {name: {held[name]} for name in SLOW}, (held, seen)
        for name in SLOW:
            psc = timing_out(name)
            assert psc is not None, get_psc(kube, namespace, name).get("status")
            st = psc["status"]
            assert "did not answer in time" in condition(psc, "MetricsAvailable")["message"]
            assert "FallbackHold" in st["reasons"], st
            assert st["desiredReplicas"] == held[name] == st["currentReplicas"], st

        # The event loop stayed free: probes answered, the fast scaler kept deciding.
        print(f"healthz while slow: {len(probes)} probes, slowest {max(probes):.3f}s")
        assert max(probes) < 2.0, sorted(probes)[-5:]
        fast = get_psc(kube, namespace, FAST)
        assert _decided_since(fast, slow_since), fast.get("status")
        assert condition(fast, "MetricsAvailable").get("status") == "True", fast["status"]
        wait_for(lambda: _settled(kube, namespace, FAST), 30, "the fast scaler to scale up again")

        # Prometheus is prompt again: the slow scalers recover and decide, and act.
        proxy.delay = 0.0
        back = datetime.now(UTC)

        def recovered(name: str) -> bool:
            psc = get_psc(kube, namespace, name)
            cond = condition(psc, "MetricsAvailable")
            return bool(
                cond.get("status") == "True"
                and cond.get("reason") == "QuerySucceeded"
                and _stamp(cond["lastTransitionTime"]) >= back.replace(microsecond=0)
                and _decided_since(psc, back)
                and "FallbackHold" not in psc["status"]["reasons"]
            )

        for name in SLOW:
            wait_for(lambda n=name: recovered(n), 60, f"{name} to recover")
        apps.patch_namespaced_deployment_scale(SLOW[0], namespace, {"spec": {"replicas": 1}})
        wait_for(
            lambda: _settled(kube, namespace, SLOW[0]), 60, "decisions to resume after recovery"
        )
        wait_for(lambda: _settled(kube, namespace, SLOW[1]), 60, "a truthful status")
        assert ours.proc is not None and ours.proc.pid == pid and ours.proc.poll() is None
        logs = ours.logs()
        assert "Traceback" not in logs, logs[-3000:]
    finally:
        # Deleted while this operator still runs, so that it releases their finalizers.
        with contextlib.suppress(Exception):
            custom(kube).delete_collection_namespaced_custom_object(
                GROUP, VERSION, namespace, "predictivescalers"
            )
            wait_for(
                lambda: (
                    not custom(kube).list_namespaced_custom_object(
                        GROUP, VERSION, namespace, "predictivescalers"
                    )["items"]
                ),
                60,
                "the scalers to be deleted",
            )
        proxy.stop()
        ours.stop()
        operator.start()
