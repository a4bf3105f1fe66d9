"""Rules that keep rpcdaemon from doing harm (issue 11): each test failed on the code before its rule.

A lying read, a zone whose hints have no live agent, agents rpcdaemon never manages, a takeover mid-budget, an
HA router short of replicas, a target that keeps refusing: the plan must stay harmless in every one.
"""

from __future__ import annotations

from dataclasses import replace

from builders import NOW, agent, networks, observed, routers, snapshot

from rpcdaemon.core.actions import Change, ChangeKind, ResourceType, apply_changes
from rpcdaemon.core.cache import ReadKind, read_kind, resync_period
from rpcdaemon.core.plan import REFUSAL_MEMORY_S, CoreState, make_plan, never_from_the_living, remember_refusals
from rpcdaemon.core.policy import Policy
from rpcdaemon.core.safety import BUDGET_WINDOW_S, budget_on_takeover
from rpcdaemon.core.vanish import MASS_VANISH_MIN, find_vanished, to_confirm
from rpcdaemon.model import DHCP_AGENT, AgentId, AgentMode, Confirmations, NetworkId, Snapshot

P = Policy(dead_after_s=75, hold_down_s=60)


def dhcp(name: str, alive: bool = True, zone: str = "nova") -> object:
    return agent(name, DHCP_AGENT, alive=alive, zone=zone)


def dhcp_cloud(nets: int = 10, agents: int = 4) -> Snapshot:
    names = [f"n{i}" for i in range(nets)]
    return snapshot([dhcp(f"d{i}") for i in range(agents)], networks=networks(*names),  # type: ignore[misc]
                    dhcp={f"d{i}": set(names) for i in range(agents)})


# --- 1. a lying read ---------------------------------------------------------------------------------------------

def test_an_empty_network_list_removes_nothing_and_alarms() -> None:
    truth = dhcp_cloud()
    state = observed(truth, P)
    _, state = make_plan(truth, state, NOW, P)
    lie = replace(truth, networks={})
    plan, _ = make_plan(lie, state, NOW + 1, P)
    assert plan.changes == ()
    assert plan.alarms
    assert "UNTRUSTED READ" in plan.alarms[0]
    assert to_confirm(find_vanished(lie, state.agent_types)) == ([], [])  # no reads spent on a mass vanish


def test_a_few_vanished_networks_wait_for_their_404() -> None:
    truth = dhcp_cloud(nets=40)
    lie = replace(truth, networks={k: v for k, v in truth.networks.items() if k != "n3"})
    plan, _ = make_plan(lie, observed(lie, P), NOW, P)
    assert plan.changes == ()
    assert any("not (yet) shown deleted" in n for n in plan.notes)
    assert to_confirm(find_vanished(lie, {}))[0] == ["n3"]
    gone = replace(lie, confirmed=Confirmations(gone_networks=frozenset({NetworkId("n3")})))
    plan, _ = make_plan(gone, observed(gone, P), NOW, P)
    assert {(c.action, c.resource_id) for c in plan.changes} == {(ChangeKind.REMOVE_NETWORK, "n3")}
    assert len(plan.changes) == 4


def test_a_list_that_left_out_an_existing_network_holds_every_dhcp_change() -> None:
    truth = dhcp_cloud(nets=40)
    lie = replace(truth, networks={k: v for k, v in truth.networks.items() if k != "n3"},
                  confirmed=Confirmations(present_networks=frozenset({NetworkId("n3")})))
    plan, _ = make_plan(lie, observed(lie, P), NOW, P)
    assert plan.changes == ()
    assert any("left out" in a for a in plan.alarms)
    assert plan.reread  # the lie is not kept in the cache until the next periodic full read


def test_a_read_is_read_again_soon_when_it_lied_and_not_when_it_only_waits_for_a_404() -> None:
    truth = dhcp_cloud(nets=40)
    plan, _ = make_plan(truth, observed(truth, P), NOW, P)
    assert not plan.reread
    waiting = replace(truth, networks={k: v for k, v in truth.networks.items() if k != "n3"})
    plan, _ = make_plan(waiting, observed(waiting, P), NOW, P)
    assert not plan.reread  # a deleted network whose bindings Neutron has yet to drop: its own read decides
    plan, _ = make_plan(replace(truth, networks={}), observed(truth, P), NOW, P)
    assert plan.reread  # a mass vanish: nothing is confirmed one by one, the whole read is suspect


def test_mass_vanish_threshold() -> None:
    truth = dhcp_cloud(nets=100)
    few = replace(truth, networks={k: v for k, v in truth.networks.items() if k not in {"n1", "n2", "n3"}})
    many = replace(truth, networks={k: v for k, v in truth.networks.items() if int(k[1:]) > 11})
    assert not find_vanished(few, {}).mass_networks
    assert len(find_vanished(few, {}).networks) == MASS_VANISH_MIN
    assert find_vanished(many, {}).mass_networks


