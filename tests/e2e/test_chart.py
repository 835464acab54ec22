"""The Helm chart and plain manifests against the real sandbox apiserver.

kwok runs the operator's pod (nothing executes inside it), so what the pod would do is checked
by running the real operator process with the chart's ServiceAccount token: if the chart's RBAC
were missing a verb, the scenario would fail with a 403.
"""

from __future__ import annotations

import contextlib
import sys
import time
from typing import Any

import pytest
import yaml
from kubernetes import client as k8s

from charthelpers import (
    CHART,
    OPERATOR_NEEDS,
    ROOT,
    assert_can_i,
    check_heals,
    check_scales,
    forbidden,
    helm,
    kubectl,
    run,
    sa_kubeconfig,
)
from kubehelpers import OperatorProcess, fresh_namespace, wait_for
from prognos.cli import build_parser
from prognos.operator.sharding import Shard

pytestmark = pytest.mark.e2e

VALUE_SETS: dict[str, list[str]] = {
    "default": [],
    "namespaced": ["--set", "rbac.scope=namespaced", "--set", "watchNamespaces={team-a,team-b}"],
    "servicemonitor": [
        "--set",
        "metrics.serviceMonitor.enabled=true",
        "--set",
        "dashboards.enabled=true",
        "--set",
        "podDisruptionBudget.enabled=true",
        "--set",
        "replicaCount=2",
        "--set",
        "peering=prognos",
    ],
    "alerts": [
        "--set",
        "alertmanagerReceiver.enabled=true",
        "--set",
        "alertmanagerReceiver.token.secretName=am-token",
        "--set",
        "prometheus.bearerToken.secretName=prom-token",
        "--set",
        "prometheus.tlsCA.configMapName=prom-ca",
    ],
    # Hash shards, each an active/standby pair with its own PDB and alert receiver Service.
    "sharded": [
        "--set",
        "sharding.shards=3",
        "--set",
        "peering=prognos",
        "--set",
        "replicaCount=2",
        "--set",
        "podDisruptionBudget.enabled=true",
        "--set",
        "alertmanagerReceiver.enabled=true",
        "--set",
        "alertmanagerReceiver.token.secretName=am-token",
    ],
    "sharded-namespaced": [
        "--set",
        "sharding.shards=2",
        "--set",
        "peering=prognos",
        "--set",
        "rbac.scope=namespaced",
        "--set",
        "watchNamespaces={team-a,team-b}",
    ],
    # The default NotificationChannel: a signed webhook reading its URL and signing secret from
    # a Secret, only the news people act on, rate-limited; the CRD validates it server-side.
    "notification-channel": [
        "--set",
        "defaultNotificationChannel.enabled=true",
        "--set",
        "defaultNotificationChannel.name=oncall",
        "--set",
        "defaultNotificationChannel.spec.webhook.urlSecretRef.name=oncall-webhook",
        "--set",
        "defaultNotificationChannel.spec.webhook.signingSecretRef.name=oncall-webhook",
        "--set",
        "defaultNotificationChannel.spec.filter.types={IncidentOpened,Escalated,Resolved}",
        "--set",
        "defaultNotificationChannel.spec.rateLimit.perMinute=30",
        "--set",
        "defaultNotificationChannel.spec.rateLimit.burst=10",
        "--set",
        "defaultNotificationChannel.spec.dedupWindow=15m",
    ],
    # One label-selector release; `\,` escapes the commas from --set's own splitting.
    "selector": [
        "--set",
        "sharding.selector=!legacy\\,tier in (gold\\,silver)\\,env notin (dev)",
        "--set",
        "peering=prognos-gold",
    ],
}
SELECTOR = "!legacy,tier in (gold,silver),env notin (dev)"
SHARD_LABEL = "prognos.io/shard-index"


@pytest.fixture(scope="module")
def servicemonitor_crd(tools: dict[str, str]) -> None:
    """A minimal prometheus-operator ServiceMonitor CRD, so that kind can be validated."""
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "servicemonitors.monitoring.coreos.com"},
        "spec": {
            "group": "monitoring.coreos.com",
            "scope": "Namespaced",
            "names": {
                "plural": "servicemonitors",
                "singular": "servicemonitor",
                "kind": "ServiceMonitor",
            },
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "x-kubernetes-preserve-unknown-fields": True,
                        }
                    },
                }
            ],
        },
    }
    kubectl(tools, "apply", "-f", "-", stdin=yaml.safe_dump(crd))
    kubectl(
        tools,
        "wait",
        "--for=condition=Established",
        "--timeout=30s",
        "crd/servicemonitors.monitoring.coreos.com",
    )


