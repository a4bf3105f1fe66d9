"""The emulated Neutron's rows: agents, networks, subnets and routers as the API shows them.

Why it exists: rpcdaemon reads Neutron only through these rows, so they look like a real Neutron 29's, with its
attributes and formats: timestamps "YYYY-MM-DD HH:MM:SS" in UTC without a zone; an agent's `alive` and
`heartbeat_timestamp` computed at read time (state.py); its `configurations` as the agent reports them (an L3
agent's agent_mode and router count, a DHCP agent's network and DHCP-subnet counts); a network's or router's
`availability_zones` derived from the zones of the agents hosting it. One place renders them, for the lists, the
shows, the scheduler sub-resources and the notifications alike.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from rpcdaemon.emulator.ports import PortState
from rpcdaemon.emulator.state import DHCP, L3, OVS, PROJECT_ID, AgentRec

_BINARIES = {
    DHCP: ("neutron-dhcp-agent", "dhcp_agent"),
    L3: ("neutron-l3-agent", "l3_agent"),
    OVS: ("neutron-openvswitch-agent", "N/A"),
    "Metadata agent": ("neutron-metadata-agent", "N/A"),
}


class NeutronRows(PortState):
    """Rows of the state; the caller holds the lock (the *_rows methods take it)."""

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


def _ts(epoch: float) -> str:
    """Neutron's timestamp format (1 s precision, UTC, no zone suffix)."""
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S")
