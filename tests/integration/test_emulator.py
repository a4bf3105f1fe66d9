"""The emulated Neutron answers as a real Neutron 29 does (the answers and the order of checks that
src/rpcdaemon/emulator/scheduling.py documents from Neutron's own code), through openstacksdk. Where the real
Neutron can be asked, tests/neutron/ asks it the same questions.

Every call goes over HTTP on loopback the way rpcdaemon makes it: openstacksdk with auth_type none and an endpoint
override, raw proxy calls that return the response (no raise on 4xx), plus the proxy's list helpers. Time is a fake
clock the tests advance: no test sleeps to wait.
"""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import openstack
import pytest
import requests

from clocks import FakeClock
from rpcdaemon.emulator.cloud import DHCP, L3, Cloud
from rpcdaemon.emulator.main import main as emulator_main
from rpcdaemon.emulator.server import EmulatorServer, serve

DOWN_TIME = 75.0
TS = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$")


@dataclass
class Topo:
    """A small cloud with one agent of every kind the scheduling table talks about."""

    clock: FakeClock
    cloud: Cloud
    dhcp_a: str
    dhcp_b: str
    dhcp_off: str
    l3_a: str
    l3_b: str
    l3_off: str
    l3_dvr: str
    l3_dvr_no_ext: str
    l3_snat: str
    net: str
    net2: str
    router: str
    router_free: str
    router_dist: str
    router_ha: str


@pytest.fixture
def topo() -> Topo:
    clock = FakeClock(1_700_000_000.0)  # a wall-clock time: the API shows timestamps
    cloud = Cloud(agent_down_time=DOWN_TIME, clock=clock, seed=7)
    dhcp_a = cloud.add_agent(DHCP, "net-1")
    dhcp_b = cloud.add_agent(DHCP, "net-2")
    dhcp_off = cloud.add_agent(DHCP, "net-3", admin_state_up=False)
    l3_a = cloud.add_agent(L3, "net-1")
    l3_b = cloud.add_agent(L3, "net-2")
    l3_off = cloud.add_agent(L3, "net-3", admin_state_up=False)
    l3_dvr = cloud.add_agent(L3, "compute-1", agent_mode="dvr")
    l3_dvr_no_ext = cloud.add_agent(L3, "compute-2", agent_mode="dvr_no_external")
    l3_snat = cloud.add_agent(L3, "net-4", agent_mode="dvr_snat")
    net = cloud.add_network("net")
    net2 = cloud.add_network("net2")
    cloud.bind_network(dhcp_a, net)
    router = cloud.add_router("legacy")
    cloud.bind_router(l3_a, router)
    router_free = cloud.add_router("unhosted")
    router_dist = cloud.add_router("dvr", distributed=True)
    router_ha = cloud.add_router("ha", ha=True)
    return Topo(clock, cloud, dhcp_a, dhcp_b, dhcp_off, l3_a, l3_b, l3_off, l3_dvr, l3_dvr_no_ext, l3_snat,
                net, net2, router, router_free, router_dist, router_ha)


@pytest.fixture
def server(topo: Topo) -> Iterator[EmulatorServer]:
    with serve(topo.cloud) as srv:
        yield srv


def connect(url: str) -> Any:
    return openstack.connect(auth_type="none", auth={"endpoint": url}, network_endpoint_override=url,
                             load_yaml_config=False, load_envvars=False, api_timeout=10)


@pytest.fixture
def conn(server: EmulatorServer) -> Any:
    return connect(server.url)


def error(response: requests.Response) -> tuple[int, str | None]:
    """(status, NeutronError type) of an answer; the body must be Neutron's error shape."""
    body = response.json()
    assert set(body) == {"NeutronError"}, body
    assert set(body["NeutronError"]) == {"type", "message", "detail"}, body
    return response.status_code, body["NeutronError"]["type"]


def control(server: EmulatorServer, method: str, path: str, body: Any = None) -> Any:
    response = requests.request(method, server.url + path, json=body, timeout=10)
    assert response.status_code == 200, response.text
    return response.json()


# --- discovery, lists, fields, filters, pagination -----------------------------------------------------------------


def test_version_document_and_agents_through_openstacksdk(server: EmulatorServer, conn: Any, topo: Topo) -> None:
    root = requests.get(server.url + "/", timeout=5)
    assert root.status_code == 200
    assert root.json() == {"versions": [{"id": "v2.0", "status": "CURRENT",
                                         "links": [{"href": f"{server.url}/v2.0/", "rel": "self"}]}]}
    assert server.url == f"http://127.0.0.1:{server.port}"
    agents = list(conn.network.agents())
    assert len(agents) == len(topo.cloud.agents)
    assert {a.agent_type for a in agents} == {DHCP, L3}
    assert sorted(a.host for a in conn.network.agents(agent_type=DHCP)) == ["net-1", "net-2", "net-3"]
    assert {r.name for r in conn.network.routers()} == {"legacy", "unhosted", "dvr", "ha"}
    assert {n.id for n in conn.network.networks()} == {topo.net, topo.net2}


def test_agent_rows_carry_what_neutron_shows(conn: Any, topo: Topo) -> None:
    rows = conn.network.get("/agents").json()["agents"]
    by_id = {r["id"]: r for r in rows}
    assert set(by_id[topo.l3_a]) >= {
        "id", "agent_type", "binary", "host", "availability_zone", "admin_state_up", "alive", "heartbeat_timestamp",
        "started_at", "created_at", "topic", "configurations", "resources_synced", "description"}
    l3, dhcp = by_id[topo.l3_a], by_id[topo.dhcp_a]
    assert (l3["binary"], l3["topic"], l3["configurations"]["agent_mode"]) == ("neutron-l3-agent", "l3_agent", "legacy")
    assert by_id[topo.l3_snat]["configurations"]["agent_mode"] == "dvr_snat"
    assert (dhcp["binary"], dhcp["topic"]) == ("neutron-dhcp-agent", "dhcp_agent")
    assert dhcp["configurations"]["networks"] == 1
    assert all(TS.match(r["heartbeat_timestamp"]) and TS.match(r["started_at"]) for r in rows)
    assert all(r["alive"] is True and r["availability_zone"] == "nova" for r in rows)
    assert conn.network.get(f"/agents/{topo.l3_a}").json()["agent"]["id"] == topo.l3_a
    assert error(conn.network.get("/agents/nope")) == (404, "AgentNotFound")


