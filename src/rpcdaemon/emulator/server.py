"""The emulated Neutron's HTTP API: the subset rpcdaemon uses, plus a control API for tests, the demo and benchmarks.

Why it exists: rpcdaemon talks to Neutron through openstacksdk over HTTP, and the tests, the demo and the benchmarks
must exercise that real code path (version discovery, keep-alive, pagination, error bodies, timeouts, resets)
without an OpenStack. Stdlib only (ThreadingHTTPServer, HTTP/1.1 keep-alive), so the emulator runs anywhere the
daemon does.

What a real Neutron 29 does, this does: NeutronError bodies, `fields=` and filters on the four top-level lists,
limit/marker pagination with `<resource>_links` (next when a page is full, previous always), and nothing of that on
the scheduler sub-resources (/agents/{id}/dhcp-networks and the like), whose controllers ignore the query string.
Every API call (version discovery aside) is counted by method and path pattern
(`GET /v2.0/agents/{id}/dhcp-networks`), which is how the tests and benchmarks check what rpcdaemon costs a Neutron
server. Faults (status codes, delays, connection resets, garbage bodies, well-formed lies of a list) are injected
per pattern; list answers can be made to cost what a real server's do (cloud.py, the cost model). Control paths
live under /_emulator/ and are neither counted, delayed nor faulted.
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
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

from rpcdaemon.emulator.cloud import DHCP, L3, LIST_KEYS, ApiError, Cloud

LOG = logging.getLogger("rpcdaemon.emulator")
ID = r"([^/]+)"
MAX_BODY = 16 * 1024 * 1024
PAGING_KEYS = frozenset({"fields", "limit", "marker", "page_reverse", "sort_key", "sort_dir"})
RESOURCES = ("agent", "network", "subnet", "router")
SCHEDULING = {
    ("POST", "/v2.0/agents/{id}/dhcp-networks"): "network_id",
    ("POST", "/v2.0/agents/{id}/l3-routers"): "router_id",
    ("DELETE", "/v2.0/agents/{id}/dhcp-networks/{id}"): "",
    ("DELETE", "/v2.0/agents/{id}/l3-routers/{id}"): "",
}
"""The scheduling calls: their resource is in the body (POST, this key) or the path (DELETE, second id)."""


@dataclass
class Request:
    cloud: Cloud
    base: str
    """scheme://host:port as the client addressed the server"""
    path: str
    query: dict[str, list[str]]
    body: Any
    ids: tuple[str, ...]


ApiHandler = Callable[[Request], tuple[int, Any]]


# --- query strings: booleans, filters, fields, pagination --------------------------------------------------------


