"""Routing decisions at ``publish`` (no network: no workers run, the queue is inspected)."""

from __future__ import annotations

import asyncio
from typing import Any

from notifyhelpers import make_event
from prognos.notify.base import Notifier, NullNotifier
from prognos.notify.config import channel_from_spec
from prognos.notify.dispatcher import ChannelRegistry, ChannelSecrets, Dispatcher
from prognos.notify.events import EventType, Severity

SPEC = {"webhook": {"urlSecretRef": {"name": "h"}, "signingSecretRef": {"name": "h"}}}
SECRETS = ChannelSecrets(url="http://127.0.0.1:9/hook", signing_secret="k")


async def _dispatcher(spec: dict[str, Any] | None = None, **kw: Any) -> Dispatcher:
    registry = ChannelRegistry()
    registry.upsert("demo", "ops", channel_from_spec(spec or SPEC), SECRETS)
    d = Dispatcher(registry, workers=0, **kw)
    await d.start()
    return d


def test_protocol_is_satisfied():
    assert isinstance(NullNotifier(), Notifier)
    assert isinstance(Dispatcher(ChannelRegistry()), Notifier)


def test_null_notifier_keeps_recent():
    n = NullNotifier(keep=2)
    for i in range(3):
        n.publish(make_event(title=str(i)), ["a"], "demo")
    assert [e.title for e, _, _ in n.published] == ["1", "2"]


def test_named_channel_dedup_and_unknown_channel():
    async def run() -> None:
        d = await _dispatcher()
        d.publish(make_event(), ["ops", "nope"], "demo")
        d.publish(make_event(), ["ops"], "demo")  # same dedup_key: dropped
        d.publish(make_event(dedup_key="other"), ["ops"], "demo")
        d.publish(make_event(), ["ops"], "elsewhere")  # channels are namespaced
        await asyncio.sleep(0)
        assert d.queue.qsize() == 2
        outcomes = sorted((r.channel, r.outcome) for r in d.results)
        assert outcomes == [("nope", "ChannelNotReady"), ("ops", "ChannelNotReady")]
        await d.stop(drain_s=0)

    asyncio.run(run())


def test_self_subscribed_routing_for_scalers():
    scaling = make_event(
        type=EventType.SCALING_DECISION,
        severity=Severity.INFO,
        source="PredictiveScaler/web",
        details={"fromReplicas": 2, "toReplicas": 8},
        dedup_key=None,
    )

    async def run() -> None:
        off = await _dispatcher()
        off.publish(scaling, None, "demo")
        assert off.queue.qsize() == 0  # off by default
        await off.stop(drain_s=0)
        on = await _dispatcher({**SPEC, "scaling": {"decisions": "LargeJumps"}})
        on.publish(scaling, None, "demo")
        assert on.queue.qsize() == 1
        await on.stop(drain_s=0)

    asyncio.run(run())


def test_rate_limit_and_overflow_are_recorded():
    overflowed: list[str] = []

    async def run() -> None:
        d = await _dispatcher(
            {**SPEC, "rateLimit": {"perMinute": 1, "burst": 3}},
            queue_size=2,
            on_overflow=lambda ch, ev: overflowed.append(ch.key),
        )
        for i in range(5):
            d.publish(make_event(dedup_key=f"k{i}"), ["ops"], "demo")
        assert d.queue.qsize() == 2
        assert [r.outcome for r in d.results] == ["Overflow", "RateLimited", "RateLimited"]
        ch = d.registry.get("demo", "ops")
        assert ch is not None and ch.stats.dropped == 3
        await d.stop(drain_s=0)

    asyncio.run(run())
    assert overflowed == ["demo/ops"]


def test_publish_from_another_thread():
    async def run() -> None:
        d = await _dispatcher()
        await asyncio.to_thread(d.publish, make_event(), ["ops"], "demo")
        await asyncio.sleep(0.05)
        assert d.queue.qsize() == 1
        await d.stop(drain_s=0)

    asyncio.run(run())


def test_registry_update_keeps_runtime_state():
    registry = ChannelRegistry()
    first = registry.upsert("demo", "ops", channel_from_spec(SPEC), SECRETS)
    first.stats.delivered = 5
    first.threads["inc"] = "1.2"
    same = registry.upsert("demo", "ops", channel_from_spec(SPEC), ChannelSecrets(url="x"))
    assert same is first and same.secrets.url == "x"
    changed = registry.upsert(
        "demo", "ops", channel_from_spec({**SPEC, "dedupWindow": "1m"}), SECRETS
    )
    assert (
        changed is not first and changed.stats.delivered == 5 and changed.threads == {"inc": "1.2"}
    )
    registry.remove("demo", "ops")
    assert registry.get("demo", "ops") is None
