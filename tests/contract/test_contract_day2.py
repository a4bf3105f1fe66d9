"""What day-2 operations read and write (issue 12), asked of the emulator and of the real Neutron alike: port status
and binding host (the proof that a move serves), ha_state of HA replicas, and the agent description the drain mark
lives in; through rpcdaemon's own client too (fetch_ports, fetch_ha_states, set_agent).

On the real Neutron the fake agents activate what they host as real ones do (sync_routers, their DHCP port, the OVS
agent's update_device_list): ports go ACTIVE seconds after a binding, so a test polls; on the emulator they are
ACTIVE at once (activation delay 0 on its fake clock).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from contract.backends import Backend
from polling import poll
from rpcdaemon.adapters.neutron.client import NeutronClient
from rpcdaemon.model import DRAIN_MARK, AgentId

ACTIVE_S = 60.0


def host_of(backend: Backend, agent: str) -> str:
    host: str = backend.get(f"/agents/{agent}")["agent"]["host"]
    return host


def ports(backend: Backend, device: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = backend.get("/ports", params={"device_id": device})["ports"]
    return rows


@contextmanager
def interface(backend: Backend, router: str, subnet_cidr: str, name: str) -> Iterator[str]:
    """A router interface on a new network's subnet, removed again on the way out: Neutron refuses to delete a
    router that still has one (409 RouterInUse), and the fixture deletes what the test made."""
    net = backend.network(name, subnet_cidr)
    subnet = backend.get("/subnets", params={"network_id": net})["subnets"][0]["id"]
    answer = backend.call("PUT", f"/routers/{router}/add_router_interface", {"subnet_id": subnet})
    assert answer.status == 200, answer
    assert answer.body["subnet_id"] == subnet and answer.body["id"] == router
    try:
        yield net
    finally:
        backend.call("PUT", f"/routers/{router}/remove_router_interface", {"subnet_id": subnet})


def test_a_legacy_routers_interface_goes_active_on_its_agents_host(backend: Backend) -> None:
    router = backend.router("verify")
    agent = backend.l3[0]
    # placed before it has an interface: Neutron's own auto-scheduling (an L3 agent's sync) takes only routers hosted
    # nowhere, and one with an interface may be taken by it first
    assert backend.add(agent, "router", router).status == 201
    host = host_of(backend, agent)
    with interface(backend, router, "10.79.1.0/24", "verify"):

        def wired() -> bool:
            return any(p["device_owner"] == "network:router_interface" and p["binding:host_id"] == host
                       and p["status"] == "ACTIVE" for p in ports(backend, router))

        poll(wired, ACTIVE_S, "the router's interface port bound to its agent's host and ACTIVE", interval_s=0.5)
        client = NeutronClient.connect(endpoint=backend.url, timeout_s=30)
        read = client.fetch_ports([host], [])
        assert any(p.device_id == router and p.host == host and p.status == "ACTIVE" for p in read.ports)
        assert all(p.host == host for p in read.ports)  # one call: only that host's router and DHCP ports
        everywhere = client.fetch_ports([], [router])
        assert {p.device_owner for p in everywhere.ports} == {"network:router_interface"}


def test_a_networks_dhcp_port_goes_active_on_its_agents_host(backend: Backend) -> None:
    net = backend.network("dhcpport", "10.79.2.0/24")
    (agent,) = backend.network_hosts(net)  # Neutron scheduled it on one DHCP agent at the subnet's creation
    host = host_of(backend, agent)

    def wired() -> bool:
        rows = backend.get("/ports", params={"network_id": net, "device_owner": "network:dhcp"})["ports"]
        return any(p["binding:host_id"] == host and p["status"] == "ACTIVE" for p in rows)

    poll(wired, ACTIVE_S, "the network's DHCP port on its agent's host, ACTIVE", interval_s=0.5)


def test_an_ha_router_has_one_active_replica_and_an_ha_port_per_replica(backend: Backend) -> None:
    router = backend.router("hastate", ha=True)
    with interface(backend, router, "10.79.3.0/24", "hastate"):
        for agent in backend.l3[2:]:  # Neutron put it on every L3 agent: keep two
            backend.remove(agent, "router", router)
        for agent in backend.l3[:2]:
            if agent not in backend.router_hosts(router):
                assert backend.add(agent, "router", router).status == 201
        client = NeutronClient.connect(endpoint=backend.url, timeout_s=30)

        def one_active() -> bool:
            states = client.fetch_ha_states([router]).get(router, {})  # type: ignore[arg-type]
            return set(states) == set(backend.l3[:2]) and sorted(states.values()) == ["active", "standby"]

        poll(one_active, ACTIVE_S, "exactly one replica active, the other standby", interval_s=0.5)
        ha_ports = [p for p in ports(backend, router) if p["device_owner"] == "network:router_ha_interface"]
        assert sorted(p["binding:host_id"] for p in ha_ports) == sorted(host_of(backend, a) for a in backend.l3[:2])


def test_the_drain_mark_in_an_agents_description(backend: Backend) -> None:
    agent = backend.l3[0]
    client = NeutronClient.connect(endpoint=backend.url, timeout_s=30)
    try:
        assert client.set_agent(AgentId(agent), description=f"{DRAIN_MARK} since now").outcome.ok
        assert client.fetch_agents()[AgentId(agent)].draining
        too_long = backend.call("PUT", f"/agents/{agent}", {"agent": {"description": "x" * 256}})
        assert too_long.error == (400, "HTTPBadRequest")
        assert client.fetch_agents()[AgentId(agent)].draining  # unchanged after the 400
    finally:
        assert client.set_agent(AgentId(agent), description="").outcome.ok
    assert not client.fetch_agents()[AgentId(agent)].draining
