"""Properties of the planner over random clouds (Hypothesis)."""

from __future__ import annotations

from builders import NOW, agent, clouds, observed, routers, snapshot
from hypothesis import given, settings
from hypothesis import strategies as st

from rpcdaemon.core.actions import apply_changes
from rpcdaemon.core.liveness import Verdict
from rpcdaemon.core.plan import make_plan
from rpcdaemon.core.policy import Policy
from rpcdaemon.core.safety import zone_of
from rpcdaemon.model import Snapshot

POLICIES = st.builds(
    Policy,
    dhcp_agents_per_network=st.sampled_from([None, 1, 2, 3]),
    max_dead_fraction=st.sampled_from([0.5, 0.75, 1.0]),
    max_evacuations_per_minute=st.just(1000),
)
EXAMPLES = settings(max_examples=300, deadline=None)


@EXAMPLES
@given(clouds(), POLICIES)
def test_never_targets_a_dead_suspect_recovering_or_admin_down_agent(snap: Snapshot, policy: Policy) -> None:
    plan, _ = make_plan(snap, observed(snap, policy), NOW, policy)
    for change in plan.changes:
        if change.to_agent is not None:
            target = snap.agents[change.to_agent]
            assert plan.verdicts[target.id].verdict is Verdict.ALIVE, change
            assert target.admin_state_up, change


@EXAMPLES
@given(clouds(), POLICIES)
def test_applying_the_plan_then_planning_again_yields_nothing_but_the_rebalancing_it_deferred(
    snap: Snapshot, policy: Policy
) -> None:
    """A plan repairs everything at once; rebalancing waits for a plan with nothing else in it (core/plan.py), so the
    plan after a repair may start rebalancing moves, and the one after those has nothing left to start (the rate,
    and a DHCP handover's second step waiting for its first to be seen)."""
    plan, state = make_plan(snap, observed(snap, policy), NOW, policy)
    after = apply_changes(snap, plan.changes)
    again, state = make_plan(after, state, NOW, policy)
    assert all(c.reason.startswith("rebalancing") for c in again.changes), again.changes
    assert not again.changes or plan.changes, again.changes
    third, _ = make_plan(apply_changes(after, again.changes), state, NOW, policy)
    assert third.changes == (), third.changes


@EXAMPLES
@given(clouds(), POLICIES)
def test_never_removes_a_networks_last_live_binding(snap: Snapshot, policy: Policy) -> None:
    plan, _ = make_plan(snap, observed(snap, policy), NOW, policy)
    before = snap.dhcp_agents_of_network()
    after = apply_changes(snap, plan.changes).dhcp_agents_of_network()
    for net_id, hosts in before.items():
        if net_id not in snap.networks or not hosts:
            continue
        assert after.get(net_id), f"{net_id} lost every binding"
        if any(not plan.verdicts[a].is_dead for a in hosts):
            assert any(not plan.verdicts[a].is_dead for a in after[net_id])


@EXAMPLES
@given(clouds(), POLICIES)
def test_a_disrupted_zone_gives_no_evacuation(snap: Snapshot, policy: Policy) -> None:
    plan, _ = make_plan(snap, observed(snap, policy), NOW, policy)
    for change in plan.changes:
        if change.from_agent is None or change.resource_id not in {*snap.networks, *snap.routers}:
            continue  # additions, and removals of deleted networks, are not evacuations
        source = snap.agents[change.from_agent]
        if plan.verdicts[source.id].is_dead:
            assert not plan.zones[(source.agent_type, zone_of(source))].disrupted, change


@EXAMPLES
@given(clouds(), POLICIES)
def test_every_change_has_calls_with_agents(snap: Snapshot, policy: Policy) -> None:
    plan, _ = make_plan(snap, observed(snap, policy), NOW, policy)
    for change in plan.changes:
        calls = change.calls()
        assert calls
        assert all(c.agent_id in snap.agents for c in calls)
        assert change.reason


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 200), st.integers(2, 12), st.integers(0, 5))
def test_evacuation_load_is_spread(n_routers: int, n_targets: int, initial: int) -> None:
    names = [f"r{i}" for i in range(n_routers)]
    extra = {f"t{t}": {f"x{t}-{k}" for k in range(initial)} for t in range(n_targets)}
    all_routers = routers(*names, *[r for rs in extra.values() for r in rs])
    snap = snapshot([agent("dead", alive=False), *[agent(f"t{t}") for t in range(n_targets)]], all_routers,
                    l3={"dead": set(names), **extra})
    plan, _ = make_plan(snap, observed(snap, Policy()), NOW, Policy())
    after = apply_changes(snap, plan.changes)
    loads = [len((after.l3_bindings or {})[a]) for a in after.l3_bindings or {} if a != "dead"]
    assert max(loads) - min(loads) <= 1
    assert not (after.l3_bindings or {})["dead"]