def test_fields_returns_exactly_the_listed_keys(conn: Any, topo: Topo) -> None:
    rows = conn.network.get("/agents", params={"fields": ["id", "host"]}).json()["agents"]
    assert rows
    assert all(set(r) == {"id", "host"} for r in rows)
    rows = conn.network.get("/agents", params={"fields": ["host"]}).json()["agents"]
    assert all(set(r) == {"host"} for r in rows)  # no id unless asked, as Neutron
    rows = conn.network.get("/routers", params={"fields": ["id", "ha", "distributed"]}).json()["routers"]
    assert {r["id"]: (r["ha"], r["distributed"]) for r in rows}[topo.router_dist] == (False, True)
    one = conn.network.get(f"/networks/{topo.net}", params={"fields": "name"}).json()
    assert one == {"network": {"name": "net"}}


def test_filters_as_neutron_converts_them(conn: Any, topo: Topo) -> None:
    def ids(path: str, key: str, **params: Any) -> set[str]:
        response = conn.network.get(path, params=params)
        assert response.status_code == 200, response.text
        return {r["id"] for r in response.json()[key]}

    assert ids("/agents", "agents", agent_type=DHCP) == {topo.dhcp_a, topo.dhcp_b, topo.dhcp_off}
    assert ids("/agents", "agents", host="net-1") == {topo.dhcp_a, topo.l3_a}
    assert ids("/agents", "agents", host="net-1", agent_type=L3) == {topo.l3_a}
    assert ids("/agents", "agents", admin_state_up="False") == {topo.dhcp_off, topo.l3_off}
    topo.cloud.set_agent_down(topo.l3_b)
    topo.clock.advance(DOWN_TIME + 1)
    for value in ("False", "false", "0"):
        assert ids("/agents", "agents", alive=value) == {topo.l3_b}
    assert topo.l3_b not in ids("/agents", "agents", alive="true")
    assert error(conn.network.get("/agents", params={"alive": "maybe"})) == (400, "InvalidInput")
    nodhcp = topo.cloud.add_network("plain", dhcp=False)
    for value in ("True", "true", "1"):
        assert {r["network_id"] for r in conn.network.get("/subnets", params={"enable_dhcp": value}).json()[
            "subnets"]} == {topo.net, topo.net2}
    assert ids("/subnets", "subnets", network_id=nodhcp) == set(topo.cloud.subnets_of(nodhcp))
    assert ids("/subnets", "subnets", enable_dhcp="False") == set(topo.cloud.subnets_of(nodhcp))
    assert ids("/routers", "routers", name="ha") == {topo.router_ha}


def test_pagination_with_limit_and_marker(server: EmulatorServer, conn: Any, topo: Topo) -> None:
    for n in range(5):
        topo.cloud.add_network(f"extra{n}")  # 7 networks
    everything = conn.network.get("/networks").json()
    assert "networks_links" not in everything
    assert len(everything["networks"]) == 7
    seen: list[str] = []
    url: str | None = f"{server.url}/v2.0/networks?limit=3&fields=id"
    pages = 0
    while url:
        body = requests.get(url, timeout=5).json()
        pages += 1
        seen += [r["id"] for r in body["networks"]]
        assert all(set(r) == {"id"} for r in body["networks"])
        rels = {link["rel"]: link["href"] for link in body["networks_links"]}
        assert "previous" in rels  # Neutron always gives one when paging forward
        url = rels.get("next")  # a next link whenever the page is full, as Neutron
        assert url is None or url.startswith(server.url + "/v2.0/networks?")
    assert pages == 3
    assert seen == sorted(seen)
    assert set(seen) == {r["id"] for r in everything["networks"]}
    # a page that is exactly full still has a next link, which leads to an empty page
    body = conn.network.get("/networks", params={"limit": 7}).json()
    assert len(body["networks"]) == 7
    assert any(link["rel"] == "next" for link in body["networks_links"])
    # openstacksdk follows the links
    topo.cloud.reset_stats()
    assert len(list(conn.network.networks(limit=2))) == 7
    assert topo.cloud.stats()["calls"]["GET /v2.0/networks"] >= 4
    assert error(conn.network.get("/networks", params={"limit": "-1"})) == (400, "BadRequest")


# --- the scheduling API: every answer documented in emulator/scheduling.py -----------------------------------------


def test_dhcp_scheduling_answers(conn: Any, topo: Topo) -> None:
    post = conn.network.post
    add = post(f"/agents/{topo.dhcp_b}/dhcp-networks", json={"network_id": topo.net})
    assert add.status_code == 201
    assert add.text == "null"
    assert error(post(f"/agents/{topo.dhcp_b}/dhcp-networks", json={"network_id": topo.net})) == (
        409, "NetworkHostedByDHCPAgent")
    assert error(post(f"/agents/{topo.l3_a}/dhcp-networks", json={"network_id": topo.net})) == (
        404, "InvalidDHCPAgent")
    assert error(post(f"/agents/{topo.dhcp_off}/dhcp-networks", json={"network_id": topo.net})) == (
        404, "InvalidDHCPAgent")
    assert error(post("/agents/nope/dhcp-networks", json={"network_id": topo.net})) == (404, "AgentNotFound")
    assert error(post(f"/agents/{topo.dhcp_b}/dhcp-networks", json={"network_id": "nope"})) == (
        404, "NetworkNotFound")
    assert error(post(f"/agents/{topo.dhcp_b}/dhcp-networks", json={})) == (400, "HTTPBadRequest")
    # an agent that is alive=false is accepted: only type and admin_state_up are checked
    topo.cloud.set_agent_down(topo.dhcp_b)
    topo.clock.advance(DOWN_TIME + 10)
    assert conn.network.get(f"/agents/{topo.dhcp_b}").json()["agent"]["alive"] is False
    assert post(f"/agents/{topo.dhcp_b}/dhcp-networks", json={"network_id": topo.net2}).status_code == 201
    assert topo.cloud.stats()["bindings"]["dhcp"] == {topo.net: sorted([topo.dhcp_a, topo.dhcp_b]),
                                                      topo.net2: [topo.dhcp_b]}
    delete = conn.network.delete
    assert delete(f"/agents/{topo.dhcp_b}/dhcp-networks/{topo.net}").status_code == 204
    assert error(delete(f"/agents/{topo.dhcp_b}/dhcp-networks/{topo.net}")) == (409, "NetworkNotHostedByDhcpAgent")
    assert error(delete(f"/agents/nope/dhcp-networks/{topo.net}")) == (404, "AgentNotFound")
    assert topo.cloud.stats()["bindings"]["dhcp"][topo.net] == [topo.dhcp_a]


