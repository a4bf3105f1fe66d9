"""The emulated Neutron's resources: building a cloud, and the API that shows, creates, updates and deletes them.

Why it exists: the tests, the demo and the benchmarks build topologies directly (add_agent, add_network,
bind_router: no checks, for setting a scene), and rpcdaemon and the chaos runs change them through the API the way
a real Neutron would: deleting a network, router or agent deletes its bindings too (Neutron's bindings are
ON DELETE CASCADE rows), and a network's first DHCP-enabled subnet schedules the network on a DHCP agent (Neutron's
DHCP notifier does so on subnet_create_end: neutron/api/rpc/agentnotifiers/dhcp_rpc_agent_api.py,
DhcpAgentNotifyAPI._notify_agents). Each change raises
the notification Neutron would (<resource>.create.end, .update.end, .delete.end). The scheduling calls, with their
order of checks, are scheduling.py.
"""

from __future__ import annotations

from typing import Any

from rpcdaemon.emulator.errors import ApiError, network_not_found, router_not_found
from rpcdaemon.emulator.rows import NeutronRows
from rpcdaemon.emulator.state import DHCP, L3, L3_MODES, AgentRec


class ResourceApi(NeutronRows):
    """Building (Python API: direct, for the demo, tests and benchmarks) and the resource API (what the HTTP server
    calls for /v2.0/agents, /networks, /subnets and /routers)."""

    # --- building --------------------------------------------------------------------------------------------

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
            del self.routers[router_id]
            self.emit("router.delete.end", {"router_id": router_id, "router": row})

    def subnets_of(self, net_id: str) -> list[str]:
        with self.lock:
            return sorted(self._net_subnets.get(net_id, ()))

    def remove_subnet(self, subnet_id: str) -> bool:
        with self.transaction():
            return self._remove_subnet(subnet_id)

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
