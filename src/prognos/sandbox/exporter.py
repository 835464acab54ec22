"""The demo exporter: serves each demo workload's load and error ratio to Prometheus.

Run as ``python -m prognos.sandbox.exporter --port P --anchor T [--traces-dir D]``. Values are
computed at scrape time from ``prognos.sandbox.load`` so they continue the backfilled history.

``/control`` lets tests and the demo change the load on a schedule without restarting anything:
``POST /control/<workload>`` with JSON ``{"factor": 2.5, "ramp_seconds": 120, "start_in": 60}``
ramps the load to 2.5x over two minutes starting one minute from now, ``{"error_ratio": 0.3}``
sets an error burst, ``{}`` clears overrides; ``GET /control`` returns the current overrides.
Each POST replaces the workload's overrides as a whole.

Clock faults (per workload, combinable with the keys above):

* ``{"clock_offset_s": -3600}`` jumps this workload's clock: its load and error ratio are
  computed at ``now + clock_offset_s`` (a ramp's ``start_in`` counts on that shifted clock too),
  so the seasonal pattern jumps by that much at once, backwards or forwards. Samples are still
  published without timestamps, so Prometheus stores them at scrape time: the series continues,
  only its shape jumps.
* ``{"clock_offset_s": -3600, "explicit_timestamps": true}`` also publishes the workload's
  samples *with* a timestamp at the shifted clock, as a client with a wrong clock would.
  What Prometheus (2.42) does with them, observed rather than assumed:

  - backwards: each scrape refuses the samples, as out of bounds when they are older than the
    head block accepts (about an hour behind its newest sample; an hour back already is) or as
    out of order when the jump is shorter (``prometheus_target_scrapes_sample_out_of_bounds_total``
    / ``..._out_of_order_total`` count them; the log says "too old or too far into the
    future"; the target stays ``up``). As the series got no sample at scrape time, Prometheus
    writes a staleness marker for it on the first such scrape: an instant query returns *no
    series* from then on, not the last value. ``{}`` (or an offset of 0) makes the next
    scrape's sample current again and the series is back at once;
  - forwards, up to 10 minutes: the samples are stored in the future. An instant query only
    looks back from its evaluation time, so it keeps returning the last sample from before the
    jump (no staleness marker: it would be older than the future sample) until the 5-minute
    lookback runs out, then no series. After ``{}`` the series' samples are out of order until
    real time passes the last future timestamp;
  - forwards, more than 10 minutes: refused as out of bounds ("too far into the future"),
    with a staleness marker, as for a backward jump.
"""

from __future__ import annotations

import argparse
import json
import math
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from prognos.sandbox.load import ERROR_METRIC, LOAD_METRIC, Override, Workload, default_workloads


class _LoadCollector(Collector):
    def __init__(self, workloads: dict[str, Workload]) -> None:
        self.workloads = workloads

    def collect(self) -> Iterator[GaugeMetricFamily]:
        now = time.time()
        load = GaugeMetricFamily(
            LOAD_METRIC,
            "Demo workload load in requests per second.",
            labels=["namespace", "workload"],
        )
        errors = GaugeMetricFamily(
            ERROR_METRIC,
            "Demo workload fraction of requests that fail.",
            labels=["namespace", "workload"],
        )
        for wl in self.workloads.values():
            clock = now + wl.override.clock_offset_s
            stamp = clock if wl.override.explicit_timestamps else None
            load.add_metric([wl.namespace, wl.name], wl.load(clock), timestamp=stamp)
            errors.add_metric([wl.namespace, wl.name], wl.error_ratio(clock), timestamp=stamp)
        yield load
        yield errors


def parse_override(body: object, now: float) -> Override:
    """The ``Override`` a ``POST /control/<workload>`` body asks for; ValueError/TypeError if bad.

    ``now`` is the real time; a ramp's ``start_in`` counts from the workload's shifted clock.
    """
    if not isinstance(body, dict):
        raise TypeError(f"expected a JSON object, got {type(body).__name__}")
    offset = float(body.get("clock_offset_s", 0.0))
    if not math.isfinite(offset):
        raise ValueError(f"clock_offset_s must be finite, got {offset}")
    explicit = body.get("explicit_timestamps", False)
    if not isinstance(explicit, bool):
        raise TypeError(f"explicit_timestamps must be true or false, got {explicit!r}")
    return Override(
        factor=float(body.get("factor", 1.0)),
        ramp_start=now + offset + float(body.get("start_in", 0.0)),
        ramp_seconds=float(body.get("ramp_seconds", 0.0)),
        error_ratio=(float(body["error_ratio"]) if "error_ratio" in body else None),
        clock_offset_s=offset,
        explicit_timestamps=explicit,
    )


def make_server(port: int, workloads: list[Workload]) -> ThreadingHTTPServer:
    by_name = {wl.name: wl for wl in workloads}
    registry = CollectorRegistry()
    registry.register(_LoadCollector(by_name))
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def _reply(self, code: int, body: bytes, ctype: str = "application/json") -> None:
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            if self.path.startswith("/metrics"):
                self._reply(200, generate_latest(registry), "text/plain; version=0.0.4")
            elif self.path == "/control":
                state = {n: asdict(w.override) for n, w in by_name.items()}
                self._reply(200, json.dumps(state).encode())
            elif self.path == "/healthz":
                self._reply(200, b"ok", "text/plain")
            else:
                self._reply(404, b'{"error": "not found"}')

        def do_POST(self) -> None:
            name = self.path.removeprefix("/control/")
            if not self.path.startswith("/control/") or name not in by_name:
                self._reply(404, json.dumps({"error": f"no workload {name!r}"}).encode())
                return
            try:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                override = parse_override(body, time.time())
            except (ValueError, TypeError, json.JSONDecodeError) as exc:
                self._reply(400, json.dumps({"error": str(exc)}).encode())
                return
            with lock:
                by_name[name].override = override
            self._reply(200, json.dumps(asdict(override)).encode())

        def log_message(self, format: str, *args: object) -> None:
            return

    return ThreadingHTTPServer(("127.0.0.1", port), Handler)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--anchor", type=float, required=True)
    parser.add_argument("--traces-dir", type=Path)
    args = parser.parse_args()
    server = make_server(args.port, default_workloads(args.traces_dir, args.anchor))
    server.serve_forever()


if __name__ == "__main__":
    main()
