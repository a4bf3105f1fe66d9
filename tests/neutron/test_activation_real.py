"""Ports and HA routers on a real Neutron change as real agents make them change (fake_agent.py's activity).

rpcdaemon's repairs are only worth something if what they move comes up where it lands: Neutron binds a router's
ports to the host whose L3 agent syncs it, the port goes ACTIVE when that host's OVS agent reports it up, an HA
router has one replica reported active, a DHCP port is bound to its agent's host. These tests prove that the fake
agents make the real server go through those steps, so the other tests of the tier can read port status and HA
states from Neutron's own API. An inert host (its agents heartbeat, sync and get bindings, but never report a
port up) is the broken data plane that status alone shows.

The tests share the session's testbed (tests/conftest.py): they make their own networks and routers and delete
them after, so the other tests of the tier find the cloud as they expect it. The inert host is made inert while
running (testbed.set_inert, the same switch as fake_agent.py --never-activate / Topology.inert_hosts) and made
active again after.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from testbed import Testbed

from polling import poll

pytestmark = [pytest.mark.neutron, pytest.mark.timeout(600)]
DEADLINE_S = 60


class Made:
    """What a test made on the shared testbed, deleted after it (router interfaces first, then routers, networks)."""

    def __init__(self, bed: Testbed) -> None:
        self.bed = bed
        self.interfaces: list[tuple[str, str]] = []
        self.routers: list[str] = []
        self.networks: list[str] = []

    def network(self, name: str, cidr: str) -> tuple[str, str]:
        net, subnet = self.bed.create_network(name, cidr)
        self.networks.append(net)
        return net, subnet

    def router(self, name: str, on_agent: str | None = None, ha: bool = False) -> str:
        router = self.bed.request("POST", "/v2.0/routers", {"router": {"name": name, "ha": ha}})["router"]["id"]
        self.routers.append(router)
        if on_agent is not None:
            self.bed.place_router(router, on_agent)
        return str(router)

    def interface(self, router: str, subnet: str) -> None:
        self.bed.request("PUT", f"/v2.0/routers/{router}/add_router_interface", {"subnet_id": subnet})
        self.interfaces.append((router, subnet))

    def delete(self) -> None:
        for router, subnet in self.interfaces:
            self.bed.request("PUT", f"/v2.0/routers/{router}/remove_router_interface", {"subnet_id": subnet})
        for router in self.routers:
            self.bed.request("DELETE", f"/v2.0/routers/{router}")
        for net in self.networks:
            self.bed.request("DELETE", f"/v2.0/networks/{net}")


@pytest.fixture
def made(testbed: Testbed) -> Iterator[Made]:
    things = Made(testbed)
    try:
        yield things
    finally:
        things.delete()


def agent_id(bed: Testbed, kind: str, host: str) -> str:
    return next(a.id for a in bed.agents_of(kind) if a.host == host)


def only_port(bed: Testbed, device_id: str) -> dict[str, Any]:
    ports = bed.ports_of(device_id)
    assert len(ports) == 1, ports
    return ports[0]


def up_on(bed: Testbed, device_id: str, host: str) -> bool:
    port = only_port(bed, device_id)
    return bool(port["binding:host_id"] == host and port["status"] == "ACTIVE")


def test_a_legacy_routers_port_goes_active_on_its_host_and_again_on_the_next(testbed: Testbed, made: Made) -> None:
    bed = testbed
    _net, subnet = made.network("act-legacy", "10.60.0.0/24")
    router = made.router("act-legacy", on_agent=agent_id(bed, "l3", "net-1"))
    made.interface(router, subnet)
    poll(lambda: up_on(bed, router, "net-1"), DEADLINE_S, "the interface bound to net-1 and ACTIVE", interval_s=0.2)
    bed.place_router(router, agent_id(bed, "l3", "net-2"))
    poll(lambda: up_on(bed, router, "net-2"), DEADLINE_S, "the interface bound to net-2 and ACTIVE after the move",
         interval_s=0.2)


def test_an_ha_router_has_exactly_one_active_replica_and_its_port_there(testbed: Testbed, made: Made) -> None:
    bed = testbed
    _net, subnet = made.network("act-ha", "10.61.0.0/24")
    router = made.router("act-ha", ha=True)
    made.interface(router, subnet)
    hosts = {a.id: a.host for a in bed.agents_of("l3")}

    def one_active() -> bool:
        states = bed.ha_states(router)
        return len(states) >= 2 and sorted(states.values()).count("active") == 1 and all(
            s in ("active", "standby") for s in states.values())

    poll(one_active, DEADLINE_S, "exactly one replica active, the others standby", interval_s=0.2)
    active = next(hosts[a] for a, s in bed.ha_states(router).items() if s == "active")

    def replicated_port_up_there() -> bool:
        ports = [p for p in bed.ports_of(router) if p["device_owner"] == "network:ha_router_replicated_interface"]
        return len(ports) == 1 and ports[0]["binding:host_id"] == active and ports[0]["status"] == "ACTIVE"

    poll(replicated_port_up_there, DEADLINE_S, f"the router's interface bound to {active} (active) and ACTIVE",
         interval_s=0.2)
    ha_ports = [p for p in bed.ports_of(router) if p["device_owner"] == "network:router_ha_interface"]
    assert {p["binding:host_id"] for p in ha_ports} == {hosts[a] for a in bed.ha_states(router)}
    assert sorted(bed.ha_states(router).values()).count("active") == 1


def test_a_dhcp_port_goes_active_on_its_agents_host(testbed: Testbed, made: Made) -> None:
    bed = testbed
    net, _subnet = made.network("act-dhcp", "10.62.0.0/24")
    on_net1 = agent_id(bed, "dhcp", "net-1")
    if on_net1 not in bed.dhcp_agents_of(net):
        bed.request("POST", f"/v2.0/agents/{on_net1}/dhcp-networks", {"network_id": net})

    def dhcp_port_up() -> bool:
        ports = bed.get(f"/v2.0/ports?network_id={net}&device_owner=network:dhcp")["ports"]
        return any(p["binding:host_id"] == "net-1" and p["status"] == "ACTIVE" for p in ports)

    poll(dhcp_port_up, DEADLINE_S, "the network's DHCP port on net-1 ACTIVE", interval_s=0.2)


def test_a_router_on_an_inert_host_is_bound_there_and_never_goes_active(testbed: Testbed, made: Made) -> None:
    bed = testbed
    _net, subnet = made.network("act-inert", "10.63.0.0/24")
    bed.set_inert("net-3", True)
    try:
        router = made.router("act-inert", on_agent=agent_id(bed, "l3", "net-3"))
        made.interface(router, subnet)
        port = only_port(bed, router)["id"]
        # seen plugged on net-3 by its (inert) OVS agent, after the server bound it there
        poll(lambda: port in bed.withheld("net-3"), DEADLINE_S, "the port plugged on the inert net-3", interval_s=0.2)
        # a router placed after that on a live host goes ACTIVE: the agents had the time to act, and did not
        _net2, subnet2 = made.network("act-inert-control", "10.64.0.0/24")
        control = made.router("act-inert-control", on_agent=agent_id(bed, "l3", "net-1"))
        made.interface(control, subnet2)
        poll(lambda: up_on(bed, control, "net-1"), DEADLINE_S, "the control router's port ACTIVE on net-1",
             interval_s=0.2)
        inert = only_port(bed, router)
        assert inert["binding:host_id"] == "net-3"
        assert inert["status"] != "ACTIVE", inert
    finally:
        bed.set_inert("net-3", False)
