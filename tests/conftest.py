"""Shared pytest wiring: the session-scoped real sandbox used by integration and e2e tiers."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest


@pytest.fixture(scope="session")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A running sandbox, started through the same code path as ``prognos sandbox up``.

    ``PROGNOS_TEST_SANDBOX_DIR`` reuses an already running sandbox (handy while iterating);
    by default each test session gets a fresh one in a temporary directory and stops it at the
    end, so CI leaves nothing running.
    """
    from prognos.sandbox.cluster import Sandbox

    reuse = os.environ.get("PROGNOS_TEST_SANDBOX_DIR")
    box = Sandbox(Path(reuse) if reuse else tmp_path_factory.mktemp("sandbox") / "state")
    state = box.up(timeout=180)
    try:
        yield state
    finally:
        if not reuse:
            box.down()


@pytest.fixture(scope="session")
def kube(sandbox: dict[str, Any]) -> Any:
    """An admin ``kubernetes.client.ApiClient`` for the sandbox."""
    from prognos.sandbox.objects import api_client

    return api_client(Path(sandbox["kubeconfig"]))


@pytest.fixture(scope="session")
def crds(sandbox: dict[str, Any], kube: Any) -> None:
    """Prognos' CRDs, installed from the same definitions ``prognos crds`` writes."""
    from prognos.api import crds as definitions
    from prognos.sandbox.objects import apply_crds

    apply_crds(kube, [build() for build in definitions.DEFINITIONS.values()])


@pytest.fixture(scope="session")
def operator(
    sandbox: dict[str, Any], crds: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Any]:
    """``prognos run`` as a subprocess against the sandbox, for the whole session."""
    from kubehelpers import OperatorProcess

    # The Alertmanager intake listens where the sandbox's Alertmanager delivers (see sandbox up).
    intake = (
        [
            "--alert-host=127.0.0.1",
            f"--alert-port={sandbox['alert_receiver_port']}",
            f"--alert-token-file={sandbox['alert_token_file']}",
        ]
        if sandbox.get("alert_receiver_port")
        else []
    )
    proc = OperatorProcess(sandbox, tmp_path_factory.mktemp("operator") / "operator.log", intake)
    proc.start()
    try:
        yield proc
    finally:
        proc.stop()
