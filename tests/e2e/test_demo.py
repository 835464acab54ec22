"""``prognos demo --webhook-url --webhook-secret --until-resolved`` as a user runs it.

The real command in a subprocess, pointed at the test sandbox through ``PROGNOS_SANDBOX_DIR``
(``prognos demo`` reuses a running sandbox; it must not build another), with a local HTTP
receiver that checks every signature. The demo runs its own operator in-process, so this module
does not use the session ``operator`` fixture: run it in a session without the integration tier
(two operators would both act on ``demo/web``).
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException

from kubehelpers import GROUP, VERSION, custom
from notifyhelpers import Sink
from prognos.commands import demo_scenario
from prognos.notify.signing import verify_signature
from prognos.sandbox.stages import FAULT_LABEL

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
SIGNING = "demo-e2e-signing-secret"
NS = "demo"


def demo(sandbox: dict[str, Any], *args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PROGNOS_SANDBOX_DIR=str(sandbox["dir"]), PYTHONUNBUFFERED="1")
    return subprocess.run(
        [sys.executable, "-m", "prognos", "demo", *args],
        cwd=ROOT,  # the demo reads manifests/samples from the repository
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def _strip_and_delete(kube: Any, plural: str, name: str) -> None:
    """Delete a Prognos object of the demo namespace; no operator runs any more to release its
    finalizers, so they go first."""
    api = custom(kube)
    with contextlib.suppress(ApiException):
        api.patch_namespaced_custom_object(
            GROUP, VERSION, NS, plural, name, {"metadata": {"finalizers": None}}
        )
    with contextlib.suppress(ApiException):
        api.delete_namespaced_custom_object(GROUP, VERSION, NS, plural, name)


def remove_webhook(kube: Any) -> None:
    _strip_and_delete(kube, "notificationchannels", demo_scenario.CHANNEL)
    with contextlib.suppress(ApiException):
        k8s.CoreV1Api(kube).delete_namespaced_secret(demo_scenario.SECRET, NS)


@pytest.fixture(scope="module")
def demo_env(sandbox: dict[str, Any], kube: Any, crds: None) -> Iterator[dict[str, Any]]:
    """The sandbox the demo reuses; afterwards, what the demo left for a stopped operator
    (policy, sample scaler, incidents, webhook channel and Secret, crash-looping pods) is
    removed."""
    yield sandbox
    _strip_and_delete(kube, "remediationpolicies", demo_scenario.POLICY)
    # The sample scaler the demo applies: left behind, a later operator in the same session
    # would start scaling demo/web beside the tests.
    _strip_and_delete(kube, "predictivescalers", "web")
    for inc in custom(kube).list_namespaced_custom_object(GROUP, VERSION, NS, "incidents")["items"]:
        if (inc.get("spec") or {}).get("policy") == demo_scenario.POLICY:
            _strip_and_delete(kube, "incidents", inc["metadata"]["name"])
    remove_webhook(kube)
    core = k8s.CoreV1Api(kube)
    for pod in core.list_namespaced_pod(NS, label_selector=f"{FAULT_LABEL}=crashloop").items:
        with contextlib.suppress(ApiException):
            core.delete_namespaced_pod(pod.metadata.name, NS)


def test_demo_until_resolved_posts_signed_notifications_and_exits_0(demo_env, kube):
    with Sink() as sink:
        started = time.monotonic()
        done = demo(
            demo_env,
            f"--webhook-url={sink.url}/hook",
            f"--webhook-secret={SIGNING}",
            "--until-resolved",
            "--timeout=100",
            timeout=150,
        )
        took = time.monotonic() - started
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        assert "[demo] incident" in done.stdout and "Resolved" in done.stdout
        assert took < 120
        requests = list(sink.requests)
    remove_webhook(kube)  # the next run has no receiver
    assert requests, "no notification reached the webhook"
    for request in requests:
        headers = request["headers"]
        assert request["path"] == "/hook"
        assert verify_signature(
            SIGNING, request["body"], headers["X-Prognos-Timestamp"], headers["X-Prognos-Signature"]
        ), headers
        assert not verify_signature(
            "not-the-secret",
            request["body"],
            headers["X-Prognos-Timestamp"],
            headers["X-Prognos-Signature"],
        )
    payloads = [json.loads(r["body"]) for r in requests]
    healing = [p for p in payloads if p["source"] == f"RemediationPolicy/{demo_scenario.POLICY}"]
    kinds = {p["type"] for p in healing}
    # The whole episode, down to the resolution (a stopping operator drains its queue).
    assert {"IncidentOpened", "ActionPlanned", "ActionApplied", "Resolved"} <= kinds, kinds
    (verification,) = [p for p in healing if p["type"] == "Verification"]
    assert verification["details"]["verified"] is True
    assert verification["details"]["actionType"] == "rolloutRestart"
    assert all(p["schemaVersion"] == "prognos.io/notification/v1" for p in payloads)
    assert all(p["namespace"] == NS for p in payloads)
    # Every notification is one delivery: ids are unique per (event, channel).
    ids = [r["headers"]["X-Prognos-Delivery"] for r in requests]
    assert len(set(ids)) == len(ids)


def test_demo_gives_up_with_a_non_zero_exit_after_a_too_short_timeout(demo_env):
    done = demo(demo_env, "--until-resolved", "--timeout=4", timeout=90)
    assert done.returncode != 0, done.stdout[-3000:]
    assert "no resolved incident within 4s" in done.stdout
