"""The emulated cloud's state: agents with heartbeats, networks, subnets, routers, bindings, faults, call counts.

Answers follow a real Neutron 29 (shared/notes/neutron-facts.md): the same status codes and NeutronError types for
the scheduling API, `alive` computed from heartbeats against `agent_down_time`, cascading deletes. Time comes from
an injected clock, so tests can let "75 seconds" pass instantly. One lock guards everything; latency and injected
delays are slept outside it by the server.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

DHCP = "DHCP agent"
L3 = "L3 agent"


class ApiError(Exception):
    """An error answer: HTTP status and NeutronError type."""

    def __init__(self, status: int, error_type: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.error_type = error_type
        self.message = message

    def body(self) -> dict[str, Any]:
        return {"NeutronError": {"type": self.error_type, "message": self.message, "detail": ""}}


@dataclass
class AgentRec:
    id: str
    agent_type: str
    host: str
    availability_zone: str
    agent_mode: str | None
    admin_state_up: bool
    up_since: float
    created_at: float
    down_at: float | None = None


@dataclass
class Fault:
    method: str
    pattern: str
    status: int | None = None
    delay_s: float = 0.0
    count: int = 1
    reset: bool = False

    def matches(self, method: str, pattern: str) -> bool:
        return self.method in ("*", method) and self.pattern in ("*", pattern)


@dataclass
class Call:
    at: float
    method: str
    pattern: str
    ids: tuple[str, ...]
    status: int
    member: str | None


@dataclass
class Cloud:
    agent_down_time: float = 75.0
    report_interval: float | None = None
    clock: Callable[[], float] = time.time
    seed: int | None = None
    latency_s: float = 0.0
    agents: dict[str, AgentRec] = field(default_factory=dict)
    networks: dict[str, dict[str, Any]] = field(default_factory=dict)
    subnets: dict[str, dict[str, Any]] = field(default_factory=dict)
    routers: dict[str, dict[str, Any]] = field(default_factory=dict)
    dhcp: dict[str, set[str]] = field(default_factory=dict)
    l3: dict[str, set[str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.report_interval is None:
            self.report_interval = max(self.agent_down_time / 4, 0.2)
        self.lock = threading.RLock()
        self._rng = random.Random(self.seed)
        self._calls: Counter[str] = Counter()
        self._log: list[Call] = []
        self._faults: list[Fault] = []
        self._races: dict[str, str] = {}
        self._net_subnets: dict[str, set[str]] = {}
        self.notify: Callable[[str, dict[str, Any]], None] | None = None
        """Called with (event_type, payload) as Neutron's notifier would (set when the emulator has a bus)."""

    # --- building -----------------------------------------------------------------------------------------

    def new_id(self) -> str:
        return str(uuid.UUID(int=self._rng.getrandbits(128), version=4))

    def add_agent(self, agent_type: str, host: str, availability_zone: str = "nova", agent_mode: str | None = None,
                  admin_state_up: bool = True) -> str:
        with self.lock:
            agent_id = self.new_id()
            now = self.clock()
            mode = (agent_mode or "legacy") if agent_type == L3 else None
            self.agents[agent_id] = AgentRec(agent_id, agent_type, host, availability_zone, mode, admin_state_up,
                                             up_since=now, created_at=now)
            (self.dhcp if agent_type == DHCP else self.l3).setdefault(agent_id, set())
            return agent_id

    def add_network(self, name: str = "", dhcp: bool = True, availability_zone_hints: list[str] | None = None) -> str:
        with self.lock:
            net_id = self.new_id()
            self.networks[net_id] = {"name": name, "availability_zone_hints": list(availability_zone_hints or []),
                                     "revision_number": 1}
            self._add_subnet(net_id, dhcp)
        self.emit("network.create.end", {"network": {"id": net_id, "revision_number": 1}})
        return net_id

    def subnets_of(self, net_id: str) -> list[str]:
        return list(self._net_subnets.get(net_id, ()))

    def remove_subnet(self, subnet_id: str) -> bool:
        subnet = self.subnets.pop(subnet_id, None)
        if subnet is None:
            return False
        self._net_subnets.get(subnet["network_id"], set()).discard(subnet_id)
        return True

    def emit(self, event_type: str, payload: dict[str, Any]) -> None:
        if self.notify is not None:
            self.notify(event_type, payload)

    def _add_subnet(self, net_id: str, enable_dhcp: bool, cidr: str | None = None) -> str:
        subnet_id = self.new_id()
        index = len(self.subnets)
        self.subnets[subnet_id] = {"network_id": net_id, "enable_dhcp": enable_dhcp, "ip_version": 4,
                                   "cidr": cidr or f"10.{index // 256 % 256}.{index % 256}.0/24", "name": "",
                                   "revision_number": 1}
        self._net_subnets.setdefault(net_id, set()).add(subnet_id)
        return subnet_id

    def delete_network(self, net_id: str) -> None:
        with self.lock:
            if self.networks.pop(net_id, None) is None:
                raise ApiError(404, "NetworkNotFound", f"Network {net_id} could not be found.")
            for subnet_id in self.subnets_of(net_id):
                self.remove_subnet(subnet_id)
            for nets in self.dhcp.values():
                nets.discard(net_id)
        self.emit("network.delete.end", {"network_id": net_id})

    def add_router(self, name: str = "", ha: bool = False, distributed: bool = False,
                   availability_zone_hints: list[str] | None = None) -> str:
        with self.lock:
            router_id = self.new_id()
            self.routers[router_id] = {"name": name, "ha": ha, "distributed": distributed,
                                       "availability_zone_hints": list(availability_zone_hints or []),
                                       "revision_number": 1}
        self.emit("router.create.end", {"router": {"id": router_id, "revision_number": 1}})
        return router_id

    def delete_router(self, router_id: str) -> None:
        with self.lock:
            if self.routers.pop(router_id, None) is None:
                raise ApiError(404, "RouterNotFound", f"Router {router_id} could not be found.")
            for routers in self.l3.values():
                routers.discard(router_id)
        self.emit("router.delete.end", {"router_id": router_id})

    def bind_network(self, agent_id: str, net_id: str) -> None:
        with self.lock:
            self.dhcp.setdefault(agent_id, set()).add(net_id)

    def bind_router(self, agent_id: str, router_id: str) -> None:
        with self.lock:
            self.l3.setdefault(agent_id, set()).add(router_id)

    @classmethod
    def build(cls, dhcp_agents: int = 3, l3_agents: int = 3, networks: int = 10, routers: int = 10,
              dhcp_per_network: int = 1, agent_down_time: float = 75.0, seed: int | None = None,
              availability_zones: int = 1, clock: Callable[[], float] = time.time,
              report_interval: float | None = None) -> Cloud:
        cloud = cls(agent_down_time=agent_down_time, report_interval=report_interval, clock=clock, seed=seed)

        def zone(i: int) -> str:
            return "nova" if availability_zones <= 1 else f"az-{i % availability_zones + 1}"

        dhcp_ids = [cloud.add_agent(DHCP, f"net-{i + 1}", zone(i)) for i in range(dhcp_agents)]
        l3_ids = [cloud.add_agent(L3, f"net-{i + 1}", zone(i)) for i in range(l3_agents)]
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
        with self.lock:
            agent = self._agent(agent_id)
            if agent.down_at is None:
                agent.down_at = self.clock()

    def set_agent_up(self, agent_id: str) -> None:
        with self.lock:
            agent = self._agent(agent_id)
            if agent.down_at is not None:
                agent.down_at = None
                agent.up_since = self.clock()

    def set_admin_state(self, agent_id: str, up: bool) -> None:
        with self.lock:
            self._agent(agent_id).admin_state_up = up

    def _agent(self, agent_id: str) -> AgentRec:
        agent = self.agents.get(agent_id)
        if agent is None:
            raise ApiError(404, "AgentNotFound", f"Agent {agent_id} could not be found.")
        return agent

    def last_heartbeat(self, agent: AgentRec) -> float:
        interval = self.report_interval or 1.0
        until = agent.down_at if agent.down_at is not None else self.clock()
        beats = int(max(0.0, until - agent.up_since) // interval)
        return agent.up_since + beats * interval

    def is_alive(self, agent: AgentRec) -> bool:
        return self.clock() - self.last_heartbeat(agent) <= self.agent_down_time

    def agent_row(self, agent: AgentRec) -> dict[str, Any]:
        config: dict[str, Any] = ({"agent_mode": agent.agent_mode, "routers": len(self.l3.get(agent.id, ()))}
                                  if agent.agent_type == L3 else {"networks": len(self.dhcp.get(agent.id, ()))})
        binary = "neutron-l3-agent" if agent.agent_type == L3 else "neutron-dhcp-agent"
        return {
            "id": agent.id, "agent_type": agent.agent_type, "binary": binary, "host": agent.host,
            "availability_zone": agent.availability_zone, "admin_state_up": agent.admin_state_up,
            "alive": self.is_alive(agent), "heartbeat_timestamp": _ts(self.last_heartbeat(agent)),
            "started_at": _ts(agent.up_since), "created_at": _ts(agent.created_at),
            "topic": "l3_agent" if agent.agent_type == L3 else "dhcp_agent", "configurations": config,
            "resources_synced": None, "description": None,
        }

    # --- scheduling API ------------------------------------------------------------------------------------

    def add_network_to_agent(self, agent_id: str, net_id: str) -> None:
        with self.lock:
            agent = self.agents.get(agent_id)
            if agent is None or agent.agent_type != DHCP:
                raise ApiError(404, "InvalidDHCPAgent",
                               f"Agent {agent_id} is not a valid DHCP Agent or has been disabled.")
            if net_id not in self.networks:
                raise ApiError(404, "NetworkNotFound", f"Network {net_id} could not be found.")
            if net_id in self.dhcp.setdefault(agent_id, set()):
                raise ApiError(409, "NetworkHostedByDHCPAgent",
                               f"The network {net_id} has been already hosted by the DHCP Agent {agent_id}.")
            self.dhcp[agent_id].add(net_id)

    def remove_network_from_agent(self, agent_id: str, net_id: str) -> None:
        with self.lock:
            if net_id not in self.dhcp.get(agent_id, set()):
                raise ApiError(409, "NetworkNotHostedByDhcpAgent",
                               f"The network {net_id} is not hosted by the DHCP agent {agent_id}.")
            self.dhcp[agent_id].discard(net_id)

    def add_router_to_agent(self, agent_id: str, router_id: str) -> None:
        with self.lock:
            race = self._races.pop(router_id, None)
            if race is not None:
                self.bind_router(race, router_id)
            agent = self.agents.get(agent_id)
            if agent is None or agent.agent_type != L3 or not agent.admin_state_up:
                raise ApiError(404, "InvalidL3Agent", f"Agent {agent_id} is not a L3 Agent or has been disabled.")
            router = self.routers.get(router_id)
            if router is None:
                raise ApiError(404, "RouterNotFound", f"Router {router_id} could not be found.")
            if agent.agent_mode == "dvr":
                raise ApiError(409, "DVRL3CannotAssignToDvrAgent",
                               "Not allowed to manually assign a router to an agent in 'dvr' mode.")
            if router["distributed"] and agent.agent_mode == "legacy":
                raise ApiError(409, "RouterL3AgentMismatch",
                               f"Cannot host distributed router {router_id} on legacy L3 agent {agent_id}.")
            hosts = [a for a, routers in self.l3.items() if router_id in routers]
            if agent_id in hosts:
                return
            if hosts and not router["ha"]:
                raise ApiError(409, "RouterHostedByL3Agent",
                               f"The router {router_id} has been already hosted by the L3 Agent {hosts[0]}.")
            self.l3.setdefault(agent_id, set()).add(router_id)

    def remove_router_from_agent(self, agent_id: str, router_id: str) -> None:
        with self.lock:
            self.l3.get(agent_id, set()).discard(router_id)

    # --- faults, counting ----------------------------------------------------------------------------------

    def add_fault(self, method: str, pattern: str, status: int | None = None, delay_s: float = 0.0, count: int = 1,
                  reset: bool = False) -> None:
        with self.lock:
            self._faults.append(Fault(method, pattern, status, delay_s, count, reset))

    def add_race_on_next_add_router(self, router_id: str, agent_id: str) -> None:
        with self.lock:
            self._races[router_id] = agent_id

    def take_fault(self, method: str, pattern: str) -> Fault | None:
        with self.lock:
            for fault in self._faults:
                if fault.matches(method, pattern):
                    fault.count -= 1
                    if fault.count <= 0:
                        self._faults.remove(fault)
                    return fault
            return None

    def count(self, method: str, pattern: str, ids: tuple[str, ...], status: int, member: str | None) -> None:
        with self.lock:
            self._calls[f"{method} {pattern}"] += 1
            self._log.append(Call(time.monotonic(), method, pattern, ids, status, member))
            if len(self._log) > 200_000:
                del self._log[:100_000]

    def reset_stats(self) -> None:
        with self.lock:
            self._calls.clear()
            self._log.clear()

    def call_log(self) -> list[dict[str, Any]]:
        with self.lock:
            return [c.__dict__ | {"ids": list(c.ids)} for c in self._log]

    def stats(self) -> dict[str, Any]:
        with self.lock:
            return {
                "calls": dict(self._calls),
                "agents": [{"id": a.id, "host": a.host, "agent_type": a.agent_type, "alive": self.is_alive(a),
                            "admin_state_up": a.admin_state_up} for a in self.agents.values()],
                "bindings": {
                    "l3": _invert(self.l3, self.routers),
                    "dhcp": _invert(self.dhcp, self.networks),
                },
            }


def _invert(table: dict[str, set[str]], resources: dict[str, Any]) -> dict[str, list[str]]:
    result: dict[str, list[str]] = {r: [] for r in resources}
    for agent_id, ids in table.items():
        for resource_id in ids:
            result.setdefault(resource_id, []).append(agent_id)
    return {r: sorted(a) for r, a in result.items()}


def _ts(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S")
