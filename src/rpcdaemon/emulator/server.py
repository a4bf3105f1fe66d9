"""The emulated Neutron's HTTP server: the subset of Neutron's API rpcdaemon uses, plus a control API for tests, the
demo and benchmarks.

Why it exists: rpcdaemon talks to Neutron through openstacksdk over HTTP, and the tests, the demo and the benchmarks
must exercise that real code path (version discovery, keep-alive, pagination, error bodies, timeouts, resets)
without an OpenStack. Stdlib only (ThreadingHTTPServer, HTTP/1.1 keep-alive), so the emulator runs anywhere the
daemon does.

This module speaks HTTP and plays each call's part of the harness around the answer; what the answer is comes from
routes.py (which handler), handlers.py (Neutron's rendering: NeutronError bodies, `fields=`, filters, pagination)
and control.py (/_emulator/...). Every API call (version discovery aside) is counted by method and path pattern
(`GET /v2.0/agents/{id}/dhcp-networks`), which is how the tests and benchmarks check what rpcdaemon costs a Neutron
server (calls.py). Faults (status codes, delays, connection resets, garbage bodies, well-formed lies of a list) are
injected per pattern (faults.py); list answers can be made to cost what a real server's do (cost.py). Control
paths live under /_emulator/ and are neither counted, delayed nor faulted.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import socket
import socketserver
import struct
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

from rpcdaemon.emulator.cloud import DHCP, L3, LIST_KEYS, ApiError, Cloud
from rpcdaemon.emulator.control import control
from rpcdaemon.emulator.handlers import ApiHandler, Request
from rpcdaemon.emulator.routes import ROUTES, VERSION_DOCUMENTS, match_route, pattern_path, scheduled_resource

LOG = logging.getLogger("rpcdaemon.emulator")
MAX_BODY = 16 * 1024 * 1024


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _HTTPServer

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in two writes: without this, Nagle + delayed ACK add 40 ms to every answer.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:
        LOG.debug("emulator %s: " + format, self.address_string(), *args)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """Errors of the HTTP layer itself (bad request line, unsupported method): a NeutronError too."""
        self.close_connection = True
        if getattr(self, "request_version", "HTTP/0.9") == "HTTP/0.9":  # not even a request line: answer in 1.1
            self.request_version = self.protocol_version
        error_type = "HTTPBadRequest" if code == 400 else f"HTTP{code}"
        self._send(code, ApiError(code, error_type, message or explain or "").body())

    def _send(self, status: int, body: Any) -> None:
        head = getattr(self, "command", None) == "HEAD"
        data = b"" if status == 204 or head else json.dumps(body, separators=(",", ":")).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("X-Openstack-Request-Id", f"req-{uuid.uuid4()}")
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            if data:
                self.wfile.write(data)
        except OSError as exc:  # the client left (e.g. it timed out during an injected delay)
            LOG.debug("emulator: answer not sent: %s", exc)
            self.close_connection = True

    def _send_raw(self, status: int, data: bytes) -> None:
        """An injected garbage answer: these bytes as the body, whatever they are."""
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except OSError as exc:
            LOG.debug("emulator: answer not sent: %s", exc)
            self.close_connection = True

    def _reset(self) -> None:
        """Close the connection at once without an answer: with SO_LINGER 0, the client gets a TCP RST."""
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        for stream in (self.rfile, self.wfile):
            with contextlib.suppress(OSError):
                stream.close()
        with contextlib.suppress(OSError):
            self.connection.close()

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            self.close_connection = True
            raise ApiError(411, "HTTPLengthRequired", "chunked request bodies are not supported: send Content-Length")
        raw = self.headers.get("Content-Length") or "0"
        try:
            length = int(raw)
        except ValueError:
            length = -1
        if not 0 <= length <= MAX_BODY:
            self.close_connection = True
            raise ApiError(400, "HTTPBadRequest", f"bad Content-Length: {raw!r}")
        return self.rfile.read(length) if length else b""

    def _base(self) -> str:
        host = self.headers.get("Host", "")
        if host and re.fullmatch(r"[A-Za-z0-9.\-:\[\]]+", host):
            return f"http://{host}"
        return self.server.url

    def _handle(self, method: str) -> None:
        split = urlsplit(self.path)
        path = split.path or "/"
        try:
            raw = self._read_body()
            if path.startswith("/_emulator/"):
                status, body = control(self.server.cloud, method, path, _json(raw))
                return self._send(status, body)
            if method == "GET" and path in VERSION_DOCUMENTS:  # discovery: neither counted, delayed nor faulted
                handler = VERSION_DOCUMENTS[path]
                return self._send(*handler(Request(self.server.cloud, self._base(), path, {}, None, ())))
            route = match_route(method, path)
            if route is None:
                raise ApiError(404, "HTTPNotFound", "The resource could not be found.")
            pattern, handler, ids = route
            return self._api(method, pattern, handler, ids, parse_qs(split.query), raw)
        except ApiError as exc:
            return self._send(exc.status, exc.body())
        except Exception:
            LOG.exception("emulator: %s %s failed", method, path)
            return self._send(500, _internal_error().body())

    def _api(self, method: str, pattern: str, handler: ApiHandler, ids: tuple[str, ...],
             query: dict[str, list[str]], raw: bytes) -> None:
        cloud = self.server.cloud
        member = self.headers.get("X-Rpcdaemon-Member")
        received = time.monotonic()
        fault = cloud.take_fault(method, pattern)
        delay = cloud.latency_s + (fault.delay_s if fault else 0.0)
        if delay > 0:
            time.sleep(delay)
        try:  # what a scheduling call is about, and whether it exists now: also when a fault answers it
            resource = scheduled_resource(method, pattern, ids, _json(raw) if method == "POST" else None)
        except ApiError:
            resource = None
        exists = cloud.resource_exists(pattern, resource) if resource is not None else None
        served = (cloud.removal_facts(pattern, resource, ids[0])
                  if resource is not None and method == "DELETE" and ids else None)
        if fault is not None and fault.reset:
            cloud.count(method, pattern, ids, 0, member, received, resource=resource, exists=exists,
                        removal=served)
            return self._reset()
        if fault is not None and fault.body is not None:
            cloud.count(method, pattern, ids, fault.status or 200, member, received, resource=resource,
                        exists=exists, removal=served)
            return self._send_raw(fault.status or 200, fault.body.encode("utf-8", "replace"))
        if fault is not None and fault.status is not None:
            cloud.count(method, pattern, ids, fault.status, member, received, resource=resource, exists=exists,
                        removal=served)
            return self._send(fault.status, ApiError(fault.status, "InjectedFault", "injected fault").body())
        try:
            body = _json(raw) if method in ("POST", "PUT") else None
            status, answer = handler(Request(cloud, self._base(), pattern_path(pattern, ids), query, body, ids))
        except ApiError as exc:
            status, answer = exc.status, exc.body()
        except Exception:
            LOG.exception("emulator: %s %s failed", method, self.path)
            status, answer = 500, _internal_error().body()
        rows: int | None = None
        lie: str | None = None
        if status == 200 and pattern in LIST_KEYS and isinstance(answer, dict):
            request = (pattern, ids, tuple(sorted((k, tuple(v)) for k, v in query.items())))
            lied = cloud.lie_about(fault, pattern, request, answer) if fault is not None and fault.lie else None
            if lied is not None:
                answer, lie = lied, fault.lie if fault is not None else None
            else:
                cloud.remember_answer(request, answer)
            listed = answer.get(LIST_KEYS[pattern])
            rows = len(listed) if isinstance(listed, list) else 0
            cloud.pay_list_cost(rows)
        cloud.count(method, pattern, ids, status, member, received, rows, lie, resource, exists, served)
        self._send(status, answer)

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PUT(self) -> None:
        self._handle("PUT")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    def do_PATCH(self) -> None:
        self._handle("PATCH")


def _json(raw: bytes) -> Any:
    if not raw.strip():
        return None
    try:
        return json.loads(raw)
    except ValueError:
        raise ApiError(400, "HTTPBadRequest", "Malformed JSON in request body") from None


def _internal_error() -> ApiError:
    return ApiError(500, "HTTPInternalServerError",
                    "Request Failed: internal server error while processing your request.")


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], cloud: Cloud) -> None:
        self.cloud = cloud
        self.url = ""
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind would resolve the host's FQDN (a DNS lookup at every start): not needed here.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        LOG.debug("emulator: connection from %s failed", client_address, exc_info=True)

    def close_connections(self) -> None:
        """Wake every keep-alive connection's thread so that it ends (a stopped server answers nothing more)."""
        with self._connections_lock:
            connections = list(self._connections)
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)