def test_an_agent_missing_from_the_list_holds_its_type_until_shown_deleted() -> None:
    agents = [agent("a0"), agent("a1"), agent("a2")]
    truth = snapshot(agents, routers("r0", "r1"), l3={"a0": {"r0"}, "a1": {"r1"}})
    _, state = make_plan(truth, observed(truth, P), NOW, P)
    lie = snapshot(agents[1:], routers("r0", "r1"), l3={"a1": {"r1"}})  # a0 left out: r0 looks unhosted
    plan, state2 = make_plan(lie, state, NOW + 1, P)
    assert plan.changes == ()
    assert any("a0" in n for n in plan.notes)
    plan, state2 = make_plan(lie, state2, NOW + 2, P)  # still remembered on the next pass
    assert plan.changes == ()
    deleted = replace(lie, confirmed=Confirmations(gone_agents=frozenset({AgentId("a0")})))
    plan, _ = make_plan(deleted, state2, NOW + 3, P)
    assert [(c.action, c.resource_id) for c in plan.changes] == [(ChangeKind.SCHEDULE_ROUTER, "r0")]


def test_nothing_is_ever_taken_from_an_agent_not_judged_dead() -> None:
    truth = dhcp_cloud(nets=5)
    plan, _ = make_plan(truth, observed(truth, P), NOW, P)
    forged = [replace(c, action=ChangeKind.REMOVE_NETWORK, from_agent=AgentId("d0")) for c in
              [*plan.changes, *make_plan(replace(truth, networks={}), observed(truth, P), NOW, P)[0].changes]]
    forged.append(Change(ChangeKind.REMOVE_NETWORK, ResourceType.NETWORK, "n0", AgentId("d0"), None, "x"))
    assert never_from_the_living(forged, plan.verdicts, ()) == []


# --- 2. availability-zone hints ------------------------------------------------------------------------------------

def test_hinted_networks_never_spill_into_another_zone_during_a_disruption() -> None:
    agents = [dhcp(f"a{i}", alive=False, zone="az1") for i in range(4)] + [dhcp(f"b{i}", zone="az2")
                                                                        for i in range(3)]
    nets = networks("h0", "h1", "h2", hints=("az1",))
    snap = snapshot(agents, networks=nets, dhcp={f"a{i}": {"h0", "h1", "h2"} for i in range(4)})  # type: ignore[arg-type]
    plan, _ = make_plan(snap, observed(snap, P), NOW, P)
    assert plan.zones[(DHCP_AGENT, "az1")].disrupted
    assert plan.changes == ()


def test_a_hinted_network_whose_zone_died_waits_with_a_number() -> None:
    policy = Policy(dhcp_agents_per_network=2)
    agents = [dhcp("a0", alive=False, zone="az1"), dhcp("a1", alive=False, zone="az1"),
              dhcp("b0", zone="az2"), dhcp("b1", zone="az2")]
    snap = snapshot(agents, networks=networks("h0", hints=("az1",)), dhcp={"a0": {"h0"}, "a1": {"h0"}})  # type: ignore[arg-type]
    plan, _ = make_plan(snap, observed(snap, policy), NOW, policy)
    assert plan.changes == ()
    assert any("wait" in n for n in plan.notes)


def test_no_target_in_a_disrupted_zone() -> None:
    agents = [dhcp(f"a{i}", alive=i == 3, zone="az1") for i in range(4)] + [dhcp("b0", zone="az2")]
    snap = snapshot(agents, networks=networks("n0"), dhcp={"b0": {"n0"}})  # type: ignore[arg-type]
    plan, _ = make_plan(snap, observed(snap, P), NOW, P)
    assert all(c.to_agent != "a3" for c in plan.changes)


def test_hinted_routers_wait_rather_than_leave_their_zone() -> None:
    agents = [agent("a0", alive=False, zone="az1"), agent("b0", zone="az2")]
    snap = snapshot(agents, routers("r0", hints=("az1",)), l3={"a0": {"r0"}})
    plan, _ = make_plan(snap, observed(snap, P), NOW, P)
    assert plan.changes == ()
    assert any("wait" in n for n in plan.notes)


# --- 6. agents rpcdaemon never manages ---------------------------------------------------------------------------

def test_dvr_agents_do_not_dilute_the_disruption_guard() -> None:
    snat = [agent(f"s{i}", alive=i == 3, mode=AgentMode.DVR_SNAT) for i in range(4)]
    compute = [agent(f"c{i}", mode=AgentMode.DVR) for i in range(10)]
    names = [f"r{i}" for i in range(6)]
    snap = snapshot(snat + compute, routers(*names), l3={"s0": set(names[:2]), "s1": set(names[2:4]),
                                                         "s2": set(names[4:])})
    plan, _ = make_plan(snap, observed(snap, P), NOW, P)
    zone = plan.zones[("L3 agent", "nova")]
    assert (zone.total, zone.dead, zone.disrupted) == (4, 3, True)
    assert plan.changes == ()


