"""Every remediation action against the real API server, end to end through the operator.

``test_remediation.py`` covers the ladder, the guards and the write-ahead log mostly with
Deployment restarts and ``scaleOut {by}``; this module proves the other actions on real
objects: a rollout restart of a StatefulSet and of a DaemonSet, ``scaleOut {factor}``,
``rollback`` to the previous ReplicaSet revision, and ``job`` created exactly once across an
operator killed between creating the Job and recording it.

The trigger is always the sandbox's kwok ``crashloop`` fault (``prognos.io/sandbox-fault``): on
one *pod* when the action is meant to cure it, on the *template* when no action can (so the rung
runs, is not verified, and the test reads what it changed). Every assertion reads the real
Kubernetes objects, not only the Incident.
"""

from __future__ import annotations

import copy
import signal
import time
from typing import Any

import pytest
from kubernetes import client as k8s

from kubehelpers import (
    GROUP,
    VERSION,
    custom,
    fresh_namespace,
    incidents,
    live_pods,
    ready_pods,
    replicas,
    wait_for,
)
from prognos.remediation.incidents import POLICY_LABEL, dns_label
from prognos.sandbox.objects import demo_deployment
from prognos.sandbox.stages import FAULT_LABEL

pytestmark = pytest.mark.integration

RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"
REVISION = "deployment.kubernetes.io/revision"
#: A label of the sandbox's one fake node (``prognos.sandbox.objects.create_node``).
KWOK_NODE_SELECTOR = {"type": "kwok"}


@pytest.fixture
def namespace(kube: Any) -> Any:
    yield from fresh_namespace(kube, "act")


# ----- helpers -----------------------------------------------------------------------------
def apps(kube: Any) -> Any:
    return k8s.AppsV1Api(kube)


def template(ns: str, name: str, fault: str | None = None) -> dict[str, Any]:
    """The demo pod template (label ``app.kubernetes.io/name=<name>``), optionally faulty."""
    tpl: dict[str, Any] = demo_deployment(ns, name)["spec"]["template"]
    if fault:
        tpl["metadata"]["labels"][FAULT_LABEL] = fault
    return tpl


def deploy(kube: Any, ns: str, name: str, count: int, fault: str | None = None) -> None:
    body = demo_deployment(ns, name, replicas=count)
    body["spec"]["template"] = template(ns, name, fault)
    apps(kube).create_namespaced_deployment(ns, body)


def crash_pod(kube: Any, ns: str, pod: str) -> None:
    """Put one pod into CrashLoopBackOff (its template stays healthy)."""
    k8s.CoreV1Api(kube).patch_namespaced_pod(
        pod, ns, {"metadata": {"labels": {FAULT_LABEL: "crashloop"}}}
    )


def create_policy(
    kube: Any, ns: str, name: str, kind: str, target: str, actions: list[dict[str, Any]]
) -> None:
    """A crash-loop policy on ``kind/target`` with this ladder (the style of
    ``kubehelpers.create_crashloop_ladder``)."""
    body = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "RemediationPolicy",
        "metadata": {"name": name},
        "spec": {
            "targetRef": {"apiVersion": "apps/v1", "kind": kind, "name": target},
            "signals": [{"name": "crashloop", "kubernetes": {"crashLoop": True}}],
            "actions": actions,
            "cooldown": "10s",
        },
    }
    custom(kube).create_namespaced_custom_object(GROUP, VERSION, ns, "remediationpolicies", body)


def incident_of(kube: Any, ns: str, kind: str, target: str) -> dict[str, Any]:
    """The only Incident on ``kind/target`` in ``ns`` ({} while there is none)."""
    items = [
        i
        for i in incidents(kube, ns)
        if i["spec"]["target"]["kind"] == kind and i["spec"]["target"]["name"] == target
    ]
    assert len(items) <= 1, [i["metadata"]["name"] for i in items]
    return items[0] if items else {}


