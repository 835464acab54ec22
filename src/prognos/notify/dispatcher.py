"""The real ``Notifier``: filters, de-duplicates and rate-limits at ``publish``, then delivers
from a bounded asyncio queue with a pool of workers, off the reconcile path.

``publish`` only decides and enqueues (microseconds, never blocks, never raises, callable from
any thread). The queue has one FIFO lane per channel (``prognos.notify.lanes``): a channel has
at most one delivery in flight, so its messages stay in order and a slow receiver holds one
worker, never all of them. Workers send over HTTP with ``aiohttp``: Slack (incoming webhook or
``chat.postMessage`` with one thread per incident) and signed webhooks. Retries follow
``RetryPolicy``. Every final outcome becomes a ``DeliveryResult`` handed to ``on_result`` (the
operator records it on the Incident) and counted in metrics; a full queue calls
``on_overflow`` (the operator emits a Kubernetes Event) and counts the drop.

Delivery is at-least-once: a receiver that answers after its timeout gets the retry too, with
the same ``X-Prognos-Delivery`` id so it can de-duplicate. Notifications about an Incident come
from its outbox (``prognos.notify.outbox``) and carry a delivery-id seed, so their ids are also
the same when a restarted operator publishes them again; the dispatcher tells ``on_settled``
(and the publisher's callback) when every channel such an event was routed to has a final
outcome, so the entry can leave the outbox. In the first ``channel_grace_s`` after start a
named channel that is not loaded yet is waited for (start-up loads channels concurrently with
the policies that re-publish their outboxes), not reported ``ChannelNotReady`` at once.

Secrets (webhook URLs, bot tokens, signing keys) live only in ``ChannelSecrets``, whose repr
hides them; errors are reduced to an exception class and a message with every secret value
replaced, so neither logs nor results nor status ever carry one (DESIGN §5 rule 5).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import threading
import time
import uuid
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aiohttp

from prognos.logs import get_logger
from prognos.notify import metrics as m
from prognos.notify import signing, slack
from prognos.notify.config import ChannelConfig
from prognos.notify.events import NotificationEvent
from prognos.notify.lanes import LaneQueue
from prognos.notify.options import DEFAULT_SLACK_API
from prognos.notify.outbox import Settlements, delivery_id
from prognos.notify.policy import (
    Deduper,
    Outcome,
    RateLimiter,
    RetryPolicy,
    classify,
    parse_retry_after,
)

log = get_logger("prognos.notify")

DELIVERY_HEADER = "X-Prognos-Delivery"
EVENT_HEADER = "X-Prognos-Event"
USER_AGENT = "prognos-notifier/1"


def _now_iso() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def encode_payload(event: NotificationEvent) -> bytes:
    """The webhook body: compact JSON of ``event.to_payload()``; these exact bytes are signed."""
    return json.dumps(event.to_payload(), separators=(",", ":"), sort_keys=True).encode()


@dataclass(frozen=True)
class ChannelSecrets:
    """Values read from the channel's Secrets. ``repr`` never shows them."""

    url: str | None = field(default=None, repr=False)
    token: str | None = field(default=None, repr=False)
    signing_secret: str | None = field(default=None, repr=False)

    def values(self) -> list[str]:
        return [v for v in (self.url, self.token, self.signing_secret) if v]


