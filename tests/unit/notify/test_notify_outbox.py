"""The Incident outbox: bounded entries, unique keys, deterministic delivery ids, settling."""

from __future__ import annotations

import asyncio
from typing import Any

from notifyhelpers import Sink, make_event
from prognos.notify.config import channel_from_spec
from prognos.notify.dispatcher import DELIVERY_HEADER, ChannelRegistry, ChannelSecrets, Dispatcher
from prognos.notify.events import EventType
from prognos.notify.outbox import (
    MAX_OUTBOX,
    OutboxEntry,
    Settlements,
    delivery_id,
    entries_from_status,
)
from prognos.notify.policy import RetryPolicy
from prognos.remediation.incidents import Incident
from prognos.remediation.policy import Target

SPEC = {"webhook": {"urlSecretRef": {"name": "h"}, "signingSecretRef": {"name": "h"}}}
DEP = Target("apps/v1", "Deployment", "web")


def _incident() -> Incident:
    return Incident("inc", "demo", "p", "crash", "kubernetes", DEP, opened_at=1_800_000_000.0)


def _entry(key: str = "0-IncidentOpened", seed: str = "seed", **event: Any) -> OutboxEntry:
    return OutboxEntry(key, 0, seed, ("ops",), make_event(incident="inc", **event))


# -- delivery ids --------------------------------------------------------------------------
def test_delivery_ids_are_stable_per_entry_and_channel_and_differ_otherwise() -> None:
    first = delivery_id("abc", "demo", "ops")
    assert first == delivery_id("abc", "demo", "ops")  # every attempt, every restart
    others = {
        delivery_id("abd", "demo", "ops"),
        delivery_id("abc", "demo", "ops2"),
        delivery_id("abc", "demo2", "ops"),
    }
    assert first not in others
    assert len(others) == 3
    assert len(first) == 32


# -- the outbox on the Incident ------------------------------------------------------------
def test_keys_are_unique_even_where_the_old_dedup_key_collided() -> None:
    """A held action and its later failure were both ``<inc>/ActionFailed/<n actions>``."""
    inc = _incident()
    held, _ = inc.record_notification(make_event(type=EventType.ACTION_FAILED), ["ops"])
    failed, _ = inc.record_notification(make_event(type=EventType.ACTION_FAILED), ["ops"])
    assert held.key != failed.key
    assert held.event.dedup_key != failed.event.dedup_key
    assert (held.key, failed.key) == ("0-ActionFailed", "1-ActionFailed")
    assert held.id != failed.id


def test_an_entry_goes_out_in_the_write_of_its_transition_and_round_trips() -> None:
    inc = _incident()
    entry, _ = inc.record_notification(make_event(), ["ops", "oncall"], entry_id="id-1")
    status = inc.status()
    assert status["outbox"] == {entry.key: entry.to_dict()}
    assert status["notifySeq"] == 1
    back = Incident.from_object(
        {"metadata": {"name": "inc"}, "spec": {"policy": "p"}, "status": status}
    )
    assert list(back.outbox) == [entry.key]
    again = back.outbox[entry.key]
    assert again.channels == ("ops", "oncall")
    assert again.outgoing().delivery_seed == "id-1"
    assert again.outgoing().outbox_key == entry.key
    assert again.event.to_payload() == entry.event.to_payload()
    assert back.notify_seq == 1  # a key is never reused after a restart


def test_written_clears_what_the_write_carried_and_returns_what_to_publish() -> None:
    inc = _incident()
    a, _ = inc.record_notification(make_event(), ["ops"])
    status = inc.status()
    unsent = list(inc.unsent)
    b, _ = inc.record_notification(make_event(type=EventType.RESOLVED), ["ops"])  # meanwhile
    assert inc.written(status["outbox"], unsent) == [a]
    assert list(inc.outbox_patch) == [b.key]  # not written yet: the next write carries it
    assert inc.unsent == [b.key]
    assert inc.status()["outbox"] == {b.key: b.to_dict()}
    inc.settle(a.key)
    assert list(inc.outbox) == [b.key]
    assert a.key not in inc.status()["outbox"]  # settled is never written back by the runner


