"""The emulated Neutron's resources: building a cloud, and the API that shows, creates, updates and deletes them.

Why it exists: the tests, the demo and the benchmarks build topologies directly (add_agent, add_network,
bind_router: no checks, for setting a scene), and rpcdaemon and the chaos runs change them through the API the way
a real Neutron would: deleting a network, router or agent deletes its bindings too (Neutron's bindings are
ON DELETE CASCADE rows); a subnet created in a network, DHCP-enabled or not, schedules the network on a DHCP agent
(Neutron's DHCP notifier does so on subnet_create_end), and an HA router is scheduled when it is created (Neutron's
L3 HA mixin does so after the router is created); Neutron's scheduler that they call is in scheduling.py, with the
scheduling calls and their order of checks. Building directly (add_network, add_router) schedules nothing. Each
change raises the notification Neutron would (<resource>.create.end, .update.end, .delete.end).
"""

from __future__ import annotations

from typing import Any

from rpcdaemon.emulator.errors import ApiError, network_not_found, router_not_found
from rpcdaemon.emulator.rows import NeutronRows
from rpcdaemon.emulator.scheduling import schedule_ha_router, schedule_network
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

    def add_router_interface(self, router_id: str, subnet_id: str) -> str:
        """Give a router an interface on a subnet, with no checks (for building topologies): its port, bound
        where the router is served (ports.py); the port id (the existing one when it has one there already)."""
        with self.transaction():
            return self._add_interface(router_id, subnet_id)

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
        """Delete a router, its L3 bindings and its ports (Neutron cascades; it would refuse a router with
        interfaces, RouterInUse: the emulator deletes them, as before interfaces existed)."""
        with self.transaction():
            if router_id not in self.routers:
                raise router_not_found(router_id)
            row = self.router_row(router_id)
            for agent_id in list(self._router_hosts.get(router_id, ())):
                self._unbind_router(agent_id, router_id)
            self._drop_router_ports(router_id)
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
        """POST /v2.0/subnets. Any subnet, DHCP-enabled or not, schedules its network on dhcp_agents_per_network
        (default 1) live, enabled DHCP agents, the fewest networks first, unless enough agents host it already (as
        Neutron 29: scheduling.schedule_network)."""
        with self.transaction():
            if network_id not in self.networks:
                raise network_not_found(network_id)
            subnet_id = self._new_subnet(network_id, enable_dhcp, cidr, name, ip_version)
            row = self.subnet_row(subnet_id)
            self.emit("subnet.create.end", {"subnet": row})
            schedule_network(self, network_id)
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
        """POST /v2.0/routers. An HA router is scheduled at once on max_l3_agents_per_router (default 3) live,
        enabled L3 agents that can host it (scheduling.schedule_ha_router); any other router is hosted nowhere
        (Neutron schedules it when an interface is added). The answer, as Neutron's, is the row from before the
        scheduling."""
        with self.transaction():
            router_id = self.add_router(name, ha, distributed, availability_zone_hints)
            row = self.router_row(router_id)
            if ha:
                schedule_ha_router(self, router_id)
            return row
