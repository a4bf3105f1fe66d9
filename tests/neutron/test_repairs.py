"""rpcdaemon repairing a real Neutron: what its API reports after an agent dies, a network comes and goes, or
rpcdaemon itself is killed mid-evacuation.

Every assertion reads the state from Neutron's own API (the bindings lists), never from rpcdaemon: the point of the
tier is that the server agrees with what rpcdaemon believes it did.
"""

from __future__ import annotations

import pytest
from testbed import DHCP_TARGET, Rpcdaemon, Testbed

from polling import poll

pytestmark = [pytest.mark.neutron, pytest.mark.timeout(900)]
Cloud = tuple[Testbed, Rpcdaemon]


def loads(bed: Testbed, agents: set[str]) -> dict[str, int]:
    return {a: len(bed.routers_on(a)) for a in agents}


def test_a_dead_l3_agents_routers_end_on_live_agents_spread(cloud: Cloud) -> None:
    bed, rpcd = cloud
    l3 = bed.agents_of("l3")
    victim = max(l3, key=lambda a: len(bed.routers_on(a.id)))
    routers = bed.routers_on(victim.id)
    assert len(routers) >= 2
    live = {a.id for a in l3 if a is not victim}
    before = loads(bed, live)
    victim.pause()

    def moved() -> bool:
        return all(len(hosts) == 1 and hosts <= live for hosts in (bed.l3_agents_of(r) for r in routers))

    poll(moved, 90, "every router of the dead L3 agent hosted by exactly one live agent", interval_s=0.5)
    assert not bed.routers_on(victim.id)
    after = loads(bed, live)
    # spread: least-loaded placement never widens the gap between live agents, and equal ones both get work
    assert max(after.values()) - min(after.values()) <= max(1, max(before.values()) - min(before.values()))
    if len(set(before.values())) == 1:
        assert all(after[a] > before[a] for a in live)
    moves = {r["resource_id"] for r in rpcd.actions() if r["action"] == "move_router" and r["from_agent"] == victim.id}
    assert routers <= moves


def test_a_dead_dhcp_agents_networks_leave_it_for_the_target_number_of_live_agents(cloud: Cloud) -> None:
    bed, _rpcd = cloud
    dhcp = bed.agents_of("dhcp")
    victim = max(dhcp, key=lambda a: len(bed.networks_on(a.id)))
    networks = bed.networks_on(victim.id)
    assert networks
    live = {a.id for a in dhcp if a is not victim}
    victim.pause()

    def repaired() -> bool:
        return not bed.networks_on(victim.id) and all(
            len(agents) == DHCP_TARGET and agents <= live for agents in (bed.dhcp_agents_of(n) for n in networks))

    poll(repaired, 90, f"the dead DHCP agent's networks off it and on {DHCP_TARGET} live agents", interval_s=0.5)


def test_a_new_dhcp_network_is_on_the_target_live_agents_within_seconds(cloud: Cloud) -> None:
    bed, rpcd = cloud
    net, _subnet = bed.create_network("created", "10.20.0.0/24")
    bed.networks.append(net)
    live = {a.id for a in bed.agents_of("dhcp")}
    # The server puts it on one agent; rpcdaemon, woken by the network/subnet notifications, adds the rest. The
    # server's own scheduling can come after rpcdaemon's read: the network may then end on one agent more (never
    # fewer), which rpcdaemon leaves alone (it never removes a network from a live agent).
    poll(lambda: len(bed.dhcp_agents_of(net)) >= DHCP_TARGET, 15, f"the new network on {DHCP_TARGET} DHCP agents",
         interval_s=0.2)
    assert bed.dhcp_agents_of(net) <= live
    assert any(r["action"] == "add_network" and r["resource_id"] == net for r in rpcd.actions())


def test_a_deleted_network_leaves_no_binding_behind(cloud: Cloud) -> None:
    bed, rpcd = cloud
    net, _subnet = bed.create_network("doomed", "10.30.0.0/24")
    poll(lambda: len(bed.dhcp_agents_of(net)) >= DHCP_TARGET, 30, "the network hosted first", interval_s=0.2)
    passes = rpcd.status()["passes"]
    poll(lambda: rpcd.status()["passes"] >= passes + 1, 30, "a pass after it was hosted", interval_s=0.2)
    done_before = len(rpcd.actions())
    bed.request("DELETE", f"/v2.0/networks/{net}")
    passes = rpcd.status()["passes"]
    poll(lambda: rpcd.status()["passes"] >= passes + 3, 30, "three more passes after the delete", interval_s=0.2)
    for agent in bed.agents_of("dhcp"):
        assert net not in bed.networks_on(agent.id), agent.host
    assert [r for r in rpcd.actions()[done_before:] if r["resource_id"] == net and r["action"] == "add_network"] == []
    assert not [r for r in rpcd.status()["pending"] if r.get("resource_id") == net]


def test_sigkill_mid_evacuation_then_restart_converges(cloud: Cloud) -> None:
    bed, rpcd = cloud
    l3 = bed.agents_of("l3")
    victim = min(l3, key=lambda a: len(bed.routers_on(a.id)))
    bed.routers += [bed.create_router(f"kill-{i}", on_agent=victim.id) for i in range(12)]
    routers = set(bed.routers)
    evacuated = bed.routers_on(victim.id)
    live = {a.id for a in l3 if a is not victim}
    offset = bed.api_log_size()
    victim.pause()
    # killed when Neutron has answered the first removal from the dead agent: the other moves are then between
    # their remove and their add, or not started (a legacy move is remove-then-add)
    poll(lambda: f"DELETE /v2.0/agents/{victim.id}/l3-routers/" in bed.api_log_since(offset), 60,
         "the first removal from the dead agent answered", interval_s=0.005)
    rpcd.kill()
    stranded = {r for r in evacuated if not bed.l3_agents_of(r) - {victim.id}}
    assert stranded, "the kill came after the evacuation: nothing was left to repair"
    rpcd.start()

    def converged() -> bool:
        return all(len(hosts) == 1 and hosts <= live for hosts in (bed.l3_agents_of(r) for r in routers))

    poll(converged, 120, "every router hosted by exactly one live agent after the restart", interval_s=0.5)
    assert not bed.routers_on(victim.id)