def test_l3_scheduling_answers(conn: Any, topo: Topo) -> None:
    def add(agent: str, router: str) -> requests.Response:
        response: requests.Response = conn.network.post(f"/agents/{agent}/l3-routers", json={"router_id": router})
        return response

    assert error(add(topo.l3_b, topo.router)) == (409, "RouterHostedByL3Agent")
    duplicate = add(topo.l3_a, topo.router)
    assert duplicate.status_code == 201
    assert duplicate.text == "null"
    assert error(add(topo.dhcp_a, topo.router_free)) == (404, "InvalidL3Agent")
    assert error(add(topo.l3_off, topo.router_free)) == (404, "InvalidL3Agent")
    assert error(add(topo.l3_dvr, topo.router_free)) == (409, "DVRL3CannotAssignToDvrAgent")
    assert error(add(topo.l3_dvr_no_ext, topo.router_free)) == (409, "DVRL3CannotAssignToDvrAgent")
    assert error(add(topo.l3_b, topo.router_dist)) == (409, "RouterL3AgentMismatch")
    assert add(topo.l3_snat, topo.router_dist).status_code == 201
    assert error(add(topo.l3_b, "nope")) == (404, "RouterNotFound")
    assert error(add("nope", topo.router_free)) == (404, "AgentNotFound")
    assert error(conn.network.post(f"/agents/{topo.l3_b}/l3-routers", json={"id": "x"})) == (400, "HTTPBadRequest")
    # an agent that is alive=false is accepted
    topo.cloud.set_agent_down(topo.l3_b)
    topo.clock.advance(DOWN_TIME + 10)
    assert add(topo.l3_b, topo.router_free).status_code == 201
    # HA routers may be on several agents
    assert add(topo.l3_a, topo.router_ha).status_code == 201
    assert add(topo.l3_b, topo.router_ha).status_code == 201
    assert topo.cloud.stats()["bindings"]["l3"][topo.router_ha] == sorted([topo.l3_a, topo.l3_b])
    # removal: 204, again 204; a router that does not exist: RouterNotFound; dvr agents refuse
    delete = conn.network.delete
    assert delete(f"/agents/{topo.l3_a}/l3-routers/{topo.router}").status_code == 204
    assert delete(f"/agents/{topo.l3_a}/l3-routers/{topo.router}").status_code == 204
    assert error(delete(f"/agents/{topo.l3_a}/l3-routers/nope")) == (404, "RouterNotFound")
    assert error(delete(f"/agents/nope/l3-routers/{topo.router}")) == (404, "AgentNotFound")
    assert error(delete(f"/agents/{topo.l3_dvr}/l3-routers/{topo.router}")) == (409, "DVRL3CannotRemoveFromDvrAgent")
    # hosted nowhere now: it can go anywhere
    assert add(topo.l3_snat, topo.router).status_code == 201
    assert topo.cloud.stats()["bindings"]["l3"][topo.router] == [topo.l3_snat]


def test_binding_lists(conn: Any, topo: Topo) -> None:
    topo.cloud.bind_router(topo.l3_a, topo.router_ha)
    topo.cloud.bind_router(topo.l3_b, topo.router_ha)
    nets = conn.network.get(f"/agents/{topo.dhcp_a}/dhcp-networks", params={"fields": ["id"]}).json()["networks"]
    assert [n["id"] for n in nets] == [topo.net]
    assert "subnets" in nets[0]  # full rows: Neutron's scheduler controllers ignore fields=
    assert conn.network.get(f"/agents/{topo.l3_a}/dhcp-networks").json() == {"networks": []}
    assert error(conn.network.get("/agents/nope/dhcp-networks")) == (404, "AgentNotFound")
    agents = conn.network.get(f"/networks/{topo.net}/dhcp-agents").json()["agents"]
    assert [a["id"] for a in agents] == [topo.dhcp_a]
    assert conn.network.get("/networks/nope/dhcp-agents").json() == {"agents": []}
    routers = conn.network.get(f"/agents/{topo.l3_a}/l3-routers").json()["routers"]
    assert {r["id"] for r in routers} == {topo.router, topo.router_ha}
    legacy = conn.network.get(f"/routers/{topo.router}/l3-agents").json()["agents"]
    assert [a["id"] for a in legacy] == [topo.l3_a]
    assert "ha_state" not in legacy[0]
    ha = conn.network.get(f"/routers/{topo.router_ha}/l3-agents").json()["agents"]
    assert {a["id"]: a["ha_state"] for a in ha} == {topo.l3_a: "active", topo.l3_b: "standby"}
    topo.cloud.set_agent_down(topo.l3_a)
    topo.clock.advance(DOWN_TIME + 10)
    ha = conn.network.get(f"/routers/{topo.router_ha}/l3-agents").json()["agents"]
    assert {a["id"]: a["ha_state"] for a in ha} == {topo.l3_a: "standby", topo.l3_b: "active"}
    assert error(conn.network.get("/routers/nope/l3-agents")) == (404, "RouterNotFound")
    # openstacksdk's helpers read the same lists
    dhcp_agent = conn.network.get_agent(topo.dhcp_a)
    assert [n.id for n in conn.network.dhcp_agent_hosting_networks(dhcp_agent)] == [topo.net]
    assert [a.id for a in conn.network.network_hosting_dhcp_agents(topo.net)] == [topo.dhcp_a]
    assert {r.id for r in conn.network.agent_hosted_routers(topo.l3_b)} == {topo.router_ha}
    assert {a.id for a in conn.network.routers_hosting_l3_agents(topo.router_ha)} == {topo.l3_a, topo.l3_b}


# --- resources: networks, subnets (auto-scheduling), routers, agents ---------------------------------------------


