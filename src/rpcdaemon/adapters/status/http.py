"""The operator's window: /healthz, /readyz, /status (JSON), /metrics (Prometheus) and / (the dashboard).

Served from its own thread, bound to loopback unless configured otherwise, so a scrape or a browser never waits
for a pass. An optional bearer token protects the data (/status, /metrics, /readyz); /healthz stays open (a
liveness probe must not need secrets) and so does the dashboard page itself, which holds no data: it asks for the
token and sends it as a header on its own requests (a browser never sends one for a `#token=` link).
The documents come from callables the daemon provides; this module only serves them.

The status server may degrade; the control loop may not. Idle or slow clients once held a thread and a file
descriptor each for as long as they liked, until the daemon could no longer open a connection to Neutron. So:
  - at most `max_connections` connections are handled at once, one thread each; beyond that, connections wait in
    the kernel's accept backlog (bounded, no thread, no descriptor of ours) until one ends;
  - no connection is accepted while the process's open descriptors are within `fd_reserve` of RLIMIT_NOFILE;
  - the request line and headers must arrive within `header_timeout_s` in all (a client dripping a byte at a
    time is cut too), and every read, and the writing of a whole answer, within `io_timeout_s`;
  - a client that goes away mid-answer is one DEBUG line, not a traceback.
With a TLS context the port speaks HTTPS only; the handshake runs in the connection's own thread, under the same
header deadline, so a client that connects and never says hello is cut like one that never sends a request.
"""

from __future__ import annotations

import contextlib
import hmac
import json
import logging
import os
import resource
import selectors
import socket
import ssl
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, HTTPServer
from importlib import resources
from typing import Any, cast

LOG = logging.getLogger(__name__)

TICK_S = 0.2
"""How often the accept loop looks again when it may not accept, and cuts clients past their header deadline."""
WARN_EVERY_S = 60.0


@dataclass(frozen=True, slots=True)
class Limits:
    max_connections: int = 32
    """connections handled at once (a thread each); more wait in the accept backlog"""
    header_timeout_s: float = 5.0
    """for the request line and all headers of a request (also the idle time allowed between keep-alive requests)"""
    io_timeout_s: float = 10.0
    """for any one read, and for writing a whole answer"""
    fd_reserve: int = 64
    """descriptors kept free for the control loop: no connection is accepted within this many of RLIMIT_NOFILE"""
    backlog: int = 64
    """the listening socket's accept backlog: connections beyond it are left to the kernel (SYNs dropped)"""

    def __post_init__(self) -> None:
        if self.max_connections < 1 or self.backlog < 1 or self.fd_reserve < 0:
            raise ValueError(f"status server limits out of range: {self}")
        if not (self.header_timeout_s > 0 and self.io_timeout_s > 0):
            raise ValueError(f"status server timeouts must be > 0: {self}")


def fd_headroom(reserve: int) -> bool:
    """True while the process's open descriptors stay more than `reserve` below its soft RLIMIT_NOFILE."""
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return True
    try:
        used = len(os.listdir("/proc/self/fd"))
    except OSError:  # no /proc: the connection bound alone protects the control loop
        return True
    return used + reserve < soft


