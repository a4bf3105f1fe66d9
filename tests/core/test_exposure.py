"""The numbers behind the alert rules (core/exposure.py): resources on dead agents, DHCP networks below target.

Verdicts come from make_plan on a state that watched a whole dead period, as the daemon's do."""

from __future__ import annotations

from dataclasses import replace

from builders import NOW, agent, networks, observed, routers, snapshot

from rpcdaemon.core.exposure import Exposure, exposure
from rpcdaemon.core.plan import make_plan
from rpcdaemon.core.policy import Policy
from rpcdaemon.model import DHCP_AGENT, Agent, Snapshot

P = Policy(dead_after_s=75, hold_down_s=60)


def dhcp(name: str, alive: bool = True, zone: str = "nova", admin: bool = True) -> Agent:
    return agent(name, DHCP_AGENT, alive=alive, zone=zone, admin=admin)


def exposed(snap: Snapshot, policy: Policy = P) -> Exposure:
    plan, _ = make_plan(snap, observed(snap, policy), NOW, policy)
    return exposure(snap, plan.verdicts, policy)


def test_a_healthy_cloud_exposes_nothing() -> None:
    snap = snapshot([agent("a0"), agent("a1"), dhcp("d0"), dhcp("d1")], routers("r0", "r1"), networks("n0"),
                    l3={"a0": {"r0"}, "a1": {"r1"}}, dhcp={"d0": {"n0"}, "d1": {"n0"}})
    assert exposed(snap) == Exposure(0, 0, 0)


def test_resources_on_dead_agents_count_once_each() -> None:
    snap = snapshot([agent("a0", alive=False), agent("a1", alive=False), agent("a2"), dhcp("d0", alive=False),
                     dhcp("d1")], routers("r0", "r1", ha=True) | routers("r2"), networks("n0", "n1"),
                    l3={"a0": {"r0", "r1"}, "a1": {"r0"}, "a2": {"r1", "r2"}}, dhcp={"d0": {"n0"}, "d1": {"n0", "n1"}})
    result = exposed(snap)
    assert (result.routers_on_dead_agents, result.networks_on_dead_agents) == (2, 1)


def test_admin_down_is_not_dead_but_leaves_networks_below_target() -> None:
    snap = snapshot([dhcp("d0", admin=False), dhcp("d1")], networks=networks("n0"), dhcp={"d0": {"n0"}})
    assert exposed(snap) == Exposure(0, 0, 1)


def test_all_agents_wanted_by_default_within_the_hinted_zones() -> None:
    snap = snapshot([dhcp("d0", zone="az1"), dhcp("d1", zone="az2")],
                    networks=networks("n0", hints=("az1",)) | networks("n1") | networks("n2", dhcp=False),
                    dhcp={"d0": {"n0", "n1"}})
    assert exposed(snap).dhcp_networks_below_target == 1  # n1 misses d1; n0 wants only az1; n2 has no DHCP


def test_a_number_of_agents_per_network() -> None:
    two = replace(P, dhcp_agents_per_network=2)
    snap = snapshot([dhcp("d0"), dhcp("d1", alive=False), dhcp("d2")], networks=networks("n0", "n1"),
                    dhcp={"d0": {"n0", "n1"}, "d1": {"n0"}, "d2": {"n1"}})
    assert exposed(snap, two) == Exposure(0, 1, 1)  # n0 has one serving agent of two; n1 has two
    assert exposed(snap, replace(P, dhcp_agents_per_network=1)).dhcp_networks_below_target == 0


def test_no_bindings_read_no_exposure() -> None:
    snap = replace(snapshot([agent("a0", alive=False), dhcp("d0")], routers("r0"), networks("n0")),
                   l3_bindings=None, dhcp_bindings=None)
    assert exposed(snap) == Exposure(0, 0, 0)
