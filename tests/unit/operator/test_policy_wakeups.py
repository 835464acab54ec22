"""A policy's runner wakes for spec and pause changes, not for every metadata write."""

from __future__ import annotations

from typing import Any

from prognos.operator.remediation import wake_worthy


class Runner:  # stands in for PolicyRunner: only identity matters to wake_worthy
    pass


def body(generation: int, labels: dict[str, str] | None = None, **annotations: str) -> Any:
    return {
        "metadata": {"generation": generation, "labels": labels or {}, "annotations": annotations}
    }


def test_first_sight_then_only_spec_or_pause_changes_wake_the_runner():
    runner: Any = Runner()
    assert wake_worthy(runner, body(1))
    assert not wake_worthy(runner, body(1, {"team": "a"}))  # a label: next tick is soon enough
    assert not wake_worthy(runner, body(1, {"team": "b"}, note="x"))
    assert wake_worthy(runner, body(2))  # spec edit
    assert wake_worthy(runner, body(2, **{"prognos.io/paused": "true"}))  # paused
    assert not wake_worthy(runner, body(2, **{"prognos.io/paused": "true"}))
    assert wake_worthy(runner, body(2))  # resumed


def test_each_runner_has_its_own_memory():
    a: Any = Runner()
    b: Any = Runner()
    assert wake_worthy(a, body(1)) and wake_worthy(b, body(1))
