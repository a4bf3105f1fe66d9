"""The emulated cloud's state: agents with heartbeats, networks, subnets, routers, bindings, faults, call counts.

Why it exists: rpcdaemon must be tried, tested and benchmarked without an OpenStack, against a Neutron that answers
exactly as a real one (shared/notes/neutron-facts.md, and Neutron's own source where the notes are silent): the same
status codes and NeutronError types for the scheduling API, in the same order of checks; `alive` computed by the
server from heartbeats against `agent_down_time`; cascading deletes; auto-scheduling of a network on its first
DHCP subnet. It also records what a real server cannot tell: every call (with the rows it answered and, for a
scheduling call, whether its resource existed), and faults to inject: errors, delays, resets, garbage, and
well-formed lies (a list answered empty, short of some rows, or replayed from an older answer). A lie is always
of a LIST: showing one resource (GET /v2.0/networks/{id}) tells the truth.

A cost model makes list answers as slow as a real server's: base + rows x row cost (Neutron 29 on 2 cores, one
uWSGI worker, measured about 1-2 ms per network row and 1 ms per router row), optionally through a bounded number
of workers. Off by default.

Time comes from an injected clock, so tests can let "75 seconds" pass instantly. One lock guards everything;
notifications raised while it is held go out after it is released, and latency and injected delays are slept
outside it by the server. This module is pure Python: the HTTP side is server.py.
"""

from __future__ import annotations

import logging
import random
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

LOG = logging.getLogger("rpcdaemon.emulator")

DHCP = "DHCP agent"
L3 = "L3 agent"
OVS = "Open vSwitch agent"
L3_MODES = ("legacy", "dvr", "dvr_snat", "dvr_no_external")
DVR_ONLY_MODES = ("dvr", "dvr_no_external")
"""L3 agents on compute nodes: Neutron refuses manual scheduling to and from them."""

PROJECT_ID = "a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5"
_BINARIES = {
    DHCP: ("neutron-dhcp-agent", "dhcp_agent"),
    L3: ("neutron-l3-agent", "l3_agent"),
    OVS: ("neutron-openvswitch-agent", "N/A"),
    "Metadata agent": ("neutron-metadata-agent", "N/A"),
}
CALL_LOG_MAX = 200_000
LIST_KEYS = {
    "/v2.0/agents": "agents",
    "/v2.0/networks": "networks",
    "/v2.0/subnets": "subnets",
    "/v2.0/routers": "routers",
    "/v2.0/agents/{id}/dhcp-networks": "networks",
    "/v2.0/agents/{id}/l3-routers": "routers",
    "/v2.0/networks/{id}/dhcp-agents": "agents",
    "/v2.0/routers/{id}/l3-agents": "agents",
}
"""The list endpoints (path pattern -> the key of the rows): the only answers a lie can change, and the ones the
cost model charges per row."""
LIES = ("empty", "drop", "stale", "malformed")
"""empty: no rows; drop: a share of the rows left out; stale: an older answer to the same request replayed;
malformed: one agent row without `alive` or `heartbeat_timestamp`, or with a wrong type (agents lists only)."""

Notify = Callable[[str, dict[str, Any]], None]


