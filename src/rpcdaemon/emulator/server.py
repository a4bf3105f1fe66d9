"""The emulated Neutron's HTTP API: the subset rpcdaemon uses, plus a control API for tests and the demo.

Stdlib only (ThreadingHTTPServer, HTTP/1.1 keep-alive), so the emulator runs anywhere the daemon does. Every call
is counted by method and path pattern (`GET /v2.0/agents/{id}/dhcp-networks`), which is how the tests and
benchmarks check what rpcdaemon costs a Neutron server. Faults (status codes, delays, connection resets) are
injected per pattern. Control paths live under /_emulator/ and are not counted.
"""

from __future__ import annotations

import json
import logging
import re
import socket
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from rpcdaemon.emulator.cloud import DHCP, L3, ApiError, Cloud

LOG = logging.getLogger("rpcdaemon.emulator")
ID = r"([^/]+)"

ApiHandler = Callable[["Request"], tuple[int, Any]]


class Request:
    def __init__(self, cloud: Cloud, base: str, query: dict[str, list[str]], body: Any, ids: tuple[str, ...]) -> None:
        self.cloud, self.base, self.query, self.body, self.ids = cloud, base, query, body, ids


def _fields(rows: list[dict[str, Any]], query: dict[str, list[str]]) -> list[dict[str, Any]]:
    wanted = query.get("fields")
    if not wanted:
        return rows
    return [{k: v for k, v in row.items() if k in wanted} for row in rows]


def _truthy(value: str) -> bool:
    return value.lower() in ("true", "1", "yes")


def _filter(rows: list[dict[str, Any]], query: dict[str, list[str]], keys: tuple[str, ...]) -> list[dict[str, Any]]:
    for key in keys:
        if key in query:
            values = query[key]
            rows = [r for r in rows if (str(r.get(key)).lower() in [v.lower() for v in values]
                                        if not isinstance(r.get(key), bool)
                                        else any(r[key] == _truthy(v) for v in values))]
    return rows


def _page(req: Request, key: str, path: str, rows: list[dict[str, Any]]) -> dict[str, Any]:
    rows = sorted(rows, key=lambda r: r["id"])
    marker = req.query.get("marker", [None])[0]
    if marker:
        rows = [r for r in rows if r["id"] > marker]
    result: dict[str, Any] = {}
    limit = req.query.get("limit", [None])[0]
    if limit and limit.isdigit() and int(limit) > 0 and len(rows) > int(limit):
        rows = rows[: int(limit)]
        query = {k: v for k, v in req.query.items() if k != "marker"} | {"marker": [rows[-1]["id"]]}
        result[f"{key}_links"] = [{"rel": "next", "href": f"{req.base}{path}?{urlencode(query, doseq=True)}"}]
    result[key] = _fields(rows, req.query)
    return result


def _network_row(cloud: Cloud, net_id: str) -> dict[str, Any]:
    net = cloud.networks[net_id]
    return {"id": net_id, "name": net["name"], "status": "ACTIVE", "admin_state_up": True,
            "subnets": sorted(cloud.subnets_of(net_id)),
            "availability_zone_hints": net["availability_zone_hints"], "availability_zones": ["nova"],
            "revision_number": net["revision_number"], "project_id": "admin", "shared": False,
            "router:external": False}


def _router_row(cloud: Cloud, router_id: str) -> dict[str, Any]:
    router = cloud.routers[router_id]
    return {"id": router_id, "name": router["name"], "status": "ACTIVE", "admin_state_up": True,
            "ha": router["ha"], "distributed": router["distributed"],
            "availability_zone_hints": router["availability_zone_hints"], "availability_zones": ["nova"],
            "revision_number": router["revision_number"], "project_id": "admin"}


def _subnet_row(cloud: Cloud, subnet_id: str) -> dict[str, Any]:
    return {"id": subnet_id} | cloud.subnets[subnet_id]


def _require(body: Any, key: str) -> dict[str, Any]:
    inner = body.get(key) if isinstance(body, dict) else None
    if not isinstance(inner, dict):
        raise ApiError(400, "HTTPBadRequest", f"Resource body required: {key}")
    return inner


# --- handlers ---------------------------------------------------------------------------------------------------


def list_agents(req: Request) -> tuple[int, Any]:
    rows = [req.cloud.agent_row(a) for a in req.cloud.agents.values()]
    rows = _filter(rows, req.query, ("agent_type", "host", "alive", "admin_state_up"))
    return 200, _page(req, "agents", "/v2.0/agents", rows)


def show_agent(req: Request) -> tuple[int, Any]:
    return 200, {"agent": req.cloud.agent_row(req.cloud._agent(req.ids[0]))}


