"""The reads rpcdaemon makes, asked of the emulator and of the real Neutron alike: the agents list and the fields it
reads, the binding lists both ways, the network, subnet and router lists, single GETs and their 404 types,
pagination and `fields=`.

Shapes, types and the fields rpcdaemon reads are compared, never ids or timestamps. Each read is also made through
rpcdaemon's own NeutronClient, so the parsing that decides (answers.py) is tried on both backends' answers.
"""

from __future__ import annotations

import re

import pytest

from contract.backends import UNKNOWN, Backend
from rpcdaemon.adapters.neutron.answers import next_page, parse_agent
from rpcdaemon.adapters.neutron.client import AGENT_FIELDS, NeutronClient
from rpcdaemon.model import AgentId, AgentMode, NetworkId, RouterId

NEUTRON_TYPES = {"DHCP agent", "L3 agent", "Open vSwitch agent"}
TS = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$")


def client(backend: Backend) -> NeutronClient:
    return NeutronClient.connect(endpoint=backend.url, timeout_s=30)


def test_agents_list_carries_every_field_rpcdaemon_reads(backend: Backend) -> None:
    rows = backend.get("/agents", {"fields": list(AGENT_FIELDS)})["agents"]
    assert len(rows) == 9
    assert all(set(r) == set(AGENT_FIELDS) for r in rows)  # exactly the fields asked for
    by_type: dict[str, list[dict[str, object]]] = {}
    for row in rows:
        by_type.setdefault(str(row["agent_type"]), []).append(row)
        assert isinstance(row["id"], str) and isinstance(row["host"], str)
        assert row["alive"] is True and row["admin_state_up"] is True
        assert isinstance(row["heartbeat_timestamp"], str) and TS.match(row["heartbeat_timestamp"]), row
        assert isinstance(row["started_at"], str) and TS.match(row["started_at"]), row
        assert isinstance(row["configurations"], dict)
        assert parse_agent(row) is not None
    assert set(by_type) == NEUTRON_TYPES
    assert {r["id"] for r in by_type["DHCP agent"]} == set(backend.dhcp)
    assert {r["id"] for r in by_type["L3 agent"]} == set(backend.l3)
    for row in by_type["L3 agent"]:
        assert row["configurations"]["agent_mode"] == "legacy"  # type: ignore[index]
    for row in by_type["DHCP agent"]:
        assert "agent_mode" not in row["configurations"]  # type: ignore[operator]
    for row in by_type["DHCP agent"] + by_type["L3 agent"]:
        assert row["availability_zone"] == "nova"
    agents = client(backend).fetch_agents()
    assert {a.host for a in agents.values()} == {"net-1", "net-2", "net-3"}
    assert {agents[AgentId(a)].agent_mode for a in backend.l3} == {AgentMode.LEGACY}
    assert all(a.alive and a.admin_state_up and a.heartbeat for a in agents.values())
    assert {agents[AgentId(a)].availability_zone for a in backend.dhcp + backend.l3} == {"nova"}


def test_one_agent_and_the_404_of_an_unknown_one(backend: Backend) -> None:
    full = backend.get(f"/agents/{backend.l3[0]}")
    assert set(full) == {"agent"}
    assert set(full["agent"]) >= set(AGENT_FIELDS)
    assert backend.get(f"/agents/{backend.l3[0]}", {"fields": ["id"]}) == {"agent": {"id": backend.l3[0]}}
    assert backend.call("GET", f"/agents/{UNKNOWN}", params={"fields": ["id"]}).error == (404, "AgentNotFound")
    assert backend.call("GET", "/agents/not-a-uuid").error == (404, "AgentNotFound")


def test_the_network_subnet_and_router_lists_with_the_fields_rpcdaemon_asks(backend: Backend) -> None:
    dhcp_net = backend.network("dhcp", "10.77.1.0/24")
    plain_net = backend.network("plain", "10.77.2.0/24", dhcp=False)
    bare_net = backend.network("bare", cidr=None)
    legacy = backend.router("legacy")
    dist = backend.router("dist", distributed=True)
    ha = backend.router("ha", ha=True)
    nets = backend.get("/networks", {"fields": ["id", "availability_zone_hints"]})["networks"]
    assert all(set(n) == {"id", "availability_zone_hints"} for n in nets)
    assert {dhcp_net, plain_net, bare_net} <= {n["id"] for n in nets}
    assert all(n["availability_zone_hints"] == [] for n in nets)
    subnets = backend.get("/subnets", {"enable_dhcp": "True", "fields": ["network_id"]})["subnets"]
    assert all(set(s) == {"network_id"} for s in subnets)
    with_dhcp = {s["network_id"] for s in subnets}
    assert dhcp_net in with_dhcp
    assert not {plain_net, bare_net} & with_dhcp
    routers = {r["id"]: r for r in backend.get("/routers", {"fields": ["id", "ha", "distributed",
                                                                        "availability_zone_hints"]})["routers"]}
    assert all(set(r) == {"id", "ha", "distributed", "availability_zone_hints"} for r in routers.values())
    assert [(routers[r]["ha"], routers[r]["distributed"]) for r in (legacy, dist, ha)] == [
        (False, False), (False, True), (True, False)]
    assert all(r["availability_zone_hints"] == [] for r in routers.values())
    snapshot = client(backend).fetch_snapshot()
    assert snapshot.networks[NetworkId(dhcp_net)].dhcp
    assert not snapshot.networks[NetworkId(plain_net)].dhcp
    assert not snapshot.networks[NetworkId(bare_net)].dhcp
    assert (snapshot.routers[RouterId(dist)].distributed, snapshot.routers[RouterId(ha)].ha) == (True, True)
    assert not snapshot.routers[RouterId(legacy)].ha and not snapshot.routers[RouterId(legacy)].distributed