def test_the_outbox_is_bounded_and_drops_the_oldest_explicitly() -> None:
    inc = _incident()
    dropped_all = []
    for _ in range(MAX_OUTBOX + 3):
        _, dropped = inc.record_notification(make_event(), ["ops"])
        dropped_all.extend(dropped)
    assert len(inc.outbox) == MAX_OUTBOX
    assert [d.seq for d in dropped_all] == [0, 1, 2]
    patch = inc.status()["outbox"]
    assert all(patch[d.key] is None for d in dropped_all)  # a merge patch removes them
    assert min(e.seq for e in inc.outbox.values()) == 3
    assert len(inc.unsent) == MAX_OUTBOX


def test_entries_from_status_are_ordered_and_bad_ones_skipped() -> None:
    good = [_entry(f"{n}-IncidentOpened") for n in (2, 0, 1)]
    raw: dict[str, Any] = {e.key: {**e.to_dict(), "seq": int(e.key[0])} for e in good}
    raw["junk"] = "not an entry"
    raw["broken"] = {"seq": 9, "event": {"type": "NoSuchType"}}
    assert [e.key for e in entries_from_status(raw)] == [
        "0-IncidentOpened",
        "1-IncidentOpened",
        "2-IncidentOpened",
    ]
    assert entries_from_status(None) == []


# -- settling ------------------------------------------------------------------------------
def test_settlements_wait_for_every_channel_and_publishing_to_finish() -> None:
    s = Settlements()
    calls: list[str] = []
    assert s.open("t", ["a", "b"], lambda: calls.append("t"))
    assert not s.open("t", ["a"])  # already in flight: not twice
    assert s.done("t", "a") is None
    assert s.done("t", "b") is None  # still publishing: more channels may come
    settle = s.published("t")
    assert settle is not None
    settle()
    assert calls == ["t"]
    assert "t" not in s
    assert s.done("t", "a") is None  # once only

    assert s.open("none", [])
    assert s.published("none") is not None  # routed nowhere: settled at once
    assert s.open("later", ["a"])
    assert s.published("later") is None
    assert s.done("later", "a") is not None
    assert len(s) == 0


def _registry(sink_url: str, *names: str, spec: dict[str, Any] | None = None) -> ChannelRegistry:
    registry = ChannelRegistry()
    for name in names:
        registry.upsert(
            "demo",
            name,
            channel_from_spec(spec or SPEC),
            ChannelSecrets(url=f"{sink_url}/{name}", signing_secret="k"),
        )
    return registry


class _Hooks:
    def __init__(self) -> None:
        self.settled: list[tuple[str, str, str]] = []
        self.results: list[Any] = []

    async def on_settled(self, namespace: str, incident: str, key: str) -> None:
        self.settled.append((namespace, incident, key))

    async def on_result(self, result: Any) -> None:
        self.results.append(result)


async def _until(predicate: Any, within: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.01)


def test_an_outbox_event_settles_when_every_channel_is_final_with_deterministic_ids() -> None:
    hooks = _Hooks()
    mine: list[str] = []
    entry = _entry(seed="s1")
    with Sink() as sink:

        async def run() -> None:
            registry = _registry(sink.url, "ops", "quiet", spec=None)
            registry.upsert(  # "quiet" takes only Resolved: filtered, settled at once
                "demo",
                "quiet",
                channel_from_spec({**SPEC, "filter": {"types": ["Resolved"]}}),
                ChannelSecrets(url=f"{sink.url}/quiet", signing_secret="k"),
            )
            d = Dispatcher(
                registry, workers=1, on_result=hooks.on_result, on_settled=hooks.on_settled
            )
            await d.start()
            d.publish(entry.outgoing(), ["ops", "quiet"], "demo", lambda: mine.append("x"))
            await _until(lambda: hooks.settled)
            await d.stop(drain_s=1)

        asyncio.run(run())
        assert [r["path"] for r in sink.requests] == ["/ops"]
        assert sink.requests[0]["headers"][DELIVERY_HEADER] == delivery_id("s1", "demo", "ops")
    assert hooks.settled == [("demo", "inc", entry.key)]
    assert mine == ["x"]
    assert [r.delivery_id for r in hooks.results] == [delivery_id("s1", "demo", "ops")]


