"""The Helm chart and plain manifests against the real sandbox apiserver.

kwok runs the operator's pod (nothing executes inside it), so what the pod would do is checked
by running the real operator process with the chart's ServiceAccount token: if the chart's RBAC
were missing a verb, the scenario would fail with a 403.
"""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client as k8s

from kubehelpers import OperatorProcess, condition, create_psc, get_psc, wait_for
from prognos.cli import build_parser
from prognos.sandbox.objects import demo_deployment

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "helm" / "prognos"
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
}


def run(cmd: list[str], check: bool = True, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, **kwargs)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr}")
    return proc


@pytest.fixture(scope="module")
def tools(sandbox: dict[str, Any]) -> dict[str, str]:
    bin_dir = Path(sandbox["bin_dir"])
    return {
        "helm": str(bin_dir / "helm"),
        "kubectl": str(bin_dir / "kubectl"),
        "kubeconfig": sandbox["kubeconfig"],
    }


def kubectl(
    tools: dict[str, str], *args: str, check: bool = True, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return run(
        [tools["kubectl"], f"--kubeconfig={tools['kubeconfig']}", *args], check=check, input=stdin
    )


def helm(tools: dict[str, str], *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return run([tools["helm"], f"--kubeconfig={tools['kubeconfig']}", *args], check=check)


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
    rendered = helm(tools, "template", "prognos", str(CHART), *VALUE_SETS[values]).stdout
    deploy = next(d for d in yaml.safe_load_all(rendered) if d and d["kind"] == "Deployment")
    args = deploy["spec"]["template"]["spec"]["containers"][0]["args"]
    parsed = build_parser().parse_args(["run", *args])  # the image's entrypoint is `prognos run`
    assert parsed.prometheus_url.startswith("http")
    pod = deploy["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    container = pod["containers"][0]["securityContext"]
    assert container["readOnlyRootFilesystem"] is True
    assert container["capabilities"]["drop"] == ["ALL"]


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


def sa_kubeconfig(kube: Any, sandbox: dict[str, Any], ns: str, sa: str, path: Path) -> Path:
    token = (
        k8s.CoreV1Api(kube)
        .create_namespaced_service_account_token(sa, ns, {"spec": {"expirationSeconds": 3600}})
        .status.token
    )
    config = yaml.safe_load(Path(sandbox["kubeconfig"]).read_text())
    config["users"] = [{"name": "admin", "user": {"token": token}}]
    path.write_text(yaml.safe_dump(config))
    return path


def test_install_runs_the_pod_and_rbac_is_least_privilege(tools, release, kube):
    deploy = k8s.AppsV1Api(kube).read_namespaced_deployment("prognos", release)
    assert deploy.status.ready_replicas == 1
    who = f"--as=system:serviceaccount:{release}:prognos"
    allowed = [
        ("patch", "deployments.apps", "--subresource=scale", "-n", "default"),
        ("get", "statefulsets.apps", "--subresource=scale", "-n", "default"),
        ("list", "pods", "-n", "default"),
        ("watch", "predictivescalers.prognos.io", "-A"),
        ("patch", "predictivescalers.prognos.io", "--subresource=status", "-n", "default"),
        ("create", "pods", "--subresource=eviction", "-n", "default"),
        ("create", "events", "-n", "default"),
        ("get", "secrets", "-n", release),
    ]
    denied = [
        ("get", "secrets", "-n", "default"),
        ("list", "secrets", "-A"),
        ("create", "pods", "-n", "default"),
        ("create", "clusterroles"),
        ("create", "rolebindings", "-n", release),
        ("escalate", "clusterroles"),
        ("bind", "clusterroles"),
        ("impersonate", "serviceaccounts"),
        ("delete", "nodes"),
    ]
    for case in allowed:
        out = kubectl(tools, "auth", "can-i", *case, who, check=False)
        assert out.stdout.strip() == "yes", f"operator should be allowed to {case}"
    for case in denied:
        out = kubectl(tools, "auth", "can-i", *case, who, check=False)
        assert out.stdout.strip() == "no", f"operator must not be allowed to {case}"


def test_operator_with_the_chart_token_is_healthy_and_scales(
    tools, release, kube, sandbox, tmp_path
):
    """What `helm test` checks (/healthz), plus a real scaling scenario under the chart's RBAC."""
    config = sa_kubeconfig(kube, sandbox, release, "prognos", tmp_path / "kubeconfig")
    box = dict(sandbox, kubeconfig=str(config))
    proc = OperatorProcess(box, tmp_path / "operator.log")
    ns = f"rbac-{uuid.uuid4().hex[:6]}"
    k8s.CoreV1Api(kube).create_namespace({"metadata": {"name": ns}})
    proc.start()  # waits for /healthz, as the chart's helm test pod does
    try:
        k8s.AppsV1Api(kube).create_namespaced_deployment(ns, demo_deployment(ns, "web", 1))
        create_psc(
            kube,
            ns,
            "web",
            {
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                "minReplicas": 1,
                "maxReplicas": 40,
                "interval": "5s",
                "metric": {
                    "query": 'sum(prognos_demo_requests_per_second{workload="web"})',
                    "targetPerReplica": "50",
                },
                "forecast": {"enabled": False},
            },
        )
        wait_for(
            lambda: (
                k8s.AppsV1Api(kube).read_namespaced_deployment_scale("web", ns).spec.replicas > 1
            ),
            timeout=90,
            what="scaled with the chart's RBAC",
        )
        psc = get_psc(kube, ns, "web")
        assert condition(psc, "Ready")["status"] == "True"
        forbidden = [line for line in proc.logs().splitlines() if "Forbidden" in line]
        assert forbidden == []
        assert "prognos_scaler_desired_replicas" in proc.metrics()
    finally:
        proc.stop()
        # Leave no scaler behind for the rest of the session's operators to pick up.
        k8s.CoreV1Api(kube).delete_namespace(ns)


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
