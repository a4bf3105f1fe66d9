"""What a full read is taken to cost the API: at least its rows at a real Neutron's cost per row (B10), so the
default resync period does not shrink on an API that answers faster with more workers but burns the same CPU."""

from __future__ import annotations

from rpcdaemon.daemon.reading import ROW_COST_S, rows_of
from rpcdaemon.model import DHCP_AGENT, L3_AGENT, Agent, AgentId, Network, NetworkId, Router, RouterId, Snapshot


def test_rows_of_a_full_read() -> None:
    agents = {AgentId("d"): Agent(AgentId("d"), DHCP_AGENT, "h1"), AgentId("l"): Agent(AgentId("l"), L3_AGENT, "h2")}
    snap = Snapshot(
        agents=agents,
        networks={NetworkId("n1"): Network(NetworkId("n1"), True), NetworkId("n2"): Network(NetworkId("n2"), False)},
        routers={RouterId("r1"): Router(RouterId("r1"))},
        dhcp_bindings={AgentId("d"): frozenset({NetworkId("n1")})},
        l3_bindings={AgentId("l"): frozenset({RouterId("r1")})},
    )
    assert rows_of(snap) == 2 + 2 + 1 + 1 + 1 + 1
    assert 1_000 * 5 * ROW_COST_S == 10.0  # 1,000 networks' worth of rows: about what B10 measured (10.7-11.3 s)