class StatusServer:
    def __init__(
        self,
        host: str,
        port: int,
        status: Callable[[], dict[str, Any]],
        metrics: Callable[[], bytes],
        ready: Callable[[], bool],
        token: str | None = None,
        *,
        limits: Limits | None = None,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        dashboard = resources.files("rpcdaemon.adapters.status").joinpath("dashboard.html").read_bytes()
        handler = _handler(status, metrics, ready, token, dashboard)
        self._server = _BoundedServer((host, port), handler, limits or Limits(), tls)
        self._thread = threading.Thread(target=self._server.serve, name="status-http", daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        shown = f"[{host!s}]" if ":" in str(host) else str(host)
        return f"{'https' if self._server.tls is not None else 'http'}://{shown}:{port}"

    @property
    def limits(self) -> Limits:
        return self._server.limits

    @limits.setter
    def limits(self, limits: Limits) -> None:
        """New limits apply from the next connection (the backlog stays as it was at start)."""
        self._server.limits = limits

    @property
    def connections(self) -> int:
        """Connections being handled now."""
        return self._server.connections

    @property
    def deferred_full(self) -> int:
        """Times a waiting connection was left in the backlog because `max_connections` were being handled."""
        return self._server.deferred["full"]

    @property
    def deferred_fds(self) -> int:
        """Times a waiting connection was left in the backlog to keep the descriptor reserve."""
        return self._server.deferred["fds"]

    def start(self) -> StatusServer:
        self._thread.start()
        LOG.info("status on %s (/status, /metrics, /healthz, /readyz, dashboard at /)", self.url)
        return self

    def stop(self) -> None:
        self._server.closing.set()
        if self._thread.is_alive():
            self._thread.join()
        self._server.server_close()
        self._server.hang_up_all()


class _BoundedServer(HTTPServer):
    """HTTPServer with its own accept loop: a thread per connection, but only as many as `limits` allow."""

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], limits: Limits,
                 tls: ssl.SSLContext | None = None) -> None:
        self.request_queue_size = limits.backlog  # read by server_activate (listen) in the base constructor
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, handler)
        self.tls = tls
        self.socket.setblocking(False)  # a client gone between select and accept must not block the loop
        self.limits = limits
        self.closing = threading.Event()
        self.deferred = {"full": 0, "fds": 0}
        self._lock = threading.Condition()
        self._open: dict[socket.socket, float | None] = {}
        """connection -> when its request line and headers must have arrived (None: being answered)"""
        self._cut: set[socket.socket] = set()
        """connections hung up on for being late: a request they completed meanwhile gets no answer"""
        self._warned: dict[str, float] = {}

    @property
    def connections(self) -> int:
        with self._lock:
            return len(self._open)

    def serve(self) -> None:
        with selectors.DefaultSelector() as selector:
            selector.register(self.socket, selectors.EVENT_READ)
            while not self.closing.is_set():
                self._cut_late()
                if selector.select(TICK_S) and self._room():
                    self._accept()

    def _room(self) -> bool:
        """Whether the waiting connection may be taken now; when not, wait a tick (it stays in the backlog)."""
        with self._lock:
            if len(self._open) >= self.limits.max_connections:
                self.deferred["full"] += 1
                self._warn("full", "status server: %d connections open, more wait", len(self._open))
                self._lock.wait(TICK_S)  # woken as soon as a connection ends
                return False
        if not fd_headroom(self.limits.fd_reserve):
            self.deferred["fds"] += 1
            self._warn("fds", "status server: open files within %d of the limit, accepting no connection",
                       self.limits.fd_reserve)
            self.closing.wait(TICK_S)
            return False
        return True

    def _warn(self, kind: str, message: str, *args: Any) -> None:
        now = time.monotonic()
        if now - self._warned.get(kind, -WARN_EVERY_S) >= WARN_EVERY_S:
            self._warned[kind] = now
            LOG.warning(message, *args)

    def _accept(self) -> None:
        try:
            conn, address = self.socket.accept()
        except BlockingIOError:  # the client left the backlog before we got to it
            return
        except OSError as exc:  # EMFILE, ENFILE, ENOBUFS...: wait a tick rather than spin
            LOG.debug("status: accept failed: %s", exc)
            self.closing.wait(TICK_S)
            return
        conn.settimeout(self.limits.io_timeout_s)
        with self._lock:
            self._open[conn] = time.monotonic() + self.limits.header_timeout_s
        try:
            threading.Thread(target=self._serve_one, args=(conn, address), name="status-http-conn",
                             daemon=True).start()
        except RuntimeError:  # no thread to be had: drop this client, not the daemon
            self._forget(conn)
            conn.close()

    def _serve_one(self, conn: socket.socket, address: Any) -> None:
        if self.tls is not None:
            wrapped = self._handshake(conn, address)
            if wrapped is None:
                return
            conn = wrapped
        try:
            self.finish_request(conn, address)
        except Exception:
            self.handle_error(conn, address)
        finally:
            self._forget(conn)
            self.shutdown_request(conn)

    def _handshake(self, conn: socket.socket, address: Any) -> ssl.SSLSocket | None:
        """The TLS handshake, under the connection's header deadline (the wrapped socket takes the raw one's
        place in the books, so that a late handshake is cut like a late request). None: no TLS client."""
        assert self.tls is not None
        try:
            wrapped = self.tls.wrap_socket(conn, server_side=True, do_handshake_on_connect=False)
        except OSError as exc:
            LOG.debug("status: TLS from %s refused: %s", address[0], exc)
            self._forget(conn)
            return None
        with self._lock:
            self._open[wrapped] = self._open.pop(conn, time.monotonic() + self.limits.header_timeout_s)
            self._cut.discard(conn)
        try:
            wrapped.do_handshake()
        except (OSError, ValueError) as exc:  # not TLS, a bad client, cut for being late
            LOG.debug("status: TLS handshake with %s failed: %s", address[0], type(exc).__name__)
            self._forget(wrapped)
            with contextlib.suppress(OSError):
                wrapped.close()
            return None
        return wrapped

    def _forget(self, conn: socket.socket) -> None:
        with self._lock:
            self._open.pop(conn, None)
            self._cut.discard(conn)
            self._lock.notify()

    def expect_request(self, conn: socket.socket) -> None:
        """The connection now waits for a request line and headers: they must come within header_timeout_s."""
        with self._lock:
            if conn in self._open:
                self._open[conn] = time.monotonic() + self.limits.header_timeout_s

    def answering(self, conn: socket.socket) -> bool:
        """The request has arrived: no deadline while it is answered. False when it came too late."""
        with self._lock:
            deadline = self._open.get(conn)
            if conn in self._cut or (deadline is not None and deadline < time.monotonic()):
                return False
            self._open[conn] = None
            return True

    def _cut_late(self) -> None:
        """Hang up on clients whose request line and headers are late (the reading thread then sees the end).
        Under the lock: a connection still listed is not yet closed, so its descriptor is still its own."""
        now = time.monotonic()
        with self._lock:
            for conn, deadline in self._open.items():
                if deadline is not None and deadline < now:
                    self._open[conn] = None
                    self._cut.add(conn)
                    with contextlib.suppress(OSError):
                        # the plain socket's shutdown: an SSLSocket's own would drop its TLS state under the
                        # thread still reading it
                        socket.socket.shutdown(conn, socket.SHUT_RDWR)

    def hang_up_all(self) -> None:
        with self._lock:
            for conn in self._open:
                with contextlib.suppress(OSError):
                    socket.socket.shutdown(conn, socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """socketserver prints a traceback to stderr here: log it instead (a client gone is not worth one)."""
        exc = sys.exc_info()[1]
        if isinstance(exc, ConnectionError | TimeoutError | ssl.SSLError):
            LOG.debug("status: client %s went away (%s)", client_address[0], type(exc).__name__)
        else:
            LOG.error("status: connection from %s failed", client_address[0], exc_info=True)


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
        server_version = "rpcdaemon"

        def setup(self) -> None:
            super().setup()
            # Headers and body go out in two writes: without this, Nagle + delayed ACK add 40 ms to every answer.
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        @property
        def _server(self) -> _BoundedServer:
            return cast(_BoundedServer, self.server)

        def handle(self) -> None:
            try:
                super().handle()
            except (ConnectionError, TimeoutError, ssl.SSLError) as exc:
                LOG.debug("status: client %s went away (%s)", self.client_address[0], type(exc).__name__)

        def handle_one_request(self) -> None:
            self._server.expect_request(self.connection)
            super().handle_one_request()

        def log_message(self, format: str, *args: Any) -> None:
            LOG.debug("status: " + format, *args)

        def _send(self, code: int, body: bytes, content_type: str) -> None:
            self.send_response(code)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            if code == 401:
                self.send_header("WWW-Authenticate", 'Bearer realm="rpcdaemon"')
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def _authorized(self) -> bool:
            if expected is None:
                return True
            # http.client decoded the header as latin-1: back to the bytes the client sent
            given = self.headers.get("Authorization", "").encode("latin-1", "replace")
            return hmac.compare_digest(given, expected)

        def do_HEAD(self) -> None:
            self.do_GET()

        def do_GET(self) -> None:
            if not self._server.answering(self.connection):
                self.close_connection = True
                return None
            path = self.path.split("?", 1)[0]
            if path == "/healthz":
                return self._send(200, b"ok\n", "text/plain")
            if path in ("/", "/index.html"):  # the page holds no data: it asks for the token itself
                return self._send(200, dashboard, "text/html; charset=utf-8")
            if not self._authorized():
                return self._send(401, b"bearer token required\n", "text/plain")
            try:
                answer = _answer(path)
            except Exception:  # the status page must never take the daemon down
                LOG.exception("status endpoint %s failed", path)
                answer = (500, b"internal error\n", "text/plain")
            return self._send(*answer)

    def _answer(path: str) -> tuple[int, bytes, str]:
        if path == "/readyz":
            ok = ready()
            return (200, b"ready\n", "text/plain") if ok else (503, b"not ready\n", "text/plain")
        if path == "/status":
            return 200, json.dumps(status(), indent=1, sort_keys=True, default=str).encode(), "application/json"
        if path == "/metrics":
            return 200, metrics(), "text/plain; version=0.0.4; charset=utf-8"
        return 404, b"not found\n", "text/plain"

    return Handler
