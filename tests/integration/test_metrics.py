"""prognos.metrics against the sandbox's real Prometheus: every bad answer has a reason."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from prognos.metrics import MetricsError, PrometheusSource
from prognos.sandbox.procs import free_port

pytestmark = pytest.mark.integration

ONE = 'sum(prognos_demo_requests_per_second{workload="web"})'


@pytest.fixture(scope="module")
def prom(sandbox) -> PrometheusSource:
    return PrometheusSource(sandbox["prometheus"], timeout_s=5)


def test_instant_read_of_one_series(prom):
    sample = prom.instant(ONE)
    assert sample.value > 0
    assert abs(sample.timestamp - time.time()) < 30


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        ('{__name__=~"prognos_demo_.+"}', "MultipleSeries"),
        ("vector(0) / 0", "InvalidValue"),
        ("no_such_metric_anywhere", "NoData"),
        ("sum(rate(", "QueryFailed"),
    ],
)
def test_bad_answers_raise_with_a_condition_reason(prom, query, reason):
    with pytest.raises(MetricsError) as err:
        prom.instant(query)
    assert err.value.reason == reason
    assert err.value.message


def test_range_read_returns_days_of_history(prom):
    end = time.time()
    series = prom.range(ONE, end - 7 * 86400, end, 300)
    assert len(series) >= 7 * 288 - 2
    assert series.index.is_monotonic_increasing
    assert (series > 0).all()


def test_unreachable_prometheus():
    with pytest.raises(MetricsError) as err:
        PrometheusSource(f"http://127.0.0.1:{free_port()}", timeout_s=2).instant(ONE)
    assert err.value.reason == "PrometheusUnreachable"


def test_garbage_and_slow_answers():
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            if self.server.slow:  # type: ignore[attr-defined]
                time.sleep(3)
            body = b"<html>not prometheus</html>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.slow = False  # type: ignore[attr-defined]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        with pytest.raises(MetricsError) as err:
            PrometheusSource(url, timeout_s=2).instant(ONE)
        assert err.value.reason == "InvalidResponse"
        server.slow = True  # type: ignore[attr-defined]
        started = time.monotonic()
        with pytest.raises(MetricsError) as err:
            PrometheusSource(url, timeout_s=1).instant(ONE)
        assert err.value.reason == "PrometheusTimeout"
        assert time.monotonic() - started < 10
    finally:
        server.shutdown()