def to_bool(value: Any, name: str = "") -> bool:
    """neutron-lib's convert_to_boolean: True/False, 1/0, "true"/"false"/"1"/"0" in any case; else 400."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.lower() in ("true", "1", "false", "0"):
        return value.lower() in ("true", "1")
    what = f" for {name}" if name else ""
    raise ApiError(400, "InvalidInput", f"Invalid input{what}: '{value}' cannot be converted to boolean.")


def _filter(rows: list[dict[str, Any]], query: dict[str, list[str]]) -> list[dict[str, Any]]:
    """Neutron's list filters: ?attr=v1&attr=v2 keeps rows whose attr is one of the values (booleans converted).
    Keys that are not an attribute of the resource, and list or dict attributes, are ignored."""
    for key, values in query.items():
        if key in PAGING_KEYS or not rows or key not in rows[0]:
            continue
        sample = rows[0][key]
        if isinstance(sample, list | dict):
            continue
        if isinstance(sample, bool):
            wanted: set[Any] = {to_bool(v, key) for v in values}
            rows = [r for r in rows if r.get(key) in wanted]
        else:
            wanted = set(values)
            rows = [r for r in rows if str(r.get(key)) in wanted]
    return rows


def _fields(row: dict[str, Any], query: dict[str, list[str]]) -> dict[str, Any]:
    wanted = query.get("fields")
    if not wanted:
        return row
    return {k: v for k, v in row.items() if k in wanted}


def _limit(query: dict[str, list[str]]) -> int:
    raw = query.get("limit", ["0"])[-1]
    try:
        limit = int(raw)
    except ValueError:
        limit = -1
    if limit < 0:
        raise ApiError(400, "BadRequest", f"Bad limit request: Limit must be an integer 0 or greater and not '{raw}'.")
    return limit


def _listing(req: Request, key: str, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """A filtered, paginated list of `key` with only the asked fields, as Neutron renders a collection."""
    rows = _filter(rows, req.query)
    result: dict[str, Any] = {}
    limit = _limit(req.query)
    if limit:
        rows.sort(key=lambda r: str(r["id"]))
        marker = req.query.get("marker", [""])[-1]
        reverse = req.query.get("page_reverse", ["false"])[-1].lower() == "true"
        if reverse:
            rows = [r for r in rows if not marker or r["id"] < marker][-limit:]
        else:
            rows = [r for r in rows if not marker or r["id"] > marker][:limit]
        links = []
        if not (len(rows) < limit and not reverse):
            links.append({"rel": "next", "href": _page_href(req, rows[-1]["id"] if rows else None, False)})
        if not (len(rows) < limit and reverse):
            links.append({"rel": "previous", "href": _page_href(req, rows[0]["id"] if rows else None, True)})
        result[f"{key}_links"] = links
    result[key] = [_fields(r, req.query) for r in rows]
    return result


def _page_href(req: Request, marker: str | None, reverse: bool) -> str:
    query = {k: v for k, v in req.query.items() if k not in ("marker", "page_reverse")}
    if marker is not None:
        query["marker"] = [marker]
    if reverse:
        query["page_reverse"] = ["True"]
    return f"{req.base}{req.path}?{urlencode(query, doseq=True)}"


def _resource_body(body: Any, key: str) -> dict[str, Any]:
    if body is None:
        raise ApiError(400, "HTTPBadRequest", "Resource body required")
    inner = body.get(key) if isinstance(body, dict) else None
    if not isinstance(inner, dict):
        raise ApiError(400, "HTTPBadRequest", f"Unable to find '{key}' in request body")
    return inner


def _str_attr(spec: dict[str, Any], key: str, default: str = "") -> str:
    value = spec.get(key, default)
    if not isinstance(value, str):
        raise ApiError(400, "InvalidInput", f"Invalid input for {key}. Reason: '{value}' is not a valid string.")
    return value


def _hints(spec: dict[str, Any]) -> list[str]:
    hints = spec.get("availability_zone_hints", [])
    if not isinstance(hints, list) or not all(isinstance(h, str) for h in hints):
        raise ApiError(400, "InvalidInput", "Invalid input for availability_zone_hints: a list of strings is needed.")
    return hints


def _scheduler_body(body: Any, key: str) -> str:
    value = body.get(key) if isinstance(body, dict) else None
    if not isinstance(value, str):
        raise ApiError(400, "HTTPBadRequest", f"Failed to parse request. Parameter '{key}' not specified")
    return value


# --- API handlers ------------------------------------------------------------------------------------------------


def versions(req: Request) -> tuple[int, Any]:
    return 200, {"versions": [{"id": "v2.0", "status": "CURRENT",
                               "links": [{"href": f"{req.base}/v2.0/", "rel": "self"}]}]}


def v2_resources(req: Request) -> tuple[int, Any]:
    return 200, {"resources": [{"name": name, "collection": f"{name}s",
                                "links": [{"href": f"{req.base}/v2.0/{name}s", "rel": "self"}]}
                               for name in RESOURCES]}


def list_agents(req: Request) -> tuple[int, Any]:
    return 200, _listing(req, "agents", req.cloud.agent_rows())


def show_agent(req: Request) -> tuple[int, Any]:
    return 200, {"agent": _fields(req.cloud.show_agent(req.ids[0]), req.query)}


def update_agent(req: Request) -> tuple[int, Any]:
    spec = _resource_body(req.body, "agent")
    unknown = set(spec) - {"admin_state_up", "description"}
    if unknown:
        raise ApiError(400, "HTTPBadRequest", f"Attribute '{sorted(unknown)[0]}' not allowed in PUT")
    admin = to_bool(spec["admin_state_up"], "admin_state_up") if "admin_state_up" in spec else None
    description = _str_attr(spec, "description") if "description" in spec else None
    return 200, {"agent": req.cloud.update_agent(req.ids[0], admin, description)}


def delete_agent(req: Request) -> tuple[int, Any]:
    req.cloud.delete_agent(req.ids[0])
    return 204, None


def list_networks(req: Request) -> tuple[int, Any]:
    return 200, _listing(req, "networks", req.cloud.network_rows())


def show_network(req: Request) -> tuple[int, Any]:
    return 200, {"network": _fields(req.cloud.show_network(req.ids[0]), req.query)}


def create_network(req: Request) -> tuple[int, Any]:
    spec = _resource_body(req.body, "network")
    return 201, {"network": req.cloud.create_network(_str_attr(spec, "name"), _hints(spec))}


def delete_network(req: Request) -> tuple[int, Any]:
    req.cloud.delete_network(req.ids[0])
    return 204, None


def list_subnets(req: Request) -> tuple[int, Any]:
    return 200, _listing(req, "subnets", req.cloud.subnet_rows())


def show_subnet(req: Request) -> tuple[int, Any]:
    return 200, {"subnet": _fields(req.cloud.show_subnet(req.ids[0]), req.query)}


def create_subnet(req: Request) -> tuple[int, Any]:
    spec = _resource_body(req.body, "subnet")
    network_id = spec.get("network_id")
    if not isinstance(network_id, str):
        raise ApiError(400, "HTTPBadRequest", "Failed to parse request. Required attribute 'network_id' not specified")
    cidr = spec.get("cidr")
    if cidr is not None and not isinstance(cidr, str):
        raise ApiError(400, "InvalidInput", f"Invalid input for cidr. Reason: '{cidr}' is not a valid IP subnet.")
    ip_version = spec.get("ip_version", 4)
    if ip_version not in (4, 6) or isinstance(ip_version, bool):
        raise ApiError(400, "InvalidInput", f"Invalid input for ip_version. Reason: {ip_version} is not in [4, 6].")
    enable_dhcp = to_bool(spec.get("enable_dhcp", True), "enable_dhcp")
    row = req.cloud.create_subnet(network_id, cidr, enable_dhcp, _str_attr(spec, "name"), int(ip_version))
    return 201, {"subnet": row}


def delete_subnet(req: Request) -> tuple[int, Any]:
    req.cloud.delete_subnet(req.ids[0])
    return 204, None


def list_routers(req: Request) -> tuple[int, Any]:
    return 200, _listing(req, "routers", req.cloud.router_rows())


def show_router(req: Request) -> tuple[int, Any]:
    return 200, {"router": _fields(req.cloud.show_router(req.ids[0]), req.query)}


def create_router(req: Request) -> tuple[int, Any]:
    spec = _resource_body(req.body, "router")
    ha = to_bool(spec.get("ha", False), "ha")
    distributed = to_bool(spec.get("distributed", False), "distributed")
    return 201, {"router": req.cloud.create_router(_str_attr(spec, "name"), ha, distributed, _hints(spec))}


def delete_router(req: Request) -> tuple[int, Any]:
    req.cloud.delete_router(req.ids[0])
    return 204, None


def agent_networks(req: Request) -> tuple[int, Any]:
    return 200, {"networks": req.cloud.networks_on_agent(req.ids[0])}


def add_agent_network(req: Request) -> tuple[int, Any]:
    req.cloud.add_network_to_agent(req.ids[0], _scheduler_body(req.body, "network_id"))
    return 201, None


def remove_agent_network(req: Request) -> tuple[int, Any]:
    req.cloud.remove_network_from_agent(req.ids[0], req.ids[1])
    return 204, None


def network_agents(req: Request) -> tuple[int, Any]:
    return 200, {"agents": req.cloud.agents_hosting_network(req.ids[0])}


def agent_routers(req: Request) -> tuple[int, Any]:
    return 200, {"routers": req.cloud.routers_on_agent(req.ids[0])}


def add_agent_router(req: Request) -> tuple[int, Any]:
    req.cloud.add_router_to_agent(req.ids[0], _scheduler_body(req.body, "router_id"))
    return 201, None


def remove_agent_router(req: Request) -> tuple[int, Any]:
    req.cloud.remove_router_from_agent(req.ids[0], req.ids[1])
    return 204, None


def router_agents(req: Request) -> tuple[int, Any]:
    return 200, {"agents": req.cloud.agents_hosting_router(req.ids[0])}


VERSION_DOCUMENTS: dict[str, ApiHandler] = {"/": versions, "": versions, "/v2.0": v2_resources,
                                            "/v2.0/": v2_resources}
"""What openstacksdk reads once per connection to discover the API version."""

ROUTES: list[tuple[str, str, ApiHandler]] = [
    ("GET", "/v2.0/agents", list_agents),
    ("GET", "/v2.0/agents/{id}", show_agent),
    ("PUT", "/v2.0/agents/{id}", update_agent),
    ("DELETE", "/v2.0/agents/{id}", delete_agent),
    ("GET", "/v2.0/agents/{id}/dhcp-networks", agent_networks),
    ("POST", "/v2.0/agents/{id}/dhcp-networks", add_agent_network),
    ("DELETE", "/v2.0/agents/{id}/dhcp-networks/{id}", remove_agent_network),
    ("GET", "/v2.0/agents/{id}/l3-routers", agent_routers),
    ("POST", "/v2.0/agents/{id}/l3-routers", add_agent_router),
    ("DELETE", "/v2.0/agents/{id}/l3-routers/{id}", remove_agent_router),
    ("GET", "/v2.0/networks", list_networks),
    ("POST", "/v2.0/networks", create_network),
    ("GET", "/v2.0/networks/{id}", show_network),
    ("DELETE", "/v2.0/networks/{id}", delete_network),
    ("GET", "/v2.0/networks/{id}/dhcp-agents", network_agents),
    ("GET", "/v2.0/subnets", list_subnets),
    ("POST", "/v2.0/subnets", create_subnet),
    ("GET", "/v2.0/subnets/{id}", show_subnet),
    ("DELETE", "/v2.0/subnets/{id}", delete_subnet),
    ("GET", "/v2.0/routers", list_routers),
    ("POST", "/v2.0/routers", create_router),
    ("GET", "/v2.0/routers/{id}", show_router),
    ("DELETE", "/v2.0/routers/{id}", delete_router),
    ("GET", "/v2.0/routers/{id}/l3-agents", router_agents),
]
"""(method, pattern, handler); the pattern is also the key of the call counts."""


def _compile(pattern: str) -> re.Pattern[str]:
    body = re.escape(pattern.rstrip("/")).replace(re.escape("{id}"), ID)
    return re.compile(f"^{body}/?$")


COMPILED = [(method, _compile(pattern), pattern, handler) for method, pattern, handler in ROUTES]


def match_route(method: str, path: str) -> tuple[str, ApiHandler, tuple[str, ...]] | None:
    """(pattern, handler, ids) of the API route; None for an unknown path. Raises 405 for a known path asked with
    another method."""
    known_path = False
    for route_method, regex, pattern, handler in COMPILED:
        found = regex.match(path)
        if found:
            if route_method == method:
                return pattern, handler, tuple(unquote(i) for i in found.groups())
            known_path = True
    if known_path:
        raise ApiError(405, "HTTPMethodNotAllowed", f"The method {method} is not allowed for {path}.")
    return None


# --- the control API ---------------------------------------------------------------------------------------------


def control(cloud: Cloud, method: str, path: str, body: Any) -> tuple[int, Any]:
    """/_emulator/...: drive the emulated cloud from another process (benchmarks, a shell)."""
    found = re.match(r"^/_emulator/agents/([^/]+)/(down|up)/?$", path)
    if found and method == "POST":
        agent_id = unquote(found.group(1))
        (cloud.set_agent_down if found.group(2) == "down" else cloud.set_agent_up)(agent_id)
        return 200, {"agent": cloud.show_agent(agent_id)}
    if body is not None and not isinstance(body, dict):
        raise ApiError(400, "HTTPBadRequest", "the body must be a JSON object")
    spec: dict[str, Any] = body or {}
    routes: dict[tuple[str, str], Callable[[], tuple[int, Any]]] = {
        ("GET", "/_emulator/stats"): lambda: (200, cloud.stats()),
        ("GET", "/_emulator/calls"): lambda: (200, {"calls": cloud.call_log()}),
        ("POST", "/_emulator/reset-stats"): lambda: _done(cloud.reset_stats),
        ("POST", "/_emulator/faults"): lambda: _done(lambda: cloud.add_fault(**spec)),
        ("DELETE", "/_emulator/faults"): lambda: _done(cloud.clear_faults),
        ("POST", "/_emulator/races"): lambda: _done(lambda: cloud.add_race_on_next_add_router(
            _scheduler_body(spec, "router_id"), _scheduler_body(spec, "agent_id"))),
        ("POST", "/_emulator/latency"): lambda: _done(lambda: _set_latency(cloud, spec)),
        ("POST", "/_emulator/cost"): lambda: _done(lambda: _set_cost(cloud, spec)),
    }
    action = routes.get((method, path.rstrip("/")))
    if action is None:
        raise ApiError(404, "HTTPNotFound", f"no control endpoint {method} {path}")
    try:
        return action()
    except (TypeError, ValueError) as exc:
        raise ApiError(400, "HTTPBadRequest", str(exc)) from None


def _done(action: Callable[[], None]) -> tuple[int, Any]:
    action()
    return 200, {"ok": True}


def _set_cost(cloud: Cloud, spec: dict[str, Any]) -> None:
    """{"row_cost_us": X, "list_base_ms": Y, "api_workers": N}, each optional."""
    unknown = set(spec) - {"row_cost_us", "list_base_ms", "api_workers"}
    if unknown:
        raise ValueError(f"unknown cost settings: {sorted(unknown)}")
    row_us, base_ms = spec.get("row_cost_us"), spec.get("list_base_ms")
    for name, value in (("row_cost_us", row_us), ("list_base_ms", base_ms)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
            raise ValueError(f"{name} must be a number")
    cloud.set_cost(row_cost_s=None if row_us is None else row_us / 1e6,
                   list_base_s=None if base_ms is None else base_ms / 1e3, api_workers=spec.get("api_workers"))


def _set_latency(cloud: Cloud, spec: dict[str, Any]) -> None:
    value = spec["latency_s"] if "latency_s" in spec else spec.get("latency_ms", 0) / 1000
    if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0:
        raise ValueError("latency_s (or latency_ms) must be a number >= 0")
    cloud.latency_s = float(value)


# --- HTTP --------------------------------------------------------------------------------------------------------


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
            resource = _scheduled_resource(method, pattern, ids, _json(raw) if method == "POST" else None)
        except ApiError:
            resource = None
        exists = cloud.resource_exists(pattern, resource) if resource is not None else None
        if fault is not None and fault.reset:
            cloud.count(method, pattern, ids, 0, member, received, resource=resource, exists=exists)
            return self._reset()
        if fault is not None and fault.body is not None:
            cloud.count(method, pattern, ids, fault.status or 200, member, received, resource=resource,
                        exists=exists)
            return self._send_raw(fault.status or 200, fault.body.encode("utf-8", "replace"))
        if fault is not None and fault.status is not None:
            cloud.count(method, pattern, ids, fault.status, member, received, resource=resource, exists=exists)
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
        cloud.count(method, pattern, ids, status, member, received, rows, lie, resource, exists)
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


def _scheduled_resource(method: str, pattern: str, ids: tuple[str, ...], body: Any) -> str | None:
    """The network or router a scheduling call is about (None: not a scheduling call, or no readable id)."""
    key = SCHEDULING.get((method, pattern))
    if key is None:
        return None
    if not key:
        return ids[1] if len(ids) > 1 else None
    value = body.get(key) if isinstance(body, dict) else None
    return value if isinstance(value, str) else None


def pattern_path(pattern: str, ids: tuple[str, ...]) -> str:
    """The concrete path of a pattern: /v2.0/agents/{id} with ("a1",) -> /v2.0/agents/a1."""
    parts = pattern.split("{id}")
    return "".join(p + (ids[i] if i < len(ids) else "") for i, p in enumerate(parts))


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
