"""The emulated cloud: a Neutron's state and API, with faults to inject, call accounting and a cost model.

Why it exists: rpcdaemon must be tried, tested and benchmarked without an OpenStack, against a Neutron that answers
as a real Neutron 29 does: the same status codes and NeutronError types for the scheduling API, in the same order
of checks; `alive` computed by the server from heartbeats against `agent_down_time`; cascading deletes;
scheduling a network when a subnet is created in it, and an HA router when it is created. It also records what a
real server cannot tell (every call, with the rows it answered and, for a scheduling call, whether its resource
existed), injects faults on demand, and can make list answers cost what a real server's do.

`Cloud` is the one object the rest of the code holds, assembled from one module per concern:
- state.py: the store (agents, networks, subnets, routers, bindings), its lock, notifications and liveness;
- ports.py: the ports the bindings make, their activation by the agents, HA states, inert agents;
- rows.py: the rows as the API shows them; resources.py: building, and the resource API with Neutron's cascades;
- scheduling.py: the scheduling calls and lists, with Neutron's order of checks;
- faults.py: injected errors, delays, resets, garbage, lies and races (`Faults`, composed: `cloud.faults`);
- calls.py: call accounting (`CallLog`, composed: `cloud.calls`);
- cost.py: the cost model of list answers.
The Neutron layers are bases of `Cloud` because they share one store that callers read directly (cloud.agents,
cloud.routers under cloud.lock); faults, calls and the cost model keep their own state and are parts of it. This
module declares the fields, wires the parts and keeps the public API that the HTTP side (server.py), the bus,
the tests and the benchmarks use; it re-exports the names they import from here. One lock guards everything;
latency, injected delays and the cost of lists are slept outside it. These modules are pure Python: the HTTP side
is server.py.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from rpcdaemon.emulator.calls import CALL_LOG_MAX, Call, CallLog
from rpcdaemon.emulator.cost import ApiWorkers, check_cost, pay
from rpcdaemon.emulator.errors import ApiError, agent_not_found, network_not_found, router_not_found
from rpcdaemon.emulator.faults import LIES, LIST_KEYS, Answers, Fault, Faults, split_pattern
from rpcdaemon.emulator.ports import RemovalFacts
from rpcdaemon.emulator.resources import ResourceApi
from rpcdaemon.emulator.scheduling import SchedulingApi
from rpcdaemon.emulator.state import DHCP, DVR_ONLY_MODES, L3, L3_MODES, OVS, PROJECT_ID, AgentRec, Notify

__all__ = [
    "CALL_LOG_MAX", "DHCP", "DVR_ONLY_MODES", "L3", "L3_MODES", "LIES", "LIST_KEYS", "OVS", "PROJECT_ID", "AgentRec",
    "ApiError", "Call", "Cloud", "Fault", "Notify", "agent_not_found", "network_not_found", "router_not_found",
    "split_pattern",
]


@dataclass(eq=False, repr=False)
class Cloud(SchedulingApi, ResourceApi):
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
    dhcp_agents_per_network: int = 1
    """Neutron's option: the DHCP agents a network is put on when a subnet is created in it."""
    max_l3_agents_per_router: int = 3
    """Neutron's option: the most L3 agents an HA router is put on when it is created (0: every candidate)."""
    activation_delay_s: float = 0.0
    """Seconds (on `clock`) from a port's binding to its activation by the agent of its host (ports.py). 0 here, so
    that a replica bound by hand is active at once as before; Cloud.build's default is 0.5."""
    agents: dict[str, AgentRec] = field(default_factory=dict)
    networks: dict[str, dict[str, Any]] = field(default_factory=dict)
    subnets: dict[str, dict[str, Any]] = field(default_factory=dict)
    routers: dict[str, dict[str, Any]] = field(default_factory=dict)
    dhcp: dict[str, set[str]] = field(default_factory=dict)
    """DHCP agent id -> ids of the networks it hosts"""
    l3: dict[str, set[str]] = field(default_factory=dict)
    """L3 agent id -> ids of the routers it hosts"""

    def __post_init__(self) -> None:
        self._init_state()
        self.faults = Faults(self.lock, self.seed)
        self.calls = CallLog(self.lock)
        self._workers = ApiWorkers()

    @property
    def _answers(self) -> Answers:
        """The kept list answers (Faults.answers), here too so that a test can age them."""
        return self.faults.answers

    @_answers.setter
    def _answers(self, value: Answers) -> None:
        self.faults.answers = value

    @classmethod
    def build(cls, dhcp_agents: int = 3, l3_agents: int = 3, networks: int = 10, routers: int = 10,
              dhcp_per_network: int = 1, agent_down_time: float = 75.0, seed: int | None = None,
              availability_zones: int = 1, clock: Callable[[], float] = time.time,
              report_interval: float | None = None, latency_s: float = 0.0, l3_agent_mode: str = "legacy",
              dvr_agents: int = 0, row_cost_s: float = 0.0, list_base_s: float = 0.0, api_workers: int = 0,
              activation_delay_s: float = 0.5) -> Cloud:
        """Hosts net-1, net-2... each with a DHCP and/or an L3 agent (zone "nova", or az-1..az-N round robin);
        networks (one DHCP subnet each) bound round robin to `dhcp_per_network` DHCP agents, legacy routers bound
        round robin to the L3 agents, router n with an interface on network n's subnet when there is a network n;
        compute hosts cmp-1, cmp-2... with an L3 agent in `dvr` mode each (hosting nothing rpcdaemon may touch).
        Ports go ACTIVE `activation_delay_s` after their binding (on `clock`)."""
        if min(dhcp_agents, l3_agents, networks, routers, dhcp_per_network, availability_zones, dvr_agents) < 0:
            raise ValueError("counts must be >= 0")
        cloud = cls(agent_down_time=agent_down_time, report_interval=report_interval, clock=clock, seed=seed,
                    latency_s=latency_s, activation_delay_s=activation_delay_s)
        cloud.set_cost(row_cost_s=row_cost_s, list_base_s=list_base_s, api_workers=api_workers)

        def zone(i: int) -> str:
            return "nova" if availability_zones <= 1 else f"az-{i % availability_zones + 1}"

        dhcp_ids = [cloud.add_agent(DHCP, f"net-{i + 1}", zone(i)) for i in range(dhcp_agents)]
        l3_ids = [cloud.add_agent(L3, f"net-{i + 1}", zone(i), agent_mode=l3_agent_mode) for i in range(l3_agents)]
        for i in range(dvr_agents):
            cloud.add_agent(L3, f"cmp-{i + 1}", zone(i), agent_mode="dvr")
        net_ids = []
        for n in range(networks):
            net_id = cloud.add_network(name=f"net{n}")
            net_ids.append(net_id)
            for k in range(min(dhcp_per_network, len(dhcp_ids))):
                cloud.bind_network(dhcp_ids[(n + k) % len(dhcp_ids)], net_id)
        for n in range(routers):
            router_id = cloud.add_router(name=f"router{n}")
            if l3_ids:
                cloud.bind_router(l3_ids[n % len(l3_ids)], router_id)
            if n < len(net_ids):
                cloud.add_router_interface(router_id, cloud.subnets_of(net_ids[n])[0])
        return cloud

    def delete_router(self, router_id: str) -> None:
        """Delete a router, its L3 bindings and its ports (Neutron cascades); a race waiting for it goes too."""
        with self.transaction():
            super().delete_router(router_id)
            self.faults.drop_race(router_id)

    # --- faults (faults.py) ----------------------------------------------------------------------------------

    def add_fault(self, method: str, pattern: str, status: int | None = None, delay_s: float = 0.0, count: int = 1,
                  reset: bool = False, body: str | None = None, lie: str | None = None, share: float = 0.5,
                  age_s: float = 10.0) -> None:
        """Answer the next `count` calls matching method and pattern with a fault: see Faults.add."""
        self.faults.add(method, pattern, status, delay_s, count, reset, body, lie, share, age_s)

    def clear_faults(self) -> None:
        self.faults.clear()

    def add_race_on_next_add_router(self, router_id: str, agent_id: str) -> None:
        """On the next POST l3-routers for this router, another actor first puts it on `agent_id` (moving a
        non-HA router there), so that call meets the state another actor left: 409 RouterHostedByL3Agent for a
        legacy router going elsewhere."""
        self.faults.add_race(router_id, agent_id)

    def take_fault(self, method: str, pattern: str) -> Fault | None:
        """The first fault matching this call, consumed; `pattern` with or without the method in front."""
        return self.faults.take(method, pattern)

    def lie_about(self, fault: Fault, pattern: str, request: tuple[Any, ...], answer: dict[str, Any],
                  ) -> dict[str, Any] | None:
        """The answer `fault` turns this real list answer into (None: the truth is answered): see
        Faults.lie_about."""
        return self.faults.lie_about(fault, pattern, request, answer)

    def remember_answer(self, request: tuple[Any, ...], answer: dict[str, Any]) -> None:
        """Keep a true list answer (at most one per request kind per second, for answer_history_s)."""
        self.faults.remember_answer(request, answer, self.answer_history_s)

    # --- the cost model (cost.py) ----------------------------------------------------------------------------

    def set_cost(self, row_cost_s: float | None = None, list_base_s: float | None = None,
                 api_workers: int | None = None) -> None:
        """The cost model: each list answer takes list_base_s + rows x row_cost_s, through api_workers at a time
        (0: no bound); None leaves a value as it is."""
        check_cost(row_cost_s, list_base_s, api_workers)
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
            slots = self._workers.slots(self.api_workers)
        pay(cost, slots, self.sleep)

    # --- call accounting (calls.py) --------------------------------------------------------------------------

    def count(self, method: str, pattern: str, ids: tuple[str, ...], status: int, member: str | None,
              received: float | None = None, rows: int | None = None, lie: str | None = None,
              resource: str | None = None, exists: bool | None = None,
              removal: RemovalFacts | None = None) -> None:
        self.calls.count(method, pattern, ids, status, member, received, rows, lie, resource, exists, removal)

    def rows_served(self) -> dict[str, int]:
        """Rows answered by list calls since the last reset_stats, by "METHOD pattern"."""
        return self.calls.rows_served()

    def drain_calls(self) -> list[Call]:
        """Every counted call since the last drain, oldest first, and forget them (a long chaos run reads the
        log as it goes, so the emulator's memory stays flat)."""
        return self.calls.drain()

    def reset_stats(self) -> None:
        self.calls.reset()

    def call_log(self) -> list[dict[str, Any]]:
        """Every counted call, oldest first: at (monotonic), method, pattern, ids, status (0: reset), member,
        received (monotonic), rows, lie, resource, exists."""
        return self.calls.as_dicts()

    def stats(self) -> dict[str, Any]:
        """{"calls": {"METHOD /pattern": n}, "rows": {"METHOD /pattern": rows answered},
        "agents": [{id, host, agent_type, alive, admin_state_up}],
        "bindings": {"l3": {router_id: [agent_id...]}, "dhcp": {network_id: [agent_id...]}}}"""
        with self.lock:
            return {
                "calls": self.calls.counts(),
                "rows": self.calls.rows_served(),
                "agents": [{"id": a.id, "host": a.host, "agent_type": a.agent_type, "alive": self.is_alive(a),
                            "admin_state_up": a.admin_state_up} for a in self.agents.values()],
                "bindings": {
                    "l3": _hosts(self._router_hosts, self.routers),
                    "dhcp": _hosts(self._net_hosts, self.networks),
                },
            }


def _hosts(index: dict[str, list[str]], resources: dict[str, Any]) -> dict[str, list[str]]:
    table: dict[str, list[str]] = {r: [] for r in resources}
    for resource_id, agent_ids in index.items():
        if agent_ids or resource_id in table:
            table[resource_id] = sorted(agent_ids)
    return table