def update_agent(req: Request) -> tuple[int, Any]:
    update = _require(req.body, "agent")
    if "admin_state_up" in update:
        req.cloud.set_admin_state(req.ids[0], bool(update["admin_state_up"]))
    return show_agent(req)


def list_networks(req: Request) -> tuple[int, Any]:
    rows = [_network_row(req.cloud, n) for n in req.cloud.networks]
    return 200, _page(req, "networks", "/v2.0/networks", _filter(rows, req.query, ("id", "name")))


def show_network(req: Request) -> tuple[int, Any]:
    if req.ids[0] not in req.cloud.networks:
        raise ApiError(404, "NetworkNotFound", f"Network {req.ids[0]} could not be found.")
    return 200, {"network": _network_row(req.cloud, req.ids[0])}


def create_network(req: Request) -> tuple[int, Any]:
    spec = _require(req.body, "network")
    with req.cloud.lock:
        net_id = req.cloud.new_id()
        req.cloud.networks[net_id] = {"name": str(spec.get("name", "")), "revision_number": 1,
                                      "availability_zone_hints": list(spec.get("availability_zone_hints", []))}
        row = _network_row(req.cloud, net_id)
    req.cloud.emit("network.create.end", {"network": row})
    return 201, {"network": row}


def delete_network(req: Request) -> tuple[int, Any]:
    req.cloud.delete_network(req.ids[0])
    return 204, None


def list_subnets(req: Request) -> tuple[int, Any]:
    rows = [_subnet_row(req.cloud, s) for s in req.cloud.subnets]
    return 200, _page(req, "subnets", "/v2.0/subnets", _filter(rows, req.query, ("network_id", "enable_dhcp")))


def create_subnet(req: Request) -> tuple[int, Any]:
    spec = _require(req.body, "subnet")
    cloud = req.cloud
    with cloud.lock:
        net_id = str(spec.get("network_id", ""))
        if net_id not in cloud.networks:
            raise ApiError(404, "NetworkNotFound", f"Network {net_id} could not be found.")
        enable_dhcp = spec.get("enable_dhcp", True) is not False
        subnet_id = cloud._add_subnet(net_id, enable_dhcp, spec.get("cidr"))
        hosted = any(net_id in nets for nets in cloud.dhcp.values())
        live = [a for a in cloud.agents.values() if a.agent_type == DHCP and a.admin_state_up and cloud.is_alive(a)]
        if enable_dhcp and not hosted and live:  # Neutron's auto-scheduling: dhcp_agents_per_network = 1
            target = min(live, key=lambda a: (len(cloud.dhcp.get(a.id, ())), a.id))
            cloud.bind_network(target.id, net_id)
        row = _subnet_row(cloud, subnet_id)
    cloud.emit("subnet.create.end", {"subnet": row})
    return 201, {"subnet": row}


def delete_subnet(req: Request) -> tuple[int, Any]:
    with req.cloud.lock:
        if not req.cloud.remove_subnet(req.ids[0]):
            raise ApiError(404, "SubnetNotFound", f"Subnet {req.ids[0]} could not be found.")
    return 204, None


def list_routers(req: Request) -> tuple[int, Any]:
    rows = [_router_row(req.cloud, r) for r in req.cloud.routers]
    return 200, _page(req, "routers", "/v2.0/routers", _filter(rows, req.query, ("id", "name")))


def show_router(req: Request) -> tuple[int, Any]:
    if req.ids[0] not in req.cloud.routers:
        raise ApiError(404, "RouterNotFound", f"Router {req.ids[0]} could not be found.")
    return 200, {"router": _router_row(req.cloud, req.ids[0])}


def create_router(req: Request) -> tuple[int, Any]:
    spec = _require(req.body, "router")
    router_id = req.cloud.add_router(str(spec.get("name", "")), spec.get("ha") is True,
                                     spec.get("distributed") is True, list(spec.get("availability_zone_hints", [])))
    return 201, {"router": _router_row(req.cloud, router_id)}


def delete_router(req: Request) -> tuple[int, Any]:
    req.cloud.delete_router(req.ids[0])
    return 204, None


def agent_networks(req: Request) -> tuple[int, Any]:
    agent = req.cloud._agent(req.ids[0])
    if agent.agent_type != DHCP:
        return 200, {"networks": []}
    nets = sorted(req.cloud.dhcp.get(agent.id, ()))
    return 200, {"networks": _fields([_network_row(req.cloud, n) for n in nets if n in req.cloud.networks]
                                     + [{"id": n} for n in nets if n not in req.cloud.networks], req.query)}


