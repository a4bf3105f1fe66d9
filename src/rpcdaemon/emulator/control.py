"""The emulator's control API (/_emulator/...): drive the emulated cloud from another process.

Why it exists: the benchmarks and a shell run the emulator in its own process (`rpcdaemon emulator`) and still
need to kill and revive agents, make them inert (they take routers and networks but never activate them), inject
faults and races, set latency, the cost model and the ports' activation delay, and read the call counts and log,
over the same HTTP port. Control calls are neither counted, delayed nor faulted.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote

from rpcdaemon.emulator.cloud import Cloud
from rpcdaemon.emulator.errors import ApiError
from rpcdaemon.emulator.handlers import scheduler_body


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
    found = re.match(r"^/_emulator/agents/([^/]+)/inert/?$", path)
    if found and method == "POST":
        inert = spec.get("inert", True)
        if not isinstance(inert, bool):
            raise ApiError(400, "HTTPBadRequest", "inert must be true or false")
        agent_ids = cloud.set_inert(unquote(found.group(1)), inert)
        return 200, {"agents": [cloud.show_agent(a) for a in agent_ids], "inert": inert}
    routes: dict[tuple[str, str], Callable[[], tuple[int, Any]]] = {
        ("GET", "/_emulator/stats"): lambda: (200, cloud.stats()),
        ("GET", "/_emulator/calls"): lambda: (200, {"calls": cloud.call_log()}),
        ("POST", "/_emulator/reset-stats"): lambda: _done(cloud.reset_stats),
        ("POST", "/_emulator/faults"): lambda: _done(lambda: cloud.add_fault(**spec)),
        ("DELETE", "/_emulator/faults"): lambda: _done(cloud.clear_faults),
        ("POST", "/_emulator/races"): lambda: _done(lambda: cloud.add_race_on_next_add_router(
            scheduler_body(spec, "router_id"), scheduler_body(spec, "agent_id"))),
        ("POST", "/_emulator/latency"): lambda: _done(lambda: _set_latency(cloud, spec)),
        ("POST", "/_emulator/cost"): lambda: _done(lambda: _set_cost(cloud, spec)),
        ("POST", "/_emulator/activation-delay"): lambda: _done(lambda: _set_activation_delay(cloud, spec)),
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



def _set_activation_delay(cloud: Cloud, spec: dict[str, Any]) -> None:
    """{"activation_delay_s": X}: ports bound from now on go ACTIVE X seconds (on the cloud's clock) after."""
    value = spec.get("activation_delay_s")
    if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0:
        raise ValueError("activation_delay_s must be a number >= 0")
    cloud.set_activation_delay(float(value))
