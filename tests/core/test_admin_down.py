"""Admin-down agents serve nothing (issue 12): each test failed on the code before the rule.

Neutron 29 gives an agent whose admin_state_up is false no routers and no networks on its next sync (its
agentschedulers_db `services_available`), unless neutron.conf sets enable_services_on_agents_with_admin_state_down:
the agent tears down what it hosts. rpcdaemon used only to stop choosing such an agent, leaving its work bound there
and dark. Now it is evacuated like a dead agent's, under the same guards; with the option set it stays.
"""

from __future__ import annotations

from dataclasses import replace

from builders import NOW, agent, clouds, networks, observed, routers, snapshot
from hypothesis import given, settings
from hypothesis import strategies as st

from rpcdaemon.core.actions import Change, ChangeKind, Op, ResourceType, apply_changes
from rpcdaemon.core.liveness import ADMIN_DOWN_CONFIRM_S, Verdict
from rpcdaemon.core.plan import make_plan, never_from_the_living
from rpcdaemon.core.policy import Policy
from rpcdaemon.core.safety import zone_of
from rpcdaemon.model import DHCP_AGENT, Agent, AgentId, Snapshot

P = Policy(dead_after_s=75, hold_down_s=60)
SERVED = replace(P, services_on_admin_down=True)
"""neutron.conf sets enable_services_on_agents_with_admin_state_down = True."""


def dhcp(name: str, alive: bool = True, zone: str = "nova", admin: bool = True) -> Agent:
    return agent(name, DHCP_AGENT, alive=alive, zone=zone, admin=admin)


def taken_from(changes: tuple[Change, ...], agent_id: str) -> list[Change]:
    return [c for c in changes if c.from_agent == agent_id]


# --- evacuated, with a reason that says so -------------------------------------------------------------------------

def test_an_admin_down_l3_agents_routers_move_with_the_reason() -> None:
    snap = snapshot([agent("a0", admin=False), agent("a1"), agent("a2")], routers("r0", "r1"),
                    l3={"a0": {"r0", "r1"}})
    plan, _ = make_plan(snap, observed(snap, P), NOW, P)
    assert [(c.action, c.from_agent) for c in plan.changes] == [(ChangeKind.MOVE_ROUTER, "a0")] * 2
    assert {c.to_agent for c in plan.changes} == {"a1", "a2"}
    assert all("a0 is admin down" in c.reason for c in plan.changes), plan.changes
    assert plan.verdicts[AgentId("a0")].verdict is Verdict.ALIVE  # its verdict stays what its signals say
    assert plan.evacuating == {"a0"}
    assert not (apply_changes(snap, plan.changes).l3_bindings or {})[AgentId("a0")]


def test_an_admin_down_dhcp_agents_network_is_added_elsewhere_first() -> None:
    policy = replace(P, dhcp_agents_per_network=1)
    snap = snapshot([dhcp("d0", admin=False), dhcp("d1")], networks=networks("n0"), dhcp={"d0": {"n0"}})
    plan, _ = make_plan(snap, observed(snap, policy), NOW, policy)
    assert [(c.action, c.from_agent or c.to_agent) for c in plan.changes] == [
        (ChangeKind.ADD_NETWORK, "d1"), (ChangeKind.REMOVE_NETWORK, "d0")]
    assert "admin down" in plan.changes[0].reason and "admin down" in plan.changes[1].reason


def test_the_last_binding_of_a_network_stays_on_an_admin_down_agent_when_none_can_take_it() -> None:
    snap = snapshot([dhcp("d0", admin=False), dhcp("d1", alive=False)], networks=networks("n0"),
                    dhcp={"d0": {"n0"}, "d1": {"n0"}})
    plan, _ = make_plan(snap, observed(snap, P), NOW, P)
    assert plan.changes == ()
    # once one can take it, the network is added there before anything is removed
    snap = snapshot([dhcp("d0", admin=False), dhcp("d1", alive=False), dhcp("d2")], networks=networks("n0"),
                    dhcp={"d0": {"n0"}, "d1": {"n0"}})
    plan, _ = make_plan(snap, observed(snap, P), NOW, P)
    assert [(c.action, c.from_agent or c.to_agent) for c in plan.changes] == [
        (ChangeKind.ADD_NETWORK, "d2"), (ChangeKind.REMOVE_NETWORK, "d0"), (ChangeKind.REMOVE_NETWORK, "d1")]


def test_an_ha_replica_on_an_admin_down_agent_is_replaced_add_then_remove() -> None:
    snap = snapshot([agent("a0", admin=False), agent("a1"), agent("a2"), agent("a3")], routers("h0", ha=True),
                    l3={"a0": {"h0"}, "a1": {"h0"}, "a2": {"h0"}})
    plan, _ = make_plan(snap, observed(snap, P), NOW, P)
    assert [(c.action, c.from_agent, c.to_agent) for c in plan.changes] == [
        (ChangeKind.REPLACE_HA_REPLICA, "a0", "a3")]
    assert [call.op for call in plan.changes[0].calls()] == [Op.ADD, Op.REMOVE]
    assert "admin down" in plan.changes[0].reason