def test_subnet_creation_schedules_the_network_on_one_live_dhcp_agent(conn: Any, topo: Topo) -> None:
    created = conn.network.post("/networks", json={"network": {"name": "new"}})
    assert created.status_code == 201
    net = created.json()["network"]
    assert (net["name"], net["subnets"], net["status"]) == ("new", [], "ACTIVE")
    assert topo.cloud.stats()["bindings"]["dhcp"][net["id"]] == []  # a network alone is not scheduled
    subnet = conn.network.post("/subnets", json={"subnet": {"network_id": net["id"], "cidr": "192.0.2.0/24",
                                                            "ip_version": 4}})
    assert subnet.status_code == 201
    assert subnet.json()["subnet"]["enable_dhcp"] is True
    # dhcp_a hosts one network already, dhcp_b none, dhcp_off is disabled: dhcp_b
    assert topo.cloud.stats()["bindings"]["dhcp"][net["id"]] == [topo.dhcp_b]
    second = conn.network.post("/subnets", json={"subnet": {"network_id": net["id"], "cidr": "198.51.100.0/24"}})
    assert second.status_code == 201
    assert topo.cloud.stats()["bindings"]["dhcp"][net["id"]] == [topo.dhcp_b]  # dhcp_agents_per_network = 1
    assert len(conn.network.get(f"/networks/{net['id']}").json()["network"]["subnets"]) == 2
    # no DHCP: scheduled all the same (Neutron's DHCP scheduler does not look at enable_dhcp); dhcp_a and dhcp_b
    # host one network each now: the tie goes to the lower id
    plain = conn.network.post("/networks", json={"network": {}}).json()["network"]["id"]
    conn.network.post("/subnets", json={"subnet": {"network_id": plain, "cidr": "203.0.113.0/24",
                                                   "enable_dhcp": False}})
    assert topo.cloud.stats()["bindings"]["dhcp"][plain] == [min(topo.dhcp_a, topo.dhcp_b)]
    # no live DHCP agent: no scheduling
    for agent in (topo.dhcp_a, topo.dhcp_b):
        topo.cloud.set_agent_down(agent)
    topo.clock.advance(DOWN_TIME + 10)
    orphan = conn.network.post("/networks", json={"network": {}}).json()["network"]["id"]
    assert conn.network.post("/subnets", json={"subnet": {"network_id": orphan, "cidr": "10.9.0.0/24"}}
                             ).status_code == 201
    assert topo.cloud.stats()["bindings"]["dhcp"][orphan] == []
    assert error(conn.network.post("/subnets", json={"subnet": {"network_id": "nope", "cidr": "10.8.0.0/24"}})) == (
        404, "NetworkNotFound")
    sub_id = subnet.json()["subnet"]["id"]
    assert conn.network.delete(f"/subnets/{sub_id}").status_code == 204
    assert error(conn.network.delete(f"/subnets/{sub_id}")) == (404, "SubnetNotFound")


def test_a_new_ha_router_is_scheduled_on_the_live_l3_agents_that_can_host_it(conn: Any, topo: Topo) -> None:
    """As Neutron 29: at creation, on max_l3_agents_per_router (3) enabled, live L3 agents, never a compute node's
    (dvr, dvr_no_external) nor, for a distributed router, a legacy one; the answer is the row from before."""
    created = conn.network.post("/routers", json={"router": {"name": "ha", "ha": True}})
    assert created.status_code == 201
    assert created.json()["router"]["availability_zones"] == []
    router = created.json()["router"]["id"]
    assert set(topo.cloud.stats()["bindings"]["l3"][router]) == {topo.l3_a, topo.l3_b, topo.l3_snat}
    states = {a["id"]: a["ha_state"] for a in conn.network.get(f"/routers/{router}/l3-agents").json()["agents"]}
    assert sorted(states.values()) == ["active", "standby", "standby"]
    assert conn.network.get(f"/routers/{router}").json()["router"]["availability_zones"] == ["nova"]
    dist = conn.network.post("/routers", json={"router": {"ha": True, "distributed": True}}).json()["router"]["id"]
    assert topo.cloud.stats()["bindings"]["l3"][dist] == [topo.l3_snat]
    legacy = conn.network.post("/routers", json={"router": {"name": "legacy"}}).json()["router"]["id"]
    assert topo.cloud.stats()["bindings"]["l3"][legacy] == []  # scheduled when an interface is added
    topo.cloud.set_agent_down(topo.l3_b)
    topo.clock.advance(DOWN_TIME + 10)
    later = conn.network.post("/routers", json={"router": {"ha": True}}).json()["router"]["id"]
    assert set(topo.cloud.stats()["bindings"]["l3"][later]) == {topo.l3_a, topo.l3_snat}


def test_scheduling_at_creation_follows_the_zones_and_the_counts() -> None:
    """Neutron's schedulers keep a hinted network or HA router in its zones; an HA router without hints is spread
    over the zones (AZLeastRoutersScheduler), on at most max_l3_agents_per_router agents (0: all); a network is put
    on dhcp_agents_per_network agents, and no more on a later subnet."""
    cloud = Cloud(agent_down_time=DOWN_TIME, clock=FakeClock(1_700_000_000.0), seed=9, dhcp_agents_per_network=2)
    zones = ["az-1", "az-1", "az-2", "az-2", "az-3"]
    l3 = [cloud.add_agent(L3, f"net-{i}", zone) for i, zone in enumerate(zones)]
    dhcp = [cloud.add_agent(DHCP, f"net-{i}", zone) for i, zone in enumerate(zones)]
    zone_of = dict(zip(l3 + dhcp, zones + zones, strict=True))

    def hosts(router: str) -> list[str]:
        return cloud.stats()["bindings"]["l3"][router]

    spread = cloud.create_router("spread", ha=True)["id"]
    assert sorted(zone_of[a] for a in hosts(spread)) == ["az-1", "az-2", "az-3"]
    hinted = cloud.create_router("hinted", ha=True, availability_zone_hints=["az-1"])["id"]
    assert sorted(hosts(hinted)) == sorted(l3[:2])
    cloud.max_l3_agents_per_router = 0
    assert sorted(hosts(cloud.create_router("all", ha=True)["id"])) == sorted(l3)
    cloud.max_l3_agents_per_router = 2
    two = cloud.create_router("two", ha=True, availability_zone_hints=["az-2", "az-3"])["id"]
    assert sorted(zone_of[a] for a in hosts(two)) == ["az-2", "az-3"]
    net = cloud.create_network("hinted", availability_zone_hints=["az-2"])["id"]
    cloud.create_subnet(net, enable_dhcp=False)
    assert sorted(cloud.stats()["bindings"]["dhcp"][net]) == sorted(dhcp[2:4])
    cloud.create_subnet(net)
    assert sorted(cloud.stats()["bindings"]["dhcp"][net]) == sorted(dhcp[2:4])
    with pytest.raises(ValueError, match="dhcp_agents_per_network"):
        Cloud(dhcp_agents_per_network=0)


