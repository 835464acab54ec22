"""Helpers of the chart e2e tests (imported as ``charthelpers``): helm and kubectl against the
sandbox, a kubeconfig holding a ServiceAccount's token, the `kubectl auth can-i` matrix of what
the operator needs, and the scenarios the real operator runs under the chart's RBAC."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client as k8s

from kubehelpers import (
    GROUP,
    VERSION,
    OperatorProcess,
    condition,
    create_crashloop_ladder,
    create_psc,
    custom,
    get_psc,
    incidents,
    replicas,
    wait_for,
    wait_ladder_escalated,
)
from prognos.remediation.actions import RESTARTED_AT
from prognos.sandbox.objects import demo_deployment

ROOT = Path(__file__).resolve().parents[1]
CHART = ROOT / "helm" / "prognos"

#: What the operator does inside a namespace it handles, as `kubectl auth can-i` arguments
#: (verb, resource, subresource): every one must be allowed there, and none anywhere else.
OPERATOR_NEEDS: list[tuple[str, ...]] = [
    ("patch", "deployments.apps", "--subresource=scale"),
    ("get", "statefulsets.apps", "--subresource=scale"),
    ("get", "deployments.apps"),
    ("patch", "deployments.apps"),  # rollout restart, rollback
    ("list", "replicasets.apps"),  # rollback revisions
    ("list", "pods"),
    ("watch", "pods"),
    ("delete", "pods"),
    ("create", "pods", "--subresource=eviction"),
    ("watch", "predictivescalers.prognos.io"),
    ("watch", "remediationpolicies.prognos.io"),
    ("patch", "predictivescalers.prognos.io", "--subresource=status"),
    ("patch", "remediationpolicies.prognos.io", "--subresource=status"),
    ("create", "incidents.prognos.io"),
    ("delete", "incidents.prognos.io"),
    ("create", "jobs.batch"),
    ("create", "events"),
]

#: The healing ladder run under the chart's token: each rung a different write the RBAC must
#: allow (patch of the pod template, pod delete with a uid precondition, /scale patch).
HEALING_LADDER: list[dict[str, Any]] = [
    {"rolloutRestart": {}},
    {"deletePod": {}},
    {"scaleOut": {"by": 1, "max": 5}},
]


def run(cmd: list[str], check: bool = True, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, **kwargs)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr}")
    return proc


def kubectl(
    tools: dict[str, str], *args: str, check: bool = True, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return run(
        [tools["kubectl"], f"--kubeconfig={tools['kubeconfig']}", *args], check=check, input=stdin
    )


def helm(tools: dict[str, str], *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return run([tools["helm"], f"--kubeconfig={tools['kubeconfig']}", *args], check=check)


def assert_can_i(
    tools: dict[str, str], who: str, allowed: list[tuple[str, ...]], denied: list[tuple[str, ...]]
) -> None:
    """Every ``allowed`` case is a `yes` for ServiceAccount ``who`` (``namespace:name``), every
    ``denied`` one a `no`; all wrong answers are reported at once."""
    wrong = []
    for case, expected in [(c, "yes") for c in allowed] + [(c, "no") for c in denied]:
        out = kubectl(
            tools, "auth", "can-i", *case, f"--as=system:serviceaccount:{who}", check=False
        )
        if out.stdout.strip() != expected:
            wrong.append(f"{' '.join(case)}: {out.stdout.strip() or out.stderr.strip()}")
    assert wrong == [], f"{who}, expected the opposite for:\n" + "\n".join(wrong)


def sa_kubeconfig(kube: Any, sandbox: dict[str, Any], ns: str, sa: str, path: Path) -> Path:
    """A copy of the sandbox kubeconfig authenticating with a token of ServiceAccount ns/sa."""
    token = (
        k8s.CoreV1Api(kube)
        .create_namespaced_service_account_token(sa, ns, {"spec": {"expirationSeconds": 3600}})
        .status.token
    )
    config = yaml.safe_load(Path(sandbox["kubeconfig"]).read_text())
    config["users"] = [{"name": "admin", "user": {"token": token}}]
    path.write_text(yaml.safe_dump(config))
    return path


def web_scaler_spec() -> dict[str, Any]:
    """A reactive PredictiveScaler on Deployment ``web``: the demo load asks for several
    replicas within one 5 s interval."""
    return {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
        "minReplicas": 1,
        "maxReplicas": 40,
        "interval": "5s",
        "metric": {
            "query": 'sum(prognos_demo_requests_per_second{workload="web"})',
            "targetPerReplica": "50",
        },
        "forecast": {"enabled": False},
    }


def create_web_scaler(kube: Any, ns: str) -> None:
    """Deployment ``web`` (1 replica) and the PredictiveScaler ``web`` on it."""
    k8s.AppsV1Api(kube).create_namespaced_deployment(ns, demo_deployment(ns, "web", 1))
    create_psc(kube, ns, "web", web_scaler_spec())


def check_scales(kube: Any, ns: str, proc: OperatorProcess, what: str) -> None:
    """The web scaler in ``ns`` scales its Deployment out, is Ready and shows in the metrics."""
    create_web_scaler(kube, ns)
    wait_for(
        lambda: replicas(kube, ns, "web") > 1,
        timeout=90,
        what=f"scaled with {what}",
    )
    psc = get_psc(kube, ns, "web")
    assert condition(psc, "Ready")["status"] == "True"
    assert "prognos_scaler_desired_replicas" in proc.metrics()


def check_heals(kube: Any, ns: str, what: str) -> None:
    """A crash loop in ``ns`` escalates through HEALING_LADDER, and every rung's write really
    happened, not only its record."""
    # Both crash-looping pods are unavailable already: deleting them costs nothing, and the
    # default blast radius (1) would hold the deletePod rung back.
    create_crashloop_ladder(kube, ns, actions=HEALING_LADDER, max_unavailable=2)
    status = wait_ladder_escalated(
        kube,
        ns,
        timeout=150,
        what=f"the crash-loop ladder to escalate under {what}",
        types=[next(iter(rung)) for rung in HEALING_LADDER],
    )
    restart, delete, scale_out = status["actions"]
    template = k8s.AppsV1Api(kube).read_namespaced_deployment("sick", ns).spec.template
    restarted = (template.metadata.annotations or {}).get(RESTARTED_AT)
    assert restarted and restarted == restart["params"]["restartedAt"], restart
    deleted = {p["uid"] for p in delete["params"]["pods"]}
    assert deleted, delete
    live = k8s.CoreV1Api(kube).list_namespaced_pod(ns).items
    assert deleted.isdisjoint(
        p.metadata.uid for p in live if p.metadata.deletion_timestamp is None
    ), delete
    assert replicas(kube, ns, "sick") >= int(scale_out["params"]["to"]) == 3, scale_out
    assert all(a.get("appliedAt") for a in status["actions"]), status["actions"]
    [incident] = incidents(kube, ns)
    assert incident["spec"]["signal"] == "crashloop"


def forbidden(proc: OperatorProcess) -> list[str]:
    """The operator's log lines reporting a 403."""
    return [line for line in proc.logs().splitlines() if "Forbidden" in line]


def delete_prognos_objects(kube: Any, ns: str, timeout: float = 60) -> None:
    """Delete the scalers, policies, channels and incidents of ``ns`` and wait until they are
    gone: while the operator that put its finalizers on them still runs to release them."""
    kinds = ("predictivescalers", "remediationpolicies", "notificationchannels", "incidents")
    for plural in kinds:
        custom(kube).delete_collection_namespaced_custom_object(GROUP, VERSION, ns, plural)

    def gone() -> bool:
        return not any(
            custom(kube).list_namespaced_custom_object(GROUP, VERSION, ns, plural)["items"]
            for plural in kinds
        )

    wait_for(gone, timeout, f"the Prognos objects of {ns} to be deleted")