class ApiError(Exception):
    """An error answer: HTTP status and NeutronError type, as Neutron's exception would be rendered."""

    def __init__(self, status: int, error_type: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.error_type = error_type
        self.message = message

    def body(self) -> dict[str, Any]:
        return {"NeutronError": {"type": self.error_type, "message": self.message, "detail": ""}}


def agent_not_found(agent_id: str) -> ApiError:
    return ApiError(404, "AgentNotFound", f"Agent {agent_id} could not be found.")


def network_not_found(net_id: str) -> ApiError:
    return ApiError(404, "NetworkNotFound", f"Network {net_id} could not be found.")


def router_not_found(router_id: str) -> ApiError:
    return ApiError(404, "RouterNotFound", f"Router {router_id} could not be found.")


@dataclass
class AgentRec:
    id: str
    agent_type: str
    host: str
    availability_zone: str | None
    agent_mode: str | None
    admin_state_up: bool
    up_since: float
    """When the agent (re)started: started_at, and the phase of its heartbeats."""
    created_at: float
    down_at: float | None = None
    """When its heartbeats stopped (None: it is up)."""
    description: str | None = None


@dataclass
class Fault:
    """The next `count` calls matching method and path pattern are answered with a fault."""

    method: str
    pattern: str
    status: int | None = None
    delay_s: float = 0.0
    count: int = 1
    reset: bool = False
    body: str | None = None
    """Answer this raw text (status `status`, default 200) instead of the real answer: garbage for the client."""
    lie: str | None = None
    """One of LIES: the real answer of a list, changed into a well-formed lie."""
    share: float = 0.5
    """lie "drop": the share of the rows left out (at least one when there is any)."""
    age_s: float = 10.0
    """lie "stale": replay the newest answer at least this old (the oldest kept when none is)."""

    def matches(self, method: str, pattern: str) -> bool:
        if self.lie is not None and (method != "GET" or pattern not in LIST_KEYS):
            return False
        return self.method in ("*", method) and self.pattern in ("*", pattern)


@dataclass(frozen=True)
class Call:
    at: float
    """time.monotonic() when the answer was decided"""
    method: str
    pattern: str
    ids: tuple[str, ...]
    status: int
    """0: the connection was reset without an answer"""
    member: str | None
    """X-Rpcdaemon-Member header: which rpcdaemon made the call"""
    received: float | None = None
    """time.monotonic() when the request arrived (before any latency or injected delay): a write is decided by
    its client before this, `at` can be long after"""
    rows: int | None = None
    """A list answered 200: how many rows it held."""
    lie: str | None = None
    """A list answered with a lie: which (see LIES)."""
    resource: str | None = None
    """A scheduling call (add or remove a network or router): the resource's id."""
    exists: bool | None = None
    """A scheduling call: the resource existed when the server took the call (the ground truth, whatever any list
    said)."""

    def as_dict(self) -> dict[str, Any]:
        return {"at": self.at, "method": self.method, "pattern": self.pattern, "ids": list(self.ids),
                "status": self.status, "member": self.member, "received": self.received, "rows": self.rows,
                "lie": self.lie, "resource": self.resource, "exists": self.exists}


def split_pattern(method: str, pattern: str) -> tuple[str, str]:
    """("POST", "POST /v2.0/agents/{id}/l3-routers") or ("POST", "/v2.0/agents/{id}/l3-routers") ->
    ("POST", "/v2.0/agents/{id}/l3-routers"); "*" stays "*"."""
    method = method.upper()
    head, sep, tail = pattern.partition(" ")
    if sep:
        head = head.upper()
        if method not in ("*", head):
            raise ValueError(f"fault method {method} does not match pattern {pattern!r}")
        return head, tail.strip()
    return method, pattern


@dataclass(eq=False, repr=False)
class Cloud:
    agent_down_time: float = 75.0
    report_interval: float | None = None
    """Seconds between two heartbeats of an up agent; default max(agent_down_time / 4, 0.2)."""
    clock: Callable[[], float] = time.time
    sleep: Callable[[float], None] = time.sleep
    """How the cost model waits (a test records instead)."""
    seed: int | None = None
    """Makes the ids deterministic."""
    latency_s: float = 0.0
    """Slept (outside the lock) before answering every API call."""
    list_base_s: float = 0.0
    """Cost model: slept (outside the lock) after computing every list answer, plus row_cost_s per row."""
    row_cost_s: float = 0.0
    """Cost model: seconds per row of a list answer (Neutron 29, 2 cores, one worker: about 0.001-0.002)."""
    api_workers: int = 0
    """Cost model: list answers pay their cost through this many workers at a time, as a server with that many
    worker processes (0: no bound)."""
    answer_history_s: float = 0.0
    """Keep list answers this long (one per request kind per second), for "stale" lies (0: keep none)."""
    agents: dict[str, AgentRec] = field(default_factory=dict)
    networks: dict[str, dict[str, Any]] = field(default_factory=dict)
    subnets: dict[str, dict[str, Any]] = field(default_factory=dict)
    routers: dict[str, dict[str, Any]] = field(default_factory=dict)
    dhcp: dict[str, set[str]] = field(default_factory=dict)
    """DHCP agent id -> ids of the networks it hosts"""
    l3: dict[str, set[str]] = field(default_factory=dict)
    """L3 agent id -> ids of the routers it hosts"""

    def __post_init__(self) -> None:
        if self.report_interval is None:
            self.report_interval = max(self.agent_down_time / 4, 0.2)
        if self.report_interval <= 0:
            raise ValueError("report_interval must be > 0")
        self.lock = threading.RLock()
        self.notify: Notify | None = None
        """Called with (event_type, payload) as Neutron's notifier would (set when the emulator has a bus)."""
        self._rng = random.Random(self.seed)
        self._local = threading.local()
        self._calls: Counter[str] = Counter()
        self._log: list[Call] = []
        self._faults: list[Fault] = []
        self._races: dict[str, str] = {}
        self._net_subnets: dict[str, set[str]] = {}
        self._net_hosts: dict[str, list[str]] = {}
        """network id -> DHCP agent ids, in binding order"""
        self._router_hosts: dict[str, list[str]] = {}
        """router id -> L3 agent ids, in binding order"""
        self._subnet_seq = 0
        self._lie_rng = random.Random((self.seed or 0) + 7919)
        self._rows: Counter[str] = Counter()
        self._answers: dict[tuple[Any, ...], list[tuple[float, dict[str, Any]]]] = {}
        self._workers: threading.BoundedSemaphore | None = None
        self._workers_n = 0

    # --- locking and notifications ---------------------------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Hold the lock; notifications emitted meanwhile are delivered once it is released, so a slow or broken
        bus never stalls the API."""
        outer = getattr(self._local, "pending", None) is None
        if outer:
            self._local.pending = []
        try:
            with self.lock:
                yield
        finally:
            if outer:
                events: list[tuple[str, dict[str, Any]]] = self._local.pending
                self._local.pending = None
                for event_type, payload in events:
                    self._deliver(event_type, payload)

    def emit(self, event_type: str, payload: dict[str, Any]) -> None:
        pending: list[tuple[str, dict[str, Any]]] | None = getattr(self._local, "pending", None)
        if pending is not None:
            pending.append((event_type, payload))
        else:
            self._deliver(event_type, payload)

    def _deliver(self, event_type: str, payload: dict[str, Any]) -> None:
        notify = self.notify
        if notify is None:
            return
        try:
            notify(event_type, payload)
        except Exception as exc:  # a bus hiccup must not fail the API call that caused the notification
            LOG.warning("notification %s not sent: %s", event_type, exc)

    # --- building (Python API: direct, for the demo, tests and benchmarks) ----------------------------------

    @property
    def interval(self) -> float:
        return self.report_interval or max(self.agent_down_time / 4, 0.2)

    def new_id(self) -> str:
        with self.lock:
            return str(uuid.UUID(int=self._rng.getrandbits(128), version=4))

    def add_agent(self, agent_type: str, host: str, availability_zone: str = "nova", agent_mode: str | None = None,
                  admin_state_up: bool = True) -> str:
        if agent_type == L3 and agent_mode is not None and agent_mode not in L3_MODES:
            raise ValueError(f"agent_mode must be one of {', '.join(L3_MODES)}")
        with self.transaction():
            agent_id = self.new_id()
            now = self.clock()
            mode = (agent_mode or "legacy") if agent_type == L3 else None
            zone = availability_zone if agent_type in (DHCP, L3) else None
            self.agents[agent_id] = AgentRec(agent_id, agent_type, host, zone, mode, admin_state_up,
                                             up_since=now, created_at=now)
            if agent_type == DHCP:
                self.dhcp.setdefault(agent_id, set())
            elif agent_type == L3:
                self.l3.setdefault(agent_id, set())
            return agent_id

    def add_network(self, name: str = "", dhcp: bool = True, availability_zone_hints: list[str] | None = None) -> str:
        """A network with one subnet (DHCP enabled or not), hosted nowhere: bind it with bind_network."""
        with self.transaction():
            net_id = self._new_network(name, availability_zone_hints)
            self._new_subnet(net_id, dhcp)
            self.emit("network.create.end", {"network": self.network_row(net_id)})
            return net_id

    def add_router(self, name: str = "", ha: bool = False, distributed: bool = False,
                   availability_zone_hints: list[str] | None = None) -> str:
        """A router hosted nowhere: bind it with bind_router."""
        with self.transaction():
            router_id = self.new_id()
            self.routers[router_id] = {"name": name, "ha": ha, "distributed": distributed,
                                       "availability_zone_hints": list(availability_zone_hints or []),
                                       "revision_number": 1}
            self.emit("router.create.end", {"router": self.router_row(router_id)})
            return router_id

    def bind_network(self, agent_id: str, net_id: str) -> None:
        """Put a network on a DHCP agent, with no checks (for building topologies)."""
        with self.transaction():
            self._bind_network(agent_id, net_id)

    def bind_router(self, agent_id: str, router_id: str) -> None:
        """Put a router on an L3 agent, with no checks (for building topologies)."""
        with self.transaction():
            self._bind_router(agent_id, router_id)

    def delete_network(self, net_id: str) -> None:
        """Delete a network, its subnets and its DHCP bindings (Neutron cascades)."""
        with self.transaction():
            if net_id not in self.networks:
                raise network_not_found(net_id)
            row = self.network_row(net_id)
            for subnet_id in list(self._net_subnets.get(net_id, ())):
                self._remove_subnet(subnet_id)
            for agent_id in list(self._net_hosts.get(net_id, ())):
                self._unbind_network(agent_id, net_id)
            self._net_hosts.pop(net_id, None)
            self._net_subnets.pop(net_id, None)
            del self.networks[net_id]
            self.emit("network.delete.end", {"network_id": net_id, "network": row})

    def delete_router(self, router_id: str) -> None:
        """Delete a router and its L3 bindings (Neutron cascades)."""
        with self.transaction():
            if router_id not in self.routers:
                raise router_not_found(router_id)
            row = self.router_row(router_id)
            for agent_id in list(self._router_hosts.get(router_id, ())):
                self._unbind_router(agent_id, router_id)
            self._router_hosts.pop(router_id, None)
            self._races.pop(router_id, None)
            del self.routers[router_id]
            self.emit("router.delete.end", {"router_id": router_id, "router": row})

    def subnets_of(self, net_id: str) -> list[str]:
        with self.lock:
            return sorted(self._net_subnets.get(net_id, ()))

    def remove_subnet(self, subnet_id: str) -> bool:
        with self.transaction():
            return self._remove_subnet(subnet_id)

    @classmethod
    def build(cls, dhcp_agents: int = 3, l3_agents: int = 3, networks: int = 10, routers: int = 10,
              dhcp_per_network: int = 1, agent_down_time: float = 75.0, seed: int | None = None,
              availability_zones: int = 1, clock: Callable[[], float] = time.time,
              report_interval: float | None = None, latency_s: float = 0.0, l3_agent_mode: str = "legacy",
              dvr_agents: int = 0, row_cost_s: float = 0.0, list_base_s: float = 0.0, api_workers: int = 0) -> Cloud:
        """Hosts net-1, net-2... each with a DHCP and/or an L3 agent (zone "nova", or az-1..az-N round robin);
        networks (one DHCP subnet each) bound round robin to `dhcp_per_network` DHCP agents, legacy routers bound
        round robin to the L3 agents; compute hosts cmp-1, cmp-2... with an L3 agent in `dvr` mode each (hosting
        nothing rpcdaemon may touch)."""
        if min(dhcp_agents, l3_agents, networks, routers, dhcp_per_network, availability_zones, dvr_agents) < 0:
            raise ValueError("counts must be >= 0")
        cloud = cls(agent_down_time=agent_down_time, report_interval=report_interval, clock=clock, seed=seed,
                    latency_s=latency_s)
        cloud.set_cost(row_cost_s=row_cost_s, list_base_s=list_base_s, api_workers=api_workers)

        def zone(i: int) -> str:
            return "nova" if availability_zones <= 1 else f"az-{i % availability_zones + 1}"

        dhcp_ids = [cloud.add_agent(DHCP, f"net-{i + 1}", zone(i)) for i in range(dhcp_agents)]
        l3_ids = [cloud.add_agent(L3, f"net-{i + 1}", zone(i), agent_mode=l3_agent_mode) for i in range(l3_agents)]
        for i in range(dvr_agents):
            cloud.add_agent(L3, f"cmp-{i + 1}", zone(i), agent_mode="dvr")
        for n in range(networks):
            net_id = cloud.add_network(name=f"net{n}")
            for k in range(min(dhcp_per_network, len(dhcp_ids))):
                cloud.bind_network(dhcp_ids[(n + k) % len(dhcp_ids)], net_id)
        for n in range(routers):
            router_id = cloud.add_router(name=f"router{n}")
            if l3_ids:
                cloud.bind_router(l3_ids[n % len(l3_ids)], router_id)
        return cloud

    # --- liveness ------------------------------------------------------------------------------------------

    def set_agent_down(self, agent_id: str) -> None:
        """The agent stops heartbeating (its process or host died); the server notices after agent_down_time."""
        with self.transaction():
            agent = self._agent(agent_id)
            if agent.down_at is None:
                agent.down_at = self.clock()

    def set_agent_up(self, agent_id: str) -> None:
        """The agent (re)starts: heartbeats resume now, started_at is now."""
        with self.transaction():
            agent = self._agent(agent_id)
            if agent.down_at is not None:
                agent.down_at = None
                agent.up_since = self.clock()

    def set_admin_state(self, agent_id: str, up: bool) -> None:
        with self.transaction():
            self._agent(agent_id).admin_state_up = up

    def last_heartbeat(self, agent: AgentRec) -> float:
        """The last report: up_since + k * report_interval, no later than now (or than when it went down)."""
        interval = self.interval
        until = agent.down_at if agent.down_at is not None else self.clock()
        beats = int(max(0.0, until - agent.up_since) // interval)
        return agent.up_since + beats * interval

    def is_alive(self, agent: AgentRec) -> bool:
        """Neutron's rule: alive unless the last heartbeat is older than agent_down_time."""
        return self.clock() - self.last_heartbeat(agent) <= self.agent_down_time

    def _agent(self, agent_id: str) -> AgentRec:
        agent = self.agents.get(agent_id)
        if agent is None:
            raise agent_not_found(agent_id)
        return agent

    # --- rows, as the API shows them ------------------------------------------------------------------------

    def agent_row(self, agent: AgentRec) -> dict[str, Any]:
        binary, topic = _BINARIES.get(agent.agent_type, ("neutron-" + agent.agent_type.lower().replace(" ", "-"),
                                                         "N/A"))
        config: dict[str, Any]
        if agent.agent_type == L3:
            config = {"agent_mode": agent.agent_mode, "routers": len(self.l3.get(agent.id, ())),
                      "ex_gw_ports": 0, "interfaces": 0, "floating_ips": 0, "handle_internal_only_routers": True,
                      "log_agent_heartbeats": False}
        elif agent.agent_type == DHCP:
            nets = self.dhcp.get(agent.id, ())
            subnets = sum(1 for n in nets for s in self._net_subnets.get(n, ()) if self.subnets[s]["enable_dhcp"])
            config = {"networks": len(nets), "subnets": subnets, "ports": 0, "dhcp_lease_duration": 86400,
                      "dhcp_driver": "neutron.agent.linux.dhcp.Dnsmasq", "log_agent_heartbeats": False}
        else:
            config = {}
        return {
            "id": agent.id, "agent_type": agent.agent_type, "binary": binary, "topic": topic, "host": agent.host,
            "admin_state_up": agent.admin_state_up, "created_at": _ts(agent.created_at),
            "started_at": _ts(agent.up_since), "heartbeat_timestamp": _ts(self.last_heartbeat(agent)),
            "description": agent.description, "configurations": config, "resources_synced": None,
            "availability_zone": agent.availability_zone, "alive": self.is_alive(agent),
        }

    def network_row(self, net_id: str) -> dict[str, Any]:
        net = self.networks[net_id]
        zones = sorted({self.agents[a].availability_zone or "" for a in self._net_hosts.get(net_id, ())
                        if a in self.agents} - {""})
        return {"id": net_id, "name": net["name"], "status": "ACTIVE", "admin_state_up": True,
                "subnets": sorted(self._net_subnets.get(net_id, ())),
                "availability_zone_hints": list(net["availability_zone_hints"]), "availability_zones": zones,
                "revision_number": net["revision_number"], "project_id": PROJECT_ID, "tenant_id": PROJECT_ID,
                "shared": False, "router:external": False, "description": "", "mtu": 1500}

    def subnet_row(self, subnet_id: str) -> dict[str, Any]:
        subnet = self.subnets[subnet_id]
        return {"id": subnet_id, "network_id": subnet["network_id"], "name": subnet["name"],
                "enable_dhcp": subnet["enable_dhcp"], "cidr": subnet["cidr"], "ip_version": subnet["ip_version"],
                "revision_number": subnet["revision_number"], "project_id": PROJECT_ID, "tenant_id": PROJECT_ID,
                "description": ""}

    def router_row(self, router_id: str) -> dict[str, Any]:
        router = self.routers[router_id]
        zones = sorted({self.agents[a].availability_zone or "" for a in self._router_hosts.get(router_id, ())
                        if a in self.agents} - {""})
        return {"id": router_id, "name": router["name"], "status": "ACTIVE", "admin_state_up": True,
                "ha": router["ha"], "distributed": router["distributed"],
                "availability_zone_hints": list(router["availability_zone_hints"]), "availability_zones": zones,
                "revision_number": router["revision_number"], "project_id": PROJECT_ID, "tenant_id": PROJECT_ID,
                "external_gateway_info": None, "description": ""}

    def agent_rows(self) -> list[dict[str, Any]]:
        with self.lock:
            return [self.agent_row(a) for a in self.agents.values()]

    def network_rows(self) -> list[dict[str, Any]]:
        with self.lock:
            return [self.network_row(n) for n in self.networks]

    def subnet_rows(self) -> list[dict[str, Any]]:
        with self.lock:
            return [self.subnet_row(s) for s in self.subnets]

    def router_rows(self) -> list[dict[str, Any]]:
        with self.lock:
            return [self.router_row(r) for r in self.routers]

    # --- the resource API (what the HTTP server calls) ------------------------------------------------------

    def show_agent(self, agent_id: str) -> dict[str, Any]:
        with self.lock:
            return self.agent_row(self._agent(agent_id))

    def update_agent(self, agent_id: str, admin_state_up: bool | None = None,
                     description: str | None = None) -> dict[str, Any]:
        with self.transaction():
            agent = self._agent(agent_id)
            if admin_state_up is not None:
                agent.admin_state_up = admin_state_up
            if description is not None:
                agent.description = description
            row = self.agent_row(agent)
            self.emit("agent.update.end", {"agent": row})
            return row

    def delete_agent(self, agent_id: str) -> None:
        """Delete an agent record and its bindings (Neutron cascades)."""
        with self.transaction():
            agent = self._agent(agent_id)
            for net_id in list(self.dhcp.get(agent_id, ())):
                self._unbind_network(agent_id, net_id)
            for router_id in list(self.l3.get(agent_id, ())):
                self._unbind_router(agent_id, router_id)
            self.dhcp.pop(agent_id, None)
            self.l3.pop(agent_id, None)
            row = self.agent_row(agent)
            del self.agents[agent_id]
            self.emit("agent.delete.end", {"agent_id": agent_id, "agent": row})

    def show_network(self, net_id: str) -> dict[str, Any]:
        with self.lock:
            if net_id not in self.networks:
                raise network_not_found(net_id)
            return self.network_row(net_id)

    def create_network(self, name: str = "", availability_zone_hints: list[str] | None = None) -> dict[str, Any]:
        """POST /v2.0/networks: a network without subnets (so not scheduled on any DHCP agent)."""
        with self.transaction():
            row = self.network_row(self._new_network(name, availability_zone_hints))
            self.emit("network.create.end", {"network": row})
            return row

    def show_subnet(self, subnet_id: str) -> dict[str, Any]:
        with self.lock:
            if subnet_id not in self.subnets:
                raise ApiError(404, "SubnetNotFound", f"Subnet {subnet_id} could not be found.")
            return self.subnet_row(subnet_id)

    def create_subnet(self, network_id: str, cidr: str | None = None, enable_dhcp: bool = True, name: str = "",
                      ip_version: int = 4) -> dict[str, Any]:
        """POST /v2.0/subnets. A DHCP subnet on a network that no DHCP agent hosts schedules the network on ONE
        live, enabled DHCP agent, the one with the fewest networks (dhcp_agents_per_network = 1, as Neutron)."""
        with self.transaction():
            if network_id not in self.networks:
                raise network_not_found(network_id)
            subnet_id = self._new_subnet(network_id, enable_dhcp, cidr, name, ip_version)
            row = self.subnet_row(subnet_id)
            self.emit("subnet.create.end", {"subnet": row})
            if enable_dhcp and not self._net_hosts.get(network_id):
                live = [a for a in self.agents.values()
                        if a.agent_type == DHCP and a.admin_state_up and self.is_alive(a)]
                if live:
                    target = min(live, key=lambda a: (len(self.dhcp.get(a.id, ())), a.id))
                    self._bind_network(target.id, network_id)
            return row

    def delete_subnet(self, subnet_id: str) -> None:
        with self.transaction():
            if subnet_id not in self.subnets:
                raise ApiError(404, "SubnetNotFound", f"Subnet {subnet_id} could not be found.")
            row = self.subnet_row(subnet_id)
            self._remove_subnet(subnet_id)
            self.emit("subnet.delete.end", {"subnet_id": subnet_id, "subnet": row})

    def show_router(self, router_id: str) -> dict[str, Any]:
        with self.lock:
            if router_id not in self.routers:
                raise router_not_found(router_id)
            return self.router_row(router_id)

    def create_router(self, name: str = "", ha: bool = False, distributed: bool = False,
                      availability_zone_hints: list[str] | None = None) -> dict[str, Any]:
        """POST /v2.0/routers: not scheduled (Neutron schedules a router when an interface is added)."""
        with self.transaction():
            router_id = self.add_router(name, ha, distributed, availability_zone_hints)
            return self.router_row(router_id)

    # --- the scheduling API (checks in the order Neutron makes them) -------------------------------------------

    def add_network_to_agent(self, agent_id: str, net_id: str) -> None:
        """POST /v2.0/agents/{agent_id}/dhcp-networks {"network_id": net_id} (Neutron's
        add_network_to_dhcp_agent): the network must exist, the agent must exist, be a DHCP agent and be
        enabled (admin_state_up); its liveness is not checked."""
        with self.transaction():
            if net_id not in self.networks:
                raise network_not_found(net_id)
            agent = self._agent(agent_id)
            if agent.agent_type != DHCP or not agent.admin_state_up:
                raise ApiError(404, "InvalidDHCPAgent",
                               f"Agent {agent_id} is not a valid DHCP Agent or has been disabled.")
            if agent_id in self._net_hosts.get(net_id, ()):
                raise ApiError(409, "NetworkHostedByDHCPAgent",
                               f"The network {net_id} has been already hosted by the DHCP Agent {agent_id}.")
            self._bind_network(agent_id, net_id)
            self.emit("dhcp_agent.network.add", {"agent": {"id": agent_id, "network_id": net_id}})

    def remove_network_from_agent(self, agent_id: str, net_id: str) -> None:
        """DELETE /v2.0/agents/{agent_id}/dhcp-networks/{net_id}."""
        with self.transaction():
            self._agent(agent_id)
            if not self._unbind_network(agent_id, net_id):
                raise ApiError(409, "NetworkNotHostedByDhcpAgent",
                               f"The network {net_id} is not hosted by the DHCP agent {agent_id}.")
            self.emit("dhcp_agent.network.remove", {"agent": {"id": agent_id, "network_id": net_id}})

    def add_router_to_agent(self, agent_id: str, router_id: str) -> None:
        """POST /v2.0/agents/{agent_id}/l3-routers {"router_id": router_id} (Neutron's add_router_to_l3_agent).
        A non-HA router can be on one agent only; adding it again to the agent that hosts it is a success."""
        with self.transaction():
            race = self._races.pop(router_id, None)
            if race is not None and router_id in self.routers:
                self._another_actor_binds(race, router_id)
            router = self.routers.get(router_id)
            if router is None:
                raise router_not_found(router_id)
            agent = self._agent(agent_id)
            if agent.agent_type != L3:
                raise ApiError(404, "InvalidL3Agent", f"Agent {agent_id} is not a L3 Agent or has been disabled.")
            if agent.agent_mode in DVR_ONLY_MODES:
                raise ApiError(409, "DVRL3CannotAssignToDvrAgent",
                               "Not allowed to manually assign a router to an agent in 'dvr' mode.")
            if agent.agent_mode == "legacy" and router["distributed"]:
                raise ApiError(409, "RouterL3AgentMismatch",
                               f"Cannot host distributed router {router_id} on legacy L3 agent {agent_id}.")
            if not agent.admin_state_up:
                raise ApiError(404, "InvalidL3Agent", f"Agent {agent_id} is not a L3 Agent or has been disabled.")
            hosts = self._router_hosts.get(router_id, [])
            if agent_id not in hosts:
                if hosts and not router["ha"]:
                    raise ApiError(409, "RouterHostedByL3Agent",
                                   f"The router {router_id} has been already hosted by the L3 Agent {hosts[0]}.")
                self._bind_router(agent_id, router_id)
            self.emit("l3_agent.router.add", {"agent": {"id": agent_id, "router_id": router_id}})

    def remove_router_from_agent(self, agent_id: str, router_id: str) -> None:
        """DELETE /v2.0/agents/{agent_id}/l3-routers/{router_id} (Neutron's remove_router_from_l3_agent): a no-op
        success when the router is not there, but RouterNotFound for a router that does not exist."""
        with self.transaction():
            agent = self._agent(agent_id)
            if agent.agent_mode in DVR_ONLY_MODES:
                raise ApiError(409, "DVRL3CannotRemoveFromDvrAgent",
                               "Not allowed to manually remove a router from an agent in 'dvr' mode.")
            self._unbind_router(agent_id, router_id)
            if router_id not in self.routers:
                raise router_not_found(router_id)
            self.emit("l3_agent.router.remove", {"agent": {"id": agent_id, "router_id": router_id}})

    def networks_on_agent(self, agent_id: str) -> list[dict[str, Any]]:
        """GET /v2.0/agents/{agent_id}/dhcp-networks: full network rows (an L3 agent hosts none). A binding made
        by bind_network to an id that is no network stands for a network deleted between two reads of a client:
        it shows as {"id": ...} only."""
        with self.lock:
            nets = sorted(self.dhcp.get(agent_id, ()))
            if not nets:
                self._agent(agent_id)
            return [self.network_row(n) if n in self.networks else {"id": n} for n in nets]

    def agents_hosting_network(self, net_id: str) -> list[dict[str, Any]]:
        """GET /v2.0/networks/{net_id}/dhcp-agents (an unknown network: an empty list, as Neutron)."""
        with self.lock:
            return [self.agent_row(self.agents[a]) for a in self._net_hosts.get(net_id, ()) if a in self.agents]

    def routers_on_agent(self, agent_id: str) -> list[dict[str, Any]]:
        """GET /v2.0/agents/{agent_id}/l3-routers: full router rows (a binding to an id that is no router: see
        networks_on_agent)."""
        with self.lock:
            routers = sorted(self.l3.get(agent_id, ()))
            if not routers:
                self._agent(agent_id)
            return [self.router_row(r) if r in self.routers else {"id": r} for r in routers]

    def agents_hosting_router(self, router_id: str) -> list[dict[str, Any]]:
        """GET /v2.0/routers/{router_id}/l3-agents; rows of an HA router carry ha_state: "active" on the first
        hosting agent that is alive and enabled, "standby" on the others."""
        with self.lock:
            router = self.routers.get(router_id)
            if router is None:
                raise router_not_found(router_id)
            hosts = [self.agents[a] for a in self._router_hosts.get(router_id, ()) if a in self.agents]
            rows = [self.agent_row(a) for a in hosts]
            if router["ha"] and rows:
                active = next((i for i, a in enumerate(hosts) if a.admin_state_up and self.is_alive(a)), 0)
                for i, row in enumerate(rows):
                    row["ha_state"] = "active" if i == active else "standby"
            return rows

    # --- faults ----------------------------------------------------------------------------------------------

    def add_fault(self, method: str, pattern: str, status: int | None = None, delay_s: float = 0.0, count: int = 1,
                  reset: bool = False, body: str | None = None, lie: str | None = None, share: float = 0.5,
                  age_s: float = 10.0) -> None:
        """The next `count` API calls matching `method` ("*": any) and `pattern` ("GET /v2.0/agents",
        "/v2.0/agents/{id}/l3-routers" or "*") sleep `delay_s`, then either close the connection without an
        answer (reset) or answer `status` with an InjectedFault NeutronError (status None: answer normally), or,
        with `body`, answer that raw text (status `status`, default 200) without doing anything: a garbled or
        lying server; or, with `lie` (see LIES), answer the real answer of a list changed into a well-formed lie
        (only list calls match such a fault: "*" means every list). Faults are consumed in the order they were
        added."""
        if not isinstance(method, str) or not isinstance(pattern, str) or not pattern:
            raise ValueError("method and pattern must be non-empty strings")
        if status is not None and (isinstance(status, bool) or not isinstance(status, int)
                                   or not 100 <= status <= 599):
            raise ValueError("status must be an HTTP status code or None")
        if isinstance(delay_s, bool) or not isinstance(delay_s, int | float) or delay_s < 0:
            raise ValueError("delay_s must be a number >= 0")
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise ValueError("count must be an integer >= 1")
        if not isinstance(reset, bool):
            raise ValueError("reset must be true or false")
        if body is not None and not isinstance(body, str):
            raise ValueError("body must be a string or None")
        if lie is not None:
            if lie not in LIES:
                raise ValueError(f"lie must be one of {', '.join(LIES)}")
            if body is not None or reset or status is not None:
                raise ValueError("a lie is a real answer changed: not with body, reset or status")
        if isinstance(share, bool) or not isinstance(share, int | float) or not 0 <= share <= 1:
            raise ValueError("share must be a number from 0 to 1")
        if isinstance(age_s, bool) or not isinstance(age_s, int | float) or not age_s >= 0:
            raise ValueError("age_s must be a number >= 0")
        fault_method, fault_pattern = split_pattern(method, pattern)
        if lie is not None and (fault_method not in ("*", "GET")
                                or fault_pattern not in ("*", *LIST_KEYS)):
            raise ValueError(f"a lie is of a list: {method} {pattern} is not one")
        with self.lock:
            self._faults.append(Fault(fault_method, fault_pattern, status, float(delay_s), count, reset, body,
                                      lie, float(share), float(age_s)))

    def clear_faults(self) -> None:
        with self.lock:
            self._faults.clear()
            self._races.clear()

    def add_race_on_next_add_router(self, router_id: str, agent_id: str) -> None:
        """On the next POST l3-routers for this router, another actor first puts it on `agent_id` (moving a
        non-HA router there), so that call meets the state another actor left: 409 RouterHostedByL3Agent for a
        legacy router going elsewhere."""
        with self.lock:
            self._races[router_id] = agent_id

    def _another_actor_binds(self, agent_id: str, router_id: str) -> None:
        if not self.routers[router_id]["ha"]:
            for other in list(self._router_hosts.get(router_id, ())):
                if other != agent_id:
                    self._unbind_router(other, router_id)
                    self.emit("l3_agent.router.remove", {"agent": {"id": other, "router_id": router_id}})
        self._bind_router(agent_id, router_id)
        self.emit("l3_agent.router.add", {"agent": {"id": agent_id, "router_id": router_id}})

    def take_fault(self, method: str, pattern: str) -> Fault | None:
        """The first fault matching this call, consumed; `pattern` with or without the method in front."""
        _, path = split_pattern("*", pattern)
        with self.lock:
            for fault in self._faults:
                if fault.matches(method, path):
                    fault.count -= 1
                    if fault.count <= 0:
                        self._faults.remove(fault)
                    return fault
            return None

    # --- lies and the cost model -----------------------------------------------------------------------------

    def lie_about(self, fault: Fault, pattern: str, request: tuple[Any, ...], answer: dict[str, Any],
                  ) -> dict[str, Any] | None:
        """The answer `fault` turns this real list answer into (None: this lie cannot be told here, e.g. nothing
        old enough to replay: the truth is answered)."""
        key = LIST_KEYS[pattern]
        rows = answer.get(key)
        if not isinstance(rows, list):
            return None
        lied = {k: v for k, v in answer.items() if not k.endswith("_links")}  # a lie has no next page either
        with self.lock:
            rng = self._lie_rng
            if fault.lie == "empty":
                lied[key] = []
            elif fault.lie == "drop":
                if not rows:
                    return None
                dropped = max(1, round(len(rows) * fault.share))
                gone = set(rng.sample(range(len(rows)), min(dropped, len(rows))))
                lied[key] = [r for i, r in enumerate(rows) if i not in gone]
            elif fault.lie == "stale":
                old = self._old_answer(request, fault.age_s)
                if old is None:
                    return None
                lied = {k: v for k, v in old.items() if not k.endswith("_links")}
            elif fault.lie == "malformed":
                candidates = [i for i, r in enumerate(rows) if isinstance(r, dict) and "alive" in r]
                if not candidates:
                    return None
                i = rng.choice(candidates)
                row = dict(rows[i])
                field_name = rng.choice(["alive", "heartbeat_timestamp"])
                if rng.random() < 0.5:
                    row.pop(field_name, None)
                else:
                    row[field_name] = rng.choice(["yes", 1, None, [], {"v": True}])
                lied[key] = [*rows[:i], row, *rows[i + 1:]]
        return lied

    def remember_answer(self, request: tuple[Any, ...], answer: dict[str, Any]) -> None:
        """Keep a true list answer (at most one per request kind per second, for answer_history_s)."""
        if self.answer_history_s <= 0:
            return
        now = time.monotonic()
        with self.lock:
            kept = self._answers.setdefault(request, [])
            if kept and now - kept[-1][0] < 1.0:
                return
            kept.append((now, answer))
            while kept and now - kept[0][0] > self.answer_history_s:
                del kept[0]

    def _old_answer(self, request: tuple[Any, ...], age_s: float) -> dict[str, Any] | None:
        kept = self._answers.get(request) or []
        now = time.monotonic()
        old = [answer for at, answer in kept if now - at >= age_s]
        if old:
            return old[-1]
        return kept[0][1] if kept and now - kept[0][0] >= 0.5 else None

    def set_cost(self, row_cost_s: float | None = None, list_base_s: float | None = None,
                 api_workers: int | None = None) -> None:
        """The cost model: each list answer takes list_base_s + rows x row_cost_s, through api_workers at a time
        (0: no bound); None leaves a value as it is."""
        for name, value in (("row_cost_s", row_cost_s), ("list_base_s", list_base_s)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)
                                      or not value >= 0):
                raise ValueError(f"{name} must be a number >= 0")
        if api_workers is not None and (isinstance(api_workers, bool) or not isinstance(api_workers, int)
                                        or api_workers < 0):
            raise ValueError("api_workers must be an integer >= 0")
        with self.lock:
            if row_cost_s is not None:
                self.row_cost_s = float(row_cost_s)
            if list_base_s is not None:
                self.list_base_s = float(list_base_s)
            if api_workers is not None:
                self.api_workers = api_workers

    def pay_list_cost(self, rows: int) -> None:
        """Sleep what answering `rows` rows costs (outside the lock), through the bounded workers if any."""
        with self.lock:
            cost = self.list_base_s + rows * self.row_cost_s
            if self.api_workers != self._workers_n:
                self._workers_n = self.api_workers
                self._workers = threading.BoundedSemaphore(self.api_workers) if self.api_workers else None
            workers = self._workers
        if cost <= 0:
            return
        if workers is None:
            self.sleep(cost)
            return
        with workers:
            self.sleep(cost)

    # --- call counting ---------------------------------------------------------------------------------------

    def count(self, method: str, pattern: str, ids: tuple[str, ...], status: int, member: str | None,
              received: float | None = None, rows: int | None = None, lie: str | None = None,
              resource: str | None = None, exists: bool | None = None) -> None:
        with self.lock:
            self._calls[f"{method} {pattern}"] += 1
            if rows is not None:
                self._rows[f"{method} {pattern}"] += rows
            self._log.append(Call(time.monotonic(), method, pattern, ids, status, member, received, rows, lie,
                                  resource, exists))
            if len(self._log) > CALL_LOG_MAX:
                del self._log[: CALL_LOG_MAX // 2]

    def resource_exists(self, pattern: str, resource: str) -> bool:
        """Whether the network (dhcp-networks patterns) or router (l3-routers patterns) exists now."""
        with self.lock:
            return resource in (self.networks if "dhcp-networks" in pattern else self.routers)

    def rows_served(self) -> dict[str, int]:
        """Rows answered by list calls since the last reset_stats, by "METHOD pattern"."""
        with self.lock:
            return dict(self._rows)

    def drain_calls(self) -> list[Call]:
        """Every counted call since the last drain, oldest first, and forget them (a long chaos run reads the
        log as it goes, so the emulator's memory stays flat)."""
        with self.lock:
            calls, self._log = self._log, []
            return calls

    def reset_stats(self) -> None:
        with self.lock:
            self._calls.clear()
            self._rows.clear()
            self._log.clear()

    def call_log(self) -> list[dict[str, Any]]:
        """Every counted call, oldest first: at (monotonic), method, pattern, ids, status (0: reset), member,
        received (monotonic), rows, lie, resource, exists."""
        with self.lock:
            return [c.as_dict() for c in self._log]

    def stats(self) -> dict[str, Any]:
        """{"calls": {"METHOD /pattern": n}, "rows": {"METHOD /pattern": rows answered},
        "agents": [{id, host, agent_type, alive, admin_state_up}],
        "bindings": {"l3": {router_id: [agent_id...]}, "dhcp": {network_id: [agent_id...]}}}"""
        with self.lock:
            return {
                "calls": dict(self._calls),
                "rows": dict(self._rows),
                "agents": [{"id": a.id, "host": a.host, "agent_type": a.agent_type, "alive": self.is_alive(a),
                            "admin_state_up": a.admin_state_up} for a in self.agents.values()],
                "bindings": {
                    "l3": _hosts(self._router_hosts, self.routers),
                    "dhcp": _hosts(self._net_hosts, self.networks),
                },
            }

    # --- internals (lock held) -------------------------------------------------------------------------------

    def _new_network(self, name: str, availability_zone_hints: list[str] | None) -> str:
        net_id = self.new_id()
        self.networks[net_id] = {"name": name, "availability_zone_hints": list(availability_zone_hints or []),
                                 "revision_number": 1}
        self._net_subnets[net_id] = set()
        return net_id

    def _new_subnet(self, net_id: str, enable_dhcp: bool, cidr: str | None = None, name: str = "",
                    ip_version: int = 4) -> str:
        subnet_id = self.new_id()
        index = self._subnet_seq
        self._subnet_seq += 1
        self.subnets[subnet_id] = {"network_id": net_id, "enable_dhcp": enable_dhcp, "ip_version": ip_version,
                                   "cidr": cidr or f"10.{index // 256 % 256}.{index % 256}.0/24", "name": name,
                                   "revision_number": 1}
        self._net_subnets.setdefault(net_id, set()).add(subnet_id)
        return subnet_id

    def _remove_subnet(self, subnet_id: str) -> bool:
        subnet = self.subnets.pop(subnet_id, None)
        if subnet is None:
            return False
        self._net_subnets.get(subnet["network_id"], set()).discard(subnet_id)
        return True

    def _bind_network(self, agent_id: str, net_id: str) -> bool:
        nets = self.dhcp.setdefault(agent_id, set())
        if net_id in nets:
            return False
        nets.add(net_id)
        self._net_hosts.setdefault(net_id, []).append(agent_id)
        return True

    def _unbind_network(self, agent_id: str, net_id: str) -> bool:
        nets = self.dhcp.get(agent_id)
        if nets is None or net_id not in nets:
            return False
        nets.discard(net_id)
        hosts = self._net_hosts.get(net_id, [])
        if agent_id in hosts:
            hosts.remove(agent_id)
        return True

    def _bind_router(self, agent_id: str, router_id: str) -> bool:
        routers = self.l3.setdefault(agent_id, set())
        if router_id in routers:
            return False
        routers.add(router_id)
        self._router_hosts.setdefault(router_id, []).append(agent_id)
        return True

    def _unbind_router(self, agent_id: str, router_id: str) -> bool:
        routers = self.l3.get(agent_id)
        if routers is None or router_id not in routers:
            return False
        routers.discard(router_id)
        hosts = self._router_hosts.get(router_id, [])
        if agent_id in hosts:
            hosts.remove(agent_id)
        return True


def _hosts(index: dict[str, list[str]], resources: dict[str, Any]) -> dict[str, list[str]]:
    table: dict[str, list[str]] = {r: [] for r in resources}
    for resource_id, agent_ids in index.items():
        if agent_ids or resource_id in table:
            table[resource_id] = sorted(agent_ids)
    return table


def _ts(epoch: float) -> str:
    """Neutron's timestamp format (1 s precision, UTC, no zone suffix)."""
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S")
