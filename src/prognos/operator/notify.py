"""NotificationChannel handlers, the delivery dispatcher and the Alertmanager intake.

Start-up (after ``app.configure`` built ``memo["services"]``): build the channel registry and
the ``Dispatcher``, install it as ``services.notifier`` so every producer's ``publish`` reaches
it, and, when ``--alert-port`` is set, serve the Alertmanager intake on its own port, feeding
``services.alerts`` (the remediation side's ``AlertHub``).

Channels: a watch-event handler parses the spec and reads the referenced Secrets whenever a
NotificationChannel changes; a timer re-reads them (rotation, a Secret created after its
channel) and writes delivery counters to status. Only changed status is patched, so our own
status writes do not loop. No finalizers: deleting a channel just forgets it.

Secrets never leave this module except inside ``ChannelSecrets`` (whose repr hides them):
conditions name the Secret and key, never the value (DESIGN §5 rule 5).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import kopf
from kubernetes import client as k8s

from prognos.api import GROUP, VERSION
from prognos.api.conditions import get_condition, set_condition
from prognos.api.notificationchannel import KIND, PLURAL
from prognos.logs import get_logger
from prognos.notify.config import ChannelConfig, ChannelSpecError, SecretRef, channel_from_spec
from prognos.notify.dispatcher import (
    Channel,
    ChannelRegistry,
    ChannelSecrets,
    DeliveryResult,
    Dispatcher,
)
from prognos.notify.events import NotificationEvent
from prognos.notify.intake import AlertIntake, ReceivedAlert
from prognos.notify.options import NotifyOptions
from prognos.operator.services import Services

log = get_logger("prognos.notify")

#: Seconds between Secret re-reads and status counter writes per channel.
RESYNC_S = 30.0
#: At most one overflow Event per channel per this many seconds.
OVERFLOW_EVENT_EVERY_S = 60.0
#: After start, how long an event for a channel not loaded yet waits for it (the runners
#: re-publish their Incidents' outboxes while the channel handlers are still reading Secrets).
CHANNEL_GRACE_S = 30.0


@dataclass
class NotifyRuntime:
    registry: ChannelRegistry
    dispatcher: Dispatcher
    intake: AlertIntake | None = None
    overflow_events: dict[str, float] = field(default_factory=dict)


class SecretError(Exception):
    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


def _read_secret_value(core: Any, namespace: str, ref: SecretRef) -> str:
    try:
        secret = core.read_namespaced_secret(ref.name, namespace)
    except k8s.ApiException as exc:
        if exc.status == 404:
            raise SecretError("SecretNotFound", f"Secret {ref.name} not found") from exc
        if exc.status == 403:
            raise SecretError(
                "SecretForbidden", f"not allowed to read Secret {ref.name} (RBAC)"
            ) from exc
        raise SecretError("SecretUnreadable", f"Secret {ref.name}: HTTP {exc.status}") from exc
    data = secret.data or {}
    if ref.key not in data:
        raise SecretError("SecretKeyMissing", f"Secret {ref.name} has no key {ref.key!r}")
    try:
        value = base64.b64decode(data[ref.key]).decode().strip()
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise SecretError(
            "SecretUnreadable", f"Secret {ref.name} key {ref.key!r} is not UTF-8 text"
        ) from exc
    if not value:
        raise SecretError("SecretKeyMissing", f"Secret {ref.name} key {ref.key!r} is empty")
    return value


def load_secrets(core: Any, namespace: str, config: ChannelConfig) -> ChannelSecrets:
    """Read every Secret the channel references; raise ``SecretError`` naming the first bad."""
    if config.webhook is not None:
        return ChannelSecrets(
            url=_read_secret_value(core, namespace, config.webhook.url),
            signing_secret=_read_secret_value(core, namespace, config.webhook.signing_secret),
        )
    assert config.slack is not None
    if config.slack.bot_token is not None:
        return ChannelSecrets(token=_read_secret_value(core, namespace, config.slack.bot_token))
    assert config.slack.webhook_url is not None
    return ChannelSecrets(url=_read_secret_value(core, namespace, config.slack.webhook_url))


def _channel_type(config: ChannelConfig) -> str:
    if config.slack is not None:
        return "slack-bot" if config.slack.uses_bot else "slack-webhook"
    return "webhook"


def _describe(config: ChannelConfig) -> str:
    if config.slack is not None and config.slack.uses_bot:
        return f"Slack bot posting to {config.slack.channel}"
    if config.slack is not None:
        return "Slack incoming webhook"
    return "signed webhook"


async def _patch_status(
    services: Services, namespace: str, name: str, status: dict[str, Any]
) -> None:
    api = k8s.CustomObjectsApi(services.kube.api)
    try:
        await asyncio.to_thread(
            api.patch_namespaced_custom_object_status,
            GROUP,
            VERSION,
            namespace,
            PLURAL,
            name,
            {"status": status},
        )
    except k8s.ApiException as exc:
        if exc.status != 404:
            log.warning(
                "channel.status_patch_failed", channel=f"{namespace}/{name}", status=exc.status
            )


def _changed(current: Mapping[str, Any], wanted: Mapping[str, Any]) -> bool:
    for key, value in wanted.items():
        if key == "conditions":
            for cond in value:
                old = get_condition(current.get("conditions"), cond["type"])
                if any(old.get(k) != cond.get(k) for k in ("status", "reason", "message")):
                    return True
                if old.get("observedGeneration") != cond.get("observedGeneration"):
                    return True
        elif current.get(key) != value:
            return True
    return False


async def sync_channel(services: Services, runtime: NotifyRuntime, body: Mapping[str, Any]) -> None:
    """Parse, read Secrets, update the registry and (if it changed) the status. Never raises."""
    meta: Mapping[str, Any] = body.get("metadata") or {}
    namespace, name = str(meta.get("namespace")), str(meta.get("name"))
    gen = int(meta.get("generation") or 0)
    current: Mapping[str, Any] = body.get("status") or {}
    conditions = list(current.get("conditions") or [])
    status: dict[str, Any] = {"observedGeneration": gen}
    try:
        config = channel_from_spec(body.get("spec") or {})
        status["type"] = _channel_type(config)
        secrets = await asyncio.to_thread(load_secrets, services.kube.core, namespace, config)
    except ChannelSpecError as exc:
        runtime.registry.remove(namespace, name)
        conditions = set_condition(conditions, "Ready", False, "InvalidSpec", str(exc), gen)
    except SecretError as exc:
        runtime.registry.remove(namespace, name)
        conditions = set_condition(conditions, "Ready", False, exc.reason, exc.message, gen)
    else:
        channel = runtime.registry.upsert(
            namespace, name, config, secrets, str(meta.get("uid", ""))
        )
        conditions = set_condition(
            conditions, "Ready", True, "Configured", f"{_describe(config)}; secrets loaded", gen
        )
        st = channel.stats
        status.update({"delivered": st.delivered, "failed": st.failed, "dropped": st.dropped})
        if st.last_delivery_time:
            status["lastDeliveryTime"] = st.last_delivery_time
        if st.last_error:
            status["lastError"] = st.last_error[:1024]
    status["conditions"] = conditions
    if _changed(current, status):
        await _patch_status(services, namespace, name, status)
        log.info(
            "channel.synced",
            channel=f"{namespace}/{name}",
            ready=get_condition(conditions, "Ready").get("status"),
            reason=get_condition(conditions, "Ready").get("reason"),
        )


# -- hooks the dispatcher calls ------------------------------------------------------------
RecordWrite = Callable[[str, str, list[dict[str, Any]], list[str]], Awaitable[object]]


class IncidentRecorder:
    """Appends delivery results to their Incident and removes settled entries from its outbox,
    one write at a time per Incident.

    Each write is a read-modify-write conditional on the Incident's resourceVersion. Written
    concurrently, a burst of results for one Incident (a full queue drops an event for every
    channel at once) conflicted with itself until the retries ran out and results were lost.
    Here a result that arrives while its Incident is being written waits and goes into the next
    write with the others that arrived meanwhile: only other writers (the remediation runner)
    can still cause a conflict, and the write's own retry absorbs those. A write starts one
    loop iteration after its first item arrived, so a final result and the settling of its
    outbox entry (handed over together by the dispatcher) go in the same write.
    """

    def __init__(self, write: RecordWrite) -> None:
        self._write = write
        self._pending: dict[tuple[str, str], tuple[list[dict[str, Any]], list[str]]] = {}

    async def add(
        self,
        namespace: str,
        incident: str,
        entry: dict[str, Any] | None = None,
        settled: str | None = None,
    ) -> None:
        key = (namespace, incident)
        pending = self._pending.get(key)
        if pending is not None:  # a write for this Incident is running: it takes this one next
            _put(pending, entry, settled)
            return
        self._pending[key] = ([], [])
        _put(self._pending[key], entry, settled)
        try:
            await asyncio.sleep(0)  # let what was handed over with this item join the write
            while any(batch := self._pending[key]):
                self._pending[key] = ([], [])
                results, keys = batch
                try:
                    await self._write(namespace, incident, results, keys)
                except Exception as exc:
                    log.warning(
                        "notify.record_failed",
                        incident=f"{namespace}/{incident}",
                        results=len(results),
                        settled=len(keys),
                        error=str(exc)[:300],
                    )
        finally:
            del self._pending[key]


def _put(
    batch: tuple[list[dict[str, Any]], list[str]],
    entry: dict[str, Any] | None,
    settled: str | None,
) -> None:
    if entry is not None:
        batch[0].append(entry)
    if settled is not None:
        batch[1].append(settled)


def _incident_hooks(services: Services) -> tuple[Any, Any]:
    """``on_result`` and ``on_settled`` for the dispatcher, sharing one IncidentRecorder."""
    record = getattr(services.kube, "record_deliveries", None)
    if record is None:  # the Incident kind is not available in this build
        return None, None

    async def write(
        namespace: str, incident: str, entries: list[dict[str, Any]], settled: list[str]
    ) -> object:
        return await asyncio.to_thread(
            record, namespace, incident, entries, settled=settled or None
        )

    recorder = IncidentRecorder(write)

    async def on_result(result: DeliveryResult) -> None:
        if result.incident:
            await recorder.add(result.namespace, result.incident, result.to_dict())

    async def on_settled(namespace: str, incident: str, key: str) -> None:
        await recorder.add(namespace, incident, settled=key)

    return on_result, on_settled


def _overflow_hook(services: Services, runtime: NotifyRuntime) -> Any:
    def on_overflow(channel: Channel, event: NotificationEvent) -> None:
        now = time.monotonic()
        if now - runtime.overflow_events.get(channel.key, -1e9) < OVERFLOW_EVENT_EVERY_S:
            return
        runtime.overflow_events[channel.key] = now
        involved = {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": KIND,
            "name": channel.name,
            "uid": channel.uid,
        }
        message = (
            f"notification queue full ({runtime.dispatcher.queue.maxsize}): dropped "
            f"{event.type.value} for {event.target}; see prognos_notification_queue_overflow_total"
        )
        asyncio.get_running_loop().run_in_executor(
            None,
            services.kube.event,
            channel.namespace,
            involved,
            "NotificationDropped",
            message,
            "Warning",
        )

    return on_overflow


# -- alert intake --------------------------------------------------------------------------
def _token_provider(services: Services, options: NotifyOptions) -> Any:
    if options.alert_token_file:
        path = Path(options.alert_token_file)
        cache: dict[str, Any] = {"mtime": None, "token": ""}

        def from_file() -> str:
            try:
                mtime = path.stat().st_mtime
                if mtime != cache["mtime"]:
                    cache["token"], cache["mtime"] = path.read_text().strip(), mtime
            except OSError:
                return ""
            return str(cache["token"])

        return from_file
    assert options.alert_token_secret is not None
    namespace, _, name = options.alert_token_secret.partition("/")
    token = _read_secret_value(services.kube.core, namespace, SecretRef(name, "token"))
    return lambda: token


def _alert_sink(services: Services) -> Any:
    def sink(alert: ReceivedAlert) -> None:
        from prognos.remediation.alerts import AlertSignal

        hub = getattr(services, "alerts", None)
        if hub is None:  # no remediation engine in this build: answer 503, Alertmanager retries
            raise RuntimeError("no alert hub")
        hub.submit(
            AlertSignal(
                alertname=alert.alertname,
                labels=dict(alert.labels),
                status="firing" if alert.firing else "resolved",
                starts_at=alert.starts_at.isoformat().replace("+00:00", "Z"),
                ends_at=alert.ends_at.isoformat().replace("+00:00", "Z") if alert.ends_at else None,
                fingerprint=alert.fingerprint,
                annotations=dict(alert.annotations),
            )
        )

    return sink


# -- Kopf handlers -------------------------------------------------------------------------
@kopf.on.startup()
async def start_notifications(memo: kopf.Memo, **_: Any) -> None:
    """Install the dispatcher as ``services.notifier``; serve the intake when asked."""
    services: Services = memo["services"]
    options: NotifyOptions = getattr(memo["options"], "notify", None) or NotifyOptions()
    registry = ChannelRegistry()
    runtime = NotifyRuntime(registry, Dispatcher(registry))
    on_result, on_settled = _incident_hooks(services)
    runtime.dispatcher = Dispatcher(
        registry,
        queue_size=options.queue_size,
        workers=options.workers,
        slack_api_url=options.slack_api_url,
        on_result=on_result,
        on_overflow=_overflow_hook(services, runtime),
        on_settled=on_settled,
        channel_grace_s=CHANNEL_GRACE_S,
    )
    await runtime.dispatcher.start()
    services.notifier = runtime.dispatcher
    if options.alert_port:
        try:
            token = await asyncio.to_thread(_token_provider, services, options)
        except SecretError as exc:
            raise kopf.PermanentError(f"alert intake token: {exc.message}") from exc
        intake = AlertIntake(token, _alert_sink(services), max_body=options.alert_max_body)
        try:
            await intake.start(options.alert_host, options.alert_port)
        except OSError as exc:  # port taken: notifications still work, alerts do not
            log.error("intake.not_started", port=options.alert_port, error=str(exc))
        else:
            runtime.intake = intake
    memo["notify"] = runtime
    log.info(
        "notify.started",
        workers=options.workers,
        queue_size=options.queue_size,
        alert_port=options.alert_port,
    )


@kopf.on.cleanup()
async def stop_notifications(memo: kopf.Memo, **_: Any) -> None:
    runtime: NotifyRuntime | None = memo.get("notify")
    if runtime is None:
        return
    if runtime.intake is not None:
        await runtime.intake.stop()
    await runtime.dispatcher.stop(drain_s=5.0)


@kopf.on.event(GROUP, VERSION, PLURAL)
async def channel_event(*, type: str | None, body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    runtime: NotifyRuntime | None = memo.get("notify")
    if runtime is None:
        return
    meta = body.get("metadata") or {}
    if type == "DELETED":
        runtime.registry.remove(str(meta.get("namespace")), str(meta.get("name")))
        log.info("channel.removed", channel=f"{meta.get('namespace')}/{meta.get('name')}")
        return
    try:
        await sync_channel(memo["services"], runtime, body)
    except Exception:  # a bug costs one sync, never the handler (the timer retries)
        log.exception("channel.sync_failed", channel=f"{meta.get('namespace')}/{meta.get('name')}")


@kopf.timer(GROUP, VERSION, PLURAL, interval=RESYNC_S, initial_delay=RESYNC_S)
async def channel_resync(*, body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    """Re-read Secrets (rotation, late creation) and publish delivery counters in status."""
    runtime: NotifyRuntime | None = memo.get("notify")
    if runtime is None:
        return
    try:
        await sync_channel(memo["services"], runtime, body)
    except Exception:
        log.exception("channel.resync_failed")
