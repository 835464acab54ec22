"""Slack messages: Block Kit blocks plus a plain-text fallback, built from a NotificationEvent.

Incoming webhooks take ``{"text", "blocks"}``; the Web API's ``chat.postMessage`` takes the same
plus ``channel`` and, for later updates of one incident, ``thread_ts``. The fallback ``text`` is
what notifications, screen readers and old clients show, so it carries the whole message.

Scaling decisions get a readable diff line, e.g.
``4 → 9 replicas: p90 forecast 870 rps at 14:55, capacity 600``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from prognos.notify.events import EventType, NotificationEvent, Severity

_EMOJI = {
    Severity.INFO: ":information_source:",
    Severity.WARNING: ":warning:",
    Severity.CRITICAL: ":rotating_light:",
}
_TYPE_EMOJI = {
    EventType.RESOLVED: ":white_check_mark:",
    EventType.ACTION_FAILED: ":x:",
    EventType.ESCALATED: ":arrow_double_up:",
    EventType.WOULD_DO: ":thought_balloon:",
    EventType.SCALING_DECISION: ":chart_with_upwards_trend:",
}
#: Slack limits: header text 150 chars, section text 3000, 10 fields of 2000, 50 blocks.
_HEADER_MAX, _SECTION_MAX, _FIELD_MAX = 150, 3000, 2000


def escape(text: str) -> str:
    """Slack mrkdwn escaping: only ``&``, ``<`` and ``>`` are control characters."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _num(value: Any) -> str:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    return f"{number:.0f}" if abs(number) >= 100 or number == int(number) else f"{number:.3g}"


def _quantile_label(value: Any) -> str:
    try:
        q = float(value)
    except (TypeError, ValueError):
        return "forecast"
    return "forecast" if q <= 0.5 else f"p{round(q * 100):d} forecast"


def _clock(value: Any) -> str | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")).strftime("%H:%M")
    except ValueError:
        return None


def scaling_summary(details: Mapping[str, Any]) -> str | None:
    """``"4 → 9 replicas: p90 forecast 870 rps at 14:55, capacity 600"`` or None.

    14:55 is the end of the forecast horizon and the unit is ``details["unit"]`` (the scaler's
    ``spec.metric.unit``), shown after the load when set.
    """
    if "fromReplicas" not in details or "toReplicas" not in details:
        return None
    head = f"{details['fromReplicas']} → {details['toReplicas']} replicas"
    unit = f" {details['unit']}" if details.get("unit") else ""
    parts = []
    if details.get("forecastLoad") is not None:
        when = _clock(details.get("forecastTime"))
        parts.append(
            f"{_quantile_label(details.get('quantile'))} {_num(details['forecastLoad'])}{unit}"
            + (f" at {when}" if when else "")
        )
    elif details.get("currentLoad") is not None:
        parts.append(f"load {_num(details['currentLoad'])}{unit}")
    if details.get("capacity") is not None:
        parts.append(f"capacity {_num(details['capacity'])}")
    return head + (": " + ", ".join(parts) if parts else "")


def evidence_summary(details: Mapping[str, Any]) -> str | None:
    """``"signal error_ratio = 0.31, expected 0 to 0.05"`` from incident evidence, or None."""
    signal = details.get("signal")
    if signal is None:
        return None
    out = f"signal {signal}"
    if details.get("value") is not None:
        out += f" = {_num(details['value'])}"
    expected = details.get("expected")
    if isinstance(expected, Mapping) and ("low" in expected or "high" in expected):
        out += f", expected {_num(expected.get('low', '-∞'))} to {_num(expected.get('high', '∞'))}"
    elif expected is not None:
        out += f", expected {expected}"
    return out


def fallback_text(event: NotificationEvent) -> str:
    lines = [f"[{event.severity.value}] {event.title}"]
    if event.text:
        lines.append(event.text)
    for extra in (scaling_summary(event.details), evidence_summary(event.details)):
        if extra:
            lines.append(extra)
    lines.append(f"{event.namespace}/{event.target} · {event.source}")
    return "\n".join(lines)


def blocks(event: NotificationEvent) -> list[dict[str, Any]]:
    emoji = _TYPE_EMOJI.get(event.type, _EMOJI[event.severity])
    out: list[dict[str, Any]] = [
        {
            "type": "header",
            "text": {"type": "plain_text", "text": _cut(event.title, _HEADER_MAX), "emoji": True},
        }
    ]
    body = f"{emoji} {escape(event.text)}" if event.text else emoji
    out.append({"type": "section", "text": {"type": "mrkdwn", "text": _cut(body, _SECTION_MAX)}})
    diff = scaling_summary(event.details)
    if diff:
        out.append({"type": "section", "text": {"type": "mrkdwn", "text": f"*{escape(diff)}*"}})
    evidence = evidence_summary(event.details)
    if evidence:
        out.append({"type": "section", "text": {"type": "mrkdwn", "text": f"_{escape(evidence)}_"}})
    fields = [("Target", f"{event.namespace}/{event.target}"), ("Source", event.source)]
    if event.incident:
        fields.append(("Incident", event.incident))
    if event.details.get("action"):
        fields.append(("Action", str(event.details["action"])))
    out.append(
        {
            "type": "section",
            "fields": [
                {"type": "mrkdwn", "text": _cut(f"*{k}*\n{escape(v)}", _FIELD_MAX)}
                for k, v in fields
            ],
        }
    )
    out.append(
        {
            "type": "context",
            "elements": [
                {
                    "type": "mrkdwn",
                    "text": f"{event.type.value} · {event.severity.value} · {event.time}",
                }
            ],
        }
    )
    return out


def webhook_message(event: NotificationEvent) -> dict[str, Any]:
    """Body for an incoming webhook."""
    return {"text": fallback_text(event), "blocks": blocks(event)}


def post_message(event: NotificationEvent, channel: str, thread_ts: str | None) -> dict[str, Any]:
    """Body for ``chat.postMessage``; ``thread_ts`` puts it in the incident's thread."""
    body: dict[str, Any] = {"channel": channel, **webhook_message(event), "unfurl_links": False}
    if thread_ts:
        body["thread_ts"] = thread_ts
    return body
