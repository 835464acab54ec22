"""Delivery over real HTTP on 127.0.0.1: signatures, retries, Slack formats and threads.

The dispatcher runs in-process against real local HTTP servers (no mocks): each test owns its
receiver and its event loop. Operator-level behaviour (channels from the cluster, scaling and
healing never blocked by a dead receiver) is in ``test_notify_operator.py``.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest

from notifyhelpers import Sink, make_event
from prognos.notify.config import channel_from_spec
from prognos.notify.dispatcher import ChannelRegistry, ChannelSecrets, DeliveryResult, Dispatcher
from prognos.notify.policy import RetryPolicy
from prognos.notify.signing import verify_signature

pytestmark = pytest.mark.integration

HOOK = {"webhook": {"urlSecretRef": {"name": "h"}, "signingSecretRef": {"name": "h"}}}
SECRET = "test-signing-secret"
FAST = RetryPolicy(max_attempts=4, base_s=0.2, factor=2.0, cap_s=1.0)


async def _deliver(
    spec: dict[str, Any],
    secrets: ChannelSecrets,
    events: list[Any],
    *,
    wait_for: int,
    retry: RetryPolicy = FAST,
    slack_api_url: str = "http://127.0.0.1:9/api",
    seconds: float = 30.0,
) -> list[DeliveryResult]:
    registry = ChannelRegistry()
    registry.upsert("demo", "ops", channel_from_spec(spec), secrets)
    d = Dispatcher(registry, retry=retry, slack_api_url=slack_api_url)
    await d.start()
    try:
        for event in events:
            d.publish(event, ["ops"], "demo")
        await _results(d, wait_for, seconds)
        return list(d.results)
    finally:
        await d.stop(drain_s=1)


async def _results(d: Dispatcher, count: int, seconds: float) -> None:
    for _ in range(int(seconds / 0.05)):
        if len(d.results) >= count:
            return
        await asyncio.sleep(0.05)


def _verify(request: dict[str, Any]) -> bool:
    h = request["headers"]
    return verify_signature(
        SECRET, request["body"], h.get("X-Prognos-Timestamp"), h.get("X-Prognos-Signature")
    )


def test_signed_webhook_payload_is_verifiable():
    with Sink() as sink:
        results = asyncio.run(
            _deliver(
                HOOK,
                ChannelSecrets(url=f"{sink.url}/hook", signing_secret=SECRET),
                [make_event()],
                wait_for=1,
            )
        )
        assert [r.outcome for r in results] == ["Delivered"]
        (req,) = sink.requests
        assert _verify(req)
        assert not verify_signature(
            "wrong",
            req["body"],
            req["headers"]["X-Prognos-Timestamp"],
            req["headers"]["X-Prognos-Signature"],
        )
        payload = json.loads(req["body"])
        assert payload["schemaVersion"] == "prognos.io/notification/v1"
        assert payload["type"] == "IncidentOpened"
        assert payload["details"]["signal"] == "crashLoop"
        assert req["headers"]["X-Prognos-Event"] == "IncidentOpened"
        assert req["headers"]["Content-Type"] == "application/json"


def test_sink_failing_twice_then_succeeding_receives_exactly_one_delivery():
    fail = (503, {}, b"busy")
    with Sink(script=[fail, fail]) as sink:
        results = asyncio.run(
            _deliver(
                HOOK,
                ChannelSecrets(url=sink.url, signing_secret=SECRET),
                [make_event()],
                wait_for=1,
            )
        )
        assert len(results) == 1
        assert (results[0].outcome, results[0].attempts, results[0].status) == ("Delivered", 3, 200)
        assert len(sink.requests) == 3  # two failures, then exactly one accepted delivery
        ids = {r["headers"]["X-Prognos-Delivery"] for r in sink.requests}
        assert len(ids) == 1  # same delivery id: receivers can de-duplicate retries
        assert all(_verify(r) for r in sink.requests)  # each attempt is signed afresh


def test_429_waits_for_retry_after_and_4xx_is_final():
    with Sink(script=[(429, {"Retry-After": "1"}, b"slow down")]) as sink:
        started = time.monotonic()
        results = asyncio.run(
            _deliver(
                HOOK,
                ChannelSecrets(url=sink.url, signing_secret=SECRET),
                [make_event()],
                wait_for=1,
            )
        )
        assert results[0].outcome == "Delivered" and results[0].attempts == 2
        assert time.monotonic() - started >= 1.0
    with Sink(default=(404, {}, b"no such hook")) as sink:
        results = asyncio.run(
            _deliver(
                HOOK,
                ChannelSecrets(url=sink.url, signing_secret=SECRET),
                [make_event()],
                wait_for=1,
            )
        )
        assert (results[0].outcome, results[0].attempts, results[0].status) == ("Failed", 1, 404)
        assert len(sink.requests) == 1


def test_failures_never_leak_the_url_secret():
    # Nothing listens on port 9: connection refused, retried, then Failed; the error names
    # neither the secret path of the URL nor the signing secret.
    url = "http://127.0.0.1:9/services/T000/B000/TOPSECRETPATH"
    results = asyncio.run(
        _deliver(
            HOOK,
            ChannelSecrets(url=url, signing_secret=SECRET),
            [make_event()],
            wait_for=1,
            retry=RetryPolicy(max_attempts=2, base_s=0.1),
        )
    )
    assert results[0].outcome == "Failed" and results[0].attempts == 2
    text = json.dumps(results[0].to_dict())
    assert "TOPSECRETPATH" not in text and SECRET not in text


def test_slack_incoming_webhook_gets_block_kit_with_fallback():
    spec = {"slack": {"webhookSecretRef": {"name": "s"}}}
    scaling = make_event(
        details={
            "fromReplicas": 4,
            "toReplicas": 9,
            "forecastLoad": 870,
            "quantile": "0.9",
            "forecastTime": "2025-01-01T14:55:00Z",
            "capacity": 600,
            "unit": "rps",
        },
    )
    with Sink() as sink:
        results = asyncio.run(
            _deliver(spec, ChannelSecrets(url=f"{sink.url}/services/x"), [scaling], wait_for=1)
        )
        assert results[0].ok
        (body,) = sink.json_bodies()
        assert body["text"].startswith("[warning] web is crash-looping")
        assert body["blocks"][0]["type"] == "header"
        assert "4 → 9 replicas: p90 forecast 870 rps at 14:55, capacity 600" in json.dumps(
            body["blocks"], ensure_ascii=False
        )


def test_slack_bot_threads_updates_of_one_incident():
    spec = {"slack": {"botTokenSecretRef": {"name": "s"}, "channel": "#ops"}}
    answer = (200, {"Content-Type": "application/json"}, b'{"ok": true, "ts": "1700.0001"}')
    events = [
        make_event(dedup_key="a"),
        make_event(dedup_key="b", title="rolloutRestart applied"),
        make_event(dedup_key="c", incident="other-incident", thread_key="other-incident"),
    ]
    with Sink(default=answer) as sink:
        results = asyncio.run(
            _deliver(
                spec,
                ChannelSecrets(token="xoxb-test-token"),
                events,
                wait_for=3,
                slack_api_url=f"{sink.url}/api",
            )
        )
        assert [r.outcome for r in results] == ["Delivered"] * 3
        assert {r["path"] for r in sink.requests} == {"/api/chat.postMessage"}
        assert all(r["headers"]["Authorization"] == "Bearer xoxb-test-token" for r in sink.requests)
        first, second, third = sink.json_bodies()
        assert first["channel"] == "#ops" and "thread_ts" not in first
        assert second["thread_ts"] == "1700.0001"  # the incident's thread
        assert "thread_ts" not in third  # another incident starts its own thread


def test_slack_api_error_is_final_not_retried():
    spec = {"slack": {"botTokenSecretRef": {"name": "s"}, "channel": "#ops"}}
    bad = (200, {"Content-Type": "application/json"}, b'{"ok": false, "error": "invalid_auth"}')
    with Sink(default=bad) as sink:
        results = asyncio.run(
            _deliver(
                spec,
                ChannelSecrets(token="xoxb-bad"),
                [make_event()],
                wait_for=1,
                slack_api_url=f"{sink.url}/api",
            )
        )
        assert results[0].outcome == "Failed" and len(sink.requests) == 1


def test_a_hanging_receiver_times_out_without_blocking_publish():
    spec = {**HOOK, "timeout": "500ms", "rateLimit": {"perMinute": 6000, "burst": 1000}}
    with Sink(hang=True) as sink:

        async def run() -> tuple[float, list[DeliveryResult]]:
            registry = ChannelRegistry()
            registry.upsert(
                "demo",
                "ops",
                channel_from_spec(spec),
                ChannelSecrets(url=sink.url, signing_secret=SECRET),
            )
            d = Dispatcher(registry, retry=RetryPolicy(max_attempts=2, base_s=0.1))
            await d.start()
            started = time.monotonic()
            for i in range(50):
                d.publish(make_event(dedup_key=f"k{i}"), ["ops"], "demo")
            publish_s = time.monotonic() - started
            await _results(d, 1, 20)
            await d.stop(drain_s=0)
            return publish_s, list(d.results)

        publish_s, results = asyncio.run(run())
        assert publish_s < 0.1  # enqueue only
        assert results[0].outcome == "Failed" and results[0].attempts == 2
        assert results[0].error is not None and "timeout" in results[0].error


def test_a_slow_receiver_never_delays_another_channel():
    """Jobs for a hung receiver hold one worker at most; a healthy channel is served at once.

    With one shared FIFO and a lock per channel, both workers took a hung channel's jobs (one
    delivering, one waiting for the lock) and the healthy channel waited for their timeouts.
    """

    async def run(slow_url: str, fast_url: str, fast: Sink) -> float:
        registry = ChannelRegistry()
        for name, url in (("slow", slow_url), ("fast", fast_url)):
            secrets = ChannelSecrets(url=url, signing_secret=SECRET)
            registry.upsert("demo", name, channel_from_spec(HOOK), secrets)
        d = Dispatcher(registry, workers=2, retry=FAST)
        await d.start()
        try:
            for i in range(6):
                d.publish(make_event(dedup_key=f"slow-{i}"), ["slow"], "demo")
            await asyncio.sleep(0.2)  # both workers are free to pick the slow channel's jobs
            started = time.monotonic()
            d.publish(make_event(dedup_key="fast"), ["fast"], "demo")
            for _ in range(1500):  # 30 s at most
                if fast.requests:
                    break
                await asyncio.sleep(0.02)
            return time.monotonic() - started
        finally:
            await d.stop(drain_s=0)

    with Sink(hang=True) as slow, Sink() as fast:
        waited = asyncio.run(run(slow.url, fast.url, fast))
        assert len(fast.requests) == 1 and _verify(fast.requests[0])
        assert waited < 3.0, f"the healthy channel waited {waited:.1f}s behind the hung one"
        assert len(slow.requests) == 1  # in order: the hung channel's first job only, so far
