"""Blocking client calls get enough threads and pooled connections for a thousand scalers."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest
import yaml

from prognos.operator.services import IO_THREADS, io_executor, kube_configuration


def test_io_executor_is_wider_than_asyncio_default_and_runs_to_thread_calls() -> None:
    pool = io_executor()
    assert pool._max_workers == IO_THREADS >= 32

    async def main() -> str:
        asyncio.get_running_loop().set_default_executor(pool)
        return await asyncio.to_thread(lambda: threading.current_thread().name)

    try:
        assert asyncio.run(main()).startswith("prognos-io")
    finally:
        pool.shutdown()


def test_kube_configuration_pools_one_connection_per_io_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:6443"}}],
        "users": [{"name": "u", "user": {"token": "t"}}],
        "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
        "current-context": "x",
    }
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(config))
    monkeypatch.setenv("KUBECONFIG", str(path))
    cfg = kube_configuration()
    assert cfg.host == "https://127.0.0.1:6443"
    assert cfg.connection_pool_maxsize >= IO_THREADS


def _incluster(configuration: object = None, client_configuration: object = None) -> None:
    """Stands in for the pod's service account (a fixed host and token)."""
    cfg = client_configuration
    cfg.host = "https://10.0.0.1:443"  # type: ignore[attr-defined]


def test_an_explicit_kubeconfig_wins_over_the_in_cluster_account(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """controller-runtime's order: $KUBECONFIG, in-cluster, then ~/.kube/config."""
    from kubernetes import config as k8s_config

    monkeypatch.setattr(k8s_config, "load_incluster_config", _incluster)
    path = tmp_path / "kubeconfig"
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:7443"}}],
                "users": [{"name": "u", "user": {"token": "t"}}],
                "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
                "current-context": "x",
            }
        )
    )
    monkeypatch.setenv("KUBECONFIG", str(path))
    assert kube_configuration().host == "https://127.0.0.1:7443"
    monkeypatch.delenv("KUBECONFIG")
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.kube/config: the pod's account is used
    assert kube_configuration().host == "https://10.0.0.1:443"
