"""Alertmanager intake: an HTTP endpoint compatible with Alertmanager's webhook receiver.

Alertmanager POSTs ``{"version": "4", "status", "receiver", "groupKey", "alerts": [...]}`` where
each alert has ``status`` (firing|resolved), ``labels``, ``annotations``, ``startsAt``,
``endsAt`` and ``fingerprint``. The intake:

1. authenticates ``Authorization: Bearer <token>`` in constant time (401 otherwise);
2. refuses bodies over ``max_body`` bytes (413) and non-JSON content types (415);
3. validates the schema and answers 400 naming the first bad field (Alertmanager does not retry
   4xx, which is right: the same payload would fail again);
4. hands each alert to the sink (``prognos.remediation`` matches RemediationPolicy ``alert``
   signals by alertname and labels). A sink failure answers 503 so Alertmanager retries.

It runs on its own port, separate from probes and metrics, started by the operator's start-up
handler (``prognos run --alert-port ... --alert-token-file ...``). The token is never logged.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from prognos.logs import get_logger
from prognos.notify import metrics as m

log = get_logger("prognos.intake")

ALERTS_PATH = "/api/v1/alerts"
MAX_BODY = 1 << 20
MAX_ALERTS = 1000
_ZERO_TIME = "0001-01-01T00:00:00Z"


class IntakeError(ValueError):
    def __init__(self, status: int, message: str, field_path: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.field = field_path


@dataclass(frozen=True)
class ReceivedAlert:
    """One alert of an Alertmanager notification, validated."""

    status: str  # "firing" | "resolved"
    labels: Mapping[str, str]
    annotations: Mapping[str, str]
    starts_at: datetime
    ends_at: datetime | None
    fingerprint: str
    generator_url: str = ""
    receiver: str = ""
    group_key: str = ""

    @property
    def alertname(self) -> str:
        return self.labels.get("alertname", "")

    @property
    def firing(self) -> bool:
        return self.status == "firing"


AlertSink = Callable[[ReceivedAlert], None]


def _str_map(raw: Any, where: str) -> dict[str, str]:
    if not isinstance(raw, dict):
        raise IntakeError(400, "must be an object of strings", where)
    for key, value in raw.items():
        if not isinstance(value, str):
            raise IntakeError(400, f"value of {key!r} must be a string", where)
    return dict(raw)


def _time(raw: Any, where: str, required: bool) -> datetime | None:
    if raw in (None, "", _ZERO_TIME):
        if required:
            raise IntakeError(400, "is required (RFC 3339 time)", where)
        return None
    if not isinstance(raw, str):
        raise IntakeError(400, "must be an RFC 3339 time string", where)
    try:
        parsed = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError as exc:
        raise IntakeError(400, f"{raw!r} is not an RFC 3339 time", where) from exc
    if parsed.year <= 1:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def parse_payload(raw: bytes, max_alerts: int = MAX_ALERTS) -> list[ReceivedAlert]:
    """Validate an Alertmanager webhook body (version 4); raise ``IntakeError`` (400)."""
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:  # deep nesting: recursion
        raise IntakeError(400, f"body is not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise IntakeError(400, "body must be a JSON object")
    if data.get("version") != "4":
        raise IntakeError(400, 'unsupported version (expected "4")', "version")
    alerts = data.get("alerts")
    if not isinstance(alerts, list):
        raise IntakeError(400, "must be a list", "alerts")
    if len(alerts) > max_alerts:
        raise IntakeError(400, f"at most {max_alerts} alerts per request", "alerts")
    receiver = data.get("receiver") if isinstance(data.get("receiver"), str) else ""
    group_key = data.get("groupKey") if isinstance(data.get("groupKey"), str) else ""
    out = []
    for i, item in enumerate(alerts):
        where = f"alerts[{i}]"
        if not isinstance(item, dict):
            raise IntakeError(400, "must be an object", where)
        status = item.get("status")
        if status not in ("firing", "resolved"):
            raise IntakeError(400, 'must be "firing" or "resolved"', f"{where}.status")
        labels = _str_map(item.get("labels"), f"{where}.labels")
        if not labels.get("alertname"):
            raise IntakeError(400, "alertname is required", f"{where}.labels")
        fingerprint = item.get("fingerprint")
        if not isinstance(fingerprint, str) or not fingerprint:
            raise IntakeError(400, "is required", f"{where}.fingerprint")
        starts = _time(item.get("startsAt"), f"{where}.startsAt", required=True)
        assert starts is not None
        out.append(
            ReceivedAlert(
                status=str(status),
                labels=labels,
                annotations=_str_map(
                    {} if item.get("annotations") is None else item["annotations"],
                    f"{where}.annotations",
                ),
                starts_at=starts,
                ends_at=_time(item.get("endsAt"), f"{where}.endsAt", required=False),
                fingerprint=fingerprint,
                generator_url=str(item.get("generatorURL") or ""),
                receiver=str(receiver),
                group_key=str(group_key),
            )
        )
    return out


def _error(status: int, message: str, field_path: str | None = None) -> web.Response:
    m.ALERT_REQUESTS.labels(str(status)).inc()
    body: dict[str, Any] = {"error": message}
    if field_path:
        body["field"] = field_path
    headers = {"WWW-Authenticate": 'Bearer realm="prognos"'} if status == 401 else None
    return web.json_response(body, status=status, headers=headers)


class AlertIntake:
    """The aiohttp server. ``token`` is a callable so a rotated token file is picked up."""

    def __init__(
        self,
        token: Callable[[], str],
        sink: AlertSink,
        *,
        max_body: int = MAX_BODY,
        max_alerts: int = MAX_ALERTS,
    ) -> None:
        self.token = token
        self.sink = sink
        self.max_body = max_body
        self.max_alerts = max_alerts
        self._runner: web.AppRunner | None = None

    def app(self) -> web.Application:
        app = web.Application(client_max_size=self.max_body)
        app.router.add_post(ALERTS_PATH, self.handle)
        app.router.add_get("/healthz", self.health)
        return app

    async def health(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    def _authorized(self, header: str | None) -> bool:
        expected = self.token()
        if not expected or not header or not header.startswith("Bearer "):
            return False
        return hmac.compare_digest(header[len("Bearer ") :].strip().encode(), expected.encode())

    async def handle(self, request: web.Request) -> web.Response:
        if not self._authorized(request.headers.get("Authorization")):
            log.warning("intake.unauthorized", remote=request.remote)
            return _error(401, "missing or wrong bearer token")
        if request.content_length is not None and request.content_length > self.max_body:
            return _error(413, f"body larger than {self.max_body} bytes")
        if request.content_type != "application/json":
            return _error(415, "content type must be application/json")
        try:
            raw = await request.read()
        except web.HTTPRequestEntityTooLarge:
            return _error(413, f"body larger than {self.max_body} bytes")
        try:
            alerts = parse_payload(raw, self.max_alerts)
        except IntakeError as exc:
            log.warning("intake.invalid", error=exc.message, field=exc.field)
            return _error(exc.status, exc.message, exc.field)
        try:
            for alert in alerts:
                self.sink(alert)
                m.ALERTS_RECEIVED.labels(alert.alertname, alert.status).inc()
        except Exception:
            log.exception("intake.sink_failed")
            return _error(503, "alerts could not be processed; retry later")
        log.info(
            "intake.accepted",
            alerts=len(alerts),
            firing=sum(a.firing for a in alerts),
            alertnames=sorted({a.alertname for a in alerts})[:10],
        )
        m.ALERT_REQUESTS.labels("200").inc()
        return web.json_response({"accepted": len(alerts)})

    async def start(self, host: str, port: int) -> None:
        self._runner = web.AppRunner(self.app(), access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, host, port).start()
        log.info("intake.listening", host=host, port=port, path=ALERTS_PATH)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