def test_a_new_network_with_a_dhcp_subnet_is_scheduled_on_one_dhcp_agent(backend: Backend) -> None:
    """dhcp_agents_per_network = 1 on both; a network without a subnet is scheduled nowhere."""
    net = backend.network("scheduled", "10.77.3.0/24")
    assert len(backend.network_hosts(net)) == 1
    assert backend.network_hosts(net) <= set(backend.dhcp)
    assert backend.network_hosts(backend.network("bare", cidr=None)) == set()


def test_a_new_network_with_only_a_non_dhcp_subnet_is_scheduled_too(backend: Backend) -> None:
    """Neutron's DHCP scheduler does not look at enable_dhcp: any first subnet puts the network on one agent."""
    net = backend.network("nodhcp", "10.77.4.0/24", dhcp=False)
    assert len(backend.network_hosts(net)) == 1


def test_a_new_legacy_router_is_hosted_nowhere(backend: Backend) -> None:
    """No interface, no gateway: nobody schedules it until asked."""
    assert backend.router_hosts(backend.router("unscheduled")) == set()
    assert backend.router_hosts(backend.router("unscheduled-dvr", distributed=True)) == set()


def test_a_new_ha_router_is_scheduled_at_once_on_every_live_l3_agent(backend: Backend) -> None:
    """Neutron schedules an HA router when it is created, on max_l3_agents_per_router (default 3) live L3 agents:
    here, all three."""
    assert backend.router_hosts(backend.router("ha", ha=True)) == set(backend.l3)


def test_binding_lists_both_ways(backend: Backend) -> None:
    net = backend.network("bound", "10.77.5.0/24")
    (host,) = backend.network_hosts(net)
    router = backend.router("bound")
    assert backend.add(backend.l3[1], "router", router).status == 201
    # the scheduler sub-resources answer full rows whatever fields= asks: rpcdaemon reads only "id"
    on_agent = backend.get(f"/agents/{host}/dhcp-networks", {"fields": ["id"]})
    assert set(on_agent) == {"networks"}
    assert net in {n["id"] for n in on_agent["networks"]}
    assert all({"id", "subnets", "availability_zone_hints"} <= set(n) for n in on_agent["networks"])
    routers = backend.get(f"/agents/{backend.l3[1]}/l3-routers", {"fields": ["id"]})
    assert set(routers) == {"routers"}
    assert router in {r["id"] for r in routers["routers"]}
    assert all({"id", "ha", "distributed"} <= set(r) for r in routers["routers"])
    hosting = backend.get(f"/networks/{net}/dhcp-agents", {"fields": ["id"]})
    assert set(hosting) == {"agents"}
    assert [a["id"] for a in hosting["agents"]] == [host]
    assert {"id", "agent_type", "host", "alive"} <= set(hosting["agents"][0])
    l3_agents = backend.get(f"/routers/{router}/l3-agents", {"fields": ["id"]})
    assert set(l3_agents) == {"agents"}
    assert [a["id"] for a in l3_agents["agents"]] == [backend.l3[1]]
    # the wrong kind of agent hosts nothing; an unknown agent, or router, is a 404; an unknown network, no agent
    assert backend.get(f"/agents/{backend.l3[0]}/dhcp-networks") == {"networks": []}
    assert backend.get(f"/agents/{backend.dhcp[0]}/l3-routers") == {"routers": []}
    assert backend.call("GET", f"/agents/{UNKNOWN}/dhcp-networks").error == (404, "AgentNotFound")
    assert backend.call("GET", f"/agents/{UNKNOWN}/l3-routers").error == (404, "AgentNotFound")
    assert backend.call("GET", f"/routers/{UNKNOWN}/l3-agents").error == (404, "RouterNotFound")
    assert backend.get(f"/networks/{UNKNOWN}/dhcp-agents") == {"agents": []}
    dhcp_bindings, l3_bindings = client(backend).fetch_bindings([AgentId(host)], [AgentId(backend.l3[1])])
    assert NetworkId(net) in dhcp_bindings[AgentId(host)]
    assert RouterId(router) in l3_bindings[AgentId(backend.l3[1])]


