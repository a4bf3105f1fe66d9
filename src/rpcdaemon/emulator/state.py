"""The emulated Neutron's state: agents with their heartbeats, networks, subnets, routers, the bindings between them.

Why it exists: every layer of the emulated Neutron (the rows a list shows, the resource API, the scheduling checks)
reads and changes this one store, and it must behave as Neutron's database does: an agent's `alive` is computed on
every read from its last heartbeat against `agent_down_time` (neutron/db/agents_db.py,
AgentDbMixin._make_agent_dict: alive = not is_agent_down(heartbeat_timestamp)), so an agent that stops reporting
turns dead by itself once that time has passed; a binding is one row per (agent, resource), and the agents
hosting a resource come back in the order they were bound. Time comes from an injected clock, so tests can let
"75 seconds" pass instantly.

One lock (re-entrant: the layers above nest their calls) guards the store, and with it the faults and the call log
(faults.py, calls.py). Notifications raised while it is held go out after it is released, so a slow or broken bus
never stalls the API.

`NeutronState` is the base of the other layers (rows.py, resources.py, scheduling.py) and of `Cloud` (cloud.py),
the dataclass that declares the fields annotated here and calls `_init_state` once they are set.
"""

from __future__ import annotations

import logging
import random
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from rpcdaemon.emulator.errors import agent_not_found

LOG = logging.getLogger("rpcdaemon.emulator")

PROJECT_ID = "a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5"
"""The one tenant of the emulated cloud."""
DHCP = "DHCP agent"
L3 = "L3 agent"
OVS = "Open vSwitch agent"
L3_MODES = ("legacy", "dvr", "dvr_snat", "dvr_no_external")
DVR_ONLY_MODES = ("dvr", "dvr_no_external")
"""L3 agents on compute nodes: Neutron refuses manual scheduling to and from them."""

Notify = Callable[[str, dict[str, Any]], None]


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
    inert: bool = False
    """A fault (ports.py): the agent takes routers and networks but never activates them."""
    resumed_at: float = 0.0
    """When it last stopped being inert: what it activates is activated from then on."""


class NeutronState:
    """The store, its indexes, its lock and its notifications; liveness; the binding primitives (no checks)."""

    agent_down_time: float
    report_interval: float | None
    clock: Callable[[], float]
    seed: int | None
    dhcp_agents_per_network: int
    max_l3_agents_per_router: int
    agents: dict[str, AgentRec]
    networks: dict[str, dict[str, Any]]
    subnets: dict[str, dict[str, Any]]
    routers: dict[str, dict[str, Any]]
    dhcp: dict[str, set[str]]
    """DHCP agent id -> ids of the networks it hosts"""
    l3: dict[str, set[str]]
    """L3 agent id -> ids of the routers it hosts"""

    def _init_state(self) -> None:
        if self.report_interval is None:
            self.report_interval = max(self.agent_down_time / 4, 0.2)
        if self.report_interval <= 0:
            raise ValueError("report_interval must be > 0")
        if self.dhcp_agents_per_network < 1 or self.max_l3_agents_per_router < 0:
            raise ValueError("dhcp_agents_per_network must be >= 1 and max_l3_agents_per_router >= 0")
        self.lock = threading.RLock()
        self.notify: Notify | None = None
        """Called with (event_type, payload) as Neutron's notifier would (set when the emulator has a bus)."""
        self._rng = random.Random(self.seed)
        self._local = threading.local()
        self._net_subnets: dict[str, set[str]] = {}
        self._net_hosts: dict[str, list[str]] = {}
        """network id -> DHCP agent ids, in binding order"""
        self._router_hosts: dict[str, list[str]] = {}
        """router id -> L3 agent ids, in binding order"""
        self._subnet_seq = 0

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

    # --- ids and liveness ------------------------------------------------------------------------------------

    @property
    def interval(self) -> float:
        return self.report_interval or max(self.agent_down_time / 4, 0.2)

    def new_id(self) -> str:
        with self.lock:
            return str(uuid.UUID(int=self._rng.getrandbits(128), version=4))

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

    def resource_exists(self, pattern: str, resource: str) -> bool:
        """Whether the network (dhcp-networks patterns) or router (l3-routers patterns) exists now."""
        with self.lock:
            return resource in (self.networks if "dhcp-networks" in pattern else self.routers)

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
