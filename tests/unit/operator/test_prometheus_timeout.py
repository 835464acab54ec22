"""The Prometheus query timeout reaches the operator from the environment (the chart's way)."""

from __future__ import annotations

import pytest

from prognos.operator.services import (
    DEFAULT_PROMETHEUS_TIMEOUT_S,
    PROMETHEUS_TIMEOUT_ENV,
    PrometheusSettings,
    prometheus_timeout,
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2", 2.0),
        ("2.5", 2.5),
        (" 30 ", 30.0),
        ("1", 1.0),
        (None, DEFAULT_PROMETHEUS_TIMEOUT_S),
        ("", DEFAULT_PROMETHEUS_TIMEOUT_S),
        ("0.5", DEFAULT_PROMETHEUS_TIMEOUT_S),  # Prometheus' own timeout is whole seconds
        ("0", DEFAULT_PROMETHEUS_TIMEOUT_S),
        ("-3", DEFAULT_PROMETHEUS_TIMEOUT_S),
        ("nan", DEFAULT_PROMETHEUS_TIMEOUT_S),
        ("inf", DEFAULT_PROMETHEUS_TIMEOUT_S),
        ("10s", DEFAULT_PROMETHEUS_TIMEOUT_S),
    ],
)
def test_prometheus_timeout_parses_seconds_or_falls_back(raw: str | None, expected: float) -> None:
    assert prometheus_timeout(raw) == expected


def test_settings_built_from_flags_still_take_the_timeout_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # ``prognos run`` builds the settings from its flags (url, token, CA) only; the chart sets
    # prometheus.timeoutSeconds as PROGNOS_PROMETHEUS_TIMEOUT, which must not be lost there.
    monkeypatch.setenv(PROMETHEUS_TIMEOUT_ENV, "3")
    settings = PrometheusSettings(url="http://prometheus.invalid:9090")
    assert settings.timeout_s == 3.0
    assert settings.source().timeout_s == 3.0
    assert PrometheusSettings.from_env().timeout_s == 3.0
    monkeypatch.delenv(PROMETHEUS_TIMEOUT_ENV)
    assert PrometheusSettings(url="http://prometheus.invalid:9090").timeout_s == 10.0