@pytest.mark.parametrize("values", list(VALUE_SETS))
def test_lint_template_and_server_side_dry_run(tools, crds, servicemonitor_crd, values):
    helm(tools, "lint", str(CHART), "--strict", *VALUE_SETS[values])
    ns = f"chart-{values}"
    kubectl(tools, "create", "namespace", ns, check=False)
    for extra in ("team-a", "team-b"):
        kubectl(tools, "create", "namespace", extra, check=False)
    rendered = helm(tools, "template", "prognos", str(CHART), "-n", ns, *VALUE_SETS[values]).stdout
    kinds = {d["kind"] for d in yaml.safe_load_all(rendered) if d}
    assert {"Deployment", "ServiceAccount"} <= kinds
    out = kubectl(tools, "apply", "--dry-run=server", "-f", "-", stdin=rendered)
    assert "(server dry run)" in out.stdout


def test_several_replicas_need_peering(tools):
    """Two unpeered replicas would be two active operators writing the same objects."""
    for extra in ([], ["--set", "sharding.shards=2"]):
        out = helm(
            tools, "template", "x", str(CHART), "--set", "replicaCount=2", *extra, check=False
        )
        assert out.returncode != 0, extra
        assert "replicaCount: 2 replicas without peering" in out.stderr, out.stderr
        assert "set peering" in out.stderr
    for ok in (["--set", "replicaCount=1"], ["--set", "replicaCount=2", "--set", "peering=p"]):
        docs = render(tools, *ok)
        assert all(d["spec"]["replicas"] in (1, 2) for d in of_kind(docs, "Deployment"))


def test_helm_test_pod_only_goes_through_a_rendered_service(tools):
    for values in [*VALUE_SETS.values(), ["--set", "metrics.service.enabled=false"]]:
        docs = render(tools, *values)
        services = {d["metadata"]["name"] for d in of_kind(docs, "Service")}
        pods = of_kind(docs, "Pod")
        if "prognos-metrics" not in services:
            assert pods == [], values
            continue
        [pod] = pods
        assert pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
        assert "http://prognos-metrics:8080/healthz" in pod["spec"]["containers"][0]["command"][2]
    assert of_kind(render(tools, "--set", "metrics.service.enabled=false"), "Pod") == []


def test_default_notification_channel_needs_a_spec(tools):
    empty = helm(
        tools,
        "template",
        "x",
        str(CHART),
        "--set",
        "defaultNotificationChannel.enabled=true",
        check=False,
    )
    assert empty.returncode != 0
    assert "defaultNotificationChannel.spec" in empty.stderr, empty.stderr
    [channel] = of_kind(render(tools, *VALUE_SETS["notification-channel"]), "NotificationChannel")
    assert (channel["metadata"]["name"], channel["metadata"]["namespace"]) == (
        "oncall",
        "prognos-system",
    )
    assert channel["spec"]["webhook"]["urlSecretRef"] == {"name": "oncall-webhook"}
    assert channel["spec"]["filter"]["types"] == ["IncidentOpened", "Escalated", "Resolved"]


def test_schema_refuses_unknown_and_inconsistent_values(tools):
    unknown = helm(tools, "template", "x", str(CHART), "--set", "replicas=3", check=False)
    assert unknown.returncode != 0
    assert "additional properties" in unknown.stderr.lower()
    namespaced = helm(
        tools, "template", "x", str(CHART), "--set", "rbac.scope=namespaced", check=False
    )
    assert namespaced.returncode != 0
    assert "watchNamespaces" in namespaced.stderr