def wait_incident(
    kube: Any, ns: str, kind: str, target: str, ok: Any, timeout: float, what: str
) -> dict[str, Any]:
    """Wait until ``ok(status)`` holds for the Incident on ``kind/target``; return it."""
    inc: dict[str, Any] = wait_for(
        lambda: (
            (inc := incident_of(kube, ns, kind, target)) and ok(inc.get("status") or {}) and inc
        ),
        timeout,
        what,
    )
    return inc


def resolved(st: dict[str, Any]) -> bool:
    return bool(st.get("state") == "Resolved")


def restart_operator(operator: Any, env: dict[str, str]) -> None:
    """Restart the session operator with exactly these test hooks in its environment."""
    operator.stop()
    operator.env = dict(env)
    operator.start()


# ----- rolloutRestart: StatefulSet and DaemonSet --------------------------------------------
def test_rollout_restart_of_a_statefulset_and_a_daemonset(kube, namespace, operator):
    sts = {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": "db"},
        "spec": {
            "replicas": 1,
            "serviceName": "db",
            # OrderedReady would hold the rolling update behind the crashing pod itself.
            "podManagementPolicy": "Parallel",
            "selector": {"matchLabels": {"app.kubernetes.io/name": "db"}},
            "template": template(namespace, "db"),
        },
    }
    agent = template(namespace, "agent")
    agent["spec"]["nodeSelector"] = dict(KWOK_NODE_SELECTOR)
    ds = {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": "agent"},
        "spec": {
            "selector": {"matchLabels": {"app.kubernetes.io/name": "agent"}},
            "template": agent,
        },
    }
    apps(kube).create_namespaced_stateful_set(namespace, sts)
    apps(kube).create_namespaced_daemon_set(namespace, ds)
    for name in ("db", "agent"):
        wait_for(lambda name=name: len(ready_pods(kube, namespace, name)) == 1, 60, f"{name} up")
    rung = [{"rolloutRestart": {}, "verifyWithin": "60s"}]
    create_policy(kube, namespace, "db-health", "StatefulSet", "db", rung)
    create_policy(kube, namespace, "agent-health", "DaemonSet", "agent", rung)
    victims = {}
    for name in ("db", "agent"):
        (pod,) = live_pods(kube, namespace, name)
        victims[name] = pod.metadata.uid
        crash_pod(kube, namespace, pod.metadata.name)

    sts_inc = wait_incident(
        kube, namespace, "StatefulSet", "db", resolved, 90, "the StatefulSet restart to resolve"
    )
    ds_inc = wait_incident(
        kube, namespace, "DaemonSet", "agent", resolved, 90, "the DaemonSet restart to resolve"
    )

    sts_obj = apps(kube).read_namespaced_stateful_set("db", namespace)
    ds_obj = apps(kube).read_namespaced_daemon_set("agent", namespace)
    for inc, obj, name in ((sts_inc, sts_obj, "db"), (ds_inc, ds_obj, "agent")):
        (action,) = inc["status"]["actions"]
        assert action["type"] == "rolloutRestart", action
        assert action["state"] == "Verified", action
        assert action["appliedAt"], action
        planned = action["params"]["restartedAt"]
        assert (obj.spec.template.metadata.annotations or {}).get(RESTARTED_AT) == planned
        # The controller really rolled: the crashing pod is replaced by a healthy new one.
        wait_for(lambda name=name: len(ready_pods(kube, namespace, name)) == 1, 60, f"{name} ok")
        (pod,) = live_pods(kube, namespace, name)
        assert pod.metadata.uid != victims[name]
        assert FAULT_LABEL not in (pod.metadata.labels or {})
    # The new StatefulSet pod belongs to the restarted revision, not the original one.
    sts_obj = wait_for(
        lambda: (
            (o := apps(kube).read_namespaced_stateful_set("db", namespace)).status.current_revision
            == o.status.update_revision
            and o
        ),
        30,
        "the StatefulSet rollout to finish",
    )
    (pod,) = live_pods(kube, namespace, "db")
    assert pod.metadata.labels["controller-revision-hash"] == sts_obj.status.update_revision
    revisions = apps(kube).list_namespaced_controller_revision(namespace).items
    assert len([r for r in revisions if r.metadata.name.startswith("db-")]) == 2
    ds_obj = apps(kube).read_namespaced_daemon_set("agent", namespace)
    assert ds_obj.status.updated_number_scheduled == 1