def test_network_and_router_deletes_cascade(conn: Any, topo: Topo) -> None:
    topo.cloud.bind_network(topo.dhcp_b, topo.net)
    subnets = topo.cloud.subnets_of(topo.net)
    assert conn.network.delete(f"/networks/{topo.net}").status_code == 204
    stats = topo.cloud.stats()
    assert topo.net not in stats["bindings"]["dhcp"]
    assert not set(subnets) & {s["id"] for s in conn.network.get("/subnets").json()["subnets"]}
    assert conn.network.get(f"/agents/{topo.dhcp_a}/dhcp-networks").json() == {"networks": []}
    assert error(conn.network.delete(f"/networks/{topo.net}")) == (404, "NetworkNotFound")
    assert error(conn.network.get(f"/networks/{topo.net}")) == (404, "NetworkNotFound")
    router = conn.network.post("/routers", json={"router": {"name": "r", "ha": True}})
    assert router.status_code == 201
    assert router.json()["router"]["ha"] is True
    ha_hosts = topo.cloud.stats()["bindings"]["l3"][router.json()["router"]["id"]]
    assert len(ha_hosts) == 3  # scheduled when created
    assert conn.network.delete(f"/routers/{router.json()['router']['id']}").status_code == 204
    assert all(router.json()["router"]["id"] not in topo.cloud.l3[a] for a in ha_hosts)
    assert conn.network.delete(f"/routers/{topo.router}").status_code == 204
    assert topo.router not in topo.cloud.stats()["bindings"]["l3"]
    assert conn.network.get(f"/agents/{topo.l3_a}/l3-routers").json() == {"routers": []}
    assert error(conn.network.delete(f"/routers/{topo.router}")) == (404, "RouterNotFound")
    assert error(conn.network.get(f"/routers/{topo.router}")) == (404, "RouterNotFound")


def test_agent_admin_state_update(conn: Any, topo: Topo) -> None:
    updated = conn.network.put(f"/agents/{topo.l3_b}", json={"agent": {"admin_state_up": False}})
    assert updated.status_code == 200
    assert updated.json()["agent"]["admin_state_up"] is False
    assert error(conn.network.post(f"/agents/{topo.l3_b}/l3-routers", json={"router_id": topo.router_free})) == (
        404, "InvalidL3Agent")
    assert conn.network.put(f"/agents/{topo.l3_b}", json={"agent": {"admin_state_up": True}}).status_code == 200
    assert conn.network.post(f"/agents/{topo.l3_b}/l3-routers", json={"router_id": topo.router_free}
                             ).status_code == 201
    assert error(conn.network.put("/agents/nope", json={"agent": {"admin_state_up": True}})) == (404, "AgentNotFound")
    assert error(conn.network.put(f"/agents/{topo.l3_b}", json={"agent": {"admin_state_up": "x"}})) == (
        400, "InvalidInput")


# --- heartbeats, on a fake clock ---------------------------------------------------------------------------------


def test_heartbeats_and_alive_follow_agent_down_time(conn: Any, topo: Topo) -> None:
    cloud, clock = topo.cloud, topo.clock
    interval = cloud.interval
    assert interval == DOWN_TIME / 4

    def row() -> dict[str, Any]:
        agent: dict[str, Any] = conn.network.get(f"/agents/{topo.l3_a}").json()["agent"]
        return agent

    first = row()["heartbeat_timestamp"]
    clock.advance(interval + 1)
    beating = row()["heartbeat_timestamp"]
    assert beating > first  # an up agent keeps reporting
    cloud.set_agent_down(topo.l3_a)
    stopped = row()["heartbeat_timestamp"]
    clock.advance(DOWN_TIME - interval)  # the last heartbeat is at most one interval old at the kill
    assert row()["alive"] is True
    assert row()["heartbeat_timestamp"] == stopped
    clock.advance(interval + 1)
    assert row()["alive"] is False
    assert row()["heartbeat_timestamp"] == stopped
    assert {a["id"]: a["alive"] for a in cloud.stats()["agents"]}[topo.l3_a] is False
    started = row()["started_at"]
    clock.advance(100)
    cloud.set_agent_up(topo.l3_a)
    back = row()
    assert back["alive"] is True
    assert back["started_at"] > started
    assert back["heartbeat_timestamp"] > stopped


def test_report_interval_default_and_override() -> None:
    assert Cloud(agent_down_time=75).interval == 18.75
    assert Cloud(agent_down_time=0.4).interval == 0.2
    assert Cloud(agent_down_time=10, report_interval=2.5).interval == 2.5


# --- stats, call counting, the control API -------------------------------------------------------------------------


def test_stats_shape_and_call_counting(server: EmulatorServer, conn: Any, topo: Topo) -> None:
    topo.cloud.reset_stats()
    conn.network.get("/agents", params={"fields": ["id"]})
    conn.network.get(f"/agents/{topo.dhcp_a}/dhcp-networks", headers={"X-Rpcdaemon-Member": "m1"})
    conn.network.post(f"/agents/{topo.l3_b}/l3-routers", json={"router_id": topo.router})  # 409
    conn.network.delete(f"/agents/{topo.l3_a}/l3-routers/{topo.router}")
    conn.network.get("/nope")  # unknown paths are not counted
    control(server, "GET", "/_emulator/stats")  # nor are control calls
    stats = control(server, "GET", "/_emulator/stats")
    assert set(stats) == {"calls", "rows", "agents", "bindings"}
    assert stats["rows"] == {"GET /v2.0/agents": 9, "GET /v2.0/agents/{id}/dhcp-networks": 1}
    assert stats["calls"] == {
        "GET /v2.0/agents": 1, "GET /v2.0/agents/{id}/dhcp-networks": 1,
        "POST /v2.0/agents/{id}/l3-routers": 1, "DELETE /v2.0/agents/{id}/l3-routers/{id}": 1,
    }
    assert stats == json.loads(json.dumps(topo.cloud.stats()))
    assert all(set(a) == {"id", "host", "agent_type", "alive", "admin_state_up"} for a in stats["agents"])
    assert set(stats["bindings"]) == {"l3", "dhcp"}
    assert stats["bindings"]["l3"][topo.router] == []
    assert stats["bindings"]["l3"][topo.router_free] == []
    assert stats["bindings"]["dhcp"] == {topo.net: [topo.dhcp_a], topo.net2: []}
    calls = control(server, "GET", "/_emulator/calls")["calls"]
    assert [(c["method"], c["pattern"], c["status"]) for c in calls] == [
        ("GET", "/v2.0/agents", 200), ("GET", "/v2.0/agents/{id}/dhcp-networks", 200),
        ("POST", "/v2.0/agents/{id}/l3-routers", 409), ("DELETE", "/v2.0/agents/{id}/l3-routers/{id}", 204)]
    assert calls[1]["member"] == "m1"
    assert calls[0]["member"] is None
    assert calls[3]["ids"] == [topo.l3_a, topo.router]
    assert [c["rows"] for c in calls] == [9, 1, None, None]
    assert [(c["resource"], c["exists"]) for c in calls] == [(None, None), (None, None), (topo.router, True),
                                                             (topo.router, True)]
    assert calls[0]["at"] <= calls[3]["at"] <= time.monotonic()
    assert topo.cloud.call_log() == calls
    control(server, "POST", "/_emulator/reset-stats")
    assert topo.cloud.stats()["calls"] == {}
    assert topo.cloud.call_log() == []