def test_dead_compute_agents_do_not_block_a_network_node_failover() -> None:
    snat = [agent("s0", alive=False), agent("s1"), agent("s2")]
    compute = [agent(f"c{i}", alive=i == 0, mode=AgentMode.DVR) for i in range(6)]
    snap = snapshot(snat + compute, routers("r0"), l3={"s0": {"r0"}})
    plan, _ = make_plan(snap, observed(snap, P), NOW, P)
    assert [(c.action, c.to_agent) for c in plan.changes] == [(ChangeKind.MOVE_ROUTER, "s1")]


# --- 5. the budget across a takeover -----------------------------------------------------------------------------

def test_a_new_leader_inherits_the_budget_it_watched_being_spent() -> None:
    policy = Policy(dead_after_s=75, max_evacuations_per_minute=3, max_dead_fraction=1.0)
    agents = [agent(f"a{i}", alive=i >= 6) for i in range(9)]
    snap = snapshot(agents, routers(*[f"r{i}" for i in range(6)]), l3={f"a{i}": {f"r{i}"} for i in range(6)})
    plan, standby = make_plan(snap, observed(snap, policy), NOW, policy)  # the standby plans like the leader
    assert len(plan.evacuating) == 3
    budget = budget_on_takeover(standby.budget, NOW + 7, observing_since=NOW - 200)
    plan, _ = make_plan(snap, replace(standby, budget=budget), NOW + 7, policy)
    assert plan.evacuating == make_plan(snap, observed(snap, policy), NOW, policy)[0].evacuating


def test_a_replica_that_watched_less_than_a_window_assumes_the_budget_spent() -> None:
    policy = Policy(dead_after_s=10, max_evacuations_per_minute=3)
    agents = [agent("a0", alive=False), agent("a1"), agent("a2")]
    snap = snapshot(agents, routers("r0"), l3={"a0": {"r0"}})
    budget = budget_on_takeover(CoreState().budget, NOW, observing_since=NOW - 20)
    plan, _ = make_plan(snap, replace(observed(snap, policy), budget=budget), NOW, policy)
    assert plan.changes == ()
    assert any("deferred" in n for n in plan.notes)
    plan, _ = make_plan(snap, replace(observed(snap, policy, NOW + BUDGET_WINDOW_S), budget=budget),
                        NOW + BUDGET_WINDOW_S, policy)
    assert len(plan.changes) == 1


# --- 11c. HA routers keep their replicas -------------------------------------------------------------------------

def test_an_unhosted_ha_router_gets_all_its_replicas_spread_over_zones() -> None:
    policy = Policy(ha_replicas=3)
    agents = [agent("a0", zone="z1"), agent("a1", zone="z1"), agent("b0", zone="z2"), agent("c0", zone="z3")]
    snap = snapshot(agents, routers("h0", ha=True))
    plan, _ = make_plan(snap, observed(snap, policy), NOW, policy)
    hosts = apply_changes(snap, plan.changes).l3_agents_of_router()["h0"]
    assert len(hosts) == 3
    assert {snap.agents[a].availability_zone for a in hosts} == {"z1", "z2", "z3"}


def test_ha_replicas_are_capped_by_the_fitting_live_agents() -> None:
    snap = snapshot([agent("a0"), agent("a1"), agent("a2", alive=False)], routers("h0", ha=True),
                    l3={"a0": {"h0"}})
    plan, _ = make_plan(snap, observed(snap, P), NOW, P)
    assert [(c.action, c.to_agent) for c in plan.changes] == [(ChangeKind.SCHEDULE_ROUTER, "a1")]


# --- refusals ----------------------------------------------------------------------------------------------------

def test_a_target_that_refused_is_not_picked_again_for_a_while() -> None:
    snap = snapshot([agent("a0", alive=False), agent("a1"), agent("a2")], routers("r0"), l3={"a0": {"r0"},
                                                                                           "a2": {"x"}})
    plan, state = make_plan(snap, observed(snap, P), NOW, P)
    assert plan.changes[0].to_agent == "a1"
    state = remember_refusals(state, [("r0", AgentId("a1"))], NOW - REFUSAL_MEMORY_S + 2)
    plan, state = make_plan(snap, state, NOW + 1, P)
    assert plan.changes[0].to_agent == "a2"
    plan, _ = make_plan(snap, state, NOW + 3, P)  # the refusal is forgotten after REFUSAL_MEMORY_S
    assert plan.changes[0].to_agent == "a1"