class _HTTPServer6(_HTTPServer):
    address_family = socket.AF_INET6


class EmulatorServer:
    """The emulated Neutron served over HTTP from a background thread; `url` has no /v2.0 (openstacksdk adds it).
    `row_cost_s`, `list_base_s` and `api_workers`, when given, set the cloud's cost model (see Cloud.set_cost)."""

    def __init__(self, cloud: Cloud, host: str = "127.0.0.1", port: int = 0, row_cost_s: float | None = None,
                 list_base_s: float | None = None, api_workers: int | None = None) -> None:
        self.cloud = cloud
        cloud.set_cost(row_cost_s=row_cost_s, list_base_s=list_base_s, api_workers=api_workers)
        server_cls = _HTTPServer6 if ":" in host else _HTTPServer
        self._httpd = server_cls((host, port), cloud)
        self.port = int(self._httpd.server_address[1])
        shown = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)  # noqa: S104
        self.url = f"http://[{shown}]:{self.port}" if ":" in shown else f"http://{shown}:{self.port}"
        self._httpd.url = self.url
        # a short poll interval: stop() returns within 0.05 s (tests start and stop many servers)
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), name="emulator", daemon=True)
        self._started = False
        self._stopped = False

    def start(self) -> EmulatorServer:
        if not self._started:
            self._started = True
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, close the listening socket and every open connection; idempotent."""
        if self._stopped:
            return
        self._stopped = True
        if self._started:
            self._httpd.shutdown()
        self._httpd.server_close()
        self._httpd.close_connections()

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


def serve(cloud: Cloud, host: str = "127.0.0.1", port: int = 0, row_cost_s: float | None = None,
          list_base_s: float | None = None, api_workers: int | None = None) -> EmulatorServer:
    """Serve `cloud` on host:port (0: any free port) from a background thread (cost model: see EmulatorServer)."""
    return EmulatorServer(cloud, host, port, row_cost_s, list_base_s, api_workers).start()


__all__ = ["DHCP", "L3", "ROUTES", "EmulatorServer", "control", "match_route", "serve"]