# ----- scaleOut by a factor -----------------------------------------------------------------
def test_scale_out_by_a_factor_rounds_up_and_stops_at_max(kube, namespace, operator):
    # 2 x 2 = 4, capped at max 3; the second rung then has nothing left to add and fails.
    deploy(kube, namespace, "wide", 2, fault="crashloop")
    rung = {"scaleOut": {"factor": "2", "max": 3}, "verifyWithin": "5s"}
    create_policy(kube, namespace, "wide-health", "Deployment", "wide", [rung, rung])
    # 3 x 1.5 = 4.5, rounded up to 5 (max 10 does not bind).
    deploy(kube, namespace, "odd", 3, fault="crashloop")
    rung = {"scaleOut": {"factor": "1.5", "max": 10}, "verifyWithin": "60s"}
    create_policy(kube, namespace, "odd-health", "Deployment", "odd", [rung])

    wide = wait_incident(
        kube,
        namespace,
        "Deployment",
        "wide",
        lambda st: st.get("state") == "Escalated",
        90,
        "the factor ladder on wide to escalate",
    )
    first, second = wide["status"]["actions"]
    assert (first["type"], first["state"]) == ("scaleOut", "Unverified"), first
    assert first["params"] == {"from": 2, "to": 3}
    assert (second["type"], second["state"]) == ("scaleOut", "Failed"), second
    assert "already has 3 replicas" in second["message"]
    assert replicas(kube, namespace, "wide") == 3  # the failed rung changed nothing

    odd = wait_incident(
        kube,
        namespace,
        "Deployment",
        "odd",
        lambda st: (st.get("actions") or [{}])[0].get("state") == "Applied",
        60,
        "the factor scale-out of odd",
    )
    assert odd["status"]["actions"][0]["params"] == {"from": 3, "to": 5}
    assert replicas(kube, namespace, "odd") == 5
    wait_for(lambda: len(live_pods(kube, namespace, "odd")) == 5, 60, "odd's fifth pod")


# ----- rollback -----------------------------------------------------------------------------
def replica_sets(kube: Any, ns: str, name: str) -> list[Any]:
    items = apps(kube).list_namespaced_replica_set(
        ns, label_selector=f"app.kubernetes.io/name={name}"
    )
    return list(items.items)


