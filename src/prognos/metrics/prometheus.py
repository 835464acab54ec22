"""Read load series from Prometheus through ``prometheus-api-client``, checked like KEDA does.

Every answer is checked before anything downstream sees it: an empty result, several series
where one was expected, NaN or infinite values, HTTP errors and timeouts all raise
``MetricsError`` whose ``reason`` is a CamelCase word fit for a status condition
(``MetricsAvailable=False reason=<reason>``). Callers treat any ``MetricsError`` as "no data",
which by DESIGN §5 rule 1 can never reduce capacity.

Staleness follows Prometheus' own semantics: when a target stops being scraped its series get
staleness markers and vanish from instant queries (after at most the 5-minute lookback), so
stale data shows up as ``NoData`` rather than as an old value presented as current.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
import requests
import urllib3
from prometheus_api_client import PrometheusConnect
from prometheus_api_client.exceptions import PrometheusApiClientException
from urllib3.util.retry import Retry


class MetricsError(Exception):
    """Prometheus gave no usable answer; ``reason`` is a condition reason, message says why."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclass(frozen=True)
class Sample:
    """One value of a one-series instant query, at Prometheus' evaluation time (unix s)."""

    value: float
    timestamp: float


def _labels(result: list[dict[str, Any]]) -> str:
    return "; ".join(
        "{" + ",".join(f'{k}="{v}"' for k, v in sorted(r.get("metric", {}).items())) + "}"
        for r in result[:3]
    )


def _is_timeout(exc: requests.RequestException) -> bool:
    """A timeout, also when urllib3's retry wrapped it into a ConnectionError(MaxRetryError)."""
    if isinstance(exc, requests.Timeout):
        return True
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    # urllib3 derives NewConnectionError (connection refused) from ConnectTimeoutError.
    return isinstance(reason, urllib3.exceptions.TimeoutError) and not isinstance(
        reason, urllib3.exceptions.NewConnectionError
    )


class PrometheusSource:
    """A Prometheus server, with an optional bearer token and CA bundle, and bounded timeouts."""

    def __init__(
        self,
        url: str,
        *,
        bearer_token: str | None = None,
        ca_file: str | None = None,
        timeout_s: float = 10.0,
    ) -> None:
        headers = {"Authorization": f"Bearer {bearer_token}"} if bearer_token else None
        session = requests.Session()
        if ca_file:
            session.verify = ca_file
        self.url = url
        self.timeout_s = timeout_s
        # One quick retry for a dropped connection; anything longer is the next tick's job.
        retry = Retry(total=1, backoff_factor=0.2, status_forcelist=[502, 503, 504])
        self._client = PrometheusConnect(
            url=url,
            headers=headers,
            disable_ssl=False,
            retry=retry,
            session=session,
            timeout=math.ceil(timeout_s),
        )

    def _call(self, fn: Any, *args: Any, **kwargs: Any) -> list[dict[str, Any]]:
        try:
            result = fn(*args, **kwargs)
        except PrometheusApiClientException as exc:
            raise MetricsError("QueryFailed", f"Prometheus rejected the query: {exc}") from exc
        except ValueError as exc:
            # Before RequestException: requests' JSONDecodeError is both, and a body that is
            # not JSON (a proxy's HTML page, garbage) is a bad answer, not an unreachable server.
            raise MetricsError("InvalidResponse", f"Prometheus sent garbage: {exc}") from exc
        except requests.RequestException as exc:
            if _is_timeout(exc):
                raise MetricsError(
                    "PrometheusTimeout", f"Prometheus at {self.url} did not answer in time"
                ) from exc
            raise MetricsError(
                "PrometheusUnreachable", f"cannot reach Prometheus at {self.url}: {exc}"
            ) from exc
        if not isinstance(result, list) or not all(isinstance(r, dict) for r in result):
            # A scalar or string query ("0", "time()") answers [time, "value"], not series.
            raise MetricsError(
                "InvalidResponse",
                "Prometheus answer is not a vector or matrix (a scalar query? use vector(...))",
            )
        return result

    @staticmethod
    def _one(result: list[dict[str, Any]], query: str) -> dict[str, Any]:
        if not result:
            raise MetricsError("NoData", f"query returned no series: {query}")
        if len(result) > 1:
            raise MetricsError(
                "MultipleSeries",
                f"query returned {len(result)} series, expected one (aggregate it, e.g. "
                f"sum(...)): {_labels(result)}",
            )
        return result[0]

    def instant(self, query: str) -> Sample:
        """The current value of a one-series query."""
        series = self._one(
            self._call(self._client.custom_query, query, timeout=int(self.timeout_s)), query
        )
        try:
            stamp, raw = series["value"]
            value = float(raw)
        except (KeyError, TypeError, ValueError) as exc:
            raise MetricsError("InvalidResponse", f"unexpected sample shape: {series}") from exc
        if not math.isfinite(value):
            raise MetricsError("InvalidValue", f"query returned {raw}: {query}")
        return Sample(value=value, timestamp=float(stamp))

    def range(self, query: str, start: float, end: float, step_s: float) -> pd.Series:
        """A one-series range read as a float Series on a UTC DatetimeIndex, NaN/Inf dropped."""
        result = self._call(
            self._client.custom_query_range,
            query,
            start_time=datetime.fromtimestamp(start, UTC),
            end_time=datetime.fromtimestamp(end, UTC),
            step=f"{max(1, int(step_s))}s",
            timeout=int(self.timeout_s),
        )
        series = self._one(result, query)
        try:
            values = np.array([(float(t), float(v)) for t, v in series["values"]], dtype=float)
        except (KeyError, TypeError, ValueError) as exc:
            raise MetricsError("InvalidResponse", "unexpected matrix shape") from exc
        if values.size == 0:
            raise MetricsError("NoData", f"range query returned no points: {query}")
        finite = np.isfinite(values[:, 1])
        out = pd.Series(
            values[finite, 1],
            index=pd.to_datetime(values[finite, 0], unit="s", utc=True),
            name="value",
        )
        return out

    def healthy(self) -> bool:
        try:
            return bool(self._client.check_prometheus_connection())
        except Exception:
            return False
