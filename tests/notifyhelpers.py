"""Helpers shared by the notification tests (imported as ``notifyhelpers``)."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prognos.notify.events import EventType, NotificationEvent, Severity


def make_event(**overrides: Any) -> NotificationEvent:
    base: dict[str, Any] = {
        "type": EventType.INCIDENT_OPENED,
        "severity": Severity.WARNING,
        "title": "web is crash-looping",
        "text": "3 pods in CrashLoopBackOff",
        "namespace": "demo",
        "target": "Deployment/web",
        "source": "RemediationPolicy/web-health",
        "time": "2025-01-01T14:50:00Z",
        "incident": "web-health-crashloop-1",
        "dedup_key": "web-health/opened",
        "thread_key": "web-health-crashloop-1",
        "details": {"signal": "crashLoop", "value": 3, "expected": {"low": 0, "high": 0}},
    }
    base.update(overrides)
    return NotificationEvent(**base)


class Sink:
    """A real HTTP receiver on 127.0.0.1 that records requests and answers from a script.

    ``script`` holds (status, headers, body) answers used in order, then ``default`` forever.
    ``hang=True`` accepts connections and never answers (a receiver that is down but reachable).
    """

    def __init__(
        self,
        script: list[tuple[int, dict[str, str], bytes]] | None = None,
        default: tuple[int, dict[str, str], bytes] = (200, {}, b"ok"),
        hang: bool = False,
    ) -> None:
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.requests: list[dict[str, Any]] = []
        self.script = list(script or [])
        self.default = default
        self.hang = hang
        self._release = threading.Event()
        self._lock = threading.Lock()
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                with sink._lock:
                    sink.requests.append(
                        {"path": self.path, "headers": dict(self.headers.items()), "body": body}
                    )
                    answer = sink.script.pop(0) if sink.script else sink.default
                if sink.hang:
                    sink._release.wait(300)
                    return
                status, headers, out = answer
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            def log_message(self, format: str, *args: object) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self._release.set()
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> Sink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def json_bodies(self) -> list[Any]:
        import json

        with self._lock:
            return [json.loads(r["body"]) for r in self.requests]


class RecordingSink:
    """A real HTTP receiver on 127.0.0.1 that records every request and its answer.

    Each request is recorded (``path``, ``headers``, ``length``, ``body``, ``received``, and
    ``answered``: the status sent, ``None`` until sent) before it is answered. Subclasses decide
    the answer: ``admit`` adds to the record under the lock (``index`` is how many requests came
    before), ``answer`` returns the status to send (body ``ok`` for 200, else ``busy``) or
    ``None`` to send nothing. ``closing`` is set by ``close()``.
    """

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        self.closing = threading.Event()
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                received = time.time()
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                with sink.lock:
                    index = len(sink.requests)
                    record: dict[str, Any] = {
                        "path": self.path,
                        "headers": dict(self.headers.items()),
                        "length": length,
                        "body": body,
                        "received": received,
                        "answered": None,
                    }
                    sink.admit(record, index)
                    sink.requests.append(record)
                status = sink.answer(record, index)
                if status is None:
                    return
                out = b"ok" if status == 200 else b"busy"
                try:
                    self.send_response(status)
                    self.send_header("Content-Length", str(len(out)))
                    self.end_headers()
                    self.wfile.write(out)
                    self.wfile.flush()
                except OSError:
                    return
                with sink.lock:
                    record["answered"] = status

            def log_message(self, format: str, *args: object) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def admit(self, record: dict[str, Any], index: int) -> None:
        """Add to a new request's record (called under the lock, before it is stored)."""

    def answer(self, record: dict[str, Any], index: int) -> int | None:
        """The status to answer a request with, or ``None`` for no answer (default 200)."""
        return 200

    def snapshot(self) -> list[dict[str, Any]]:
        with self.lock:
            return [dict(r) for r in self.requests]

    def close(self) -> None:
        self.closing.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(10)