def test_single_reads_of_a_network_or_router_and_their_404_types(backend: Backend) -> None:
    net = backend.network("single", "10.77.6.0/24")
    router = backend.router("single")
    assert backend.add(backend.l3[2], "router", router).status == 201
    assert backend.get(f"/networks/{net}", {"fields": ["id", "availability_zone_hints"]}) == {
        "network": {"id": net, "availability_zone_hints": []}}
    assert backend.get(f"/routers/{router}", {"fields": ["id", "ha", "distributed", "availability_zone_hints"]}) == {
        "router": {"id": router, "ha": False, "distributed": False, "availability_zone_hints": []}}
    assert backend.get(f"/networks/{net}", {"fields": ["id"]}) == {"network": {"id": net}}
    assert backend.call("GET", f"/networks/{UNKNOWN}", params={"fields": ["id"]}).error == (404, "NetworkNotFound")
    assert backend.call("GET", f"/routers/{UNKNOWN}").error == (404, "RouterNotFound")
    assert backend.call("GET", "/networks/not-a-uuid").error == (404, "NetworkNotFound")
    neutron = client(backend)
    read = neutron.fetch_network(NetworkId(net))
    assert read.network is not None and read.network.dhcp
    assert read.hosts == frozenset(AgentId(a) for a in backend.network_hosts(net))
    assert neutron.fetch_network(NetworkId(UNKNOWN)).network is None
    router_read = neutron.fetch_router(RouterId(router))
    assert router_read.router is not None and router_read.hosts == {AgentId(backend.l3[2])}
    assert neutron.fetch_router(RouterId(UNKNOWN)).router is None
    confirmed = neutron.confirm([NetworkId(net), NetworkId(UNKNOWN)], [AgentId(backend.dhcp[0]), AgentId(UNKNOWN)])
    assert confirmed.present_networks == frozenset({NetworkId(net)})
    assert confirmed.gone_networks == frozenset({NetworkId(UNKNOWN)})
    assert confirmed.present_agents == frozenset({AgentId(backend.dhcp[0])})
    assert confirmed.gone_agents == frozenset({AgentId(UNKNOWN)})


@pytest.mark.parametrize(("path", "key"), [("/networks", "networks"), ("/agents", "agents"),
                                           ("/routers", "routers"), ("/subnets", "subnets")])
def test_pagination_with_limit_and_marker(backend: Backend, path: str, key: str) -> None:
    backend.network("page", "10.77.10.0/24")  # with the steady cloud's 4: 5 networks and subnets, 9 agents and routers
    everything = backend.get(path, {"fields": ["id"]})
    assert set(everything) == {key}  # no limit: no links
    expected = [r["id"] for r in everything[key]]
    assert len(expected) >= 5
    seen: list[str] = []
    query: dict[str, object] | None = {"fields": ["id"], "limit": 2}
    pages = 0
    while query is not None:
        body = backend.get(path, query)
        pages += 1
        assert set(body) == {key, f"{key}_links"}
        assert all(set(r) == {"id"} for r in body[key])  # fields= kept from page to page
        assert len(body[key]) <= 2
        rels = {link["rel"] for link in body[f"{key}_links"]}
        assert rels <= {"next", "previous"}
        query = next_page(body[f"{key}_links"])
        assert (query is None) == (len(body[key]) < 2)  # a next link whenever the page is full
        seen += [r["id"] for r in body[key]]
    assert pages == len(expected) // 2 + 1
    assert seen == sorted(seen) and sorted(seen) == sorted(expected)
    marker = sorted(expected)[1]
    after = backend.get(path, {"fields": ["id"], "limit": 1, "marker": marker})[key]
    assert [r["id"] for r in after] == [sorted(expected)[2]]
    assert backend.call("GET", path, params={"limit": "-1"}).error == (400, "BadRequest")
    # rpcdaemon's lists follow the links to the same rows
    snapshot = NeutronClient.connect(endpoint=backend.url).fetch_snapshot()
    if key == "networks":
        assert {str(n) for n in snapshot.networks} == set(expected)
    elif key == "routers":
        assert {str(r) for r in snapshot.routers} == set(expected)


def test_fields_returns_exactly_the_keys_asked(backend: Backend) -> None:
    rows = backend.get("/agents", {"fields": ["host"]})["agents"]
    assert rows and all(set(r) == {"host"} for r in rows)  # no id unless asked
    net = backend.network("fields", "10.77.7.0/24")
    assert backend.get(f"/networks/{net}", {"fields": "name"}) == {"network": {"name": "contract-fields"}}
    rows = backend.get("/routers", {"fields": ["id", "name"]})["routers"]
    assert rows == [] or all(set(r) == {"id", "name"} for r in rows)