def add_agent_network(req: Request) -> tuple[int, Any]:
    body = req.body if isinstance(req.body, dict) else {}
    req.cloud.add_network_to_agent(req.ids[0], str(body.get("network_id", "")))
    req.cloud.emit("dhcp_agent.network.add", {"agent_id": req.ids[0], "network_id": body.get("network_id")})
    return 201, None


def remove_agent_network(req: Request) -> tuple[int, Any]:
    req.cloud.remove_network_from_agent(req.ids[0], req.ids[1])
    return 204, None


def network_agents(req: Request) -> tuple[int, Any]:
    cloud = req.cloud
    rows = [cloud.agent_row(cloud.agents[a]) for a, nets in cloud.dhcp.items() if req.ids[0] in nets]
    return 200, {"agents": _fields(rows, req.query)}


def agent_routers(req: Request) -> tuple[int, Any]:
    agent = req.cloud._agent(req.ids[0])
    ids = sorted(req.cloud.l3.get(agent.id, ()))
    rows = [_router_row(req.cloud, r) for r in ids if r in req.cloud.routers]
    return 200, {"routers": _fields(rows, req.query)}


def add_agent_router(req: Request) -> tuple[int, Any]:
    body = req.body if isinstance(req.body, dict) else {}
    req.cloud.add_router_to_agent(req.ids[0], str(body.get("router_id", "")))
    req.cloud.emit("l3_agent.router.add", {"agent_id": req.ids[0], "router_id": body.get("router_id")})
    return 201, None


def remove_agent_router(req: Request) -> tuple[int, Any]:
    req.cloud.remove_router_from_agent(req.ids[0], req.ids[1])
    return 204, None


def router_agents(req: Request) -> tuple[int, Any]:
    cloud = req.cloud
    router = cloud.routers.get(req.ids[0])
    hosts = sorted(a for a, routers in cloud.l3.items() if req.ids[0] in routers)
    rows = []
    for i, agent_id in enumerate(hosts):
        row = cloud.agent_row(cloud.agents[agent_id])
        if router is not None and router["ha"]:
            row["ha_state"] = "active" if i == 0 else "standby"
        rows.append(row)
    return 200, {"agents": _fields(rows, req.query)}


ROUTES: list[tuple[str, str, str, ApiHandler]] = [
    ("GET", "/v2.0/agents", "/v2.0/agents", list_agents),
    ("GET", f"/v2.0/agents/{ID}", "/v2.0/agents/{id}", show_agent),
    ("PUT", f"/v2.0/agents/{ID}", "/v2.0/agents/{id}", update_agent),
    ("GET", f"/v2.0/agents/{ID}/dhcp-networks", "/v2.0/agents/{id}/dhcp-networks", agent_networks),
    ("POST", f"/v2.0/agents/{ID}/dhcp-networks", "/v2.0/agents/{id}/dhcp-networks", add_agent_network),
    ("DELETE", f"/v2.0/agents/{ID}/dhcp-networks/{ID}", "/v2.0/agents/{id}/dhcp-networks/{id}", remove_agent_network),
    ("GET", f"/v2.0/agents/{ID}/l3-routers", "/v2.0/agents/{id}/l3-routers", agent_routers),
    ("POST", f"/v2.0/agents/{ID}/l3-routers", "/v2.0/agents/{id}/l3-routers", add_agent_router),
    ("DELETE", f"/v2.0/agents/{ID}/l3-routers/{ID}", "/v2.0/agents/{id}/l3-routers/{id}", remove_agent_router),
    ("GET", "/v2.0/networks", "/v2.0/networks", list_networks),
    ("POST", "/v2.0/networks", "/v2.0/networks", create_network),
    ("GET", f"/v2.0/networks/{ID}", "/v2.0/networks/{id}", show_network),
    ("DELETE", f"/v2.0/networks/{ID}", "/v2.0/networks/{id}", delete_network),
    ("GET", f"/v2.0/networks/{ID}/dhcp-agents", "/v2.0/networks/{id}/dhcp-agents", network_agents),
    ("GET", "/v2.0/subnets", "/v2.0/subnets", list_subnets),
    ("POST", "/v2.0/subnets", "/v2.0/subnets", create_subnet),
    ("DELETE", f"/v2.0/subnets/{ID}", "/v2.0/subnets/{id}", delete_subnet),
    ("GET", "/v2.0/routers", "/v2.0/routers", list_routers),
    ("POST", "/v2.0/routers", "/v2.0/routers", create_router),
    ("GET", f"/v2.0/routers/{ID}", "/v2.0/routers/{id}", show_router),
    ("DELETE", f"/v2.0/routers/{ID}", "/v2.0/routers/{id}", delete_router),
    ("GET", f"/v2.0/routers/{ID}/l3-agents", "/v2.0/routers/{id}/l3-agents", router_agents),
]
COMPILED = [(m, re.compile(f"^{p}/?$"), pattern, h) for m, p, pattern, h in ROUTES]


