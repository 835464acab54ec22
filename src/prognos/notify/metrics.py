"""Prometheus metrics of notification delivery (served by the operator's ``/metrics``)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

_CHANNEL = ["namespace", "channel"]

NOTIFICATIONS = Counter(
    "prognos_notifications_total",
    "Notifications by final outcome (Delivered, Failed, RateLimited, Duplicate, Overflow, ...).",
    [*_CHANNEL, "outcome"],
)
ATTEMPTS = Counter(
    "prognos_notification_attempts_total",
    "HTTP attempts by answer class (2xx, 4xx, 429, 5xx, timeout, error).",
    [*_CHANNEL, "result"],
)
QUEUE_OVERFLOW = Counter(
    "prognos_notification_queue_overflow_total",
    "Notifications dropped because the delivery queue was full.",
    _CHANNEL,
)
QUEUE_DEPTH = Gauge("prognos_notification_queue_depth", "Notifications waiting for delivery.")
DELIVERY_SECONDS = Histogram(
    "prognos_notification_delivery_seconds",
    "From enqueue to final outcome, retries included.",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
)
ALERTS_RECEIVED = Counter(
    "prognos_alerts_received_total",
    "Alerts accepted by the Alertmanager intake, by status.",
    ["alertname", "status"],
)
ALERT_REQUESTS = Counter(
    "prognos_alert_requests_total", "Requests to the Alertmanager intake by HTTP code.", ["code"]
)
OUTBOX_DROPPED = Counter(
    "prognos_notification_outbox_dropped_total",
    "Unsettled notifications dropped from a full Incident outbox (the oldest go first).",
    ["namespace"],
)