@pytest.mark.parametrize("values", list(VALUE_SETS))
def test_deployment_args_are_options_the_cli_accepts(tools, values):
    deployments = of_kind(render(tools, *VALUE_SETS[values]), "Deployment")
    assert deployments
    for deploy in deployments:
        parsed = run_args(deploy)
        assert parsed.prometheus_url.startswith("http")
        # The sharding options are consistent: `prognos run` would not refuse to start.
        Shard(parsed.shard_count, parsed.shard_index, parsed.shard_selector)
        pod = deploy["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        container = pod["containers"][0]["securityContext"]
        assert container["readOnlyRootFilesystem"] is True
        assert container["capabilities"]["drop"] == ["ALL"]


def render(tools: dict[str, str], *args: str) -> list[dict[str, Any]]:
    out = helm(tools, "template", "prognos", str(CHART), "-n", "prognos-system", *args).stdout
    return [d for d in yaml.safe_load_all(out) if d]


def of_kind(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return sorted((d for d in docs if d["kind"] == kind), key=lambda d: d["metadata"]["name"])


def run_args(deploy: dict[str, Any]) -> Any:
    args = deploy["spec"]["template"]["spec"]["containers"][0]["args"]
    return build_parser().parse_args(["run", *args])  # the image's entrypoint is `prognos run`


def selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


def selecting(docs: list[dict[str, Any]], labels: dict[str, str]) -> list[str]:
    """Names of the Deployments, PDBs or Services among ``docs`` that select these pod labels."""
    out = []
    for doc in docs:
        selector = doc["spec"]["selector"]
        if doc["kind"] != "Service":
            selector = selector["matchLabels"]
        if selects(selector, labels):
            out.append(doc["metadata"]["name"])
    return out


def test_sharded_template_renders_one_operator_per_shard(tools):
    docs = render(tools, *VALUE_SETS["sharded"])
    deployments = of_kind(docs, "Deployment")
    assert [d["metadata"]["name"] for d in deployments] == [f"prognos-shard-{i}" for i in range(3)]
    pdbs = of_kind(docs, "PodDisruptionBudget")
    services = of_kind(docs, "Service")
    peerings = {d["metadata"]["name"] for d in of_kind(docs, "ClusterKopfPeering")}
    assert peerings == {f"prognos-shard-{i}" for i in range(3)}
    for i, deploy in enumerate(deployments):
        name = deploy["metadata"]["name"]
        selector = deploy["spec"]["selector"]["matchLabels"]
        pod_labels = deploy["spec"]["template"]["metadata"]["labels"]
        assert selector[SHARD_LABEL] == pod_labels[SHARD_LABEL] == str(i)
        # Disjoint selectors: a shard's pods belong to its own Deployment and to no other.
        assert selecting(deployments, pod_labels) == [name]
        assert deploy["spec"]["replicas"] == 2
        parsed = run_args(deploy)
        assert (parsed.shard_count, parsed.shard_index, parsed.shard_selector) == (3, i, None)
        # The peering group the process joins is the one the chart created for it.
        assert Shard(3, i).peering_name(parsed.peering) in peerings
        assert selecting(pdbs, pod_labels) == [name]
        # The metrics Service spans all shards; each shard has its own alert receiver.
        assert selecting(services, pod_labels) == [f"prognos-alerts-shard-{i}", "prognos-metrics"]
    # helm test goes through the metrics Service, which every shard is behind.
    test_pod = next(d for d in docs if d["kind"] == "Pod")
    assert "http://prognos-metrics:8080/healthz" in test_pod["spec"]["containers"][0]["command"][2]


def test_sharded_namespaced_template_has_a_peering_per_shard_and_namespace(tools):
    docs = render(tools, *VALUE_SETS["sharded-namespaced"])
    deployments = of_kind(docs, "Deployment")
    assert [d["metadata"]["name"] for d in deployments] == ["prognos-shard-0", "prognos-shard-1"]
    peerings = {
        (d["metadata"]["namespace"], d["metadata"]["name"])
        for d in docs
        if d["kind"] == "KopfPeering"
    }
    expected = set()
    for i, deploy in enumerate(deployments):
        parsed = run_args(deploy)
        assert parsed.namespace == ["team-a", "team-b"]
        expected |= {(ns, Shard(2, i).peering_name(parsed.peering)) for ns in parsed.namespace}
    assert (
        peerings
        == expected
        == {(ns, f"prognos-shard-{i}") for ns in ("team-a", "team-b") for i in range(2)}
    )


def test_selector_template_passes_the_selector_verbatim(tools):
    docs = render(tools, *VALUE_SETS["selector"])
    [deploy] = of_kind(docs, "Deployment")
    assert deploy["metadata"]["name"] == "prognos"
    assert SHARD_LABEL not in deploy["spec"]["selector"]["matchLabels"]
    parsed = run_args(deploy)
    assert parsed.shard_selector == SELECTOR
    assert parsed.shard_count == 1
    shard = Shard(parsed.shard_count, parsed.shard_index, parsed.shard_selector)
    assert shard.owns("ns", "x", {"tier": "gold", "env": "prod"})
    assert not shard.owns("ns", "x", {"tier": "gold", "legacy": "yes"})
    # A selector release names its peering group itself, and the chart creates exactly that.
    [peering] = of_kind(docs, "ClusterKopfPeering")
    assert peering["metadata"]["name"] == shard.peering_name(parsed.peering) == "prognos-gold"


def test_one_shard_template_is_the_unsharded_chart(tools):
    """`shards: 1` renders exactly what the chart rendered before sharding existed, and so does
    a release from before it upgraded with --reuse-values (no `sharding` block at all)."""
    for values in ("default", "namespaced", "servicemonitor", "alerts"):
        args = VALUE_SETS[values]
        plain = helm(tools, "template", "prognos", str(CHART), *args).stdout
        for extra in ("sharding.shards=1", "sharding=null"):
            same = helm(tools, "template", "prognos", str(CHART), *args, "--set", extra).stdout
            assert same == plain, extra


def test_sharding_values_that_cannot_work_fail_the_template(tools):
    both = helm(
        tools,
        "template",
        "x",
        str(CHART),
        "--set",
        "sharding.shards=2",
        "--set",
        "sharding.selector=tier=gold",
        check=False,
    )
    assert both.returncode != 0
    assert "sharding.shards > 1" in both.stderr and "not both" in both.stderr
    for bad in ("sharding.shards=0", "sharding.shards=65", "sharding.selector= "):
        out = helm(
            tools,
            "template",
            "x",
            str(CHART),
            "--set-string" if "selector" in bad else "--set",
            bad,
            check=False,
        )
        assert out.returncode != 0, bad
        assert "/sharding/" in out.stderr, bad


def test_plain_manifests_are_rendered_from_the_chart_and_apply(tools, crds, kube):
    check = run(
        [
            sys.executable,
            str(ROOT / "hack" / "render_manifests.py"),
            "--check",
            "--helm",
            tools["helm"],
        ],
        check=False,
    )
    assert check.returncode == 0, check.stderr
    # A real apply (the namespace must exist for the rest), then remove all but the CRDs, which
    # other tests' objects live in.
    out = kubectl(tools, "apply", "-k", str(ROOT / "manifests"))
    assert "deployment.apps/prognos created" in out.stdout
    try:
        wait_for(
            lambda: (
                (
                    k8s.AppsV1Api(kube)
                    .read_namespaced_deployment("prognos", "prognos-system")
                    .status.ready_replicas
                    or 0
                )
                == 1
            ),
            timeout=60,
            what="plain-manifest operator pod ready (kwok)",
        )
    finally:
        kubectl(tools, "delete", "namespace", "prognos-system", "--wait=false")
        kubectl(tools, "delete", "clusterrole,clusterrolebinding", "prognos")


@pytest.fixture(scope="module")
def release(tools, crds) -> Any:
    ns = "prognos-e2e"
    helm(
        tools,
        "install",
        "prognos",
        str(CHART),
        "-n",
        ns,
        "--create-namespace",
        "--set",
        "log.level=INFO",
        "--wait",
        "--timeout",
        "120s",
    )
    yield ns
    helm(tools, "uninstall", "prognos", "-n", ns, check=False)


def test_install_runs_the_pod_and_rbac_is_least_privilege(tools, release, kube):
    deploy = k8s.AppsV1Api(kube).read_namespaced_deployment("prognos", release)
    assert deploy.status.ready_replicas == 1
    allowed = [
        *((*need, "-n", "default") for need in OPERATOR_NEEDS),
        *((*need, "-A") for need in OPERATOR_NEEDS),
        ("list", "namespaces"),  # Kopf follows namespaces when cluster-wide
        ("watch", "customresourcedefinitions.apiextensions.k8s.io"),
        ("get", "secrets", "-n", release),
    ]
    denied = [
        ("get", "secrets", "-n", "default"),
        ("list", "secrets", "-A"),
        ("create", "pods", "-n", "default"),
        # Removed as unused: no code reads or writes these.
        ("get", "poddisruptionbudgets.policy", "-n", "default"),
        ("list", "poddisruptionbudgets.policy", "-A"),
        ("get", "controllerrevisions.apps", "-n", "default"),
        ("list", "controllerrevisions.apps", "-A"),
        ("create", "events.events.k8s.io", "-n", "default"),
        ("patch", "events", "-n", "default"),
        ("list", "deployments.apps", "-A"),
        ("watch", "statefulsets.apps", "-A"),
        ("list", "jobs.batch", "-A"),
        ("create", "clusterroles"),
        ("create", "rolebindings", "-n", release),
        ("escalate", "clusterroles"),
        ("bind", "clusterroles"),
        ("impersonate", "serviceaccounts"),
        ("delete", "nodes"),
    ]
    assert_can_i(tools, f"{release}:prognos", allowed, denied)


def test_operator_with_the_chart_token_is_healthy_scales_and_heals(
    tools, release, kube, sandbox, tmp_path
):
    """What `helm test` checks (/healthz), then one operator process with the chart's
    ServiceAccount token scales a Deployment and heals a crash loop through a three-rung ladder:
    the RBAC is sufficient for every write, not only minimal."""
    config = sa_kubeconfig(kube, sandbox, release, "prognos", tmp_path / "kubeconfig")
    box = dict(sandbox, kubeconfig=str(config))
    proc = OperatorProcess(box, tmp_path / "operator.log")
    # Deleted (and waited for) while this operator still runs, so it releases its own
    # finalizers: that write goes through the chart's RBAC too.
    scaling = fresh_namespace(kube, "rbac", wait_gone=True, suffix_len=6)
    healing = fresh_namespace(kube, "rbac-heal", wait_gone=True, suffix_len=6)
    ns, heal_ns = next(scaling), next(healing)
    proc.start()  # waits for /healthz, as the chart's helm test pod does
    try:
        check_scales(kube, ns, proc, "the chart's RBAC")
        check_heals(kube, heal_ns, "the chart's RBAC")
        next(scaling, None)
        next(healing, None)
        assert forbidden(proc) == []
    finally:
        # Leave no scaler or policy behind for the rest of the session's operators to pick up.
        for gen in (scaling, healing):
            # A failure here must not hide the one that brought us here.
            with contextlib.suppress(Exception):
                next(gen, None)
        proc.stop()


def test_upgrade_then_uninstall_leaves_only_the_crds(tools, release, kube):
    helm(
        tools,
        "upgrade",
        "prognos",
        str(CHART),
        "-n",
        release,
        "--set",
        "log.level=DEBUG",
        "--wait",
        "--timeout",
        "120s",
    )
    deploy = k8s.AppsV1Api(kube).read_namespaced_deployment("prognos", release)
    args = deploy.spec.template.spec.containers[0].args
    assert "--log-level=DEBUG" in args
    history = helm(tools, "history", "prognos", "-n", release, "-o", "yaml").stdout
    assert len(yaml.safe_load(history)) == 2

    helm(tools, "uninstall", "prognos", "-n", release, "--wait")
    selector = "app.kubernetes.io/instance=prognos"
    deadline = time.monotonic() + 60
    leftovers: list[str] = []
    while time.monotonic() < deadline:
        out = kubectl(
            tools,
            "get",
            "deploy,svc,sa,role,rolebinding,pdb,cm",
            "-n",
            release,
            "-l",
            selector,
            "-o",
            "name",
        ).stdout.split()
        out += kubectl(
            tools, "get", "clusterrole,clusterrolebinding", "-l", selector, "-o", "name"
        ).stdout.split()
        leftovers = out
        if not out:
            break
        time.sleep(1)
    assert leftovers == []
    crd_names = kubectl(
        tools, "get", "crd", "-l", "app.kubernetes.io/part-of=prognos", "-o", "name"
    ).stdout
    assert "predictivescalers.prognos.io" in crd_names
