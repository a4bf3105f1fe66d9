"""Agent deaths against the disruption guard: a majority of one type in one zone dying at once (at least 3) is a
broken control plane and nothing there moves, however long it lasts; a minority is evacuated."""

from __future__ import annotations

from chaos_rig import MakeRig

from rpcdaemon.emulator.cloud import DHCP, L3


def test_majority_kill_moves_nothing_then_recovery_changes_nothing(make_rig: MakeRig) -> None:
    rig = make_rig(dhcp_agents=5, l3_agents=5, networks=10, routers=10, ha_routers=2)
    for kind in (L3, DHCP):
        victims = sorted(a.id for a in rig.cloud.agents.values() if a.agent_type == kind)[:3]
        for agent in victims:
            rig.cloud.set_agent_down(agent)
    reports = [rig.step() for _ in range(40)]  # 200 s: over 2.5 dead periods
    assert all(r.error is None for r in reports)
    assert rig.changes(reports) == []
    last = reports[-1].plan
    assert last is not None
    assert sum(z.disrupted for z in last.zones.values()) == 2
    for agent in list(rig.cloud.agents):
        rig.cloud.set_agent_up(agent)
    assert rig.changes([rig.step() for _ in range(20)]) == []


def test_minority_kill_is_evacuated(make_rig: MakeRig) -> None:
    rig = make_rig(dhcp_agents=5, l3_agents=5, networks=10, routers=10, ha_routers=0)
    victims = sorted(a.id for a in rig.cloud.agents.values() if a.agent_type == L3)[:2]
    hosted = set().union(*(rig.cloud.l3[v] for v in victims))
    for agent in victims:
        rig.cloud.set_agent_down(agent)
    results = rig.changes([rig.step() for _ in range(25)])
    assert {r.change.resource_id for r in results if r.outcome == "done"} == hosted
    assert all(r.change.from_agent in victims for r in results)
    assert not any(rig.cloud.l3[v] for v in victims)
