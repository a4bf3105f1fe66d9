"""The emulated Neutron's routes: which handler answers which method and path, and what the path names.

Why it exists: the path pattern of a call ("GET /v2.0/agents/{id}/dhcp-networks") is how everything else knows the
call: its handler, the key of its call count, the faults that match it, whether it is a list (faults.LIST_KEYS)
and, for a scheduling call, which network or router it is about. A known path asked with another method is
answered 405, an unknown path 404.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import unquote

from rpcdaemon.emulator import handlers
from rpcdaemon.emulator.errors import ApiError
from rpcdaemon.emulator.handlers import ApiHandler

ID = r"([^/]+)"
SCHEDULING = {
    ("POST", "/v2.0/agents/{id}/dhcp-networks"): "network_id",
    ("POST", "/v2.0/agents/{id}/l3-routers"): "router_id",
    ("DELETE", "/v2.0/agents/{id}/dhcp-networks/{id}"): "",
    ("DELETE", "/v2.0/agents/{id}/l3-routers/{id}"): "",
}
"""The scheduling calls: their resource is in the body (POST, this key) or the path (DELETE, second id)."""

VERSION_DOCUMENTS: dict[str, ApiHandler] = {"/": handlers.versions, "": handlers.versions,
                                            "/v2.0": handlers.v2_resources, "/v2.0/": handlers.v2_resources}
"""What openstacksdk reads once per connection to discover the API version."""

ROUTES: list[tuple[str, str, ApiHandler]] = [
    ("GET", "/v2.0/agents", handlers.list_agents),
    ("GET", "/v2.0/agents/{id}", handlers.show_agent),
    ("PUT", "/v2.0/agents/{id}", handlers.update_agent),
    ("DELETE", "/v2.0/agents/{id}", handlers.delete_agent),
    ("GET", "/v2.0/agents/{id}/dhcp-networks", handlers.agent_networks),
    ("POST", "/v2.0/agents/{id}/dhcp-networks", handlers.add_agent_network),
    ("DELETE", "/v2.0/agents/{id}/dhcp-networks/{id}", handlers.remove_agent_network),
    ("GET", "/v2.0/agents/{id}/l3-routers", handlers.agent_routers),
    ("POST", "/v2.0/agents/{id}/l3-routers", handlers.add_agent_router),
    ("DELETE", "/v2.0/agents/{id}/l3-routers/{id}", handlers.remove_agent_router),
    ("GET", "/v2.0/networks", handlers.list_networks),
    ("POST", "/v2.0/networks", handlers.create_network),
    ("GET", "/v2.0/networks/{id}", handlers.show_network),
    ("DELETE", "/v2.0/networks/{id}", handlers.delete_network),
    ("GET", "/v2.0/networks/{id}/dhcp-agents", handlers.network_agents),
    ("GET", "/v2.0/subnets", handlers.list_subnets),
    ("POST", "/v2.0/subnets", handlers.create_subnet),
    ("GET", "/v2.0/subnets/{id}", handlers.show_subnet),
    ("DELETE", "/v2.0/subnets/{id}", handlers.delete_subnet),
    ("GET", "/v2.0/routers", handlers.list_routers),
    ("POST", "/v2.0/routers", handlers.create_router),
    ("GET", "/v2.0/routers/{id}", handlers.show_router),
    ("DELETE", "/v2.0/routers/{id}", handlers.delete_router),
    ("GET", "/v2.0/routers/{id}/l3-agents", handlers.router_agents),
    ("PUT", "/v2.0/routers/{id}/add_router_interface", handlers.add_router_interface),
    ("GET", "/v2.0/ports", handlers.list_ports),
    ("GET", "/v2.0/ports/{id}", handlers.show_port),
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


def scheduled_resource(method: str, pattern: str, ids: tuple[str, ...], body: Any) -> str | None:
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

