"""Hostile specs through the real apiserver: refused with a message, or a condition, never a crash.

Hypothesis builds PredictiveScaler and RemediationPolicy specs from the CRD schemas' shapes —
mostly valid values, then a few mutations (a field dropped, a value of the wrong type or out of
range, an unknown key). Each spec goes to the real kube-apiserver, where it is either refused
with a 4xx and a non-empty message (schema, CEL) or stored; a stored spec must get a ``Ready``
condition with a reason for its generation from the running operator within a bounded time,
and the operator must stay alive with no handler traceback in its log.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException

from kubehelpers import GROUP, VERSION, condition, custom, wait_for
from prognos.sandbox.objects import demo_deployment

pytestmark = pytest.mark.integration

FUZZ = settings(
    max_examples=40,
    deadline=None,
    derandomize=False,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
#: A stored spec must be reported on within this long (first tick is immediate; generous).
REPORT_WITHIN = 60
CRASH_MARKERS = ("Traceback", "failed with an exception", "Handler '")

QUERY = 'sum(prognos_demo_requests_per_second{namespace="demo",workload="web"})'

# -- value strategies: mostly valid, sometimes edge or wrong ---------------------------------


def mostly(valid: list[Any], wrong: list[Any]) -> st.SearchStrategy[Any]:
    """A valid value nine times in ten, else a wrong one."""
    if not wrong:
        return st.sampled_from(valid)
    return st.integers(0, 9).flatmap(lambda i: st.sampled_from(wrong if i == 9 else valid))


def ints(low: int, high: int, *wrong: int) -> st.SearchStrategy[int]:
    """An in-range integer nine times in ten, else a wrong one."""
    return st.integers(0, 9).flatmap(
        lambda i: st.sampled_from(wrong) if i == 9 and wrong else st.integers(low, high)
    )


durations = mostly(
    ["5s", "10s", "30s", "1m", "1h", "90s", "1h30m"],
    ["500ms", "0s", "4s", "2h", "25h", "7d", "1.5m", "", "5", "-5s", "1e3s"],
)
long_durations = mostly(["1h", "1d", "3d", "7d", "14d"], ["0s", "1w", "", "99999d"])
decimals = mostly(
    ["0.5", "0.9", "0.95", "0.1", "0"], ["1", "1.0", "1.5", "-0.1", "0.99999999", "abc", ".5"]
)
quantities = mostly(
    ["50", "100", "250m", "2k", "1.5"], ["0", "-3", "1Ei", "1e3", "k", "0.0000001m", "9" * 20]
)
names = mostly(["web", "web", "missing"], []) | st.from_regex(r"\A[a-z][a-z0-9-]{0,20}\Z")
queries = st.sampled_from([QUERY, "vector(1)", "up", "sum(rate(x[5m]))"]) | st.text(
    min_size=1, max_size=80
)
json_values: st.SearchStrategy[Any] = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**40), 2**40)
    | st.text(max_size=30)
    | st.floats(allow_nan=False, allow_infinity=False),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=6,
)


def _some(**fields: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    """An object whose fields are each present or absent."""
    return st.fixed_dictionaries({}, optional=fields)


def _target_ref() -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {
            "apiVersion": mostly(["apps/v1"], ["v1", "nope/v9"]),
            "kind": mostly(["Deployment"], ["StatefulSet", "Pod", "Gizmo"]),
            "name": names,
        }
    )


def _rules() -> st.SearchStrategy[dict[str, Any]]:
    return _some(
        stabilizationWindowSeconds=ints(0, 3600, -5, 4000),
        selectPolicy=mostly(["Max", "Min", "Disabled"], ["Most"]),
        policies=st.lists(
            st.fixed_dictionaries(
                {
                    "type": st.sampled_from(["Pods", "Percent"]),
                    "value": ints(1, 100, 0),
                    "periodSeconds": ints(1, 1800, 0, 2000),
                }
            ),
            min_size=0,
            max_size=3,
        ),
    )


def scaler_specs() -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {
            "scaleTargetRef": _target_ref(),
            "maxReplicas": st.integers(0, 20),
            "metric": st.fixed_dictionaries({"query": queries, "targetPerReplica": quantities}),
        },
        optional={
            "minReplicas": ints(0, 3, -1, 25),
            "interval": durations,
            "mode": mostly(["Auto", "Recommend"], ["Yolo"]),
            "forecast": _some(
                model=mostly(["auto", "seasonal-naive", "naive", "linear"], ["crystal-ball"]),
                horizon=durations,
                history=long_durations,
                season=long_durations,
                refitInterval=durations,
                quantile=decimals,
                enabled=st.booleans(),
                anchorSmoothing=decimals,
            ),
            "behavior": _some(tolerance=decimals, scaleUp=_rules(), scaleDown=_rules()),
            "fallback": _some(
                action=mostly(["Hold", "Replicas"], ["Panic"]),
                replicas=st.integers(-1, 30),
            ),
        },
    )


def _signal() -> st.SearchStrategy[dict[str, Any]]:
    prometheus = st.fixed_dictionaries(
        {"query": queries},
        optional={
            "interval": mostly(["5s", "15s", "1m"], ["0s", "1h"]),
            "detector": mostly(
                ["auto", "threshold", "robust-zscore", "rate", "forecast-band"], ["oracle"]
            ),
            "sensitivity": mostly(["low", "high", "0.7"], ["1.5", "max"]),
            "for": durations,
            "within": durations,
            "clearFor": durations,
            "direction": mostly(["both", "up", "down"], ["sideways"]),
            "season": mostly(["1d", "none", "1h"], ["never"]),
            "seasons": ints(1, 28, 0, 40),
            "threshold": _some(
                above=mostly(["0.1", "-3"], ["1e2", "x"]),
                below=mostly(["0", "5.5"], [""]),
            ),
        },
    )
    kubernetes_any = _some(
        crashLoop=st.booleans(),
        oomKilled=st.booleans(),
        notReadyFor=durations,
        restartsAbove=st.fixed_dictionaries({"count": ints(0, 10, -1, 20000), "window": durations}),
    )
    alert = st.fixed_dictionaries(
        {"alertname": mostly(["WebDown"], [""]) | st.text(max_size=20)},
        optional={
            "labels": st.dictionaries(st.text(max_size=10), st.text(max_size=10), max_size=3)
        },
    )
    kubernetes = (
        mostly([{"crashLoop": True}, {"notReadyFor": "30s"}, {"oomKilled": True}], [])
        | kubernetes_any
    )
    one = [
        st.builds(lambda v: {"prometheus": v}, prometheus),
        st.builds(lambda v: {"kubernetes": v}, kubernetes),
        st.builds(lambda v: {"alert": v}, alert),
    ]
    raw = st.fixed_dictionaries(
        {}, optional={"prometheus": prometheus, "kubernetes": kubernetes, "alert": alert}
    )
    return st.builds(
        lambda name, body: {"name": name, **body},
        mostly(["crash", "errors", "paged"], ["Bad_Name", ""]),
        st.one_of(*one, *one, raw),
    )


def _action() -> st.SearchStrategy[dict[str, Any]]:
    scale_out = st.builds(
        lambda by, factor, max_: (
            {"by": by, "max": max_} if factor is None else {"factor": factor, "max": max_}
        ),
        st.integers(1, 3),
        st.none() | decimals,
        st.integers(1, 6),
    )
    one = [
        st.just({"rolloutRestart": {}}),
        st.just({"deletePod": {}}),
        st.just({"evictPod": {}}),
        st.just({"rollback": {}}),
        st.builds(lambda v: {"scaleOut": v}, scale_out),
    ]
    raw = st.fixed_dictionaries(
        {},
        optional={
            "rolloutRestart": st.just({}),
            "deletePod": st.just({}),
            "evictPod": st.just({}),
            "rollback": st.just({}),
            "scaleOut": _some(
                by=st.integers(0, 2000),
                factor=decimals,
                max=st.integers(0, 10),
            ),
            "job": st.fixed_dictionaries(
                {"template": st.sampled_from([{}, {"template": {"spec": {}}}, {"x": 1}])}
            ),
        },
    )
    return st.builds(
        lambda extra, body: {**extra, **body},
        _some(verifyWithin=durations, name=mostly(["first", "second"], ["X"])),
        st.one_of(*one, raw),
    )


def policy_specs() -> st.SearchStrategy[dict[str, Any]]:
    selector = _some(
        matchLabels=st.dictionaries(
            st.sampled_from(["app.kubernetes.io/name", "a", "bad key!"]), names, max_size=2
        ),
        matchExpressions=st.lists(
            st.fixed_dictionaries(
                {
                    "key": st.sampled_from(["app.kubernetes.io/name", "tier"]),
                    "operator": st.sampled_from(["In", "NotIn", "Exists", "Near"]),
                },
                optional={"values": st.lists(names, max_size=2)},
            ),
            max_size=2,
        ),
    )
    optional = {
        "cooldown": durations,
        "maxActions": st.fixed_dictionaries({"count": ints(1, 5, 0, 2000), "window": durations}),
        "maxUnavailable": ints(0, 5, -1),
        "dryRun": st.booleans(),
        "notify": st.lists(names, max_size=2),
        "incidentRetention": _some(keepResolved=ints(0, 50, -1, 2000), ttl=long_durations),
    }
    signals = st.lists(_signal(), min_size=1, max_size=3, unique_by=lambda s: s.get("name"))
    actions = st.lists(_action(), min_size=1, max_size=3)
    workload = st.fixed_dictionaries(
        {"targetRef": _target_ref(), "signals": signals, "actions": actions}, optional=optional
    )
    pods = st.fixed_dictionaries(
        {
            "selector": st.integers(0, 4).flatmap(
                lambda i: (
                    selector
                    if i == 0
                    else st.just({"matchLabels": {"app.kubernetes.io/name": "web"}})
                )
            ),
            "signals": signals,
            "actions": actions,
        },
        optional=optional,
    )
    raw = st.fixed_dictionaries(
        {
            "signals": st.lists(_signal(), max_size=3),
            "actions": st.lists(_action(), max_size=3),
        },
        optional={"targetRef": _target_ref(), "selector": selector, **optional},
    )
    return st.one_of(workload, workload, pods, raw)


# -- mutations: wrong types, dropped fields, unknown keys -------------------------------------
def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, sub in value.items():
            out.extend(_paths(sub, (*prefix, key)))
    elif isinstance(value, list):
        for i, sub in enumerate(value):
            out.extend(_paths(sub, (*prefix, i)))
    return out


def _mutate(spec: dict[str, Any], data: st.DataObject) -> dict[str, Any]:
    for _ in range(data.draw(st.sampled_from([0, 0, 0, 1, 2]), label="mutations")):
        paths = _paths(spec)
        if not paths:
            break
        path = data.draw(st.sampled_from(paths), label="path")
        parent: Any = spec
        for step in path[:-1]:
            parent = parent[step]
        how = data.draw(st.sampled_from(["replace", "delete", "unknown"]), label="how")
        if how == "replace":
            parent[path[-1]] = data.draw(json_values, label="value")
        elif how == "delete":
            del parent[path[-1]]
        elif isinstance(parent, dict):
            parent[data.draw(st.text(min_size=1, max_size=8), label="key")] = data.draw(json_values)
    return spec


# -- the harness ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def fuzz_ns(kube: Any, crds: None) -> Iterator[str]:
    name = f"fuzz-{uuid.uuid4().hex[:8]}"
    namespace: Any = {"metadata": {"name": name}}
    web: Any = demo_deployment(name, "web", replicas=1)
    k8s.CoreV1Api(kube).create_namespace(namespace)
    k8s.AppsV1Api(kube).create_namespaced_deployment(name, web)
    yield name
    k8s.CoreV1Api(kube).delete_namespace(name)


def _check(kube: Any, operator: Any, ns: str, plural: str, kind: str, spec: dict[str, Any]) -> None:
    assert operator.proc is not None and operator.proc.poll() is None, "operator died"
    offset = len(operator.logs())
    name = f"f-{uuid.uuid4().hex[:10]}"
    body = {"apiVersion": f"{GROUP}/{VERSION}", "kind": kind, "metadata": {"name": name}}
    body["spec"] = spec
    co = custom(kube)
    refused: ApiException | None = None
    try:
        co.create_namespaced_custom_object(GROUP, VERSION, ns, plural, body)
    except ApiException as exc:
        refused = exc
    if refused is not None:
        event("refused")
        assert 400 <= refused.status < 500, f"{refused.status} for {spec!r}: {refused.body}"
        assert (refused.body or refused.reason or "").strip(), f"empty refusal for {spec!r}"
        return
    try:
        obj = wait_for(
            lambda: (
                (o := co.get_namespaced_custom_object(GROUP, VERSION, ns, plural, name))
                and condition(o, "Ready").get("reason")
                and (o.get("status") or {}).get("observedGeneration") == o["metadata"]["generation"]
                and o
            ),
            timeout=REPORT_WITHIN,
            what=f"a Ready condition on {kind} with spec {spec!r}",
        )
        ready = condition(obj, "Ready")
        event(f"stored: Ready={ready['status']} {ready['reason']}")
        if ready["status"] != "True":
            assert ready["message"].strip(), ready
    finally:
        co.delete_namespaced_custom_object(GROUP, VERSION, ns, plural, name)
    time.sleep(0.2)
    assert operator.proc.poll() is None, f"operator died:\n{operator.logs()[-3000:]}"
    fresh = operator.logs()[offset:]
    for marker in CRASH_MARKERS:
        assert marker not in fresh, f"{marker!r} in operator log for {spec!r}:\n{fresh[-3000:]}"


@FUZZ
@given(spec=scaler_specs(), data=st.data())
def test_fuzzed_scaler_specs_are_refused_or_reported(
    kube: Any, operator: Any, fuzz_ns: str, spec: dict[str, Any], data: st.DataObject
) -> None:
    _check(kube, operator, fuzz_ns, "predictivescalers", "PredictiveScaler", _mutate(spec, data))


@FUZZ
@given(spec=policy_specs(), data=st.data())
def test_fuzzed_policy_specs_are_refused_or_reported(
    kube: Any, operator: Any, fuzz_ns: str, spec: dict[str, Any], data: st.DataObject
) -> None:
    _check(kube, operator, fuzz_ns, "remediationpolicies", "RemediationPolicy", _mutate(spec, data))
