from __future__ import annotations

import sys

import yaml

from prognos.sandbox import stages
from prognos.sandbox.procs import ProcessTable, free_port, is_alive


def test_stages_cover_node_and_pod_lifecycles_and_faults():
    docs = list(yaml.safe_load_all(stages.render()))
    names = {d["metadata"]["name"] for d in docs}
    assert {
        "node-initialize",
        "node-heartbeat",
        "pod-ready",
        "pod-delete",
        "pod-complete",
        "pod-crash",
        "pod-crash-again",
        "pod-unready",
    } <= names
    for doc in docs:
        assert doc["kind"] == "Stage"
        assert doc["spec"]["resourceRef"]["kind"] in {"Node", "Pod"}
        nxt = doc["spec"]["next"]
        assert "statusTemplate" in nxt or nxt.get("delete") is True


def test_crash_stage_only_selects_labelled_pods():
    crash = next(d for d in stages.stages() if d["metadata"]["name"] == "pod-crash")
    keys = [e["key"] for e in crash["spec"]["selector"]["matchExpressions"]]
    assert f'.metadata.labels["{stages.FAULT_LABEL}"]' in keys


def test_free_port_prefers_the_requested_port_and_falls_back():
    import socket

    port = free_port()
    assert free_port(port) == port
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))
        sock.listen()
        other = free_port(port)
    assert other != port


def test_process_table_records_and_stops_real_processes(tmp_path):
    table = ProcessTable(tmp_path / "procs.json")
    rec = table.spawn(
        "sleeper", [sys.executable, "-c", "import time; time.sleep(60)"], tmp_path / "sleeper.log"
    )
    assert is_alive(rec)
    # A fresh table read from disk finds the process: down works from another invocation.
    again = ProcessTable(tmp_path / "procs.json")
    assert again.get("sleeper") == rec
    assert again.stop_all(grace=5) == ["sleeper"]
    assert not is_alive(rec)
    assert ProcessTable(tmp_path / "procs.json").records == []
