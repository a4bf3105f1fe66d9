"""Rebalancing and draining (issue 12, parts 2 and 3): the rules of core/rebalance.py and core/drain.py.

What must hold: load flows from the most to the least loaded agent only in a calm cloud, at the configured rate,
never taking the active replica of an HA router nor a legacy router unless `rebalance = all`, never while there is a
repair to do; a drain empties a marked agent without ever leaving a resource without a serving binding, adds HA
replicas before it removes, and sets the agent admin down at the end; a mass of drain marks moves nothing.
"""

from __future__ import annotations

from dataclasses import replace

from builders import NOW, agent, networks, observed, routers, snapshot

from rpcdaemon.core.actions import ChangeKind, ResourceType, apply_changes
from rpcdaemon.core.liveness import ADMIN_DOWN_CONFIRM_S
from rpcdaemon.core.plan import CoreState, make_plan, remember_landings
from rpcdaemon.core.policy import Policy
from rpcdaemon.core.rebalance import UNMOVABLE_S
from rpcdaemon.model import DHCP_AGENT, Agent, AgentId, RouterId, Snapshot

P = Policy(dead_after_s=75, hold_down_s=60, rebalance_moves_per_minute=6)


def states(snap: Snapshot, active: dict[str, str]) -> Snapshot:
    """Every HA router's replicas: `active[router]` is active, the others standby."""
    hosting = snap.l3_agents_of_router()
    return replace(snap, ha_states={
        RouterId(r): {a: ("active" if a == active.get(r) else "standby") for a in hosting.get(RouterId(r), set())}
        for r in active})


def plan_of(snap: Snapshot, policy: Policy = P, state: CoreState | None = None, now: float = NOW):
    return make_plan(snap, state or observed(snap, policy, now), now, policy)


# --- rebalancing ---------------------------------------------------------------------------------------------------

TWO = replace(P, ha_replicas=2, rebalance_moves_per_minute=3, dead_after_s=300)
"""HA routers on two agents each: an empty third agent is then a rebalancing target, not a repair."""


def ha_cloud(n: int = 10) -> Snapshot:
    names = [f"r{i}" for i in range(n)]
    return snapshot([agent("a0"), agent("a1"), agent("a2")], routers(*names, ha=True),
                    l3={"a0": set(names), "a1": set(names), "a2": set()})


def test_standby_ha_replicas_flow_to_an_empty_agent_at_the_rate() -> None:
    snap = ha_cloud()
    plan, _ = plan_of(snap, TWO)
    assert not plan.changes  # no ha_state known: nothing is taken; the plan asks for them
    assert plan.wants_ha_states
    snap = states(snap, {f"r{i}": "a1" for i in range(10)})  # a0's replicas are all standby
    plan, state = plan_of(snap, TWO)
    assert len(plan.changes) == 3  # the rate
    assert {(c.action, c.from_agent, c.to_agent) for c in plan.changes} == {
        (ChangeKind.SHIFT_HA_REPLICA, "a0", "a2")}
    # within the same minute no more; a minute later the rest, up to max - min <= 1
    after = apply_changes(snap, plan.changes)
    plan2, state2 = make_plan(after, state, NOW + 30, TWO)
    assert not plan2.changes
    plan3, _ = make_plan(after, state2, NOW + 61, TWO)
    loads = apply_changes(after, plan3.changes).l3_bindings or {}
    # a1 hosts every active replica: it gives nothing, a0 gives its standby ones until it is level with a2
    assert sorted((a, len(v)) for a, v in loads.items()) == [("a0", 5), ("a1", 10), ("a2", 5)]


def test_the_active_replica_is_never_moved() -> None:
    snap = states(ha_cloud(), {f"r{i}": "a0" for i in range(10)})  # every router active on a0
    plan, _ = plan_of(snap, TWO)
    assert [c for c in plan.changes if c.from_agent == "a0"] == []
    # a1's standby replicas may go instead, when a1 is the heavier one: here both are equal, a0 first by id
    assert all(c.from_agent != "a0" for c in plan.changes)


