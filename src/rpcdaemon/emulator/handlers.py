"""The emulated Neutron's API handlers: one function per route, from a parsed request to (status, answer).

Why it exists: this is where a request becomes a call on the cloud and its answer becomes what Neutron 29 would
render: `fields=` and filters on the five top-level lists, limit/marker pagination with `<resource>_links` (next
when a page is full, previous always), and nothing of that on the scheduler sub-resources
(/agents/{id}/dhcp-networks and the like), whose controllers ignore the query string; a bad request body or query
answered 400 with a NeutronError. No sockets here: routes.py maps paths to these functions and server.py speaks
HTTP.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from rpcdaemon.emulator.cloud import Cloud
from rpcdaemon.emulator.errors import ApiError

PAGING_KEYS = frozenset({"fields", "limit", "marker", "page_reverse", "sort_key", "sort_dir"})
RESOURCES = ("agent", "network", "subnet", "router", "port")


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


DESCRIPTION_MAX = 255
"""Neutron's DESCRIPTION_FIELD_SIZE: a longer agent description is a 400 (the real Neutron 29 answered so)."""


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


def scheduler_body(body: Any, key: str) -> str:
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
    if description is not None and len(description) > DESCRIPTION_MAX:
        raise ApiError(400, "HTTPBadRequest", f"Invalid input for description. Reason: '{description}' exceeds "
                                              f"maximum length of {DESCRIPTION_MAX}.")
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


def add_router_interface(req: Request) -> tuple[int, Any]:
    """PUT /v2.0/routers/{id}/add_router_interface {"subnet_id": ...}: 200 with the interface's ids, as Neutron."""
    body = req.body if isinstance(req.body, dict) else {}
    subnet_id = body.get("subnet_id")
    if not isinstance(subnet_id, str):
        raise ApiError(400, "BadRequest", "Bad router request: Either subnet_id or port_id must be specified.")
    port_id = req.cloud.add_router_interface(req.ids[0], subnet_id)
    port = req.cloud.show_port(port_id)
    return 200, {"id": req.ids[0], "subnet_id": subnet_id, "subnet_ids": [subnet_id], "port_id": port_id,
                 "network_id": port["network_id"], "tenant_id": port["tenant_id"],
                 "project_id": port["project_id"]}


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


def list_ports(req: Request) -> tuple[int, Any]:
    return 200, _listing(req, "ports", req.cloud.port_rows())


def show_port(req: Request) -> tuple[int, Any]:
    return 200, {"port": _fields(req.cloud.show_port(req.ids[0]), req.query)}


def agent_networks(req: Request) -> tuple[int, Any]:
    return 200, {"networks": req.cloud.networks_on_agent(req.ids[0])}


def add_agent_network(req: Request) -> tuple[int, Any]:
    req.cloud.add_network_to_agent(req.ids[0], scheduler_body(req.body, "network_id"))
    return 201, None


def remove_agent_network(req: Request) -> tuple[int, Any]:
    req.cloud.remove_network_from_agent(req.ids[0], req.ids[1])
    return 204, None


def network_agents(req: Request) -> tuple[int, Any]:
    return 200, {"agents": req.cloud.agents_hosting_network(req.ids[0])}


def agent_routers(req: Request) -> tuple[int, Any]:
    return 200, {"routers": req.cloud.routers_on_agent(req.ids[0])}


def add_agent_router(req: Request) -> tuple[int, Any]:
    req.cloud.add_router_to_agent(req.ids[0], scheduler_body(req.body, "router_id"))
    return 201, None


def remove_agent_router(req: Request) -> tuple[int, Any]:
    req.cloud.remove_router_from_agent(req.ids[0], req.ids[1])
    return 204, None


def router_agents(req: Request) -> tuple[int, Any]:
    return 200, {"agents": req.cloud.agents_hosting_router(req.ids[0])}

