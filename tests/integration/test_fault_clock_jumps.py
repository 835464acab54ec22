"""Fault injection: the demo exporter's clock jumps, under a live PredictiveScaler.

The exporter computes each workload's load at scrape time from its clock; ``/control`` can shift
that clock per workload (``clock_offset_s``) and make it publish the shifted time as explicit
sample timestamps (``explicit_timestamps``), as a client with a wrong clock would. Both tests use
the ``batch`` workload (the sandbox serves it when it has the load traces), which no other test
reads, and clear its overrides in ``finally``.

* A backward jump with explicit timestamps: Prometheus refuses every sample (too old for its
  head block, or out of order) and marks the series stale, so the instant query returns no
  series. The scaler must fail static (hold replicas, with a scale-down policy that would
  otherwise act at once), say why in ``MetricsAvailable``, and resume when the clock is right.
* Forward jumps of hours without timestamps, to a quiet hour and then to a busy one: the series
  continues but the load pattern jumps. The scaler must keep deciding on the new load, and never
  go below what the observed load needs (``desired = max(forecast, reactive)``: the forecast
  alone never scales down, even while it still predicts the level from before a jump).
"""

from __future__ import annotations

import json
import math
import re
import time
import urllib.request
import uuid
from typing import Any

import pytest
from kubernetes import client as k8s

from kubehelpers import condition, create_psc, get_psc, wait_for, wait_psc_condition
from prognos.sandbox.cluster import find_traces_dir
from prognos.sandbox.load import LOAD_METRIC, Workload, default_workloads
from prognos.sandbox.objects import demo_deployment

pytestmark = pytest.mark.integration

WORKLOAD = "batch"
QUERY = f'sum({LOAD_METRIC}{{namespace="demo",workload="{WORKLOAD}"}})'
TARGET = 20.0  # load one replica serves: the batch trace (mean 250) needs about 9 to 16
TOLERANCE = 0.1  # the HPA tolerance the calculator applies (ScalerConfig default)


@pytest.fixture
def namespace(kube: Any) -> Any:
    name = f"clk-{uuid.uuid4().hex[:8]}"
    k8s.CoreV1Api(kube).create_namespace({"metadata": {"name": name}})
    yield name
    k8s.CoreV1Api(kube).delete_namespace(name)


@pytest.fixture
def batch(sandbox: dict[str, Any]) -> Workload:
    """The exporter's ``batch`` workload, to know what load it serves at any clock."""
    if WORKLOAD not in sandbox.get("workloads", []):
        pytest.skip("this sandbox has no load traces, so no 'batch' workload")
    traces = find_traces_dir()
    found = [w for w in default_workloads(traces, float(sandbox["anchor"])) if w.name == WORKLOAD]
    if not found:
        pytest.skip("the load traces are not readable from this test process")
    return found[0]