def test_a_rebalance_that_can_move_nothing_stops_asking_for_ha_states() -> None:
    """Every replica on the heavy agents active or in an unknown state: each router's ha_state is asked once (20 per
    plan), then not again for UNMOVABLE_S; before, a cloud like this cost 20 GETs every pass, for ever."""
    snap = ha_cloud(30)
    answer = {RouterId(f"r{i}"): {AgentId("a0"): "active", AgentId("a1"): "unknown"} for i in range(30)}
    state = observed(snap, TWO)
    asked: list[int] = []
    for i in range(4):
        now = NOW + 5 * i
        first, _ = make_plan(snap, state, now, TWO)
        asked.append(len(first.wants_ha_states))
        read = replace(snap, ha_states={r: answer[r] for r in first.wants_ha_states})
        plan, state = make_plan(read, state, now, TWO)
        assert not plan.changes
    assert asked == [20, 10, 0, 0]
    again, _ = make_plan(snap, state, NOW + 15 + UNMOVABLE_S, TWO)
    assert len(again.wants_ha_states) == 20


def test_legacy_routers_move_only_with_all() -> None:
    names = [f"r{i}" for i in range(6)]
    snap = snapshot([agent("a0"), agent("a1")], routers(*names), l3={"a0": set(names)})
    assert not plan_of(snap)[0].changes
    plan, _ = plan_of(snap, replace(P, l3_rebalance="all"))
    assert [(c.action, c.from_agent, c.to_agent) for c in plan.changes] == [(ChangeKind.MOVE_ROUTER, "a0", "a1")] * 3
    assert not plan_of(snap, replace(P, l3_rebalance="off"))[0].changes


def test_no_rebalance_while_an_agent_is_dead_or_in_hold_down() -> None:
    names = [f"r{i}" for i in range(6)]
    policy = replace(P, l3_rebalance="all")
    dead = snapshot([agent("a0"), agent("a1"), agent("a2", alive=False)], routers(*names), l3={"a0": set(names)})
    assert not plan_of(dead, policy)[0].changes
    snap = snapshot([agent("a0"), agent("a1")], routers(*names), l3={"a0": set(names)})
    state = observed(snap, policy)
    obs = dict(state.liveness.observations)
    obs[AgentId("a1")] = replace(obs[AgentId("a1")], up_since=NOW - 10)  # back 10 s ago: hold-down
    state = replace(state, liveness=replace(state.liveness, observations=obs))
    assert not make_plan(snap, state, NOW, policy)[0].changes


def test_repairs_come_first_rebalance_waits() -> None:
    names = [f"r{i}" for i in range(6)]
    snap = snapshot([agent("a0"), agent("a1"), agent("a2")], routers(*names, "orphan"), l3={"a0": set(names)})
    plan, _ = plan_of(snap, replace(P, l3_rebalance="all"))
    assert [c.action for c in plan.changes] == [ChangeKind.SCHEDULE_ROUTER]  # the orphan only


def dhcp(name: str, admin: bool = True, description_drain: bool = False, alive: bool = True) -> Agent:
    return replace(agent(name, DHCP_AGENT, admin=admin, alive=alive), draining=description_drain)


def test_dhcp_networks_shift_only_with_a_number_per_network() -> None:
    names = [f"n{i}" for i in range(8)]
    snap = snapshot([dhcp("d0"), dhcp("d1")], networks=networks(*names), dhcp={"d0": set(names)})
    assert not [c for c in plan_of(snap)[0].changes if c.from_agent is not None]  # 'all': adds only
    one = replace(P, dhcp_agents_per_network=1)
    plan, state = plan_of(snap, one)
    # handed over (core/handover.py): added to d1 now, off d0 once d1 serves them
    assert [(c.action, c.to_agent) for c in plan.changes] == [(ChangeKind.ADD_NETWORK, "d1")] * 4
    assert all(c.reason.startswith("rebalancing") for c in plan.changes)
    assert {(h.network, h.from_agent, h.to_agent) for h in state.handovers.values()} == {
        (c.resource_id, "d0", "d1") for c in plan.changes}
    after = apply_changes(snap, plan.changes)
    landed = remember_landings(state, [(ResourceType.NETWORK, c.resource_id, AgentId("d1")) for c in plan.changes],
                               NOW)
    waiting, _ = make_plan(after, landed, NOW + 1, one)  # d1 has not wired them yet: nothing leaves d0
    assert not waiting.changes
    proven, _ = make_plan(after, state, NOW + 1, one)  # no landing awaits proof (verified, or not watched)
    assert sorted((c.action, c.from_agent) for c in proven.changes) == [(ChangeKind.REMOVE_NETWORK, "d0")] * 4
    assert not plan_of(snap, replace(P, dhcp_agents_per_network=1, dhcp_rebalance=False))[0].changes


