"""The operator's window: /healthz, /readyz, /status (JSON), /metrics (Prometheus) and / (the dashboard).

Served from its own thread, bound to loopback unless configured otherwise, so a scrape or a browser never waits
for a pass. An optional bearer token protects everything but /healthz (a liveness probe must not need secrets).
The documents come from callables the daemon provides; this module only serves them.
"""

from __future__ import annotations

import hmac
import json
import logging
import socket
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any

LOG = logging.getLogger(__name__)


class StatusServer:
    def __init__(
        self,
        host: str,
        port: int,
        status: Callable[[], dict[str, Any]],
        metrics: Callable[[], bytes],
        ready: Callable[[], bool],
        token: str | None = None,
    ) -> None:
        dashboard = resources.files("rpcdaemon.shell").joinpath("dashboard.html").read_bytes()
        handler = _handler(status, metrics, ready, token, dashboard)
        self._server = ThreadingHTTPServer((host, port), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="status-http", daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> StatusServer:
        self._thread.start()
        LOG.info("status on %s (/status, /metrics, /healthz, /readyz, dashboard at /)", self.url)
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def _handler(
    status: Callable[[], dict[str, Any]],
    metrics: Callable[[], bytes],
    ready: Callable[[], bool],
    token: str | None,
    dashboard: bytes,
) -> type[BaseHTTPRequestHandler]:
    expected = f"Bearer {token}".encode() if token else None

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def setup(self) -> None:
            super().setup()
            # Headers and body go out in two writes: without this, Nagle + delayed ACK add 40 ms to every answer.
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        server_version = "rpcdaemon"

        def log_message(self, format: str, *args: Any) -> None:
            LOG.debug("status: " + format, *args)

        def _send(self, code: int, body: bytes, content_type: str) -> None:
            self.send_response(code)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def _authorized(self) -> bool:
            if expected is None:
                return True
            given = self.headers.get("Authorization", "").encode()
            return hmac.compare_digest(given, expected)

        def do_HEAD(self) -> None:
            self.do_GET()

        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/healthz":
                return self._send(200, b"ok\n", "text/plain")
            if not self._authorized():
                return self._send(401, b"bearer token required\n", "text/plain")
            try:
                if path == "/readyz":
                    ok = ready()
                    return self._send(200 if ok else 503, b"ready\n" if ok else b"not ready\n", "text/plain")
                if path == "/status":
                    body = json.dumps(status(), indent=1, sort_keys=True, default=str).encode()
                    return self._send(200, body, "application/json")
                if path == "/metrics":
                    return self._send(200, metrics(), "text/plain; version=0.0.4; charset=utf-8")
                if path in ("/", "/index.html"):
                    return self._send(200, dashboard, "text/html; charset=utf-8")
            except Exception:  # the status page must never take the daemon down
                LOG.exception("status endpoint %s failed", path)
                return self._send(500, b"internal error\n", "text/plain")
            return self._send(404, b"not found\n", "text/plain")

    return Handler
