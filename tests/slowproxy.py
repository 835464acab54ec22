"""A real HTTP proxy in front of Prometheus that answers late, for fault-injection tests.

``SlowProxy(upstream)`` listens on 127.0.0.1 (a ``ThreadingHTTPServer``, one thread per
request), forwards every GET and POST to ``upstream`` unchanged and, before answering, sleeps
``delay`` seconds when the request's PromQL ``query`` contains ``only`` (every request when
``only`` is empty). Both can be changed while it runs. A client that gave up meanwhile is
normal: the late answer is dropped. ``stop`` releases sleeping requests at once.
"""

from __future__ import annotations

import threading
import urllib.error
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class SlowProxy:
    def __init__(self, upstream: str, delay: float = 0.0, only: str = "") -> None:
        self.upstream = upstream.rstrip("/")
        self.delay = delay
        self.only = only
        #: Requests answered, and how many of them were delayed.
        self.requests = 0
        self.delayed = 0
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                proxy._handle(self, None)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                proxy._handle(self, self.rfile.read(length))

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> SlowProxy:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(10)

    def __enter__(self) -> SlowProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _slow_for(self, path: str, body: bytes | None) -> bool:
        if not self.only:
            return True
        params = urllib.parse.parse_qs(urllib.parse.urlsplit(path).query)
        if body:
            params.update(urllib.parse.parse_qs(body.decode(errors="replace")))
        return any(self.only in q for q in params.get("query", []))

    def _handle(self, handler: BaseHTTPRequestHandler, body: bytes | None) -> None:
        delay = self.delay if self._slow_for(handler.path, body) else 0.0
        with self._lock:
            self.requests += 1
            self.delayed += delay > 0
        if delay > 0:
            self._stopping.wait(delay)
        headers = {
            k: v for k, v in handler.headers.items() if k.lower() in ("content-type", "accept")
        }
        request = urllib.request.Request(
            self.upstream + handler.path, data=body, headers=headers, method=handler.command
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as resp:
                status, payload, ctype = resp.status, resp.read(), resp.headers.get_content_type()
        except urllib.error.HTTPError as exc:
            status, payload, ctype = exc.code, exc.read(), exc.headers.get_content_type()
        except OSError as exc:
            status, payload, ctype = 502, str(exc).encode(), "text/plain"
        try:
            handler.send_response(status)
            handler.send_header("Content-Type", ctype)
            handler.send_header("Content-Length", str(len(payload)))
            handler.end_headers()
            handler.wfile.write(payload)
        except OSError:  # the client gave up waiting: that is the point of the delay
            pass