def _make_handler(server: EmulatorServer) -> type[BaseHTTPRequestHandler]:
    cloud = server.cloud

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def setup(self) -> None:
            super().setup()
            # Headers and body go out in two writes: without this, Nagle + delayed ACK add 40 ms to every answer.
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def log_message(self, format: str, *args: Any) -> None:
            LOG.debug("emulator: " + format, *args)

        def _send(self, status: int, body: Any) -> None:
            data = b"" if status == 204 else json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _body(self) -> Any:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            if not raw:
                return None
            try:
                return json.loads(raw)
            except ValueError:
                raise ApiError(400, "HTTPBadRequest", "Malformed JSON in request body") from None

        def _handle(self, method: str) -> None:
            split = urlsplit(self.path)
            path, query = split.path, parse_qs(split.query)
            try:
                body = self._body()
                if path.startswith("/_emulator/"):
                    return self._send(*self._control(method, path, body))
                if method == "GET" and path in ("/", ""):
                    return self._send(200, {"versions": [{"id": "v2.0", "status": "CURRENT", "links": [
                        {"href": f"{server.url}/v2.0/", "rel": "self"}]}]})
                if method == "GET" and path.rstrip("/") == "/v2.0":
                    return self._send(200, {"resources": []})
                for route_method, regex, pattern, handler in COMPILED:
                    match = regex.match(path)
                    if match and route_method == method:
                        return self._api(method, pattern, handler, Request(cloud, server.url, query, body,
                                                                            match.groups()))
                raise ApiError(404, "HTTPNotFound", f"The resource could not be found: {method} {path}")
            except ApiError as exc:
                return self._send(exc.status, exc.body())

        def _api(self, method: str, pattern: str, handler: ApiHandler, req: Request) -> None:
            member = self.headers.get("X-Rpcdaemon-Member")
            fault = cloud.take_fault(method, f"{method} {pattern}")
            delay = cloud.latency_s + (fault.delay_s if fault else 0.0)
            if delay > 0:
                time.sleep(delay)
            if fault is not None and fault.reset:
                cloud.count(method, pattern, req.ids, 0, member)
                self.close_connection = True
                self.connection.close()
                return
            if fault is not None and fault.status is not None:
                cloud.count(method, pattern, req.ids, fault.status, member)
                return self._send(fault.status, ApiError(fault.status, "InjectedFault", "injected fault").body())
            try:
                with cloud.lock:
                    status, body = handler(req)
            except ApiError as exc:
                cloud.count(method, pattern, req.ids, exc.status, member)
                raise
            cloud.count(method, pattern, req.ids, status, member)
            self._send(status, body)

        def _control(self, method: str, path: str, body: Any) -> tuple[int, Any]:
            match = re.match(r"^/_emulator/agents/([^/]+)/(down|up)$", path)
            if match and method == "POST":
                (cloud.set_agent_down if match.group(2) == "down" else cloud.set_agent_up)(match.group(1))
                return 200, {"ok": True}
            if path == "/_emulator/stats" and method == "GET":
                return 200, cloud.stats()
            if path == "/_emulator/calls" and method == "GET":
                return 200, {"calls": cloud.call_log()}
            if path == "/_emulator/reset-stats" and method == "POST":
                cloud.reset_stats()
                return 200, {"ok": True}
            if path == "/_emulator/faults" and method == "POST":
                spec = body if isinstance(body, dict) else {}
                try:
                    cloud.add_fault(**spec)
                except TypeError as exc:
                    raise ApiError(400, "HTTPBadRequest", str(exc)) from None
                return 200, {"ok": True}
            raise ApiError(404, "HTTPNotFound", f"no control endpoint {method} {path}")

        def do_GET(self) -> None:
            self._handle("GET")

        def do_POST(self) -> None:
            self._handle("POST")

        def do_PUT(self) -> None:
            self._handle("PUT")

        def do_DELETE(self) -> None:
            self._handle("DELETE")

    return Handler


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128


class EmulatorServer:
    def __init__(self, cloud: Cloud, host: str = "127.0.0.1", port: int = 0) -> None:
        self.cloud = cloud
        self._httpd = _Server((host, port), _make_handler(self))
        self.port = int(self._httpd.server_address[1])
        self.url = f"http://{host}:{self.port}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="emulator", daemon=True)

    def start(self) -> EmulatorServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> EmulatorServer:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


def serve(cloud: Cloud, host: str = "127.0.0.1", port: int = 0) -> EmulatorServer:
    return EmulatorServer(cloud, host, port).start()


__all__ = ["DHCP", "L3", "EmulatorServer", "serve"]
