"""The emulated Neutron's ports and HA states (src/rpcdaemon/emulator/ports.py): what rpcdaemon reads to verify
that a router or network it moved is really served.

Why: a move is done when the agent on the new host has activated the resource's ports, and for an HA router when
one live replica is active; the emulator must show that as Neutron 29 does (which ports exist, with which owner and
host, DOWN until the agent of their host activates them, an HA router's active replica failing over when its agent
dies) and must be able to play an agent that takes routers and networks but never serves them. Time is a fake
clock the tests advance: no test sleeps to wait.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests

from clocks import FakeClock
from rpcdaemon.emulator.cloud import DHCP, L3, Cloud
from rpcdaemon.emulator.main import build_parser
from rpcdaemon.emulator.server import EmulatorServer, serve

DOWN_TIME = 75.0
DELAY = 0.5


@dataclass
class Env:
    clock: FakeClock
    cloud: Cloud
    server: EmulatorServer
    dhcp_a: str
    dhcp_b: str
    l3: list[str]

    def get(self, path: str, params: Any = None) -> Any:
        response = requests.get(f"{self.server.url}/v2.0{path}", params=params, timeout=10)
        assert response.status_code == 200, response.text
        return response.json()

    def ports(self, **filters: Any) -> list[dict[str, Any]]:
        return list(self.get("/ports", {k.replace("__", ":"): v for k, v in filters.items()})["ports"])

    def ha_states(self, router: str) -> dict[str, str]:
        return {a["id"]: a["ha_state"] for a in self.get(f"/routers/{router}/l3-agents")["agents"]}

    def host(self, agent: str) -> str:
        return self.cloud.agents[agent].host

    def call(self, method: str, path: str, body: Any = None) -> requests.Response:
        return requests.request(method, f"{self.server.url}{path}", json=body, timeout=10)


@pytest.fixture
def env() -> Iterator[Env]:
    clock = FakeClock(1_700_000_000.0)
    cloud = Cloud(agent_down_time=DOWN_TIME, clock=clock, seed=3, activation_delay_s=DELAY)
    dhcp_a = cloud.add_agent(DHCP, "net-1")
    dhcp_b = cloud.add_agent(DHCP, "net-2")
    l3 = [cloud.add_agent(L3, f"net-{i}") for i in (1, 2, 3)]
    with serve(cloud) as server:
        yield Env(clock, cloud, server, dhcp_a, dhcp_b, l3)


def test_a_dhcp_port_per_agent_hosting_the_network_goes_active_after_the_delay(env: Env) -> None:
    net = env.cloud.add_network("n")
    env.cloud.bind_network(env.dhcp_a, net)
    (port,) = env.ports(device_owner="network:dhcp")
    assert port["device_id"] == f"dhcp{uuid.uuid5(uuid.NAMESPACE_DNS, 'net-1')}-{net}"
    assert (port["network_id"], port["binding:host_id"], port["status"]) == (net, "net-1", "DOWN")
    assert port["fixed_ips"][0]["subnet_id"] == env.cloud.subnets_of(net)[0]
    env.clock.advance(DELAY / 2)
    assert env.get(f"/ports/{port['id']}")["port"]["status"] == "DOWN"
    env.clock.advance(DELAY / 2)
    assert env.get(f"/ports/{port['id']}")["port"]["status"] == "ACTIVE"
    # a second agent: its own port, DOWN until it activates it
    assert env.call("POST", f"/v2.0/agents/{env.dhcp_b}/dhcp-networks", {"network_id": net}).status_code == 201
    by_host = {p["binding:host_id"]: p["status"] for p in env.ports(network_id=net)}
    assert by_host == {"net-1": "ACTIVE", "net-2": "DOWN"}
    env.clock.advance(DELAY)
    assert {p["status"] for p in env.ports(network_id=net)} == {"ACTIVE"}
    # the network leaves an agent: its port goes; the network goes: all go
    assert env.call("DELETE", f"/v2.0/agents/{env.dhcp_a}/dhcp-networks/{net}").status_code == 204
    assert [p["binding:host_id"] for p in env.ports(network_id=net)] == ["net-2"]
    response = env.call("GET", f"/v2.0/ports/{port['id']}")
    assert (response.status_code, response.json()["NeutronError"]["type"]) == (404, "PortNotFound")
    assert env.call("DELETE", f"/v2.0/networks/{net}").status_code == 204
    assert env.ports() == []


def test_a_legacy_router_interface_is_rebound_down_then_active_when_the_router_moves(env: Env) -> None:
    net = env.cloud.add_network("n")
    router = env.cloud.add_router("r")
    port_id = env.cloud.add_router_interface(router, env.cloud.subnets_of(net)[0])
    assert env.cloud.add_router_interface(router, env.cloud.subnets_of(net)[0]) == port_id
    port = env.get(f"/ports/{port_id}")["port"]
    assert (port["device_id"], port["device_owner"]) == (router, "network:router_interface")
    assert (port["binding:host_id"], port["status"]) == ("", "DOWN")  # hosted nowhere
    env.cloud.bind_router(env.l3[0], router)
    env.clock.advance(DELAY - 0.1)
    assert (env.get(f"/ports/{port_id}")["port"]["binding:host_id"], env.get(f"/ports/{port_id}")["port"]["status"]
            ) == ("net-1", "DOWN")
    env.clock.advance(0.1)
    assert env.get(f"/ports/{port_id}")["port"]["status"] == "ACTIVE"
    # moved: unbound, then bound to the new host, DOWN until its agent activates it
    assert env.call("DELETE", f"/v2.0/agents/{env.l3[0]}/l3-routers/{router}").status_code == 204
    assert (env.get(f"/ports/{port_id}")["port"]["binding:host_id"], env.get(f"/ports/{port_id}")["port"]["status"]
            ) == ("", "DOWN")
    assert env.call("POST", f"/v2.0/agents/{env.l3[1]}/l3-routers", {"router_id": router}).status_code == 201
    port = env.get(f"/ports/{port_id}")["port"]
    assert (port["binding:host_id"], port["status"], port["id"]) == ("net-2", "DOWN", port_id)
    env.clock.advance(DELAY)
    assert env.get(f"/ports/{port_id}")["port"]["status"] == "ACTIVE"
    assert env.call("DELETE", f"/v2.0/routers/{router}").status_code == 204
    assert env.ports(device_id=router) == []


def test_a_dead_agent_activates_nothing_and_its_ports_stay_as_they_were(env: Env) -> None:
    served, unserved = env.cloud.add_network("served"), env.cloud.add_network("unserved")
    env.cloud.bind_network(env.dhcp_a, served)
    env.clock.advance(DELAY)
    env.cloud.set_agent_down(env.dhcp_a)  # its process dies
    env.cloud.bind_network(env.dhcp_a, unserved)
    env.clock.advance(DOWN_TIME * 3)
    assert {p["network_id"]: p["status"] for p in env.ports()} == {served: "ACTIVE", unserved: "DOWN"}
    env.cloud.set_agent_up(env.dhcp_a)  # it restarts: it activates what waits
    env.clock.advance(DELAY)
    assert {p["status"] for p in env.ports()} == {"ACTIVE"}
    # dies before the delay is over: never activated
    late = env.cloud.add_network("late")
    env.cloud.bind_network(env.dhcp_b, late)
    env.clock.advance(DELAY / 2)
    env.cloud.set_agent_down(env.dhcp_b)
    env.clock.advance(DELAY * 10)
    assert [p["status"] for p in env.ports(network_id=late)] == ["DOWN"]


def test_filters_and_fields(env: Env) -> None:
    nets = [env.cloud.add_network(f"n{i}") for i in range(3)]
    for i, net in enumerate(nets):
        env.cloud.bind_network(env.dhcp_a if i < 2 else env.dhcp_b, net)
    routers = [env.cloud.add_router(f"r{i}") for i in range(2)]
    for router, net, agent in zip(routers, nets, env.l3, strict=False):
        env.cloud.bind_router(agent, router)
        env.cloud.add_router_interface(router, env.cloud.subnets_of(net)[0])
    env.clock.advance(DELAY)
    env.cloud.bind_network(env.dhcp_b, nets[0])  # one DOWN port
    assert len(env.ports()) == 6
    assert {p["device_id"] for p in env.ports(device_id=routers)} == set(routers)  # A or B
    assert len(env.ports(device_owner=["network:dhcp", "network:router_interface"])) == 6
    assert {p["network_id"] for p in env.ports(binding__host_id="net-2")} == {nets[0], nets[1], nets[2]}
    assert len(env.ports(network_id=nets[0])) == 3
    assert [(p["network_id"], p["binding:host_id"]) for p in env.ports(status="DOWN")] == [(nets[0], "net-2")]
    assert env.ports(device_id=routers[0], device_owner="network:dhcp") == []
    picked = env.ports(device_id=routers, fields=["id", "binding:host_id", "status"])
    assert all(set(p) == {"id", "binding:host_id", "status"} for p in picked) and len(picked) == 2
    shown = env.get(f"/ports/{picked[0]['id']}", {"fields": ["device_owner"]})["port"]
    assert shown == {"device_owner": "network:router_interface"}
    full = env.ports()[0]
    assert {"id", "network_id", "device_id", "device_owner", "binding:host_id", "status", "admin_state_up",
            "fixed_ips"} <= set(full)
    page = env.get("/ports", {"limit": 4})
    assert len(page["ports"]) == 4 and page["ports_links"][0]["rel"] == "next"


def test_ha_one_active_replica_and_failover(env: Env) -> None:
    created = env.call("POST", "/v2.0/routers", {"router": {"name": "ha", "ha": True}})
    router = created.json()["router"]["id"]
    net = env.cloud.add_network("n")
    iface = env.cloud.add_router_interface(router, env.cloud.subnets_of(net)[0])
    ha_ports = env.ports(device_id=router, device_owner="network:router_ha_interface")
    assert sorted(p["binding:host_id"] for p in ha_ports) == ["net-1", "net-2", "net-3"]
    assert {p["status"] for p in ha_ports} == {"DOWN"}
    assert set(env.ha_states(router).values()) == {"standby"}  # nothing activated yet
    replicated = env.get(f"/ports/{iface}")["port"]
    assert (replicated["device_owner"], replicated["binding:host_id"]) == ("network:ha_router_replicated_interface",
                                                                          "")
    env.clock.advance(DELAY)
    states = env.ha_states(router)
    assert sorted(states.values()) == ["active", "standby", "standby"]
    active = next(a for a, s in states.items() if s == "active")
    assert {p["status"] for p in env.ports(device_owner="network:router_ha_interface")} == {"ACTIVE"}
    replicated = env.get(f"/ports/{iface}")["port"]
    assert (replicated["binding:host_id"], replicated["status"]) == (env.host(active), "DOWN")
    env.clock.advance(DELAY)
    assert env.get(f"/ports/{iface}")["port"]["status"] == "ACTIVE"
    # the active replica's agent dies: another live one takes over at once, the interface follows it
    env.cloud.set_agent_down(active)
    states = env.ha_states(router)
    assert list(states.values()).count("active") == 1 and states[active] == "standby"
    second = next(a for a, s in states.items() if s == "active")
    replicated = env.get(f"/ports/{iface}")["port"]
    assert (replicated["binding:host_id"], replicated["status"]) == (env.host(second), "DOWN")
    env.clock.advance(DELAY)
    assert env.get(f"/ports/{iface}")["port"]["status"] == "ACTIVE"
    env.clock.advance(DOWN_TIME + 10)  # the server sees it dead too: nothing changes
    assert env.ha_states(router)[second] == "active"
    # the dead agent restarts: it stays standby
    env.cloud.set_agent_up(active)
    env.clock.advance(DELAY)
    assert env.ha_states(router)[second] == "active"
    # the active replica is removed: another takes over
    assert env.call("DELETE", f"/v2.0/agents/{second}/l3-routers/{router}").status_code == 204
    assert [p["binding:host_id"] for p in env.ports(device_id=router, device_owner="network:router_ha_interface")
            ].count(env.host(second)) == 0
    states = env.ha_states(router)
    assert second not in states and list(states.values()).count("active") == 1


def test_ha_every_replica_dead_shows_unknown_and_a_lone_survivor_stays_active(env: Env) -> None:
    router = env.cloud.add_router("ha", ha=True)
    for agent in env.l3[:2]:
        env.cloud.bind_router(agent, router)
    env.clock.advance(DELAY)
    active = next(a for a, s in env.ha_states(router).items() if s == "active")
    other = next(a for a in env.l3[:2] if a != active)
    env.cloud.set_agent_down(other)
    env.clock.advance(DOWN_TIME + 10)
    assert env.ha_states(router) == {active: "active", other: "standby"}
    env.cloud.set_agent_down(active)  # nobody can take over: the port and the state stay as they were...
    env.clock.advance(DOWN_TIME + 10)
    assert env.ha_states(router) == {active: "unknown", other: "standby"}  # ...shown as Neutron shows them
    env.cloud.set_agent_up(other)  # a replica comes back: it takes over
    assert env.ha_states(router) == {active: "standby", other: "active"}


def test_an_inert_agent_takes_resources_but_never_activates_them(env: Env) -> None:
    assert env.cloud.set_inert(env.dhcp_b) == [env.dhcp_b]
    net = env.cloud.add_network("n")
    env.cloud.bind_network(env.dhcp_b, net)
    env.clock.advance(DELAY * 100)
    assert [p["status"] for p in env.ports(network_id=net)] == ["DOWN"]
    assert env.get(f"/agents/{env.dhcp_b}")["agent"]["alive"] is True  # it heartbeats all the same
    # by host, over the control API: every agent of net-3 (its L3 agent)
    answer = env.call("POST", "/_emulator/agents/net-3/inert", {"inert": True})
    assert answer.status_code == 200 and [a["id"] for a in answer.json()["agents"]] == [env.l3[2]]
    router = env.cloud.add_router("ha", ha=True)
    for agent in env.l3:
        env.cloud.bind_router(agent, router)
    env.clock.advance(DELAY)
    active = next(a for a, s in env.ha_states(router).items() if s == "active")
    assert active != env.l3[2]
    env.cloud.set_agent_down(env.l3[0])
    env.cloud.set_agent_down(env.l3[1])
    env.clock.advance(DOWN_TIME + 10)
    assert env.ha_states(router)[env.l3[2]] == "standby"  # the inert one never takes over
    # awake again: it activates what waits, the delay later
    assert env.call("POST", f"/_emulator/agents/{env.dhcp_b}/inert", {"inert": False}).status_code == 200
    assert env.call("POST", "/_emulator/agents/net-3/inert", {"inert": False}).status_code == 200
    assert [p["status"] for p in env.ports(network_id=net)] == ["DOWN"]
    env.clock.advance(DELAY)
    assert [p["status"] for p in env.ports(network_id=net)] == ["ACTIVE"]
    assert env.ha_states(router)[env.l3[2]] == "active"
    bad = env.call("POST", "/_emulator/agents/nope/inert", {})
    assert bad.status_code == 404
    assert env.call("POST", "/_emulator/agents/net-1/inert", {"inert": "yes"}).status_code == 400


def test_the_activation_delay_can_be_set_over_the_control_api(env: Env) -> None:
    assert env.call("POST", "/_emulator/activation-delay", {"activation_delay_s": 5}).status_code == 200
    net = env.cloud.add_network("n")
    env.cloud.bind_network(env.dhcp_a, net)
    env.clock.advance(4.9)
    assert [p["status"] for p in env.ports()] == ["DOWN"]
    env.clock.advance(0.1)
    assert [p["status"] for p in env.ports()] == ["ACTIVE"]
    assert env.call("POST", "/_emulator/activation-delay", {"activation_delay_s": -1}).status_code == 400


def test_ports_is_a_list_for_the_cost_model_and_the_lies(env: Env) -> None:
    net = env.cloud.add_network("n")
    env.cloud.bind_network(env.dhcp_a, net)
    env.cloud.bind_network(env.dhcp_b, net)
    env.cloud.reset_stats()
    assert len(env.ports()) == 2
    assert env.cloud.rows_served()["GET /v2.0/ports"] == 2
    env.cloud.add_fault("GET", "/v2.0/ports", lie="empty")
    assert env.ports() == []


def test_a_built_cloud_has_ports_for_its_networks_and_routers() -> None:
    clock = FakeClock(1_700_000_000.0)
    cloud = Cloud.build(dhcp_agents=2, l3_agents=2, networks=3, routers=4, clock=clock, seed=1)
    with serve(cloud) as server:
        ports = requests.get(f"{server.url}/v2.0/ports", timeout=10).json()["ports"]
        owners = sorted(p["device_owner"] for p in ports)
        assert owners == ["network:dhcp"] * 3 + ["network:router_interface"] * 3  # router 3 has no network 3
        assert {p["status"] for p in ports} == {"DOWN"}
        clock.advance(0.5)
        ports = requests.get(f"{server.url}/v2.0/ports", timeout=10).json()["ports"]
        assert {p["status"] for p in ports} == {"ACTIVE"}
        assert all(p["binding:host_id"] in ("net-1", "net-2") for p in ports)


def test_the_emulator_command_sets_the_activation_delay() -> None:
    assert build_parser().parse_args([]).activation_delay == 0.5
    assert build_parser().parse_args(["--activation-delay", "2"]).activation_delay == 2.0
