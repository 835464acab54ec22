from __future__ import annotations

import sys

import pytest

from prognos.sandbox import tools
from prognos.sandbox.procs import ComponentError, ProcessTable


def test_a_component_that_dies_is_named_with_its_log_and_last_lines(tmp_path):
    table = ProcessTable(tmp_path / "procs.json")
    rec = table.spawn(
        "etcd",
        [sys.executable, "-c", "print('bind: address already in use'); raise SystemExit(3)"],
        tmp_path / "etcd.log",
    )
    with pytest.raises(ComponentError) as err:
        table.wait_ready(rec, lambda: False, timeout=10)
    message = str(err.value)
    assert "'etcd' exited during start-up" in message
    assert str(tmp_path / "etcd.log") in message
    assert "address already in use" in message


def test_a_component_that_never_gets_ready_times_out_by_name(tmp_path):
    table = ProcessTable(tmp_path / "procs.json")
    rec = table.spawn(
        "kwok", [sys.executable, "-c", "import time; time.sleep(30)"], tmp_path / "kwok.log"
    )
    try:
        with pytest.raises(ComponentError, match="'kwok' was not ready within 1s"):
            table.wait_ready(rec, lambda: False, timeout=1)
    finally:
        table.stop_all(grace=2)


def test_missing_go_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setenv("PROGNOS_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("PATH", str(tmp_path))  # no go here
    with pytest.raises(tools.ToolError, match="'go' is not installed: install Go"):
        tools.build(["helm"], log=lambda _m: None)


def test_an_unbuilt_binary_points_at_the_build_command(tmp_path, monkeypatch):
    monkeypatch.setenv("PROGNOS_CACHE_DIR", str(tmp_path / "cache"))
    with pytest.raises(tools.ToolError, match="prognos sandbox build"):
        tools.binary("kube-apiserver")


def test_staging_modules_are_derived_from_the_go_mod():
    gomod = """module k8s.io/kubernetes
replace (
\tk8s.io/api => ./staging/src/k8s.io/api
\tk8s.io/client-go => ./staging/src/k8s.io/client-go
)
replace go.etcd.io/etcd => ./FORBIDDEN_DEPENDENCY
"""
    assert tools._replaced_modules(gomod, "./staging/") == ["k8s.io/api", "k8s.io/client-go"]


def test_missing_prometheus_without_apt_says_what_to_install(tmp_path, monkeypatch):
    from prognos.sandbox.cluster import SandboxError, ensure_alertmanager, ensure_prometheus

    monkeypatch.setenv("PATH", str(tmp_path))  # neither the tools nor apt-get
    with pytest.raises(SandboxError, match="install Debian's 'prometheus' package"):
        ensure_prometheus(lambda _m: None)
    with pytest.raises(SandboxError, match="'prometheus-alertmanager' package"):
        ensure_alertmanager(lambda _m: None)