def _control(sandbox: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
    req = urllib.request.Request(
        f"{sandbox['exporter']}/control/{WORKLOAD}",
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=5) as resp:
        answer: dict[str, Any] = json.loads(resp.read())
        return answer


def _dropped_samples(sandbox: dict[str, Any]) -> float:
    """Scraped samples Prometheus refused as out of order or out of bounds (too old), from its
    own /metrics (the sandbox does not scrape Prometheus itself)."""
    with urllib.request.urlopen(f"{sandbox['prometheus']}/metrics", timeout=5) as resp:
        text = resp.read().decode()
    total = 0.0
    for name in (
        "prometheus_target_scrapes_sample_out_of_order_total",
        "prometheus_target_scrapes_sample_out_of_bounds_total",
    ):
        match = re.search(rf"^{name} (\S+)$", text, re.MULTILINE)
        assert match, f"Prometheus exposes no {name}"
        total += float(match.group(1))
    return total


def _replicas(kube: Any, ns: str, name: str) -> int:
    return int(k8s.AppsV1Api(kube).read_namespaced_deployment_scale(name, ns).spec.replicas)


def _need(load: float) -> int:
    """Replicas the observed load needs; status rounds loads to 4 significant digits."""
    return math.ceil(load * (1 - 1e-3) / TARGET)


def _spec(target: str, **overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": target},
        "minReplicas": 1,
        "maxReplicas": 60,
        "interval": "5s",
        "metric": {"query": QUERY, "targetPerReplica": str(TARGET)},
    }
    base.update(overrides)
    return base


def _log_tail(operator: Any, start: int) -> str:
    return str(operator.logs()[start:])


def _assert_no_crash(operator: Any, start: int) -> None:
    tail = _log_tail(operator, start)
    assert "Traceback" not in tail, tail[-3000:]
    assert "tick_failed" not in tail, tail[-3000:]


def _assert_scale_downs_met_the_load(kube: Any, ns: str, name: str) -> None:
    """Every scale-down applied to the target (also between polls) had an observed load, and
    did not go below what that load needs."""
    events = k8s.CoreV1Api(kube).list_namespaced_event(
        ns, field_selector=f"involvedObject.kind=Deployment,involvedObject.name={name}"
    )
    pattern = re.compile(r"(\d+) -> (\d+) replicas \(load ([0-9.e+]+),")
    for event in events.items:
        if event.reason != "ScaledDown":
            continue
        match = pattern.search(event.message or "")
        assert match, f"a scale-down without an observed load: {event.message}"
        to, load = int(match.group(2)), float(match.group(3))
        assert to >= _need(load), f"scale-down below the load: {event.message}"


def test_a_backward_clock_jump_with_timestamps_holds_replicas_and_says_why(
    kube, namespace, operator, sandbox, batch
):
    log_start = len(operator.logs())
    start = _need(batch.load(time.time()))
    apps = k8s.AppsV1Api(kube)
    apps.create_namespaced_deployment(namespace, demo_deployment(namespace, "jobs", start))
    # No down-stabilization and any step down per 15 s: if missing data were read as load 0,
    # the next tick would scale to minReplicas. Reactive only: this is about the data path.
    quick_down = {
        "stabilizationWindowSeconds": 0,
        "policies": [{"type": "Percent", "value": 100, "periodSeconds": 15}],
    }
    create_psc(
        kube,
        namespace,
        "jobs",
        _spec("jobs", forecast={"enabled": False}, behavior={"scaleDown": quick_down}),
    )
    wait_psc_condition(
        kube,
        namespace,
        "jobs",
        "MetricsAvailable",
        "True",
        90,
        "metrics available before the fault",
    )
    dropped_before = _dropped_samples(sandbox)
    pre, pre_at = _replicas(kube, namespace, "jobs"), time.time()
    try:
        answer = _control(sandbox, {"clock_offset_s": -3600, "explicit_timestamps": True})
        assert answer["clock_offset_s"] == -3600.0 and answer["explicit_timestamps"] is True
        cond = wait_psc_condition(
            kube,
            namespace,
            "jobs",
            "MetricsAvailable",
            "False",
            60,
            "MetricsAvailable=False after the backward jump",
        )
        # What Prometheus did with the hour-old samples: refused them (too old for the head
        # block, or out of order), and marked the series stale at the first such scrape, so
        # the instant query has no series rather than the last value.
        wait_for(
            lambda: _dropped_samples(sandbox) > dropped_before,
            timeout=30,
            what="Prometheus counting the refused samples",
        )
        assert cond["reason"] == "NoData", cond
        assert "no series" in cond["message"] and WORKLOAD in cond["message"], cond
        held = _replicas(kube, namespace, "jobs")
        # Between the fault and its detection a tick may still have seen real data: it may
        # have moved to what that load needed, nothing lower.
        floor = min(
            [pre] + [_need(batch.load(t)) for t in range(int(pre_at) - 10, int(time.time()), 5)]
        )
        assert held >= floor, f"replicas fell from {pre} to {held} when the data went missing"
        for _ in range(25):  # five ticks without data: never a change
            assert _replicas(kube, namespace, "jobs") == held
            time.sleep(1)
        psc = get_psc(kube, namespace, "jobs")
        status = psc["status"]
        assert status["reasons"][0] == "FallbackHold", status
        assert status["desiredReplicas"] == held, status
        assert condition(psc, "MetricsAvailable")["status"] == "False", status
        assert "load missing" in condition(psc, "Ready")["message"], status
        _assert_scale_downs_met_the_load(kube, namespace, "jobs")
    finally:
        _control(sandbox, {})
    psc = wait_for(
        lambda: (
            (o := get_psc(kube, namespace, "jobs"))
            and condition(o, "MetricsAvailable").get("status") == "True"
            and o["status"]["reasons"][0] != "FallbackHold"
            and o
        ),
        timeout=90,
        what="decisions on data again once the clock is right",
    )
    # The load is the real-time one again, not the hour-old one.
    now = time.time()
    real = [batch.load(now - s) for s in range(0, 61, 5)]
    assert min(real) * 0.98 <= float(psc["status"]["currentLoad"]) <= max(real) * 1.02, psc
    _assert_scale_downs_met_the_load(kube, namespace, "jobs")
    _assert_no_crash(operator, log_start)


def _clean_jumps(batch: Workload, now: float, span: float) -> list[tuple[float, float]]:
    """(offset, load) of every 3-24 h forward jump, in 5-minute steps, whose load stays put
    (within 2 %) from ``now + offset`` for ``span`` seconds: the trace is piecewise constant
    over 5-minute steps, and a step inside the observation would blur the jump."""
    jumps = []
    for step in range(36, 289):
        offset = step * 300.0
        window = [batch.load(now + offset + s) for s in range(0, int(span) + 1, 10)]
        if max(window) - min(window) <= 0.02 * min(window):
            jumps.append((offset, window[0]))
    return jumps


def _check_decision(status: dict[str, Any], seen: list[str]) -> None:
    """The rules that must hold for every decision made on an observed load."""
    if status.get("currentLoad") is None or status["reasons"][0].startswith("Fallback"):
        return
    load = float(status["currentLoad"])
    current, desired = int(status["currentReplicas"]), int(status["desiredReplicas"])
    need = _need(load)
    limited = any(r.startswith("LimitedBy") for r in status["reasons"])
    within_tolerance = abs(1 - load / (TARGET * current)) <= TOLERANCE if current else False
    seen.append(f"{current}->{desired} load {load} {status['reasons']}")
    # Safety: a scale-down never goes below what the observed load needs.
    assert desired >= current or desired >= need, f"scaled down below the load: {seen[-1]}"
    # Liveness: outside the tolerance and the limits, the decision meets the observed load.
    assert within_tolerance or limited or desired >= need, f"ignored the load: {seen[-1]}"


def _observe(
    kube: Any, ns: str, name: str, seconds: float, seen: list[str], expect: float | None = None
) -> int:
    """Poll the scaler for ``seconds``: every decision obeys the rules and the series stays
    available; with ``expect``, the scaler must report that load at some point. Returns the
    number of distinct decisions seen."""
    until = time.time() + seconds
    decisions, last, followed = 0, None, expect is None
    while time.time() < until:
        psc = get_psc(kube, ns, name)
        status = psc["status"]
        metrics = condition(psc, "MetricsAvailable")
        # No explicit timestamps: the series continues, only its shape jumps.
        assert metrics.get("status") == "True", f"lost the series: {metrics}; {seen[-5:]}"
        _check_decision(status, seen)
        if status.get("lastDecisionTime") != last:
            last = status.get("lastDecisionTime")
            decisions += 1
        if expect is not None and float(status.get("currentLoad") or "nan") == pytest.approx(
            expect, rel=0.03
        ):
            followed = True
        time.sleep(1)
    assert followed, f"the scaler never reported the jumped load {expect}; {seen[-5:]}"
    return decisions


def test_forward_clock_jumps_of_hours_are_followed_without_unsafe_scale_downs(
    kube, namespace, operator, sandbox, batch
):
    """Two forward jumps without timestamps: to a quiet hour, then to a busy one.

    A point forecast (quantile 0.5) whose re-anchoring follows a jump slowly (smoothing 0.9)
    keeps predicting the level from before each jump for a while: after the drop it may hold
    capacity (allowed), after the rise it predicts less than the observed load, and then only
    ``max(forecast, reactive)`` stands between the forecast and a scale-down under load.
    """
    log_start = len(operator.logs())
    apps = k8s.AppsV1Api(kube)
    start = _need(batch.load(time.time()))
    apps.create_namespaced_deployment(namespace, demo_deployment(namespace, "etl", start))
    create_psc(
        kube,
        namespace,
        "etl",
        _spec(
            "etl",
            forecast={
                "model": "seasonal-naive",
                "horizon": "3m",
                "history": "3d",
                "quantile": "0.5",
                "refitInterval": "30m",
                "anchorSmoothing": "0.9",
            },
            behavior={"scaleDown": {"stabilizationWindowSeconds": 30}},
        ),
    )
    wait_for(
        lambda: condition(get_psc(kube, namespace, "etl"), "ForecastReady").get("status") == "True",
        timeout=180,
        what="a fitted model before the jumps",
    )
    jumps = _clean_jumps(batch, time.time(), 120)  # two 40 s observations, with slack
    assert jumps, "no clean 3-24 h jump in the batch trace"
    low, high = min(jumps, key=lambda j: j[1]), max(jumps, key=lambda j: j[1])
    assert high[1] > low[1] * 1.2, f"the batch trace is too flat here: {low}, {high}"
    seen: list[str] = []
    try:
        _control(sandbox, {"clock_offset_s": low[0]})
        decisions = _observe(kube, namespace, "etl", 40, seen, expect=low[1])
        assert decisions >= 5, f"only {decisions} decisions in 40 s at a 5 s interval"
        _control(sandbox, {"clock_offset_s": high[0]})
        decisions = _observe(kube, namespace, "etl", 40, seen, expect=high[1])
        assert decisions >= 5, f"only {decisions} decisions in 40 s at a 5 s interval"
        replicas = _replicas(kube, namespace, "etl")
        within_tolerance = abs(1 - high[1] / (TARGET * replicas)) <= TOLERANCE
        assert replicas >= _need(high[1]) or within_tolerance, (
            f"{replicas} replicas for a load of {high[1]:.4g}; {seen[-5:]}"
        )
    finally:
        _control(sandbox, {})
    # Clearing the offset is a jump back to the real clock: the same rules for 20 s more.
    _observe(kube, namespace, "etl", 20, seen)
    _assert_scale_downs_met_the_load(kube, namespace, "etl")
    _assert_no_crash(operator, log_start)