def test_rollback_puts_back_the_previous_revision_template(kube, namespace, operator):
    deploy(kube, namespace, "web", 2)
    wait_for(lambda: len(ready_pods(kube, namespace, "web")) == 2, 60, "web revision 1 ready")
    good = apps(kube).read_namespaced_deployment("web", namespace)
    assert good.metadata.annotations[REVISION] == "1"
    good_template = kube.sanitize_for_serialization(good.spec.template)
    create_policy(
        kube,
        namespace,
        "web-health",
        "Deployment",
        "web",
        [{"rollback": {}, "verifyWithin": "60s"}],
    )
    time.sleep(2)  # a healthy revision 1 opens nothing
    assert incidents(kube, namespace) == []

    # Revision 2: a new image that crash-loops.
    bad = copy.deepcopy(good_template)
    bad["metadata"]["labels"][FAULT_LABEL] = "crashloop"
    bad["spec"]["containers"][0]["image"] = "registry.invalid/prognos-demo:2"
    apps(kube).patch_namespaced_deployment("web", namespace, {"spec": {"template": bad}})
    wait_for(
        lambda: (
            apps(kube).read_namespaced_deployment("web", namespace).metadata.annotations[REVISION]
            == "2"
        ),
        30,
        "revision 2",
    )

    inc = wait_incident(
        kube, namespace, "Deployment", "web", resolved, 90, "the rollback to resolve"
    )
    (action,) = inc["status"]["actions"]
    assert action["type"] == "rollback", action
    assert action["state"] == "Verified", action
    assert action["params"] == {"fromRevision": 2, "toRevision": 1}

    # Like `kubectl rollout undo`: revision 1's template is back, and the controller reuses
    # revision 1's ReplicaSet (now revision 3) instead of creating a third one.
    dep = apps(kube).read_namespaced_deployment("web", namespace)
    assert kube.sanitize_for_serialization(dep.spec.template) == good_template
    assert dep.metadata.annotations[REVISION] == "3"
    sets = replica_sets(kube, namespace, "web")
    assert len(sets) == 2, [rs.metadata.name for rs in sets]
    by_image = {rs.spec.template.spec.containers[0].image: rs for rs in sets}
    assert by_image["registry.invalid/prognos-demo:1"].metadata.annotations[REVISION] == "3"
    wait_for(
        lambda: (
            len(ready_pods(kube, namespace, "web")) == 2
            and all(
                p.spec.containers[0].image == "registry.invalid/prognos-demo:1"
                for p in live_pods(kube, namespace, "web")
            )
        ),
        60,
        "web back on revision 1's pods",
    )


# ----- job ----------------------------------------------------------------------------------
JOB_TEMPLATE = {
    "backoffLimit": 0,
    "template": {
        "metadata": {"labels": {"app.kubernetes.io/name": "flush"}},
        "spec": {
            "restartPolicy": "Never",
            "containers": [{"name": "flush", "image": "registry.invalid/cache-flush:1"}],
        },
    },
}


def jobs(kube: Any, ns: str) -> list[Any]:
    return list(k8s.BatchV1Api(kube).list_namespaced_job(ns).items)


def test_job_is_created_once_across_an_operator_killed_after_creating_it(kube, namespace, operator):
    deploy(kube, namespace, "cache", 1, fault="crashloop")  # the Job does not cure it
    try:
        restart_operator(operator, {"PROGNOS_TEST_PAUSE_AFTER_ACT": "120"})
        create_policy(
            kube,
            namespace,
            "cache-health",
            "Deployment",
            "cache",
            [{"job": {"template": JOB_TEMPLATE}, "verifyWithin": "60s"}],
        )
        (job,) = wait_for(lambda: jobs(kube, namespace), 60, "the Job to be created")
        inc = incident_of(kube, namespace, "Deployment", "cache")
        (action,) = inc["status"]["actions"]
        assert action["state"] == "Planned"  # created, but the result is not written yet
        name = f"{dns_label(inc['metadata']['name'], 45)}-{action['key'][:8]}"
        assert action["params"]["jobName"] == name == job.metadata.name
        operator.stop(sig=signal.SIGKILL)
        restart_operator(operator, {})
        inc = wait_incident(
            kube,
            namespace,
            "Deployment",
            "cache",
            lambda st: st["actions"][0]["state"] == "Applied",
            60,
            "the resumed Job record",
        )
    finally:
        restart_operator(operator, {})
    (action,) = inc["status"]["actions"]
    assert "not repeated" in action["message"], action
    assert inc["status"]["actionCount"] == 1
    time.sleep(3)  # two operator starts later: still the one Job, the very same object
    (again,) = jobs(kube, namespace)
    assert again.metadata.uid == job.metadata.uid
    assert again.metadata.labels[POLICY_LABEL] == "cache-health"
    assert again.spec.backoff_limit == 0
    assert again.spec.template.spec.containers[0].image == "registry.invalid/cache-flush:1"
    wait_for(
        lambda: (
            (k8s.BatchV1Api(kube).read_namespaced_job(name, namespace).status.succeeded or 0) == 1
        ),
        60,
        "the Job to run to completion",
    )
