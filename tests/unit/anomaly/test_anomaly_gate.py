"""Persistence and hysteresis: one noisy point never fires, a flapping signal fires once."""

from __future__ import annotations

import pytest

from prognos.anomaly.gate import AlertState, PersistenceGate


def gate(**kw):
    args = {
        "for_points": 3,
        "within_points": 3,
        "fire_above": 0.5,
        "clear_below": 0.2,
        "clear_points": 2,
        "rearm_after": 0.0,
    }
    args.update(kw)
    return PersistenceGate(**args)


def run(g, scores):
    return [g.update(float(i), s) for i, s in enumerate(scores)]


@pytest.mark.parametrize(
    ("kw", "scores", "fired_at"),
    [
        ({}, [0.9, 0.0, 0.0, 0.0], []),  # one noisy point
        ({}, [0.9, 0.9, 0.0, 0.9, 0.9], []),  # never 3 in a row
        ({}, [0.9, 0.9, 0.9], [2]),
        ({}, [0.5, 0.5, 0.5], [2]),  # at the line counts
        ({}, [0.49, 0.49, 0.49, 0.49], []),
        ({"within_points": 4}, [0.9, 0.9, 0.0, 0.9], [3]),  # M of N
        ({"within_points": 4}, [0.9, 0.9, 0.9, 0.0], [2]),
        ({"for_points": 1, "within_points": 1}, [0.0, 0.7], [1]),
    ],
)
def test_persistence(kw, scores, fired_at):
    out = run(gate(**kw), scores)
    assert [i for i, tr in enumerate(out) if tr.fired] == fired_at


def test_does_not_fire_on_a_point_that_is_itself_normal():
    out = run(gate(within_points=4), [0.9, 0.9, 0.9 - 0.9, 0.0])
    assert not any(tr.fired for tr in out)


def test_hysteresis_keeps_one_episode_while_hovering():
    # Fires, then hovers between the clear and fire lines: stays firing, never re-fires.
    out = run(gate(), [0.9, 0.9, 0.9, 0.3, 0.6, 0.3, 0.4, 0.45, 0.9])
    assert sum(tr.fired for tr in out) == 1
    assert all(tr.state is AlertState.FIRING for tr in out[2:])


def test_clears_after_clear_points_below_the_low_line():
    out = run(gate(), [0.9, 0.9, 0.9, 0.1, 0.3, 0.1, 0.1])
    assert [i for i, tr in enumerate(out) if tr.cleared] == [6]
    assert out[6].state is AlertState.OK


def test_rearm_blocks_a_flapping_signal():
    g = gate(for_points=1, within_points=1, clear_points=1, rearm_after=5.0)
    out = run(g, [0.9, 0.0, 0.9, 0.0, 0.9, 0.0, 0.9, 0.9])
    assert [i for i, tr in enumerate(out) if tr.fired] == [0, 6]


def test_pending_state_before_firing():
    out = run(gate(), [0.9, 0.9])
    assert [tr.state for tr in out] == [AlertState.PENDING, AlertState.PENDING]


@pytest.mark.parametrize(
    "kw",
    [{"for_points": 0}, {"for_points": 4, "within_points": 3}, {"clear_below": 0.6}],
)
def test_bad_gate_arguments(kw):
    with pytest.raises(ValueError, match="need"):
        gate(**kw)