def test_control_api_kills_and_revives_agents(server: EmulatorServer, topo: Topo) -> None:
    control(server, "POST", f"/_emulator/agents/{topo.l3_a}/down")
    topo.clock.advance(DOWN_TIME + 1)
    assert {a["id"]: a["alive"] for a in control(server, "GET", "/_emulator/stats")["agents"]}[topo.l3_a] is False
    revived = control(server, "POST", f"/_emulator/agents/{topo.l3_a}/up")
    assert revived["agent"]["alive"] is True
    assert error(requests.post(f"{server.url}/_emulator/agents/nope/down", timeout=5)) == (404, "AgentNotFound")
    assert error(requests.get(f"{server.url}/_emulator/nope", timeout=5)) == (404, "HTTPNotFound")
    assert topo.cloud.stats()["calls"] == {}


# --- fault injection -----------------------------------------------------------------------------------------------


def test_injected_status_is_consumed_in_order(conn: Any, topo: Topo) -> None:
    topo.cloud.add_fault("GET", "GET /v2.0/agents", status=500, count=2)
    topo.cloud.add_fault("*", "*", status=503)
    assert error(conn.network.get("/agents")) == (500, "InjectedFault")
    assert error(conn.network.get("/agents")) == (500, "InjectedFault")
    assert error(conn.network.get("/routers")) == (503, "InjectedFault")
    assert conn.network.get("/agents").status_code == 200
    topo.cloud.add_fault("POST", "/v2.0/agents/{id}/l3-routers", status=500)  # the pattern without the method too
    assert error(conn.network.post(f"/agents/{topo.l3_b}/l3-routers", json={"router_id": topo.router_free})) == (
        500, "InjectedFault")
    assert topo.cloud.stats()["bindings"]["l3"][topo.router_free] == []  # the fault answered: nothing happened
    assert [c["status"] for c in topo.cloud.call_log()] == [500, 500, 503, 200, 500]


def test_injected_delay_and_timeout(server: EmulatorServer, topo: Topo) -> None:
    topo.cloud.add_fault("GET", "GET /v2.0/routers", delay_s=0.3)
    with pytest.raises(requests.exceptions.ReadTimeout):
        requests.get(f"{server.url}/v2.0/routers", timeout=0.1)
    topo.cloud.add_fault("GET", "GET /v2.0/routers", delay_s=0.15)
    started = time.perf_counter()
    assert requests.get(f"{server.url}/v2.0/routers", timeout=5).status_code == 200
    assert time.perf_counter() - started >= 0.15
    topo.cloud.latency_s = 0.05
    started = time.perf_counter()
    assert requests.get(f"{server.url}/v2.0/agents", timeout=5).status_code == 200
    assert time.perf_counter() - started >= 0.05


def test_injected_reset_closes_without_an_answer(server: EmulatorServer, conn: Any, topo: Topo) -> None:
    control(server, "POST", "/_emulator/faults", {"method": "POST", "pattern": "POST /v2.0/agents/{id}/l3-routers",
                                                  "reset": True})
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.post(f"{server.url}/v2.0/agents/{topo.l3_b}/l3-routers", json={"router_id": topo.router_free},
                      timeout=5)
    assert topo.cloud.call_log()[-1]["status"] == 0
    assert topo.cloud.stats()["bindings"]["l3"][topo.router_free] == []
    # the server goes on; openstacksdk's next call (a new connection) works
    assert conn.network.post(f"/agents/{topo.l3_b}/l3-routers", json={"router_id": topo.router_free}
                             ).status_code == 201
    bad = requests.post(f"{server.url}/_emulator/faults", json={"method": "GET", "pattern": "*", "count": 0},
                        timeout=5)
    assert error(bad) == (400, "HTTPBadRequest")
    bad = requests.post(f"{server.url}/_emulator/faults", json={"method": "GET", "colour": "red"}, timeout=5)
    assert error(bad) == (400, "HTTPBadRequest")


def test_show_of_one_network_or_router_answers_as_neutron(conn: Any, topo: Topo) -> None:
    assert conn.network.get(f"/networks/{topo.net}").json()["network"]["id"] == topo.net
    assert conn.network.get(f"/routers/{topo.router}").json()["router"]["id"] == topo.router
    assert error(conn.network.get("/networks/0b5e3c52-0000-4000-8000-000000000000")) == (404, "NetworkNotFound")
    assert error(conn.network.get("/routers/0b5e3c52-0000-4000-8000-000000000000")) == (404, "RouterNotFound")
    topo.cloud.delete_network(topo.net2)
    assert error(conn.network.get(f"/networks/{topo.net2}")) == (404, "NetworkNotFound")


def test_lies_are_well_formed_lists_and_a_show_tells_the_truth(server: EmulatorServer, conn: Any,
                                                               topo: Topo) -> None:
    cloud = topo.cloud
    cloud.add_fault("*", "*", lie="empty")  # "*": the next LIST call, whichever
    shown = conn.network.get(f"/networks/{topo.net}")  # a show is no list: the lie waits
    assert shown.status_code == 200
    assert shown.json()["network"]["id"] == topo.net
    assert conn.network.get("/networks").json() == {"networks": []}
    assert len(conn.network.get("/networks").json()["networks"]) == 2
    cloud.add_fault("GET", "/v2.0/agents", lie="drop", share=0.5)
    assert len(conn.network.get("/agents").json()["agents"]) == 9 - 4  # round(9 * 0.5) rows left out
    cloud.add_fault("GET", "/v2.0/agents/{id}/dhcp-networks", lie="empty")
    assert conn.network.get(f"/agents/{topo.dhcp_a}/dhcp-networks").json() == {"networks": []}
    assert [n["id"] for n in conn.network.get(f"/agents/{topo.dhcp_a}/dhcp-networks").json()["networks"]] == [
        topo.net]
    log = cloud.call_log()
    assert [c["lie"] for c in log] == [None, "empty", None, "drop", "empty", None]
    assert [c["rows"] for c in log] == [None, 0, 2, 5, 0, 1]
    for bad in ({"method": "GET", "pattern": "/v2.0/networks/{id}", "lie": "empty"},
                {"method": "POST", "pattern": "/v2.0/agents/{id}/l3-routers", "lie": "empty"},
                {"method": "GET", "pattern": "*", "lie": "bigger"},
                {"method": "GET", "pattern": "*", "lie": "empty", "status": 500},
                {"method": "GET", "pattern": "*", "lie": "drop", "share": 2}):
        assert error(requests.post(f"{server.url}/_emulator/faults", json=bad, timeout=5)) == (400, "HTTPBadRequest")


