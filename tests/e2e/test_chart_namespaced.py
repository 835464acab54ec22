"""The Helm chart in namespaced mode (`rbac.scope: namespaced`) against the sandbox apiserver.

A second release, next to test_chart.py's cluster-mode one, watches two fresh namespaces. The
`kubectl auth can-i` matrix proves the ServiceAccount may do what the operator needs there and
nothing of it anywhere else; then the real operator, with that ServiceAccount's token and the
`--namespace` arguments of the installed Deployment, scales a Deployment in one watched
namespace, heals a crash loop in the other, never meets a 403, and leaves an identical scaler
in an unwatched namespace alone.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator

import pytest
from kubernetes import client as k8s

from charthelpers import (
    CHART,
    OPERATOR_NEEDS,
    assert_can_i,
    check_heals,
    check_scales,
    create_web_scaler,
    delete_prognos_objects,
    forbidden,
    helm,
    kubectl,
    sa_kubeconfig,
)
from kubehelpers import OperatorProcess, fresh_namespace, get_psc, replicas

pytestmark = pytest.mark.e2e

#: Not `prognos`: the names of this release's ClusterRole and bindings must not collide with the
#: cluster-mode release, which may be installed at the same time.
RELEASE = "prognos-ns"
RELEASE_NS = "prognos-ns-e2e"


@pytest.fixture(scope="module")
def namespaces(kube) -> Iterator[dict[str, str]]:
    """Two namespaces to watch (`scale`, `heal`) and one not to (`other`), deleted at the end."""
    gens = {
        role: fresh_namespace(kube, f"chartns-{role}", wait_gone=True, suffix_len=6)
        for role in ("scale", "heal", "other")
    }
    names = {role: next(gen) for role, gen in gens.items()}
    yield names
    for gen in gens.values():
        with contextlib.suppress(Exception):  # one namespace's failure must not keep the others
            next(gen, None)


@pytest.fixture(scope="module")
def namespaced_release(tools, crds, namespaces) -> Iterator[str]:
    """The chart installed in namespaced mode. The CRDs are cluster-wide and shared with every
    other test: `--skip-crds` leaves them to the `crds` fixture, and the uninstall keeps them."""
    helm(
        tools,
        "install",
        RELEASE,
        str(CHART),
        "-n",
        RELEASE_NS,
        "--create-namespace",
        "--skip-crds",
        "--set",
        "rbac.scope=namespaced",
        "--set",
        f"watchNamespaces={{{namespaces['scale']},{namespaces['heal']}}}",
        "--wait",
        "--timeout",
        "120s",
    )
    yield RELEASE_NS
    helm(tools, "uninstall", RELEASE, "-n", RELEASE_NS, "--wait", check=False)
    kubectl(tools, "delete", "namespace", RELEASE_NS, "--wait=false", check=False)


def test_namespaced_rbac_allows_the_watched_namespaces_only(tools, namespaces, namespaced_release):
    watched = [namespaces["scale"], namespaces["heal"]]
    other = namespaces["other"]
    allowed = [
        *((*need, "-n", ns) for ns in watched for need in OPERATOR_NEEDS),
        # Kopf's read-only observation of namespaces and CRDs: the one cluster-wide grant.
        ("list", "namespaces"),
        ("watch", "namespaces"),
        ("watch", "customresourcedefinitions.apiextensions.k8s.io"),
        ("get", "secrets", "-n", namespaced_release),
    ]
    denied = [
        *((*need, "-n", ns) for ns in (other, "default") for need in OPERATOR_NEEDS),
        *((*need, "-A") for need in OPERATOR_NEEDS),
        ("list", "predictivescalers.prognos.io", "-A"),
        ("list", "remediationpolicies.prognos.io", "-A"),
        ("get", "secrets", "-n", watched[0]),
        ("get", "secrets", "-n", other),
        ("list", "secrets", "-A"),
        ("get", f"namespaces/{watched[0]}"),  # list and watch only
        ("patch", f"namespaces/{watched[0]}"),
        ("create", "customresourcedefinitions.apiextensions.k8s.io"),
        ("create", "pods", "-n", watched[0]),
        ("list", "deployments.apps", "-n", watched[0]),
        ("create", "kopfpeerings.kopf.dev", "-n", watched[0]),  # no `peering` set
        ("create", "roles", "-n", watched[0]),
        ("create", "clusterroles"),
        ("impersonate", "serviceaccounts"),
    ]
    assert_can_i(tools, f"{namespaced_release}:{RELEASE}", allowed, denied)


def test_namespaced_operator_with_the_chart_token_scales_heals_and_ignores_the_rest(
    tools, namespaces, namespaced_release, kube, sandbox, tmp_path
):
    """The operator process runs with the ServiceAccount token and exactly the `--namespace`
    arguments the chart gave its Deployment: the namespaced RBAC suffices for Kopf and for
    every write of a scale-up and a three-rung healing ladder."""
    scale_ns, heal_ns, other = namespaces["scale"], namespaces["heal"], namespaces["other"]
    deploy = k8s.AppsV1Api(kube).read_namespaced_deployment(RELEASE, namespaced_release)
    assert deploy.status.ready_replicas == 1
    args = deploy.spec.template.spec.containers[0].args
    watch_args = [a for a in args if a.startswith("--namespace=")]
    assert watch_args == [f"--namespace={scale_ns}", f"--namespace={heal_ns}"]

    config = sa_kubeconfig(kube, sandbox, namespaced_release, RELEASE, tmp_path / "kubeconfig")
    proc = OperatorProcess(
        dict(sandbox, kubeconfig=str(config)), tmp_path / "operator.log", watch_args
    )
    # The same scaler where no one is told to look: it would scale out just the same.
    create_web_scaler(kube, other)
    proc.start()
    try:
        check_scales(kube, scale_ns, proc, "the namespaced chart's RBAC")
        check_heals(kube, heal_ns, "the namespaced chart's RBAC")
        # Ignored: this operator never logs nor measures the unwatched scaler, while it does
        # both for the watched one. (A cluster-wide operator of another test in the same
        # session may act on it, so its replicas alone would prove nothing about this one.)
        metrics = proc.metrics()
        assert re.search(rf'namespace="{scale_ns}"', metrics)
        assert not re.search(rf'namespace="{other}"', metrics)
        logs = proc.logs()
        assert scale_ns in logs
        assert other not in logs
        assert forbidden(proc) == []
        # Nor did Kopf fall back to assuming its namespaces (its denied start-up listing).
        assert "Not enough permissions" not in logs
        # The remediation breaker was seeded from the watched namespaces' Incidents.
        assert "remediation.seed_failed" not in logs
        # Released by this operator while it runs: its finalizer removal is a write too.
        for ns in (scale_ns, heal_ns):
            delete_prognos_objects(kube, ns)
        assert forbidden(proc) == []
    finally:
        for ns in (scale_ns, heal_ns):
            with contextlib.suppress(Exception):  # must not hide the failure that got us here
                delete_prognos_objects(kube, ns)
        proc.stop()
    if not get_psc(kube, other, "web").get("status"):
        # No operator at all handled it: not even scaled as a side effect.
        assert replicas(kube, other, "web") == 1