def test_a_legacy_routers_extra_binding_on_an_admin_down_agent_is_stale() -> None:
    snap = snapshot([agent("a0", admin=False), agent("a1")], routers("r0"), l3={"a0": {"r0"}, "a1": {"r0"}})
    plan, _ = make_plan(snap, observed(snap, P), NOW, P)
    assert [(c.action, c.from_agent) for c in plan.changes] == [(ChangeKind.REMOVE_ROUTER, "a0")]
    assert "stale binding on admin down L3 agent a0" in plan.changes[0].reason


# --- kept when Neutron serves admin-down agents ----------------------------------------------------------------------

def test_with_services_on_admin_down_agents_they_keep_what_they_host_and_get_nothing_new() -> None:
    agents = [agent("a0", admin=False), agent("a1"), agent("a2"), dhcp("d0", admin=False), dhcp("d1")]
    snap = snapshot(agents, routers("r0", "h0", ha=False) | routers("h1", ha=True) | routers("r1"),
                    networks("n0", "n1"), l3={"a0": {"r0", "h1"}, "a1": {"h1"}}, dhcp={"d0": {"n0"}})
    plan, _ = make_plan(snap, observed(snap, SERVED), NOW, SERVED)
    assert taken_from(plan.changes, "a0") == [] and taken_from(plan.changes, "d0") == []
    assert all(c.to_agent not in ("a0", "d0") for c in plan.changes)
    assert plan.evacuating == frozenset()
    # the same cloud, Neutron's default: both are emptied
    plan, _ = make_plan(snap, observed(snap, P), NOW, P)
    assert taken_from(plan.changes, "a0") and taken_from(plan.changes, "d0")


# --- the guards ------------------------------------------------------------------------------------------------

def test_a_mass_admin_down_in_a_zone_is_a_disruption() -> None:
    agents = [agent(f"a{i}", admin=False, zone="z1") for i in range(3)] + [agent("a3", zone="z1"),
                                                                         agent("b0", zone="z2")]
    snap = snapshot(agents, routers("r0", "r1", "r2"), l3={f"a{i}": {f"r{i}"} for i in range(3)})
    plan, _ = make_plan(snap, observed(snap, P), NOW, P)
    assert plan.changes == ()
    zone = plan.zones[("L3 agent", "z1")]
    assert zone.disrupted and zone.admin_down == 3
    assert any("3 admin down" in a and "DISRUPTED" in a for a in plan.alarms), plan.alarms
    # Neutron serving admin-down agents: they are not a disruption, and nothing is taken from them
    plan, _ = make_plan(snap, observed(snap, SERVED), NOW, SERVED)
    assert not plan.zones[("L3 agent", "z1")].disrupted and plan.changes == ()


def test_admin_down_agents_count_with_the_dead_and_hold_a_dead_agents_evacuation() -> None:
    agents = [agent("a0", admin=False), agent("a1", admin=False), agent("a2", alive=False), agent("a3"),
              agent("a4")]
    snap = snapshot(agents, routers("r0", "r1", "r2"), l3={"a0": {"r0"}, "a1": {"r1"}, "a2": {"r2"}})
    plan, _ = make_plan(snap, observed(snap, P), NOW, P)
    assert plan.zones[("L3 agent", "nova")].disrupted and plan.changes == ()
    plan, _ = make_plan(snap, observed(snap, SERVED), NOW, SERVED)
    assert [(c.action, c.from_agent) for c in plan.changes] == [(ChangeKind.MOVE_ROUTER, "a2")]


def test_the_budget_applies_to_admin_down_agents() -> None:
    policy = replace(P, max_evacuations_per_minute=1)
    agents = [agent("a0", admin=False), agent("a1", admin=False)] + [agent(f"t{i}") for i in range(4)]
    snap = snapshot(agents, routers("r0", "r1"), l3={"a0": {"r0"}, "a1": {"r1"}})
    plan, state = make_plan(snap, observed(snap, policy), NOW, policy)
    assert plan.evacuating == {"a0"}
    assert [c.from_agent for c in plan.changes] == ["a0"]
    assert any("a1 admin down but deferred" in n for n in plan.notes), plan.notes
    # a minute on (the targets' heartbeats moved meanwhile), the next one starts
    moved = {a.id: replace(a, heartbeat="b1") if a.admin_state_up else a for a in snap.agents.values()}
    later, _ = make_plan(replace(apply_changes(snap, plan.changes), agents=moved), state, NOW + 61, policy)
    assert [c.from_agent for c in later.changes] == ["a1"]