def test_a_stale_lie_replays_an_older_answer_to_the_same_request(conn: Any, topo: Topo) -> None:
    cloud = topo.cloud
    cloud.answer_history_s = 60.0
    cloud.add_fault("GET", "/v2.0/networks", lie="stale", age_s=0)
    assert len(conn.network.get("/networks").json()["networks"]) == 2  # nothing kept yet: the truth
    before = conn.network.get("/networks", params={"fields": ["id"]}).json()
    assert before == {"networks": [{"id": topo.net}, {"id": topo.net2}]}
    new = cloud.add_network("new")
    cloud._answers = {k: [(at - 5, a) for at, a in v] for k, v in cloud._answers.items()}  # 5 s ago
    cloud.add_fault("GET", "/v2.0/networks", lie="stale", age_s=2)
    assert conn.network.get("/networks", params={"fields": ["id"]}).json() == before  # the new one is missing
    now = conn.network.get("/networks", params={"fields": ["id"]}).json()
    assert new in {n["id"] for n in now["networks"]}
    assert [c["lie"] for c in cloud.call_log()] == [None, None, "stale", None]


def test_a_malformed_agent_row_lacks_or_mistypes_alive_or_heartbeat(conn: Any, topo: Topo) -> None:
    for _ in range(6):
        topo.cloud.add_fault("GET", "/v2.0/agents", lie="malformed")
        rows = conn.network.get("/agents").json()["agents"]
        bad = [r for r in rows if not isinstance(r.get("alive"), bool) or not isinstance(
            r.get("heartbeat_timestamp"), str)]
        assert len(rows) == 9
        assert len(bad) == 1


def test_cost_model_charges_each_list_by_its_rows(server: EmulatorServer, conn: Any, topo: Topo) -> None:
    slept: list[float] = []
    topo.cloud.sleep = slept.append
    conn.network.get("/networks")
    assert slept == []  # off by default
    control(server, "POST", "/_emulator/cost", {"row_cost_us": 1500, "list_base_ms": 20})
    conn.network.get("/networks")
    conn.network.get("/agents")
    conn.network.get(f"/networks/{topo.net}")  # not a list: no cost
    conn.network.post(f"/agents/{topo.dhcp_b}/dhcp-networks", json={"network_id": topo.net})
    assert slept == pytest.approx([0.020 + 2 * 0.0015, 0.020 + 9 * 0.0015])
    topo.cloud.set_cost(api_workers=1)
    assert topo.cloud.api_workers == 1
    conn.network.get("/routers")
    assert slept[-1] == pytest.approx(0.020 + 4 * 0.0015)
    with pytest.raises(ValueError, match="row_cost_s"):
        topo.cloud.set_cost(row_cost_s=-1)
    bad = requests.post(f"{server.url}/_emulator/cost", json={"row_cost": 1}, timeout=5)
    assert error(bad) == (400, "HTTPBadRequest")
    with serve(Cloud.build(networks=3, seed=1), row_cost_s=0.002) as other:
        assert other.cloud.row_cost_s == 0.002
        assert other.cloud.list_base_s == 0.0
    built = Cloud.build(networks=1, routers=1, dvr_agents=2, row_cost_s=0.001, list_base_s=0.01, api_workers=1)
    assert (built.row_cost_s, built.list_base_s, built.api_workers) == (0.001, 0.01, 1)
    assert sorted(a.agent_mode or "" for a in built.agents.values() if a.agent_type == L3) == [
        "dvr", "dvr", "legacy", "legacy", "legacy"]


def test_scheduling_calls_record_their_resource_and_whether_it_existed(conn: Any, topo: Topo) -> None:
    conn.network.post(f"/agents/{topo.dhcp_b}/dhcp-networks", json={"network_id": topo.net})
    conn.network.post(f"/agents/{topo.dhcp_b}/dhcp-networks", json={"network_id": "gone"})
    topo.cloud.bind_network(topo.dhcp_a, "ghost")  # a binding of a network deleted meanwhile
    conn.network.delete(f"/agents/{topo.dhcp_a}/dhcp-networks/ghost")
    conn.network.delete(f"/agents/{topo.l3_a}/l3-routers/{topo.router}")
    topo.cloud.add_fault("POST", "/v2.0/agents/{id}/l3-routers", status=503)  # a fault answers: still recorded
    conn.network.post(f"/agents/{topo.l3_b}/l3-routers", json={"router_id": topo.router_free})
    log = topo.cloud.call_log()
    assert [(c["status"], c["resource"], c["exists"]) for c in log] == [
        (201, topo.net, True), (404, "gone", False), (204, "ghost", False), (204, topo.router, True),
        (503, topo.router_free, True)]


def test_race_makes_the_add_meet_another_actors_binding(conn: Any, topo: Topo) -> None:
    # rpcdaemon moves the legacy router off l3_a: remove, then add to l3_b; meanwhile another actor puts it on snat
    assert conn.network.delete(f"/agents/{topo.l3_a}/l3-routers/{topo.router}").status_code == 204
    topo.cloud.add_race_on_next_add_router(topo.router, topo.l3_snat)
    assert error(conn.network.post(f"/agents/{topo.l3_b}/l3-routers", json={"router_id": topo.router})) == (
        409, "RouterHostedByL3Agent")
    assert topo.cloud.stats()["bindings"]["l3"][topo.router] == [topo.l3_snat]
    # the race is consumed; another actor moving a router that is still hosted moves it (one agent only)
    topo.cloud.add_race_on_next_add_router(topo.router, topo.l3_a)
    assert conn.network.post(f"/agents/{topo.l3_a}/l3-routers", json={"router_id": topo.router}).status_code == 201
    assert topo.cloud.stats()["bindings"]["l3"][topo.router] == [topo.l3_a]


# --- bad input, concurrency, stopping --------------------------------------------------------------------------------


