"""An agent set admin-down on a real Neutron loses what it hosts to live agents (issue 12).

Neutron 29 gives an admin-down agent no routers and no networks on its next sync (the testbed's neutron.conf leaves
enable_services_on_agents_with_admin_state_down unset, so false): what stays bound there is dark. rpcdaemon, which
reads the same default, moves it. Every assertion reads Neutron's own API; the agent is set admin-up again after.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from testbed import DHCP_TARGET, Rpcdaemon, Testbed

from polling import poll

pytestmark = [pytest.mark.neutron, pytest.mark.timeout(900)]
Cloud = tuple[Testbed, Rpcdaemon]


@contextmanager
def admin_down(bed: Testbed, agent: str) -> Iterator[None]:
    bed.request("PUT", f"/v2.0/agents/{agent}", {"agent": {"admin_state_up": False}})
    try:
        yield
    finally:
        bed.request("PUT", f"/v2.0/agents/{agent}", {"agent": {"admin_state_up": True}})


def test_an_admin_down_l3_agents_routers_move_to_live_agents(cloud: Cloud) -> None:
    bed, rpcd = cloud
    l3 = bed.agents_of("l3")
    victim = max(l3, key=lambda a: len(bed.routers_on(a.id)))
    routers = bed.routers_on(victim.id)
    assert routers
    live = {a.id for a in l3 if a is not victim}
    with admin_down(bed, victim.id):

        def moved() -> bool:
            return all(len(hosts) == 1 and hosts <= live for hosts in (bed.l3_agents_of(r) for r in routers))

        poll(moved, 60, "every router of the admin-down L3 agent hosted by exactly one live agent", interval_s=0.5)
        assert not bed.routers_on(victim.id)
        assert bed.alive()[victim.id], "the agent stayed alive: it was its admin state that moved the routers"
    moves = [r for r in rpcd.actions() if r["action"] == "move_router" and r["from_agent"] == victim.id]
    assert routers <= {r["resource_id"] for r in moves}
    assert all("admin down" in r["reason"] for r in moves), moves


def test_an_admin_down_dhcp_agents_networks_go_to_the_target_number_of_live_agents(cloud: Cloud) -> None:
    bed, rpcd = cloud
    dhcp = bed.agents_of("dhcp")
    victim = max(dhcp, key=lambda a: len(bed.networks_on(a.id)))
    networks = bed.networks_on(victim.id)
    assert networks
    live = {a.id for a in dhcp if a is not victim}
    with admin_down(bed, victim.id):

        def repaired() -> bool:
            return not bed.networks_on(victim.id) and all(
                len(agents) == DHCP_TARGET and agents <= live for agents in (bed.dhcp_agents_of(n) for n in networks))

        poll(repaired, 60, f"the admin-down DHCP agent's networks off it and on {DHCP_TARGET} live agents",
             interval_s=0.5)

    def removals() -> list[dict[str, str]]:
        return [r for r in rpcd.actions() if r["action"] == "remove_network" and r["from_agent"] == victim.id]

    # Neutron's DELETE answers after it has re-marked the agent's DHCP port (0.4-2.1 s after the binding is gone
    # from the lists): the audit records come after that answer
    poll(lambda: networks <= {r["resource_id"] for r in removals()}, 30, "a remove_network record for each network")
    assert all("admin down" in r["reason"] for r in removals()), removals()