def test_bindings_of_unlisted_resources_are_no_load() -> None:
    """A binding of a network or router missing from the list (deleted a moment ago, or a read that lies by
    omission) weighs nothing: no rebalance empties an agent for it, no repair avoids the agent for it. The CI run of
    stop 18 found this (a rebalance of the only real network off an agent that held it and a deleted one)."""
    one = replace(P, dhcp_agents_per_network=1)
    nets = snapshot([dhcp("d0"), dhcp("d1")], networks=networks("n0"), dhcp={"d0": {"n0", "gone-1", "gone-2"}})
    assert not plan_of(nets, one)[0].changes
    legacy = snapshot([agent("a0"), agent("a1")], routers("r0"), l3={"a0": {"r0", "gone-1", "gone-2"}})
    assert not plan_of(legacy, replace(P, l3_rebalance="all"))[0].changes
    placing = snapshot([dhcp("d0"), dhcp("d1")], networks=networks("n0", "n1"),
                       dhcp={"d0": {"gone-1", "gone-2"}, "d1": {"n1"}})
    assert [(c.resource_id, c.to_agent) for c in plan_of(placing, one)[0].changes] == [("n0", "d0")]


# --- draining ------------------------------------------------------------------------------------------------------

def marked(snap: Snapshot, *names: str) -> Snapshot:
    return replace(snap, agents={a: replace(v, draining=v.id in names) for a, v in snap.agents.items()})


def confirmed(snap: Snapshot, policy: Policy = P) -> CoreState:
    """The drain marks seen for ADMIN_DOWN_CONFIRM_S already."""
    _, state = make_plan(snap, observed(snap, policy, NOW - ADMIN_DOWN_CONFIRM_S), NOW - ADMIN_DOWN_CONFIRM_S, policy)
    return state


def test_a_drain_mark_seen_once_moves_nothing_but_gives_nothing_new() -> None:
    unmarked = snapshot([agent("a0"), agent("a1")], routers("r0", "new"), l3={"a0": {"r0"}})
    snap = marked(unmarked, "a0")
    plan, _ = make_plan(snap, observed(unmarked, P), NOW, P)
    assert [(c.action, c.resource_id, c.to_agent) for c in plan.changes] == [(ChangeKind.SCHEDULE_ROUTER, "new", "a1")]


def test_drain_moves_legacy_routers_in_one_pass_one_lane_per_target_then_disables() -> None:
    names = [f"r{i}" for i in range(4)]
    snap = marked(snapshot([agent("a0"), agent("a1"), agent("a2")], routers(*names), l3={"a0": set(names)}), "a0")
    state = confirmed(snap)
    plan, state = make_plan(snap, state, NOW, P)
    assert sorted((c.action, c.from_agent, c.to_agent) for c in plan.changes) == [
        (ChangeKind.MOVE_ROUTER, "a0", "a1"), (ChangeKind.MOVE_ROUTER, "a0", "a1"),
        (ChangeKind.MOVE_ROUTER, "a0", "a2"), (ChangeKind.MOVE_ROUTER, "a0", "a2")]
    # one router at a time per target: the changes to one target share a lane (the executor runs it in order)
    assert {c.to_agent: c.key for c in plan.changes} == {
        "a1": ("lane", "drain to a1"), "a2": ("lane", "drain to a2")}
    assert plan.draining == {"a0"}
    snap = apply_changes(snap, plan.changes)
    plan, state = make_plan(snap, state, NOW + 1, P)
    assert [(c.action, c.from_agent) for c in plan.changes] == [(ChangeKind.DISABLE_AGENT, "a0")]


def test_drain_adds_an_ha_replica_first_and_removes_only_when_ready() -> None:
    snap = marked(snapshot([agent("a0"), agent("a1"), agent("a2"), agent("a3")], routers("r", ha=True),
                           l3={"a0": {"r"}, "a1": {"r"}, "a2": {"r"}}), "a0")
    state = confirmed(snap)
    plan, state = make_plan(snap, state, NOW, P)
    assert [(c.action, c.to_agent) for c in plan.changes] == [(ChangeKind.SCHEDULE_ROUTER, "a3")]
    snap = apply_changes(snap, plan.changes)
    plan, state = make_plan(snap, state, NOW + 1, P)
    assert not plan.changes and plan.wants_ha_states == {"r"}
    hosting = {AgentId("a0"): "active", AgentId("a1"): "standby", AgentId("a2"): "standby"}
    not_yet = replace(snap, ha_states={RouterId("r"): hosting})  # a3's replica has no state yet
    assert not make_plan(not_yet, state, NOW + 1, P)[0].changes
    ready = replace(snap, ha_states={RouterId("r"): {**hosting, AgentId("a3"): "standby"}})
    plan, state = make_plan(ready, state, NOW + 1, P)
    assert [(c.action, c.from_agent) for c in plan.changes] == [(ChangeKind.REMOVE_ROUTER, "a0")]