def test_the_last_word_takes_from_an_admin_down_agent_only_once_its_evacuation_is_admitted() -> None:
    snap = snapshot([agent("a0", admin=False), agent("a1")], routers("r0"), l3={"a0": {"r0"}})
    plan, _ = make_plan(snap, observed(snap, P), NOW, P)
    move = Change(ChangeKind.MOVE_ROUTER, ResourceType.ROUTER, "r0", AgentId("a0"), AgentId("a1"), "x")
    assert never_from_the_living([move], plan.verdicts, ()) == []
    assert never_from_the_living([move], plan.verdicts, (), {AgentId("a0")}) == [move]
    forged = replace(move, from_agent=AgentId("a1"), to_agent=AgentId("a0"))
    assert never_from_the_living([forged], plan.verdicts, (), {AgentId("a0")}) == []


# --- over random clouds ------------------------------------------------------------------------------------------

EXAMPLES = settings(max_examples=300, deadline=None)
POLICIES = st.builds(
    Policy,
    dhcp_agents_per_network=st.sampled_from([None, 1, 2]),
    max_dead_fraction=st.sampled_from([0.5, 1.0]),
    max_evacuations_per_minute=st.just(1000),
)


def serving(a: Agent, dead: bool, policy: Policy) -> bool:
    return not dead and (a.admin_state_up or policy.services_on_admin_down)


@EXAMPLES
@given(clouds(), POLICIES)
def test_admin_down_agents_are_emptied_and_no_network_loses_its_service(snap: Snapshot, policy: Policy) -> None:
    """Once the plan is carried out, an admin-down agent outside a disrupted zone shares nothing with a serving
    agent (each of its bindings was moved, replaced, or was stale), and a network served before is served after."""
    plan, _ = make_plan(snap, observed(snap, policy), NOW, policy)
    after = apply_changes(snap, plan.changes)
    nets_before, nets_after = snap.dhcp_agents_of_network(), after.dhcp_agents_of_network()
    for net_id, hosts in nets_before.items():
        if net_id not in snap.networks or not hosts:
            continue
        assert nets_after.get(net_id), f"{net_id} lost every binding"
        if any(serving(snap.agents[a], plan.verdicts[a].is_dead, policy) for a in hosts):
            assert any(serving(snap.agents[a], plan.verdicts[a].is_dead, policy) for a in nets_after[net_id])
    if plan.reread:
        return  # a read not trusted holds changes
    hosting: dict[tuple[str, str], set[AgentId]] = {
        **{("net", n): h for n, h in nets_after.items() if n in snap.networks and snap.networks[n].dhcp},
        **{("router", r): h for r, h in after.l3_agents_of_router().items() if r in snap.routers}}
    for hosts in hosting.values():
        agents = [snap.agents[a] for a in hosts]
        if not any(serving(a, plan.verdicts[a.id].is_dead, policy) for a in agents):
            continue
        for a in agents:
            if (not a.admin_state_up and a.is_managed and not plan.verdicts[a.id].is_dead
                    and not plan.zones[(a.agent_type, zone_of(a))].disrupted):
                raise AssertionError(f"admin-down {a.id} still hosts alongside a serving agent: {hosts}")


@EXAMPLES
@given(clouds(), POLICIES)
def test_when_neutron_serves_admin_down_agents_only_the_dead_lose_anything(snap: Snapshot, policy: Policy) -> None:
    policy = replace(policy, services_on_admin_down=True)
    plan, _ = make_plan(snap, observed(snap, policy), NOW, policy)
    for change in plan.changes:
        if change.from_agent is not None and change.resource_id in {*snap.networks, *snap.routers}:
            assert plan.verdicts[change.from_agent].is_dead, change
    assert all(zone.admin_down == 0 for zone in plan.zones.values())


def test_one_lying_row_saying_admin_down_empties_nothing() -> None:
    """A well-formed answer that says admin_state_up false once (a lie, a stale replay) must not empty a live
    agent: the agents lists must say so without a break for ADMIN_DOWN_CONFIRM_S (two reads at least)."""
    agents = [agent("a0"), agent("a1"), agent("a2")]
    truth = snapshot(agents, routers("r0"), l3={"a0": {"r0"}})
    _, state = make_plan(truth, observed(truth, P), NOW, P)
    lie = snapshot([agent("a0", admin=False), *agents[1:]], routers("r0"), l3={"a0": {"r0"}})
    plan, lied = make_plan(lie, state, NOW + 1, P)
    assert taken_from(plan.changes, "a0") == []
    plan, _ = make_plan(truth, lied, NOW + 10, P)  # the next read says admin up again: it never happened
    assert taken_from(plan.changes, "a0") == []
    plan, _ = make_plan(lie, lied, NOW + 1 + ADMIN_DOWN_CONFIRM_S, P)  # said again, for long enough: real
    assert [c.action for c in taken_from(plan.changes, "a0")] == [ChangeKind.MOVE_ROUTER]
