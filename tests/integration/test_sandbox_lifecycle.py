"""prognos sandbox up/down/status as a user runs them: idempotent, self-cleaning, interruptible."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from prognos.sandbox.procs import ProcessTable, is_alive

pytestmark = pytest.mark.integration


def prognos(
    *args: str, env: dict[str, str], timeout: float = 240
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "prognos", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return dict(os.environ, PROGNOS_SANDBOX_DIR=str(tmp_path / "sandbox"))


def test_up_twice_status_json_stale_state_and_down(env, tmp_path):
    state = Path(env["PROGNOS_SANDBOX_DIR"])
    first = prognos("sandbox", "up", env=env)
    assert first.returncode == 0, first.stderr
    status = json.loads(prognos("sandbox", "status", "--json", env=env).stdout)
    assert {"kubeconfig", "apiserver", "prometheus", "bin_dir"} <= status.keys()
    assert status["running"] is True
    assert (Path(status["bin_dir"]) / "kubectl").exists()
    pids = {r.name: r.pid for r in ProcessTable(state / "procs.json").records}

    again = prognos("sandbox", "up", env=env)
    assert again.returncode == 0
    assert "already running" in again.stderr
    assert {r.name: r.pid for r in ProcessTable(state / "procs.json").records} == pids

    # A crash: one component dies. The next up notices, cleans up and starts afresh.
    os.kill(pids["kube-scheduler"], signal.SIGKILL)
    healed = prognos("sandbox", "up", env=env)
    assert healed.returncode == 0, healed.stderr
    assert "cleaned stale sandbox state" in healed.stderr
    new = ProcessTable(state / "procs.json").records
    assert all(is_alive(r) for r in new)
    assert not {r.pid for r in new} & set(pids.values())  # a fresh start, not a patch-up

    down = prognos("sandbox", "down", env=env)
    assert down.returncode == 0
    assert not state.exists()
    assert not any(is_alive(r) for r in new)
    assert prognos("sandbox", "status", env=env).returncode == 1


def test_ctrl_c_during_up_leaves_nothing_running(env):
    state = Path(env["PROGNOS_SANDBOX_DIR"])
    proc = subprocess.Popen(
        [sys.executable, "-m", "prognos", "sandbox", "up"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    # Interrupt once the control plane is on its way up (the apiserver has been spawned).
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        table = state / "procs.json"
        if table.exists() and any(r.name == "kube-apiserver" for r in ProcessTable(table).records):
            break
        time.sleep(0.1)
    started = ProcessTable(state / "procs.json").records
    assert started, "up never started a component"
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode != 0
    assert "interrupted" in err
    time.sleep(0.5)
    assert [r.name for r in started if is_alive(r)] == []