def test_bad_requests_get_neutron_errors_and_the_server_survives(server: EmulatorServer, topo: Topo) -> None:
    url = server.url
    assert error(requests.get(f"{url}/v2.0/nothing", timeout=5)) == (404, "HTTPNotFound")
    assert error(requests.post(f"{url}/v2.0/networks", data=b"{not json", timeout=5)) == (400, "HTTPBadRequest")
    assert error(requests.post(f"{url}/v2.0/networks", json=[1, 2], timeout=5)) == (400, "HTTPBadRequest")
    assert error(requests.post(f"{url}/v2.0/networks", timeout=5)) == (400, "HTTPBadRequest")
    assert error(requests.put(f"{url}/v2.0/networks", json={}, timeout=5)) == (405, "HTTPMethodNotAllowed")
    assert error(requests.post(f"{url}/v2.0/routers", json={"router": {"ha": "perhaps"}}, timeout=5)) == (
        400, "InvalidInput")
    for raw in (b"GARBAGE\r\n\r\n", b"GET / HTTP/1.1 extra\r\n\r\n", b"\x00\xff\r\n\r\n",
                b"POST /v2.0/networks HTTP/1.1\r\nHost: x\r\nContent-Length: zz\r\n\r\n"):
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
            sock.sendall(raw)
            answer = sock.recv(65536)
            assert answer.startswith(b"HTTP/1."), answer
            assert b" 400 " in answer.split(b"\r\n", 1)[0], answer
    ok = requests.get(f"{url}/v2.0/agents", timeout=5)
    assert ok.status_code == 200
    assert ok.headers["Content-Length"] == str(len(ok.content))


def test_64_concurrent_keep_alive_clients(server: EmulatorServer, topo: Topo) -> None:
    def client(_: int) -> list[int]:
        with requests.Session() as session:
            return [session.get(f"{server.url}/v2.0/agents", params={"fields": "id"}, timeout=10).status_code
                    for _ in range(5)]

    with ThreadPoolExecutor(64) as pool:
        statuses = [s for result in pool.map(client, range(64)) for s in result]
    assert statuses == [200] * 320
    assert topo.cloud.stats()["calls"]["GET /v2.0/agents"] == 320


def test_stop_closes_keep_alive_connections(topo: Topo) -> None:
    srv = serve(topo.cloud)
    session = requests.Session()
    assert session.get(f"{srv.url}/v2.0/agents", timeout=5).status_code == 200
    srv.stop()
    srv.stop()  # idempotent
    with pytest.raises(requests.exceptions.ConnectionError):
        session.get(f"{srv.url}/v2.0/agents", timeout=5)
    session.close()


def test_notifications_go_out_after_the_lock_is_released(topo: Topo) -> None:
    seen: list[tuple[str, dict[str, Any], bool]] = []

    def lock_is_free() -> bool:
        result: list[bool] = []
        probe = threading.Thread(target=lambda: result.append(_try_lock(topo.cloud)))
        probe.start()
        probe.join(5)
        return result == [True]

    topo.cloud.notify = lambda event, payload: seen.append((event, payload, lock_is_free()))
    topo.cloud.add_network_to_agent(topo.dhcp_b, topo.net2)
    topo.cloud.remove_router_from_agent(topo.l3_a, topo.router)
    assert [(e, p) for e, p, _ in seen] == [
        ("dhcp_agent.network.add", {"agent": {"id": topo.dhcp_b, "network_id": topo.net2}}),
        ("l3_agent.router.remove", {"agent": {"id": topo.l3_a, "router_id": topo.router}})]
    assert all(free for _, _, free in seen)

    def broken(_event: str, _payload: dict[str, Any]) -> None:
        raise OSError("broker down")

    topo.cloud.notify = broken  # a broken bus does not fail the call
    topo.cloud.add_router_to_agent(topo.l3_b, topo.router)


def _try_lock(cloud: Cloud) -> bool:
    if cloud.lock.acquire(timeout=2):
        cloud.lock.release()
        return True
    return False


# --- builders and the command line ---------------------------------------------------------------------------------


def test_build_is_round_robin_and_deterministic() -> None:
    cloud = Cloud.build(dhcp_agents=3, l3_agents=2, networks=6, routers=5, dhcp_per_network=2, seed=4,
                        availability_zones=2)
    again = Cloud.build(dhcp_agents=3, l3_agents=2, networks=6, routers=5, dhcp_per_network=2, seed=4,
                        availability_zones=2)
    stats = cloud.stats()
    assert stats == again.stats()
    assert [(a["host"], a["agent_type"]) for a in stats["agents"]] == [
        ("net-1", DHCP), ("net-2", DHCP), ("net-3", DHCP), ("net-1", L3), ("net-2", L3)]
    assert [a.availability_zone for a in cloud.agents.values()] == ["az-1", "az-2", "az-1", "az-1", "az-2"]
    dhcp_ids = [a["id"] for a in stats["agents"] if a["agent_type"] == DHCP]
    per_net = list(stats["bindings"]["dhcp"].values())
    assert all(len(agents) == 2 for agents in per_net)
    assert per_net[0] == sorted(dhcp_ids[:2])
    assert per_net[1] == sorted(dhcp_ids[1:3])
    l3_counts = sorted(len(routers) for routers in cloud.l3.values())
    assert l3_counts == [2, 3]
    assert all(re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", i)
               for i in cloud.agents)
    assert all(s["enable_dhcp"] for s in cloud.subnets.values())
    assert len(cloud.subnets) == 6
    assert Cloud.build(seed=None).stats()["agents"][0]["id"] != Cloud.build(seed=None).stats()["agents"][0]["id"]


def test_cli_serves_until_sigterm() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "rpcdaemon.emulator.main", "--listen", "127.0.0.1:0", "--dhcp-agents", "2",
         "--l3-agents", "4", "--networks", "5", "--routers", "8", "--dhcp-per-network", "2", "--seed", "3",
         "--agent-down-time", "10", "--latency-ms", "1", "--dvr-agents", "1", "--row-cost-us", "100",
         "--list-base-ms", "1", "--api-workers", "2"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        found = re.match(r"^emulated Neutron listening on (http://127\.0\.0\.1:(\d+)); 2 DHCP agents, 4 L3 agents",
                         line)
        assert found, line
        assert int(found.group(2)) > 0, line
        url = found.group(1)
        conn = connect(url)
        agents = conn.network.get("/agents", params={"fields": ["agent_type"]}).json()["agents"]
        assert sorted(a["agent_type"] for a in agents) == [DHCP] * 2 + [L3] * 5  # 4 + 1 in dvr mode
        stats = requests.get(f"{url}/_emulator/stats", timeout=5).json()
        assert stats["rows"] == {"GET /v2.0/agents": 7}
        assert len(stats["bindings"]["l3"]) == 8
        assert all(len(a) == 2 for a in stats["bindings"]["dhcp"].values())
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.stderr is not None
    assert "Traceback" not in proc.stderr.read()


def test_cli_rejects_a_bad_listen_value(capsys: pytest.CaptureFixture[str]) -> None:
    assert emulator_main(["--listen", "nowhere"]) == 2
    assert "--listen must be HOST:PORT" in capsys.readouterr().err
    assert emulator_main(["--listen", "127.0.0.1:99999"]) == 2
    assert emulator_main(["--dhcp-agents", "-1"]) == 2
    assert "must be >= 0" in capsys.readouterr().err