def redact(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every secret (and a URL's path and query) replaced by ``<redacted>``."""
    for value in sorted(secrets, key=len, reverse=True):
        if not value:
            continue
        text = text.replace(value, "<redacted>")
        if "://" in value:  # a URL: its path usually is the credential (Slack webhooks)
            _host, _, rest = value.partition("://")[2].partition("/")
            if rest:
                text = text.replace("/" + rest, "/<redacted>")
                # The path and the query on their own too: receivers echo either in errors.
                path, _, query = rest.partition("?")
                for part in (path, query):
                    if len(part) >= 6:  # not a bare "api" or "v1"
                        text = text.replace(part, "<redacted>")
    return text


@dataclass
class ChannelStats:
    delivered: int = 0
    failed: int = 0
    dropped: int = 0
    last_delivery_time: str | None = None
    last_error: str | None = None
    version: int = 0  # bumped on every change, so status writers know when to patch


@dataclass
class Channel:
    """One NotificationChannel the dispatcher can deliver to, with its runtime state."""

    namespace: str
    name: str
    config: ChannelConfig
    secrets: ChannelSecrets
    uid: str = ""
    limiter: RateLimiter = field(init=False)
    deduper: Deduper = field(init=False)
    stats: ChannelStats = field(default_factory=ChannelStats)
    threads: OrderedDict[str, str] = field(default_factory=OrderedDict)

    def __post_init__(self) -> None:
        self.limiter = RateLimiter(self.config.rate_per_minute, self.config.burst, time.monotonic())
        self.deduper = Deduper(self.config.dedup_window_s)

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"


class ChannelRegistry:
    """Channels by namespace and name; the operator's NotificationChannel handler fills it."""

    def __init__(self) -> None:
        self._channels: dict[tuple[str, str], Channel] = {}
        self._lock = threading.Lock()
        #: Called with every channel added or updated (outside the lock).
        self.listeners: list[Callable[[Channel], None]] = []

    def upsert(
        self,
        namespace: str,
        name: str,
        config: ChannelConfig,
        secrets: ChannelSecrets,
        uid: str = "",
    ) -> Channel:
        """Add or update; runtime state (stats, threads, dedup memory) survives an update."""
        with self._lock:
            old = self._channels.get((namespace, name))
            if old is not None and old.config == config:
                old.secrets, old.uid = secrets, uid or old.uid
                new = old
            else:
                new = Channel(namespace, name, config, secrets, uid)
                if old is not None:
                    new.stats, new.threads = old.stats, old.threads
                self._channels[(namespace, name)] = new
        for listener in list(self.listeners):
            try:
                listener(new)
            except Exception:
                log.exception("notify.registry_listener_failed")
        return new

    def remove(self, namespace: str, name: str) -> None:
        with self._lock:
            self._channels.pop((namespace, name), None)

    def get(self, namespace: str, name: str) -> Channel | None:
        return self._channels.get((namespace, name))

    def in_namespace(self, namespace: str) -> list[Channel]:
        with self._lock:
            return [c for (ns, _), c in self._channels.items() if ns == namespace]


@dataclass(frozen=True)
class DeliveryResult:
    """The final outcome of one event for one channel; never contains a secret."""

    namespace: str
    channel: str
    event_type: str
    target: str
    incident: str | None
    outcome: str  # Delivered, Failed, RateLimited, Duplicate, Overflow, ChannelNotReady
    attempts: int
    status: int | None
    error: str | None
    time: str
    delivery_id: str

    @property
    def ok(self) -> bool:
        return self.outcome == Outcome.DELIVERED.value

    def to_dict(self) -> dict[str, Any]:
        return {
            "channel": self.channel,
            "event": self.event_type,
            "outcome": self.outcome,
            "attempts": self.attempts,
            "httpStatus": self.status,
            "error": self.error,
            "time": self.time,
            "deliveryId": self.delivery_id,
        }


@dataclass
class _Job:
    channel_ns: str
    channel_name: str
    event: NotificationEvent
    enqueued: float
    delivery_id: str


@dataclass
class _Answer:
    status: int | None
    retry_after: float | None = None
    body: Any = None
    error: str | None = None


ResultHook = Callable[[DeliveryResult], Awaitable[None]]
OverflowHook = Callable[[Channel, NotificationEvent], None]
#: ``(namespace, incident, outbox key)``: every channel of that outbox entry has a final outcome.
SettledHook = Callable[[str, str, str], Awaitable[None]]
_Token = tuple[str, str, str]


class Dispatcher:
    """Implements ``prognos.notify.base.Notifier``. ``start()`` inside the event loop first."""

    def __init__(
        self,
        registry: ChannelRegistry,
        *,
        queue_size: int = 1000,
        workers: int = 4,
        retry: RetryPolicy | None = None,
        slack_api_url: str = DEFAULT_SLACK_API,
        on_result: ResultHook | None = None,
        on_overflow: OverflowHook | None = None,
        on_settled: SettledHook | None = None,
        keep_results: int = 500,
        rng: random.Random | None = None,
        channel_grace_s: float = 0.0,
    ) -> None:
        self.registry = registry
        self.queue: LaneQueue[tuple[str, str], _Job] = LaneQueue(queue_size)
        self.workers = workers
        self.retry = retry or RetryPolicy()
        self.slack_api_url = slack_api_url.rstrip("/")
        self.on_result = on_result
        self.on_overflow = on_overflow
        self.on_settled = on_settled
        self.channel_grace_s = channel_grace_s
        self.results: deque[DeliveryResult] = deque(maxlen=keep_results)
        self.rng = rng or random.Random()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._session: aiohttp.ClientSession | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._hooks: set[asyncio.Task[None]] = set()
        self.settlements = Settlements()
        #: Events for named channels not loaded yet, in the start-up grace period.
        self._parked: dict[tuple[str, str], list[NotificationEvent]] = {}
        self._grace_until = 0.0
        self._grace_timer: asyncio.TimerHandle | None = None

    # -- lifecycle -------------------------------------------------------------------------
    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._grace_until = time.monotonic() + self.channel_grace_s
        self._grace_timer = self._loop.call_later(self.channel_grace_s, self._expire_parked)
        self.registry.listeners.append(self._channel_loaded)
        self._session = aiohttp.ClientSession(headers={"User-Agent": USER_AGENT})
        self._tasks = [
            asyncio.create_task(self._worker(i), name=f"notify-worker-{i}")
            for i in range(self.workers)
        ]

    async def stop(self, drain_s: float = 5.0) -> None:
        """Give queued deliveries ``drain_s`` to finish, then cancel the rest.

        Unfinished outbox events stay in their Incidents' outboxes: the next start sends them.
        """
        if self._grace_timer is not None:
            self._grace_timer.cancel()
        with contextlib.suppress(ValueError):
            self.registry.listeners.remove(self._channel_loaded)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.queue.join(), drain_s)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._hooks:
            await asyncio.wait(self._hooks, timeout=drain_s)
        if self._session is not None:
            await self._session.close()
        self._tasks, self._session, self._loop = [], None, None

    # -- Notifier --------------------------------------------------------------------------
    def publish(
        self,
        event: NotificationEvent,
        channels: Sequence[str] | None,
        namespace: str,
        on_settled: Callable[[], None] | None = None,
    ) -> None:
        loop = self._loop
        if loop is None:
            log.warning("notify.not_started", kind=event.type.value)
            return
        names = None if channels is None else tuple(channels)
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._publish(event, names, namespace, on_settled)
        else:
            loop.call_soon_threadsafe(self._publish, event, names, namespace, on_settled)

    @staticmethod
    def _token(namespace: str, event: NotificationEvent) -> _Token | None:
        if event.outbox_key and event.incident:
            return (namespace, event.incident, event.outbox_key)
        return None

    @staticmethod
    def _delivery_id(event: NotificationEvent, namespace: str, name: str) -> str:
        if event.delivery_seed:
            return delivery_id(event.delivery_seed, namespace, name)
        return uuid.uuid4().hex

    def _publish(
        self,
        event: NotificationEvent,
        names: tuple[str, ...] | None,
        namespace: str,
        on_settled: Callable[[], None] | None = None,
    ) -> None:
        token = self._token(namespace, event)
        opened = False
        try:
            if names is None:
                targets: list[Channel | str] = list(self.registry.in_namespace(namespace))
            else:
                targets = [
                    self.registry.get(namespace, name) or name for name in dict.fromkeys(names)
                ]
            if token is not None:
                channels = [t if isinstance(t, str) else t.name for t in targets]
                if not self.settlements.open(token, channels, on_settled):
                    # Already in flight here (a runner re-read its outbox): one is enough.
                    log.info("notify.already_in_flight", incident=token[1], key=token[2])
                    return
                opened = True
            now = time.monotonic()
            for target in targets:
                if not isinstance(target, str):
                    self._offer(target, event, now)
                elif now < self._grace_until:
                    self._parked.setdefault((namespace, target), []).append(event)
                else:
                    self._not_ready(namespace, target, event, "channel not found or not ready")
        except Exception:  # publish never raises into a reconcile
            log.exception("notify.publish_failed", kind=event.type.value)
        finally:
            if token is not None and opened:
                self._settle(self.settlements.published(token), namespace, event)

    def _not_ready(self, namespace: str, name: str, event: NotificationEvent, why: str) -> None:
        self._final(
            namespace,
            name,
            event,
            "ChannelNotReady",
            0,
            None,
            why,
            self._delivery_id(event, namespace, name),
        )

    def _channel_loaded(self, channel: Channel) -> None:
        """A channel was added or updated: events parked for it go out now."""
        loop = self._loop
        if loop is not None and (channel.namespace, channel.name) in self._parked:
            loop.call_soon_threadsafe(self._unpark, channel.namespace, channel.name)

    def _unpark(self, namespace: str, name: str) -> None:
        events = self._parked.pop((namespace, name), [])
        channel = self.registry.get(namespace, name)
        now = time.monotonic()
        for event in events:
            try:
                if channel is None:
                    self._not_ready(namespace, name, event, "channel not found or not ready")
                else:
                    self._offer(channel, event, now)
            except Exception:
                log.exception("notify.publish_failed", kind=event.type.value)

    def _expire_parked(self) -> None:
        """The start-up grace is over: channels still not loaded are not ready."""
        self._grace_timer = None
        self._grace_until = 0.0
        for namespace, name in list(self._parked):
            self._unpark(namespace, name)

    def _offer(self, channel: Channel, event: NotificationEvent, now: float) -> None:
        delivery_id = self._delivery_id(event, channel.namespace, channel.name)
        if channel.config.accepts(event) is not None:
            # The channel does not want it: not a failure, nothing to record.
            self._channel_done(channel.namespace, channel.name, event)
            return
        if event.dedup_key and channel.deduper.duplicate(event.dedup_key, now):
            m.NOTIFICATIONS.labels(channel.namespace, channel.name, "Duplicate").inc()
            self._channel_done(channel.namespace, channel.name, event)
            return
        if not channel.limiter.allow(now):
            self._final(
                channel.namespace,
                channel.name,
                event,
                "RateLimited",
                0,
                None,
                "channel rate limit exceeded",
                delivery_id,
            )
            return
        try:
            self.queue.put_nowait(
                (channel.namespace, channel.name),
                _Job(channel.namespace, channel.name, event, now, delivery_id),
            )
        except asyncio.QueueFull:
            m.QUEUE_OVERFLOW.labels(channel.namespace, channel.name).inc()
            self._final(
                channel.namespace,
                channel.name,
                event,
                "Overflow",
                0,
                None,
                "delivery queue full",
                delivery_id,
            )
            if self.on_overflow is not None:
                try:
                    self.on_overflow(channel, event)
                except Exception:
                    log.exception("notify.overflow_hook_failed")
            return
        m.QUEUE_DEPTH.set(self.queue.qsize())

    # -- delivery --------------------------------------------------------------------------
    async def _worker(self, index: int) -> None:
        while True:
            key, job = await self.queue.get()
            m.QUEUE_DEPTH.set(self.queue.qsize())
            try:
                await self._deliver(job)
            except asyncio.CancelledError:
                raise
            except Exception:  # a bug costs one delivery, never the worker
                log.exception("notify.worker_error", worker=index)
            finally:
                self.queue.done(key)

    async def _deliver(self, job: _Job) -> None:
        channel = self.registry.get(job.channel_ns, job.channel_name)
        if channel is None:
            self._final(
                job.channel_ns,
                job.channel_name,
                job.event,
                "ChannelNotReady",
                0,
                None,
                "channel removed before delivery",
                job.delivery_id,
            )
            return
        attempt = 0
        answer = _Answer(status=None)
        # One delivery at a time per channel (ordered Slack threads): the lanes guarantee it.
        while True:
            attempt += 1
            answer = await self._attempt(channel, job)
            outcome = self._outcome(answer)
            m.ATTEMPTS.labels(channel.namespace, channel.name, _answer_class(answer)).inc()
            if outcome is Outcome.DELIVERED:
                break
            delay = (
                self.retry.delay(attempt, answer.status, answer.retry_after, self.rng)
                if outcome is Outcome.RETRY
                else None
            )
            if delay is None:
                break
            log.info(
                "notify.retry",
                channel=channel.key,
                kind=job.event.type.value,
                attempt=attempt,
                status=answer.status,
                error=answer.error,
                delay=round(delay, 2),
            )
            await asyncio.sleep(delay)
        ok = self._outcome(answer) is Outcome.DELIVERED
        m.DELIVERY_SECONDS.observe(time.monotonic() - job.enqueued)
        self._final(
            channel.namespace,
            channel.name,
            job.event,
            Outcome.DELIVERED.value if ok else Outcome.FAILED.value,
            attempt,
            answer.status,
            None if ok else (answer.error or f"HTTP {answer.status}"),
            job.delivery_id,
        )

    @staticmethod
    def _outcome(answer: _Answer) -> Outcome:
        outcome = classify(answer.status)
        body = answer.body
        # Slack's Web API answers 200 with {"ok": false, "error": ...} for most failures.
        if outcome is Outcome.DELIVERED and isinstance(body, dict) and body.get("ok") is False:
            return Outcome.RETRY if body.get("error") == "ratelimited" else Outcome.FAILED
        return outcome

    async def _attempt(self, channel: Channel, job: _Job) -> _Answer:
        cfg, sec = channel.config, channel.secrets
        event = job.event
        headers = {"Content-Type": "application/json", DELIVERY_HEADER: job.delivery_id}
        thread_key = None
        if cfg.webhook is not None:
            if not sec.url or not sec.signing_secret:
                return _Answer(status=None, error="webhook secrets not loaded")
            body = encode_payload(event)
            headers[EVENT_HEADER] = event.type.value
            headers.update(signing.sign(sec.signing_secret, body))
            url = sec.url
        elif cfg.slack is not None and cfg.slack.uses_bot:
            if not sec.token:
                return _Answer(status=None, error="slack bot token not loaded")
            thread_key = event.thread_key or event.incident
            thread_ts = channel.threads.get(thread_key) if thread_key else None
            body = json.dumps(
                slack.post_message(event, cfg.slack.channel or "", thread_ts)
            ).encode()
            headers["Authorization"] = f"Bearer {sec.token}"
            headers["Content-Type"] = "application/json; charset=utf-8"
            url = f"{self.slack_api_url}/chat.postMessage"
        else:
            if not sec.url:
                return _Answer(status=None, error="slack webhook URL not loaded")
            body = json.dumps(slack.webhook_message(event)).encode()
            url = sec.url
        answer = await self._post(url, body, headers, cfg.timeout_s, sec)
        if (
            thread_key
            and isinstance(answer.body, dict)
            and answer.body.get("ok")
            and thread_key not in channel.threads
            and answer.body.get("ts")
        ):
            channel.threads[thread_key] = str(answer.body["ts"])
            while len(channel.threads) > 1000:
                channel.threads.popitem(last=False)
        return answer

    async def _post(
        self,
        url: str,
        body: bytes,
        headers: dict[str, str],
        timeout_s: float,
        secrets: ChannelSecrets,
    ) -> _Answer:
        assert self._session is not None, "Dispatcher.start() was not awaited"
        try:
            async with self._session.post(
                url,
                data=body,
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=timeout_s),
                allow_redirects=False,
            ) as resp:
                raw = await resp.read()
                parsed: Any = None
                if resp.content_type == "application/json":
                    with contextlib.suppress(ValueError):
                        parsed = json.loads(raw)
                return _Answer(
                    status=resp.status,
                    retry_after=parse_retry_after(resp.headers.get("Retry-After")),
                    body=parsed,
                    error=None
                    if resp.status < 400
                    else redact(
                        f"HTTP {resp.status}: {raw[:200].decode(errors='replace')}",
                        secrets.values(),
                    ),
                )
        except TimeoutError:
            return _Answer(status=None, error=f"timeout after {timeout_s:g}s")
        except aiohttp.ClientError as exc:
            return _Answer(
                status=None, error=redact(f"{type(exc).__name__}: {exc}", secrets.values())
            )

    # -- results ---------------------------------------------------------------------------
    def _final(
        self,
        namespace: str,
        name: str,
        event: NotificationEvent,
        outcome: str,
        attempts: int,
        status: int | None,
        error: str | None,
        delivery_id: str,
    ) -> None:
        result = DeliveryResult(
            namespace=namespace,
            channel=name,
            event_type=event.type.value,
            target=event.target,
            incident=event.incident,
            outcome=outcome,
            attempts=attempts,
            status=status,
            error=error[:300] if error else None,
            time=_now_iso(),
            delivery_id=delivery_id,
        )
        self.results.append(result)
        m.NOTIFICATIONS.labels(namespace, name, outcome).inc()
        channel = self.registry.get(namespace, name)
        if channel is not None:
            st = channel.stats
            if result.ok:
                st.delivered += 1
                st.last_delivery_time = result.time
            elif outcome == Outcome.FAILED.value:
                st.failed += 1
                st.last_error = result.error
            else:
                st.dropped += 1
                st.last_error = f"{outcome}: {result.error}"
            st.version += 1
        (log.info if result.ok else log.warning)(
            "notify.result",
            channel=f"{namespace}/{name}",
            kind=result.event_type,
            incident=result.incident,
            outcome=outcome,
            attempts=attempts,
            status=status,
            error=result.error,
        )
        if self.on_result is not None and self._loop is not None:
            task = self._loop.create_task(self._call_hook(result))
            self._hooks.add(task)
            task.add_done_callback(self._hooks.discard)
        self._channel_done(namespace, name, event)

    async def _call_hook(self, result: DeliveryResult) -> None:
        assert self.on_result is not None
        try:
            await self.on_result(result)
        except Exception:
            log.exception("notify.result_hook_failed", channel=result.channel)

    # -- settling outbox entries -----------------------------------------------------------
    def _channel_done(self, namespace: str, name: str, event: NotificationEvent) -> None:
        token = self._token(namespace, event)
        if token is not None:
            self._settle(self.settlements.done(token, name), namespace, event)

    def _settle(
        self, callback: Callable[[], None] | None, namespace: str, event: NotificationEvent
    ) -> None:
        """The event's last channel is done: tell its publisher and ``on_settled``.

        The hook task is created after the result hook's task of the same final outcome, so an
        ``on_settled`` that batches per Incident writes both in one Incident write.
        """
        if callback is None:
            return
        try:
            callback()
        except Exception:
            log.exception("notify.settled_callback_failed", incident=event.incident)
        if self.on_settled is not None and self._loop is not None:
            assert event.incident is not None
            assert event.outbox_key is not None
            task = self._loop.create_task(
                self._call_settled(namespace, event.incident, event.outbox_key)
            )
            self._hooks.add(task)
            task.add_done_callback(self._hooks.discard)

    async def _call_settled(self, namespace: str, incident: str, key: str) -> None:
        assert self.on_settled is not None
        try:
            await self.on_settled(namespace, incident, key)
        except Exception:
            log.exception("notify.settled_hook_failed", incident=incident)


def _answer_class(answer: _Answer) -> str:
    if answer.status is None:
        return "timeout" if (answer.error or "").startswith("timeout") else "error"
    if answer.status == 429:
        return "429"
    return f"{answer.status // 100}xx"
