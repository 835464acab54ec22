"""The producer-side contract of notifications: a tiny ``Notifier`` protocol and a null object.

Agreed between the self-healing code (``prognos.remediation``, ``prognos.operator.remediation``)
and the notification code (this package): producers build a ``NotificationEvent`` and call
``services.notifier.publish(event, channels, namespace)``. ``publish`` never blocks and never
raises: it only enqueues (the real implementation is ``prognos.notify.dispatcher.Dispatcher``,
installed in ``Services.notifier`` by the operator's start-up). ``NullNotifier`` is the default
until then, and what tests of producers use.

``channels`` are names of NotificationChannels in ``namespace`` (a RemediationPolicy's
``notify[]``). ``None`` means "every channel in ``namespace`` that subscribes on its own", which
is how PredictiveScaler decisions are routed (channels opt in with ``spec.scaling``).

``on_settled`` (optional) is called once, on the event loop, when every channel the event was
routed to has a final outcome (delivered, failed after retries, dropped, filtered out, or no
such channel): the remediation runner then forgets the event's outbox entry.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol, runtime_checkable

from prognos.notify.events import NotificationEvent


@runtime_checkable
class Notifier(Protocol):
    def publish(
        self,
        event: NotificationEvent,
        channels: Sequence[str] | None,
        namespace: str,
        on_settled: Callable[[], None] | None = None,
    ) -> None:
        """Enqueue ``event`` for delivery to ``channels``; never blocks, never raises."""


class NullNotifier:
    """Drops every event; keeps the last few so tests of producers can look at them.

    Nothing is delivered, so nothing settles: ``on_settled`` is never called (an Incident's
    outbox keeps the entry, and the real dispatcher publishes it after a restart).
    """

    def __init__(self, keep: int = 100) -> None:
        self.keep = keep
        self.published: list[tuple[NotificationEvent, tuple[str, ...] | None, str]] = []

    def publish(
        self,
        event: NotificationEvent,
        channels: Sequence[str] | None,
        namespace: str,
        on_settled: Callable[[], None] | None = None,
    ) -> None:
        self.published.append((event, None if channels is None else tuple(channels), namespace))
        del self.published[: -self.keep]