# --- issue 16: how often the whole cloud is read -----------------------------------------------------------------

def test_the_resync_period_grows_with_the_cost_of_a_full_read() -> None:
    assert resync_period(42.0, True, 100.0) == 42.0  # configured wins
    assert resync_period(None, True, 0.2) == 300.0
    assert resync_period(None, False, 0.2) == 60.0
    assert resync_period(None, True, 11.9) == 2380.0
    assert resync_period(None, False, 11.9) == 476.0
    assert resync_period(None, True, 1000.0) == 3600.0
    assert resync_period(None, False, 1000.0) == 900.0
    assert read_kind(100.0, None, 300.0, ()) is ReadKind.FULL  # at start
    assert read_kind(100.0, 50.0, 300.0, ()) is ReadKind.AGENTS
    assert read_kind(100.0, 50.0, 300.0, {"bus reconnected"}) is ReadKind.FULL
    assert read_kind(400.0, 50.0, 300.0, ()) is ReadKind.FULL
    assert read_kind(10.0, 50.0, 300.0, ()) is ReadKind.FULL  # the clock went back


def test_a_standby_counts_every_dead_agent_it_would_evacuate_even_one_already_emptied() -> None:
    # the leader emptied a0 before the standby looked: the standby must still count it, or on takeover it would
    # start a third evacuation within the minute with a budget of 2
    policy = Policy(dead_after_s=75, max_evacuations_per_minute=2, max_dead_fraction=1.0)
    agents = [agent("a0", alive=False), agent("a1", alive=False), agent("a2", alive=False), agent("a3")]
    snap = snapshot(agents, routers("r1", "r2"), l3={"a1": {"r1"}, "a2": {"r2"}})
    _, standby = make_plan(snap, replace(observed(snap, policy), first_plan_at=NOW - 200), NOW, policy,
                           standby=True)
    assert set(standby.budget.started) == {"a0", "a1"}
    plan, _ = make_plan(snap, standby, NOW + 5, policy)  # the first plan to act: a takeover (core/plan.py)
    assert plan.evacuating == {"a1"}
    assert any("a2" in n and "deferred" in n for n in plan.notes)


def test_a_standby_that_takes_over_before_watching_a_whole_window_assumes_the_budget_spent() -> None:
    # the rule lived in the reconciler; make_plan now knows a takeover from its own state
    policy = Policy(dead_after_s=10, max_evacuations_per_minute=3)
    snap = snapshot([agent("a0", alive=False), agent("a1"), agent("a2")], routers("r0"), l3={"a0": {"r0"}})
    standby = replace(observed(snap, policy), stood_by=True, was_acting=False, first_plan_at=NOW - 20)
    plan, _ = make_plan(snap, standby, NOW, policy)
    assert plan.changes == ()
    assert any("deferred" in n for n in plan.notes)
    plan, _ = make_plan(snap, replace(standby, first_plan_at=NOW - BUDGET_WINDOW_S), NOW, policy)
    assert len(plan.changes) == 1  # it watched a whole window: its own record (empty) stands
    plan, _ = make_plan(snap, replace(standby, was_acting=True), NOW, policy)
    assert len(plan.changes) == 1  # not a takeover: it was acting already


def test_a_legacy_router_hosted_only_by_a_compute_node_agent_is_not_hosted_nowhere() -> None:
    # found by the chaos suite: a router another actor put on a dvr agent was "scheduled" every pass (409)
    agents = [agent("s0"), agent("c0", mode=AgentMode.DVR)]
    snap = snapshot(agents, routers("r0"), l3={"c0": {"r0"}})
    plan, _ = make_plan(snap, observed(snap, P), NOW, P)
    assert plan.changes == ()
    assert any("does not manage" in n for n in plan.notes)


def test_a_dead_ha_replica_goes_when_no_fitting_agent_is_free_to_replace_it() -> None:
    # found by the chaos suite: an az1-hinted HA router on all five az1 agents, one dead, kept its dead replica
    agents = [agent(f"a{i}", alive=i != 0, zone="az1") for i in range(5)] + [agent("b0", zone="az2")]
    snap = snapshot(agents, routers("h0", ha=True, hints=("az1",)), l3={f"a{i}": {"h0"} for i in range(5)})
    plan, _ = make_plan(snap, observed(snap, P), NOW, P)
    assert [(c.action, c.from_agent) for c in plan.changes] == [(ChangeKind.REMOVE_ROUTER, "a0")]
    # ...but never the last one
    snap = snapshot([agent("a0", alive=False, zone="az1"), agent("b0", zone="az2")],
                    routers("h0", ha=True, hints=("az1",)), l3={"a0": {"h0"}})
    plan, _ = make_plan(snap, observed(snap, P), NOW, P)
    assert plan.changes == ()
