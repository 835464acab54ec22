"""What ``prognos run`` says about notification delivery and the Alertmanager intake."""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_SLACK_API = "https://slack.com/api"


@dataclass(frozen=True)
class NotifyOptions:
    """``alert_port`` None disables the intake; it then needs a token file or Secret."""

    slack_api_url: str = DEFAULT_SLACK_API
    queue_size: int = 1000
    workers: int = 4
    alert_host: str = "0.0.0.0"
    alert_port: int | None = None
    alert_token_file: str | None = None
    alert_token_secret: str | None = None  # "namespace/name", key "token"
    alert_max_body: int = 1 << 20
