"""The core's rules, one example each: liveness, safety, DHCP and L3 planning."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace

from builders import NOW, agent, networks, observed, routers, snapshot

from rpcdaemon.core.actions import ChangeKind, Op, apply_changes
from rpcdaemon.core.liveness import LivenessState, Verdict, observe
from rpcdaemon.core.plan import CoreState, make_plan
from rpcdaemon.core.policy import Policy
from rpcdaemon.model import DHCP_AGENT, AgentId, AgentMode, Confirmations, NetworkId

P = Policy(dead_after_s=75, hold_down_s=60)


def verdict_after(steps: list[tuple[float, bool, str]], policy: Policy = P) -> Verdict:
    """Feed (time, api_alive, heartbeat token) observations of one agent; return the last verdict."""
    state = LivenessState()
    result = None
    for now, alive, beat in steps:
        a = agent("a", alive=alive, beat=beat)
        state, verdicts = observe(state, {a.id: a}, now, policy)
        result = verdicts[a.id].verdict
    assert result is not None
    return result


# --- liveness --------------------------------------------------------------------------------------------------

def test_nothing_is_dead_during_warm_up_even_if_the_api_says_so() -> None:
    assert verdict_after([(0, False, "b"), (30, False, "b"), (70, False, "b")]) is Verdict.SUSPECT


def test_dead_needs_both_signals() -> None:
    assert verdict_after([(0, True, "b"), (5, False, "b"), *[(5 + 5 * i, False, "b") for i in range(1, 17)]]) \
        is Verdict.DEAD


def test_api_dead_but_heartbeat_moving_is_suspect() -> None:
    steps = [(5.0 * i, i < 2, f"b{i}") for i in range(20)]
    assert verdict_after(steps) is Verdict.SUSPECT


def test_heartbeat_frozen_but_api_alive_is_suspect() -> None:
    assert verdict_after([(5.0 * i, True, "b") for i in range(20)]) is Verdict.SUSPECT


def test_an_agent_that_comes_back_is_recovering_for_the_hold_down() -> None:
    steps = [(5.0 * i, False, "b") for i in range(17)]  # dead at 80
    steps += [(90, True, "c"), (95, True, "d")]
    assert verdict_after(steps) is Verdict.RECOVERING
    steps += [(95 + 5.0 * i, True, f"e{i}") for i in range(1, 14)]  # 65 s later
    assert verdict_after(steps) is Verdict.ALIVE


def test_time_suspect_after_a_death_is_not_time_up() -> None:
    steps = [(5.0 * i, False, "b") for i in range(17)]  # dead at 80
    steps += [(80 + 100, False, "b")]  # a gap of 100 s: observation restarts, the dead agent is only SUSPECT
    steps += [(180 + 5.0 * i, False, "b") for i in range(1, 14)]  # 65 s of that: longer than the hold-down
    assert verdict_after(steps) is Verdict.SUSPECT
    steps += [(250, True, "c")]  # now it really comes back: the hold-down starts now
    assert verdict_after(steps) is Verdict.RECOVERING


def test_a_gap_in_observation_restarts_it() -> None:
    # rpcdaemon was suspended for 200 s: the silence it did not watch is not evidence
    assert verdict_after([(0, True, "b"), (200, False, "b")]) is Verdict.SUSPECT
    # ...and a clock that goes backwards restarts observation too
    assert verdict_after([(500, True, "b"), (100, False, "b"), (150, False, "b")]) is Verdict.SUSPECT


def test_a_flapping_agent_is_never_dead() -> None:
    steps, t = [], 0.0
    for cycle in range(6):
        for _ in range(12):  # 60 s without heartbeat, the API calling it dead part of the time
            t += 5
            steps.append((t, False, f"b{cycle}"))
            assert verdict_after(steps) is not Verdict.DEAD
        t += 5
        steps.append((t, True, f"c{cycle}"))


# --- safety ----------------------------------------------------------------------------------------------------

def test_disruption_holds_evacuation_in_that_zone_only() -> None:
    agents = [agent(f"a{i}", alive=i >= 4, zone="az1") for i in range(6)]
    agents += [agent(f"b{i}", alive=i >= 1, zone="az2") for i in range(3)]
    snap = snapshot(agents, routers(*[f"r{i}" for i in range(9)]), l3={f"a{i}": {f"r{i}"} for i in range(6)}
                    | {"b0": {"r6"}, "b1": {"r7"}, "b2": {"r8"}})
    plan, _ = make_plan(snap, observed(snap, P), NOW, P)
    assert plan.zones[("L3 agent", "az1")].disrupted
    assert not plan.zones[("L3 agent", "az2")].disrupted
    assert {c.from_agent for c in plan.changes} == {"b0"}
    assert any("DISRUPTED" in n and "az1" in n for n in plan.notes)


def test_agents_stopped_together_are_a_disruption_before_all_of_them_are_dead() -> None:
    # every agent paused at once; their last heartbeats were spread over a report interval, so the first is dead
    # while the others are only going quiet: the guard must already hold, and nothing may move onto them
    agents = [agent("a0", alive=False), agent("a1"), agent("a2"), agent("a3")]
    snap = snapshot(agents, routers("r0", "r1"), l3={"a0": {"r0", "r1"}})
    heard = {AgentId("a0"): NOW - 80, AgentId("a1"): NOW - 60, AgentId("a2"): NOW - 58, AgentId("a3"): NOW - 1}
    plan, _ = make_plan(snap, observed(snap, P), NOW, P, heard)
    zone = plan.zones[("L3 agent", "nova")]
    assert zone.disrupted
    assert (zone.dead, zone.quiet) == (1, 2)
    assert plan.changes == ()
    assert any("going quiet" in n for n in plan.notes)


def test_a_quiet_agent_is_never_a_target() -> None:
    agents = [agent("a0", alive=False), agent("a1"), agent("a2"), agent("a3")]
    snap = snapshot(agents, routers("r0", "r1"), l3={"a0": {"r0", "r1"}})
    heard = {AgentId("a0"): NOW - 80, AgentId("a1"): NOW - 60, AgentId("a2"): NOW - 20, AgentId("a3"): NOW - 1}
    plan, _ = make_plan(snap, observed(snap, P), NOW, P, heard)
    assert not plan.zones[("L3 agent", "nova")].disrupted
    assert {c.to_agent for c in plan.changes if c.to_agent} == {"a2", "a3"}
    assert plan.verdicts[AgentId("a1")].quiet
    assert not plan.verdicts[AgentId("a2")].quiet


def test_two_of_three_dead_is_a_node_failure_not_a_disruption() -> None:
    agents = [agent(f"a{i}", alive=i == 2) for i in range(3)]
    snap = snapshot(agents, routers("r0", "r1"), l3={"a0": {"r0"}, "a1": {"r1"}})
    plan, _ = make_plan(snap, observed(snap, P), NOW, P)
    assert {c.to_agent for c in plan.changes} == {"a2"}
    assert len(plan.changes) == 2


def test_budget_defers_agents_beyond_the_rate() -> None:
    policy = Policy(max_evacuations_per_minute=2, max_dead_fraction=1.0)
    agents = [agent(f"a{i}", alive=i >= 5) for i in range(8)]
    snap = snapshot(agents, routers(*[f"r{i}" for i in range(5)]), l3={f"a{i}": {f"r{i}"} for i in range(5)})
    plan, state = make_plan(snap, observed(snap, policy), NOW, policy)
    assert len(plan.evacuating) == 2
    assert sum("deferred" in n for n in plan.notes) == 3
    plan2, state = make_plan(snap, state, NOW + 30, policy)
    assert plan2.evacuating == plan.evacuating  # admitted agents stay admitted, no new ones within the minute
    plan3, _ = make_plan(snap, state, NOW + 61, policy)
    assert len(plan3.evacuating) == 4


# --- DHCP --------------------------------------------------------------------------------------------------------

def dhcp_agent(name: str, alive: bool = True, **kw: object) -> object:
    return agent(name, DHCP_AGENT, alive=alive, **kw)  # type: ignore[arg-type]


def test_network_on_a_dead_agent_is_added_elsewhere_then_removed() -> None:
    policy = Policy(dhcp_agents_per_network=1)
    snap = snapshot([dhcp_agent("d0", alive=False), dhcp_agent("d1"), dhcp_agent("d2")],  # type: ignore[list-item]
                    networks=networks("n0"), dhcp={"d0": {"n0"}, "d1": set()})
    plan, _ = make_plan(snap, observed(snap, policy), NOW, policy)
    assert [(c.action, c.from_agent or c.to_agent) for c in plan.changes] == [
        (ChangeKind.ADD_NETWORK, "d1"), (ChangeKind.REMOVE_NETWORK, "d0")]


def test_all_means_every_live_admin_up_agent() -> None:
    agents = [dhcp_agent("d0"), dhcp_agent("d1"), dhcp_agent("d2", admin=False), dhcp_agent("d3", alive=False)]
    snap = snapshot(agents, networks=networks("n0", "n1") | networks("plain", dhcp=False),  # type: ignore[arg-type]
                    dhcp={"d0": {"n0"}})
    plan, _ = make_plan(snap, observed(snap, P), NOW, P)
    after = apply_changes(snap, plan.changes).dhcp_agents_of_network()
    assert after == {"n0": {"d0", "d1"}, "n1": {"d0", "d1"}}


def test_a_number_keeps_that_many() -> None:
    policy = Policy(dhcp_agents_per_network=2)
    snap = snapshot([dhcp_agent(f"d{i}") for i in range(4)], networks=networks("n0"),  # type: ignore[misc]
                    dhcp={"d0": {"n0"}})
    plan, _ = make_plan(snap, observed(snap, policy), NOW, policy)
    assert len(apply_changes(snap, plan.changes).dhcp_agents_of_network()["n0"]) == 2


def test_the_last_binding_stays_when_no_live_agent_can_take_it() -> None:
    snap = snapshot([dhcp_agent("d0", alive=False), dhcp_agent("d1", alive=False, zone="x")],  # type: ignore[list-item]
                    networks=networks("n0"), dhcp={"d0": {"n0"}})
    plan, _ = make_plan(snap, observed(snap, P), NOW, P)
    assert plan.changes == ()


def test_binding_of_a_deleted_network_is_removed() -> None:
    snap = snapshot([dhcp_agent("d0")], networks=networks("n0"), dhcp={"d0": {"n0", "gone"}})  # type: ignore[list-item]
    snap = replace(snap, confirmed=Confirmations(gone_networks=frozenset({NetworkId("gone")})))
    plan, _ = make_plan(snap, observed(snap, P), NOW, P)
    assert [(c.action, c.resource_id) for c in plan.changes] == [(ChangeKind.REMOVE_NETWORK, "gone")]


# --- L3 ----------------------------------------------------------------------------------------------------------

def test_routers_of_a_dead_agent_move_spread_and_in_zone() -> None:
    agents = [agent("a0", alive=False, zone="z1"), agent("a1", zone="z1"), agent("a2", zone="z1"),
              agent("a3", zone="z2")]
    names = [f"r{i}" for i in range(10)]
    snap = snapshot(agents, routers(*names), l3={"a0": set(names)})
    plan, _ = make_plan(snap, observed(snap, P), NOW, P)
    assert all(c.action is ChangeKind.MOVE_ROUTER for c in plan.changes)
    assert [call.op for call in plan.changes[0].calls()] == [Op.REMOVE, Op.ADD]
    assert Counter(c.to_agent for c in plan.changes) == {"a1": 5, "a2": 5}


def test_availability_zone_hints_are_obeyed() -> None:
    agents = [agent("a0", alive=False, zone="z1"), agent("a1", zone="z1"), agent("a2", zone="z2")]
    snap = snapshot(agents, routers("r0", hints=("z2",)), l3={"a0": {"r0"}})
    plan, _ = make_plan(snap, observed(snap, P), NOW, P)
    assert [c.to_agent for c in plan.changes] == ["a2"]


def test_modes_distributed_only_to_dvr_snat_and_dvr_agents_left_alone() -> None:
    agents = [agent("s0", alive=False, mode=AgentMode.DVR_SNAT), agent("s1", mode=AgentMode.DVR_SNAT),
              agent("l1"), agent("c0", alive=False, mode=AgentMode.DVR), agent("c1", mode=AgentMode.DVR)]
    snap = snapshot(agents, routers("d0", distributed=True) | routers("x0"), l3={"s0": {"d0"}, "c0": {"x0"}})
    plan, _ = make_plan(snap, observed(snap, P), NOW, P)
    moves = {c.resource_id: c.to_agent for c in plan.changes}
    assert moves["d0"] == "s1"
    assert all(c.from_agent != "c0" and c.to_agent not in ("c0", "c1") for c in plan.changes)


def test_ha_replica_is_replaced_add_then_remove() -> None:
    agents = [agent("a0", alive=False), agent("a1"), agent("a2"), agent("a3")]
    snap = snapshot(agents, routers("h0", ha=True), l3={"a0": {"h0"}, "a1": {"h0"}, "a2": {"h0"}})
    plan, _ = make_plan(snap, observed(snap, P), NOW, P)
    assert [(c.action, c.from_agent, c.to_agent) for c in plan.changes] == [
        (ChangeKind.REPLACE_HA_REPLICA, "a0", "a3")]
    assert [call.op for call in plan.changes[0].calls()] == [Op.ADD, Op.REMOVE]


def test_unhosted_router_is_scheduled_and_no_target_means_no_change() -> None:
    snap = snapshot([agent("a0")], routers("r0"))
    plan, _ = make_plan(snap, observed(snap, P), NOW, P)
    assert [(c.action, c.to_agent) for c in plan.changes] == [(ChangeKind.SCHEDULE_ROUTER, "a0")]
    snap = snapshot([agent("a0", alive=False)], routers("r0"), l3={"a0": {"r0"}})
    plan, _ = make_plan(snap, observed(snap, P), NOW, P)
    assert plan.changes == ()


def test_change_as_dict_has_the_plan_json_keys() -> None:
    snap = snapshot([agent("a0", alive=False), agent("a1")], routers("r0"), l3={"a0": {"r0"}})
    plan, _ = make_plan(snap, observed(snap, P), NOW, P)
    assert plan.changes[0].as_dict() == {"action": "move_router", "resource_type": "router", "resource_id": "r0",
                                         "from_agent": AgentId("a0"), "to_agent": AgentId("a1"),
                                         "reason": plan.changes[0].reason}
    assert "a0" in plan.changes[0].reason
    assert "dead" in plan.changes[0].reason


def test_fresh_state_is_warming_up() -> None:
    snap = snapshot([agent("a0", alive=False), agent("a1")], routers("r0"), l3={"a0": {"r0"}})
    plan, _ = make_plan(snap, CoreState(), NOW, P)
    assert plan.warming_up
    assert plan.changes == ()