def test_routed_nowhere_settles_at_once_and_a_copy_in_flight_is_not_sent_twice() -> None:
    hooks = _Hooks()

    async def run() -> None:
        d = Dispatcher(_registry("http://127.0.0.1:9", "ops"), workers=0, **_hook_kw(hooks))
        await d.start()
        d.publish(_entry("0-IncidentOpened").outgoing(), [], "demo")
        d.publish(_entry("1-ActionPlanned").outgoing(), ["ops"], "demo")
        d.publish(_entry("1-ActionPlanned").outgoing(), ["ops"], "demo")  # re-read outbox
        await asyncio.sleep(0.01)
        assert d.queue.qsize() == 1
        assert ("demo", "inc", "1-ActionPlanned") in d.settlements
        await d.stop(drain_s=0)

    asyncio.run(run())
    assert hooks.settled == [("demo", "inc", "0-IncidentOpened")]


def _hook_kw(hooks: _Hooks) -> dict[str, Any]:
    return {"on_result": hooks.on_result, "on_settled": hooks.on_settled}


def test_failed_after_retries_is_final_and_settles() -> None:
    hooks = _Hooks()
    with Sink(default=(500, {}, b"no")) as sink:

        async def run() -> None:
            d = Dispatcher(
                _registry(sink.url, "ops"),
                workers=1,
                retry=RetryPolicy(max_attempts=2, base_s=0.01, cap_s=0.02),
                **_hook_kw(hooks),
            )
            await d.start()
            d.publish(_entry().outgoing(), ["ops"], "demo")
            await _until(lambda: hooks.settled)
            await d.stop(drain_s=0)

        asyncio.run(run())
        ids = {r["headers"][DELIVERY_HEADER] for r in sink.requests}
    assert len(sink.requests) == 2
    assert ids == {delivery_id("seed", "demo", "ops")}
    assert [r.outcome for r in hooks.results] == ["Failed"]
    assert hooks.settled == [("demo", "inc", "0-IncidentOpened")]


def test_a_channel_loaded_after_start_gets_events_published_before_it() -> None:
    """After a restart the runners re-publish while channels are still being loaded."""
    hooks = _Hooks()
    with Sink() as sink:

        async def run() -> None:
            registry = ChannelRegistry()
            d = Dispatcher(registry, workers=1, channel_grace_s=30, **_hook_kw(hooks))
            await d.start()
            d.publish(_entry().outgoing(), ["ops"], "demo")
            await asyncio.sleep(0.05)
            assert not hooks.results  # waiting for the channel, not ChannelNotReady
            registry.upsert(
                "demo",
                "ops",
                channel_from_spec(SPEC),
                ChannelSecrets(url=f"{sink.url}/ops", signing_secret="k"),
            )
            await _until(lambda: hooks.settled)
            await d.stop(drain_s=0)

        asyncio.run(run())
    assert [r.outcome for r in hooks.results] == ["Delivered"]


def test_a_channel_still_missing_after_the_grace_is_not_ready_and_settles() -> None:
    hooks = _Hooks()

    async def run() -> None:
        d = Dispatcher(ChannelRegistry(), workers=0, channel_grace_s=0.1, **_hook_kw(hooks))
        await d.start()
        d.publish(_entry().outgoing(), ["ops"], "demo")
        await _until(lambda: hooks.settled)
        d.publish(_entry("1-Resolved").outgoing(), ["ops"], "demo")  # after it: at once
        await _until(lambda: len(hooks.settled) == 2)
        await d.stop(drain_s=0)

    asyncio.run(run())
    assert [r.outcome for r in hooks.results] == ["ChannelNotReady", "ChannelNotReady"]
    assert hooks.results[0].delivery_id == delivery_id("seed", "demo", "ops")
