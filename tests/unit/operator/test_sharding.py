"""Sharding: a stable, balanced, minimally moving assignment, and clear option errors."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from prognos.cli import main
from prognos.operator.sharding import (
    FINALIZER,
    Shard,
    ShardError,
    jump_hash,
    owned,
    shard_of,
)


def test_assignments_never_change_between_releases():
    """Changing the hash would silently move every object to another shard on upgrade."""
    assert [shard_of("demo", n, 3) for n in ("web", "api")] == [0, 1]
    assert shard_of("a", "b", 3) == 2
    assert [jump_hash(k, 10) for k in (0, 1, 2**63, 2**64 - 1)] == [0, 6, 5, 9]


@pytest.mark.parametrize(
    ("key", "buckets", "bucket"),
    [(1, 1, 0), (42, 57, 43), (0xDEAD10CC, 1, 0), (0xDEAD10CC, 666, 361), (256, 1024, 520)],
)
def test_jump_hash_agrees_with_other_implementations_of_the_paper(key, buckets, bucket):
    """Published test vectors of the algorithm (Go's widely used port)."""
    assert jump_hash(key, buckets) == bucket


@pytest.mark.parametrize("count", [2, 3, 5])
def test_objects_spread_evenly_over_shards(count):
    owners = Counter(shard_of("ns", f"scaler-{i}", count) for i in range(6000))
    assert set(owners) == set(range(count))
    expected = 6000 / count
    assert all(abs(n - expected) < 0.1 * expected for n in owners.values()), owners


@given(st.text(min_size=1, max_size=40), st.integers(min_value=1, max_value=16))
def test_adding_a_shard_moves_objects_only_to_the_new_shard(name, count):
    before, after = shard_of("ns", name, count), shard_of("ns", name, count + 1)
    assert 0 <= before < count
    assert after in (before, count)


def test_exactly_one_shard_owns_each_object():
    shards = [Shard(4, i) for i in range(4)]
    for i in range(200):
        assert sum(s.owns("ns", f"p{i}") for s in shards) == 1


def test_the_default_shard_owns_everything_and_is_not_sharded():
    shard = Shard()
    assert shard.owns("ns", "anything") and not shard.sharded
    assert shard.peering_name("prognos") == "prognos"
    assert shard.peering_name(None) is None


def test_each_hash_shard_is_its_own_peering_group():
    assert Shard(3, 2).peering_name("prognos") == "prognos-shard-2"
    assert Shard(selector="tier=gold").peering_name("gold") == "gold"


@pytest.mark.parametrize(
    "selector",
    [
        "tier=gold",
        "tier==gold,env!=dev",
        "prognos.io/shard in (a, b)",
        "tier notin (x)",
        "!canary",
        "team",
        "example.com/team=",
    ],
)
def test_valid_label_selectors_are_accepted(selector):
    assert Shard(selector=selector).sharded


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"count": 0}, "at least 1"),
        ({"count": 2, "index": 2}, "between 0 and 1"),
        ({"count": 2, "index": -1}, "between 0 and 1"),
        ({"selector": " "}, "must not be empty"),
        ({"selector": "tier in (a"}, "not a label selector"),
        ({"selector": "tier in ()"}, "not a label selector"),
        ({"selector": "tier in (a, b c)"}, "not a label selector"),
        ({"selector": "tier=gold;rm"}, "not a label selector"),
        ({"selector": "a=b", "count": 2}, "not both"),
    ],
)
def test_impossible_options_are_refused(kwargs, message):
    with pytest.raises(ShardError, match=message):
        Shard(**kwargs)


def test_the_kopf_filter_reads_the_shard_from_the_operator_options():
    class Options:
        shard = Shard(2, shard_of("ns", "mine", 2))

    memo = {"options": Options()}
    assert owned(name="mine", namespace="ns", memo=memo)
    others = [
        n for n in (f"o{i}" for i in range(20)) if shard_of("ns", n, 2) != Options.shard.index
    ]
    assert not owned(name=others[0], namespace="ns", memo=memo)
    assert owned(name="x", namespace="ns", memo={})  # no options yet: unsharded


def test_the_cli_prints_owners_and_refuses_bad_input(capsys):
    assert main(["shard", "--count", "3", "demo/web", "a/b", "--json"]) == 0
    assert capsys.readouterr().out.strip() == '{"a/b": 2, "demo/web": 0}'
    assert main(["shard", "--count", "3", "web"]) == 2
    assert "NAMESPACE/NAME" in capsys.readouterr().err
    assert main(["shard", "--count", "0", "a/b"]) == 2


def test_run_refuses_bad_shard_options_with_exit_code_2(capsys):
    argv = ["run", "--prometheus-url", "http://127.0.0.1:1", "--shard-count", "2"]
    assert main([*argv, "--shard-index", "5"]) == 2
    assert "--shard-index" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("selector", "labels", "owned_"),
    [
        ("tier=gold", {"tier": "gold"}, True),
        ("tier=gold", {"tier": "silver"}, False),
        ("tier=gold", {}, False),
        ("tier==gold,env!=dev", {"tier": "gold", "env": "prod"}, True),
        ("tier==gold,env!=dev", {"tier": "gold", "env": "dev"}, False),
        ("env!=dev", {}, True),  # != matches objects without the label, as in Kubernetes
        ("prognos.io/shard in (a, b)", {"prognos.io/shard": "b"}, True),
        ("prognos.io/shard in (a, b)", {"prognos.io/shard": "c"}, False),
        ("tier notin (x)", {}, True),
        ("tier notin (x)", {"tier": "x"}, False),
        ("!canary", {"canary": "true"}, False),
        ("!canary", {}, True),
        ("team", {"team": ""}, True),
        ("team", {}, False),
    ],
)
def test_a_selector_shard_owns_the_objects_its_selector_matches(selector, labels, owned_):
    assert Shard(selector=selector).owns("ns", "any", labels) is owned_
    memo = {"options": type("Options", (), {"shard": Shard(selector=selector)})()}
    assert owned(name="any", namespace="ns", labels=labels, memo=memo) is owned_


def test_each_shard_has_its_own_finalizer_and_drops_only_prognos_leftovers():
    assert Shard().finalizer == FINALIZER
    names = {Shard(3, i).finalizer for i in range(3)} | {Shard(selector="tier=gold").finalizer}
    assert len(names) == 4 and all(n.startswith(FINALIZER) and len(n) <= 63 for n in names)
    assert Shard(selector="a=b").finalizer != Shard(selector="a=c").finalizer
    on_object = [FINALIZER, f"{FINALIZER}-shard-1", Shard(3, 0).finalizer, "example.com/keep"]
    assert Shard(3, 0).foreign_finalizers(on_object) == [FINALIZER, f"{FINALIZER}-shard-1"]
    assert Shard().foreign_finalizers(on_object) == [f"{FINALIZER}-shard-1", Shard(3, 0).finalizer]
