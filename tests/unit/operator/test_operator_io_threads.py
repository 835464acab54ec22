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