def test_drain_keeps_a_dhcp_network_served() -> None:
    snap = marked(snapshot([dhcp("d0"), dhcp("d1")], networks=networks("n0", "n1"),
                           dhcp={"d0": {"n0", "n1"}, "d1": {"n1"}}), "d0")
    policy = replace(P, dhcp_agents_per_network=1)
    plan, state = make_plan(snap, observed(snap, policy), NOW, policy)  # (the marks count: seen long enough)
    assert sorted((c.action, c.resource_id) for c in plan.changes) == [
        (ChangeKind.ADD_NETWORK, "n0"), (ChangeKind.REMOVE_NETWORK, "n1")]  # n0 handed over: added to d1 first
    again, _ = make_plan(apply_changes(snap, plan.changes), state, NOW + 1, policy)
    assert [(c.action, c.resource_id, c.from_agent) for c in again.changes] == [
        (ChangeKind.REMOVE_NETWORK, "n0", "d0")]  # then off d0 (no landing awaits proof here)


def test_a_mass_of_drain_marks_moves_nothing() -> None:
    names = [f"r{i}" for i in range(4)]
    snap = marked(snapshot([agent(f"a{i}") for i in range(4)], routers(*names), l3={"a0": set(names)}),
                  "a0", "a1", "a2")
    plan, _ = make_plan(snap, confirmed(snap), NOW, P)
    assert not [c for c in plan.changes if c.from_agent is not None]
    assert any("drain held" in n for n in plan.notes), plan.notes


def test_nothing_ever_lost_its_last_serving_binding_through_a_drain() -> None:
    """Drain every agent of a small cloud in turn, one at a time, applying every plan: each network and router
    is always hosted by at least one agent that is not being drained (or by the drained one until it moves)."""
    nets = [f"n{i}" for i in range(6)]
    rts = [f"r{i}" for i in range(6)]
    snap = snapshot([dhcp("d0"), dhcp("d1"), dhcp("d2"), agent("a0"), agent("a1"), agent("a2")],
                    routers(*rts[:3]) | routers(*rts[3:], ha=True), networks(*nets),
                    l3={"a0": set(rts), "a1": set(rts[3:])}, dhcp={"d0": set(nets), "d1": set(nets[:3])})
    policy = replace(P, dhcp_agents_per_network=1)
    now = NOW
    state = observed(snap, policy, now)
    for host in ("d0", "a0"):
        snap = marked(snap, host)
        for _ in range(6):  # (the agents never beat in this test: within 75 s)
            now += ADMIN_DOWN_CONFIRM_S
            snap = states(snap, {r: min(a for a in snap.l3_agents_of_router().get(RouterId(r), {"-"}))
                                 for r in rts[3:]})
            plan, state = make_plan(snap, state, now, policy)
            snap = apply_changes(snap, plan.changes)
            for net in nets:
                assert snap.dhcp_agents_of_network().get(net), (host, net)
            for r in rts:
                assert snap.l3_agents_of_router().get(RouterId(r)), (host, r)
        assert not (snap.l3_bindings or {}).get(AgentId(host)) and not (snap.dhcp_bindings or {}).get(AgentId(host))


def test_drained_agents_do_not_count_for_the_disruption_guard() -> None:
    """Two nodes in maintenance (marked and admin down) and two dead of six: the dead ones are evacuated (counted
    with the drained ones, 4 of 6 would have held everything as a disruption)."""
    names = [f"r{i}" for i in range(4)]
    agents = [agent(f"a{i}") for i in range(6)]
    agents[0] = replace(agents[0], draining=True, admin_state_up=False)
    agents[1] = replace(agents[1], draining=True, admin_state_up=False)
    agents[2] = replace(agents[2], alive=False)
    agents[3] = replace(agents[3], alive=False)
    snap = snapshot(agents, routers(*names), l3={"a2": {"r0", "r1"}, "a3": {"r2", "r3"}})
    plan, _ = plan_of(snap)
    assert not plan.alarms, plan.alarms
    assert sorted(c.to_agent for c in plan.changes if c.action is ChangeKind.MOVE_ROUTER) == ["a4", "a4", "a5", "a5"]
