"""The emulated Neutron's scheduling API: what Neutron 29 answers when a network or router is put on or taken off
an agent, and in which order it checks.

Why it exists: rpcdaemon's repairs are these calls, and it reads their answers to decide what happened (409
NetworkHostedByDHCPAgent: the binding already is as wanted; InvalidL3Agent or RouterL3AgentMismatch: this agent
will not take this router; 409 RouterHostedByL3Agent: a race with another actor), so the emulator must make the
same checks in the same order as Neutron, and answer the first that fails with the same status and NeutronError
type:

- add a network (neutron/db/agentschedulers_db.py, DhcpAgentSchedulerDbMixin.add_network_to_dhcp_agent): 404
  NetworkNotFound; 404 AgentNotFound; 404 InvalidDHCPAgent (not a DHCP agent, or disabled; liveness is not
  checked); 409 NetworkHostedByDHCPAgent (already on that agent).
- remove a network (remove_network_from_dhcp_agent): 404 AgentNotFound; 409 NetworkNotHostedByDhcpAgent.
- add a router (neutron/db/l3_agentschedulers_db.py, L3AgentSchedulerDbMixin.add_router_to_l3_agent, then
  validate_agent_router_combination and check_agent_router_scheduling_needed): 404 RouterNotFound; 404
  AgentNotFound; 404 InvalidL3Agent (not an L3 agent); 409 DVRL3CannotAssignToDvrAgent (a compute node's agent);
  409 RouterL3AgentMismatch (a distributed router on a legacy agent); 404 InvalidL3Agent (disabled); then a
  success with no change when the agent already hosts it, 409 RouterHostedByL3Agent when a non-HA router is on
  another agent, else the binding.
- remove a router (remove_router_from_l3_agent): 404 AgentNotFound; 409 DVRL3CannotRemoveFromDvrAgent; the
  binding goes (a no-op when absent); then 404 RouterNotFound for a router that does not exist.

It also answers the scheduler's sub-resource lists (networks on an agent, agents hosting a router...), plays the
injected race (faults.py) that makes a call meet the state another actor has just left, and is Neutron's own
scheduler where the API's creations call it (resources.py), so that what a tenant creates lands where Neutron 29
puts it:

- schedule_network, on every subnet created, DHCP-enabled or not (neutron/api/rpc/agentnotifiers/
  dhcp_rpc_agent_api.py, DhcpAgentNotifyAPI._notify_agents schedules on subnet_create_end; the DhcpFilter of
  neutron/scheduler/dhcp_agent_scheduler.py does not look at enable_dhcp): a network hosted by fewer than
  dhcp_agents_per_network agents (dead or disabled ones count) goes on the missing number of DHCP agents that are
  enabled, alive, in the network's availability_zone_hints if it has any, the least loaded first (WeightScheduler:
  the fewest networks).
- schedule_ha_router, when an HA router is created (neutron/db/l3_hamode_db.py, _after_router_create; a legacy
  router waits for an interface or a manual call): neutron/scheduler/l3_agent_scheduler.py's candidates
  (_get_candidates, get_l3_agent_candidates: L3 agents enabled and alive, not on a compute node (dvr,
  dvr_no_external), not legacy for a distributed router), those of the router's availability_zone_hints if it has
  any, then min(max_l3_agents_per_router, candidates) of them (0: all), the fewest routers first, taken in turn
  from each zone (AZLeastRoutersScheduler; with one zone or none, the same as the default LeastRoutersScheduler,
  which ignores hints).
"""

from __future__ import annotations

from typing import Any

from rpcdaemon.emulator.errors import ApiError, network_not_found, router_not_found
from rpcdaemon.emulator.faults import Faults
from rpcdaemon.emulator.rows import NeutronRows
from rpcdaemon.emulator.state import DHCP, DVR_ONLY_MODES, L3, NeutronState


class SchedulingApi(NeutronRows):
    """The scheduling calls and lists; `faults` (set by Cloud) holds the races to play."""

    faults: Faults

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
            race = self.faults.take_race(router_id)
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

    def _another_actor_binds(self, agent_id: str, router_id: str) -> None:
        """An injected race: another actor puts the router on `agent_id` first (moving a non-HA router)."""
        if not self.routers[router_id]["ha"]:
            for other in list(self._router_hosts.get(router_id, ())):
                if other != agent_id:
                    self._unbind_router(other, router_id)
                    self.emit("l3_agent.router.remove", {"agent": {"id": other, "router_id": router_id}})
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

    # --- the scheduler's lists ---------------------------------------------------------------------------------

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
        """GET /v2.0/routers/{router_id}/l3-agents; rows of an HA router carry ha_state: "active" on the replica
        keepalived made active, "standby" on the others (ports.py, PortState.ha_states)."""
        with self.lock:
            router = self.routers.get(router_id)
            if router is None:
                raise router_not_found(router_id)
            hosts = [self.agents[a] for a in self._router_hosts.get(router_id, ()) if a in self.agents]
            rows = [self.agent_row(a) for a in hosts]
            if router["ha"] and rows:
                states = self.ha_states(router_id)
                for agent, row in zip(hosts, rows, strict=True):
                    row["ha_state"] = states.get(agent.id, "standby")
            return rows


# --- Neutron's own scheduler (the state's lock held) -------------------------------------------------------------


def schedule_network(state: NeutronState, net_id: str) -> list[str]:
    """Put the network on DHCP agents until dhcp_agents_per_network host it, as Neutron does when a subnet is
    created (see the module docstring); the agents chosen, in binding order."""
    hosted = state._net_hosts.get(net_id, [])
    wanted = state.dhcp_agents_per_network - len(hosted)
    if wanted <= 0:
        return []
    hints = set(state.networks[net_id]["availability_zone_hints"])
    hostable = [a for a in state.agents.values()
                if a.agent_type == DHCP and a.admin_state_up and state.is_alive(a) and a.id not in hosted
                and (not hints or a.availability_zone in hints)]
    chosen = sorted(hostable, key=lambda a: (len(state.dhcp.get(a.id, ())), a.id))[:wanted]
    for agent in chosen:
        state._bind_network(agent.id, net_id)
    return [a.id for a in chosen]


def schedule_ha_router(state: NeutronState, router_id: str) -> list[str]:
    """Put a new HA router on its L3 agents, as Neutron does when it is created (see the module docstring); the
    agents chosen, in binding order."""
    router = state.routers[router_id]
    hosted = state._router_hosts.get(router_id, [])
    hints = set(router["availability_zone_hints"])
    candidates = [a for a in state.agents.values()
                  if a.agent_type == L3 and a.admin_state_up and state.is_alive(a) and a.id not in hosted
                  and a.agent_mode not in DVR_ONLY_MODES and not (a.agent_mode == "legacy" and router["distributed"])
                  and (not hints or a.availability_zone in hints)]
    limit = state.max_l3_agents_per_router
    wanted = min(limit, len(candidates)) if limit else len(candidates)
    by_zone: dict[str | None, list[str]] = {}
    for agent in sorted(candidates, key=lambda a: (len(state.l3.get(a.id, ())), a.id)):
        by_zone.setdefault(agent.availability_zone, []).append(agent.id)
    chosen: list[str] = []
    while len(chosen) < wanted:  # one from each zone in turn, the least loaded of it first
        for zone_agents in by_zone.values():
            if zone_agents and len(chosen) < wanted:
                chosen.append(zone_agents.pop(0))
    for agent_id in chosen:
        state._bind_router(agent_id, router_id)
    return chosen
