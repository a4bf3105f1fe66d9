"""The chaos run's judges can fail: each rule flags the action it forbids and passes the one it allows."""

from __future__ import annotations

import time

from testkit.chaos.history import AgentHistory
from testkit.chaos.invariants import (
    BUDGET,
    COMPUTE,
    FENCE,
    HINTS,
    PACE,
    REMOVE_LIVE,
    ActionJudge,
    BudgetJudge,
    FenceJudge,
    PassRateJudge,
    Targets,
    state_problems,
)

from rpcdaemon.emulator.cloud import DHCP, L3, Call, Cloud
from rpcdaemon.emulator.ports import RemovalFacts

M = "me"
READ = "/v2.0/agents"
ADD_R = "/v2.0/agents/{id}/l3-routers"
DEL_R = "/v2.0/agents/{id}/l3-routers/{id}"
DEL_N = "/v2.0/agents/{id}/dhcp-networks/{id}"


def history(n: int = 5) -> AgentHistory:
    h = AgentHistory(agent_down_time=4.0, report_interval=1.0)
    for i in range(n):
        h.add(f"a{i}", L3, "az-1", 0.0)
    return h


def judge_calls(h: AgentHistory, *calls: Call) -> list[str]:
    judge = ActionJudge(h, M, settle_s=3.0)
    judge.feed(list(calls))
    return judge.violations


def read(at: float) -> Call:
    return Call(at, "GET", READ, (), 200, M)


def test_remove_from_a_healthy_agent_is_a_violation() -> None:
    h = history()
    found = judge_calls(h, read(100.0), Call(100.5, "DELETE", DEL_R, ("a1", "r1"), 204, M))
    assert len(found) == 1
    assert "healthy" in found[0]


def test_remove_from_a_flapping_agent_is_a_violation_and_from_a_dead_one_is_not() -> None:
    h = history()
    h.went_down("a1", 98.0)  # 2 s of silence at the read: not dead yet
    h.went_down("a2", 90.0)  # 10 s: dead
    found = judge_calls(h, read(100.0), Call(100.5, "DELETE", DEL_R, ("a1", "r1"), 204, M),
                        Call(100.6, "DELETE", DEL_N, ("a2", "n1"), 204, M))
    assert len(found) == 1
    assert "a1" in found[0]
    assert "down for only" in found[0]


def test_add_to_a_dead_agent_is_a_violation() -> None:
    h = history()
    h.went_down("a3", 50.0)
    found = judge_calls(h, read(100.0), Call(100.5, "POST", ADD_R, ("a3",), 201, M),
                        Call(100.6, "POST", ADD_R, ("a4",), 201, M))
    assert len(found) == 1
    assert "a3" in found[0]


def test_the_read_that_counts_is_the_last_one_before_the_call() -> None:
    h = history()
    h.came_up("a1", 0.0)
    h.went_down("a1", 95.0)  # dead from ~99 s on
    assert judge_calls(h, read(97.0), Call(97.5, "POST", ADD_R, ("a1",), 201, M)) == []
    assert judge_calls(h, read(97.0), read(101.0), Call(101.5, "POST", ADD_R, ("a1",), 201, M)) != []
    assert judge_calls(h, Call(1.0, "POST", ADD_R, ("a1",), 201, M)) != []  # no read at all
    assert judge_calls(h, Call(1.0, "POST", ADD_R, ("a1",), 201, "someone-else")) == []


def test_remove_in_a_disrupted_zone_is_a_violation_once_the_majority_has_settled() -> None:
    h = history(5)
    for agent in ("a0", "a1", "a2"):
        h.went_down(agent, 80.0)
    assert judge_calls(h, read(84.5), Call(84.6, "DELETE", DEL_R, ("a0", "r"), 204, M)) == []  # just turned dead
    found = judge_calls(h, read(100.0), Call(100.5, "DELETE", DEL_R, ("a0", "r"), 204, M))
    assert len(found) == 1
    assert "disrupted" in found[0]


def test_state_problems_see_a_router_on_a_dead_agent_and_a_network_short_of_agents() -> None:
    cloud = Cloud.build(dhcp_agents=3, l3_agents=2, networks=2, routers=2, dhcp_per_network=2, agent_down_time=4.0,
                        clock=time.monotonic, seed=1)
    h = AgentHistory(4.0, cloud.interval)
    for a in cloud.agents.values():
        h.add(a.id, a.agent_type, a.availability_zone or "", a.up_since)
    targets = Targets(dhcp_per_network=2, ha_replicas=2)
    assert state_problems(cloud, h, targets, time.monotonic()) == []
    l3 = next(a for a in cloud.agents.values() if a.agent_type == L3).id
    dhcp = next(a for a in cloud.agents.values() if a.agent_type == DHCP).id
    for agent in (l3, dhcp):
        cloud.set_agent_down(agent)
        h.went_down(agent, cloud.agents[agent].down_at or 0.0)
    problems = state_problems(cloud, h, targets, time.monotonic())
    assert sum(p.startswith("router") for p in problems) == 1
    assert sum(p.startswith("network") for p in problems) == 1


def test_add_during_the_hold_down_of_an_agent_judged_dead_is_a_violation() -> None:
    h = history()
    h.went_down("a1", 50.0)
    h.came_up("a1", 70.0)
    judge = ActionJudge(h, M, settle_s=3.0, hold_down_s=5.0)
    judge.feed([read(59.5)])
    judge.judged_dead("a1", 60.0)
    judge.feed([read(70.5), read(72.0), Call(72.5, "POST", ADD_R, ("a1",), 201, M)])
    assert len(judge.violations) == 1
    assert "hold-down" in judge.violations[0]
    judge.feed([read(76.0), Call(76.5, "POST", ADD_R, ("a1",), 201, M)])
    assert len(judge.violations) == 1  # seen back 5.5 s before: fine


def test_hold_down_is_shortened_by_a_forward_clock_jump_and_needs_a_dead_verdict() -> None:
    h = history()
    for agent in ("a1", "a2"):
        h.went_down(agent, 50.0)
        h.came_up(agent, 70.0)
    judge = ActionJudge(h, M, settle_s=3.0, hold_down_s=5.0)
    judge.feed([read(59.5)])
    judge.judged_dead("a1", 60.0)
    judge.clock_jumped(71.0, 10.0)
    judge.feed([read(70.5), read(72.0), Call(72.5, "POST", ADD_R, ("a1",), 201, M),
                Call(72.6, "POST", ADD_R, ("a2",), 201, M)])  # a2 was never judged dead: no hold-down
    assert judge.violations == []


def test_hold_down_counts_from_the_return_after_the_last_dead_verdict() -> None:
    h = history()
    h.went_down("a1", 50.0)
    h.came_up("a1", 70.0)
    h.went_down("a1", 70.2)  # a flap right after the return: never judged dead
    h.came_up("a1", 71.0)
    judge = ActionJudge(h, M, settle_s=3.0, hold_down_s=5.0)
    judge.feed([read(69.9)])
    judge.judged_dead("a1", 70.3)  # decided on the read at 69.9: the first death
    judge.feed([read(70.5), read(75.8), Call(76.0, "POST", ADD_R, ("a1",), 201, M)])
    assert judge.violations == []


def test_a_write_is_judged_by_the_read_before_it_arrived_not_before_its_delayed_answer() -> None:
    h = history()
    h.went_down("a1", 90.0)
    h.came_up("a1", 100.2)
    late = Call(100.6, "DELETE", DEL_R, ("a1", "r1"), 204, M, received=98.3)  # sent at 98.3, held 2.3 s
    assert judge_calls(h, read(98.0), read(100.5), late) == []
    sent_late = Call(100.7, "DELETE", DEL_R, ("a1", "r1"), 204, M, received=100.6)
    assert len(judge_calls(h, read(98.0), read(100.5), sent_late)) == 1


# --- the rules added for issue 11: lies, zones, compute nodes, pace, budget, fence ------------------------------


def remove(at: float, agent: str, resource: str, exists: bool | None, status: int = 204) -> Call:
    return Call(at, "DELETE", DEL_N, (agent, resource), status, M, resource=resource, exists=exists)


def add(at: float, agent: str, resource: str, status: int = 201) -> Call:
    return Call(at, "POST", "/v2.0/agents/{id}/dhcp-networks", (agent,), status, M, resource=resource, exists=True)


def test_removing_an_existing_resource_from_a_live_agent_is_a_violation_a_deleted_one_is_not() -> None:
    h = history()
    judge = ActionJudge(h, M, settle_s=3.0)
    judge.feed([read(100.0), remove(100.5, "a1", "gone", exists=False), remove(100.6, "a1", "n1", exists=True),
                remove(100.7, "a2", "n2", exists=True, status=500)])  # refused or not, the decision was wrong
    assert judge.kinds == [REMOVE_LIVE, REMOVE_LIVE]
    assert "n1" in judge.violations[0]


def test_a_hinted_resource_placed_outside_its_zones_is_a_violation() -> None:
    h = AgentHistory(agent_down_time=4.0, report_interval=1.0)
    h.add("in", DHCP, "az-1", 0.0)
    h.add("out", DHCP, "az-2", 0.0)
    judge = ActionJudge(h, M, settle_s=3.0, hints={"n1": frozenset({"az-1"}), "n2": frozenset()})
    judge.feed([read(100.0), add(100.1, "in", "n1"), add(100.2, "out", "n2"), add(100.3, "out", "n1", status=409),
                add(100.4, "out", "n1")])
    assert judge.kinds == [HINTS]
    assert "az-2" in judge.violations[0]


def test_any_call_to_a_compute_node_agent_is_a_violation() -> None:
    h = history()
    h.add("cmp", L3, "az-1", 0.0, mode="dvr")
    found = ActionJudge(h, M)
    found.feed([read(100.0), Call(100.1, "POST", ADD_R, ("cmp",), 409, M),
                Call(100.2, "DELETE", DEL_R, ("cmp", "r"), 409, M), Call(100.3, "POST", ADD_R, ("a1",), 201, M)])
    assert found.kinds == [COMPUTE, COMPUTE]


def test_compute_nodes_are_not_counted_with_the_network_nodes_of_their_zone() -> None:
    h = history(5)
    for i in range(10):
        h.add(f"cmp{i}", L3, "az-1", 0.0, mode="dvr")
    for agent in ("a0", "a1", "a2"):  # 3 of 5 network nodes: disrupted, whatever the 10 compute nodes do
        h.went_down(agent, 80.0)
    assert sorted(h.group_of("a0")) == [f"a{i}" for i in range(5)]
    found = judge_calls(h, read(100.0), Call(100.5, "DELETE", DEL_R, ("a0", "r"), 204, M))
    assert len(found) == 1
    assert "disrupted" in found[0]


def agents_read(at: float, member: str = M, status: int = 200) -> Call:
    return Call(at, "GET", READ, (), status, member)


def test_pass_rate_is_bounded_one_violation_per_episode() -> None:
    judge = PassRateJudge(min_pass_interval_s=1.0, window_s=2.0)
    assert judge.bound == 4
    steady = [agents_read(float(t)) for t in range(10)]
    judge.feed(steady)
    assert judge.flags.violations == []
    burst = [agents_read(20 + i * 0.05) for i in range(30)] + [agents_read(40.0), agents_read(41.0)]
    judge.feed(burst)
    judge.feed([agents_read(50 + i * 0.05, "other") for i in range(3)] + [agents_read(60.0, status=500)])
    judge.close()
    assert judge.flags.kinds == [PACE]
    assert "30 times in 2s (bound 4)" in judge.flags.violations[0]
    assert judge.flags.violations[0].endswith("for 1.2s")  # from the 5th read (20.2 s) to the last (21.45 s)
    assert judge.peak == 30


def test_the_budget_counts_evacuation_starts_across_replicas_on_rpcdaemons_clock() -> None:
    h = history(6)
    for agent in ("a0", "a1", "a2", "a3"):
        h.went_down(agent, 10.0)
    jump = 30.0  # rpcdaemon's clock jumped 30 s forward at t=50: its minute is shorter in real time

    def daemon_time(t: float) -> float:
        return t + (jump if t >= 50 else 0.0)

    judge = BudgetJudge(h, limit=2, daemon_time=daemon_time)
    judge.feed([Call(20.0, "DELETE", DEL_R, ("a0", "r"), 204, "x"), Call(20.1, "DELETE", DEL_R, ("a0", "s"), 204, "x"),
                Call(21.0, "DELETE", DEL_R, ("a1", "r"), 204, "x")])
    assert judge.flags.violations == []  # a0 counted once
    judge.feed([Call(55.0, "DELETE", DEL_R, ("a2", "r"), 204, "y")])  # 85 s on rpcdaemon's clock: a new minute
    assert judge.flags.violations == []
    judge.feed([Call(60.0, "DELETE", DEL_R, ("a3", "r"), 204, "y")])  # 90: within a minute of 21.0? no; of 85: yes
    assert judge.flags.violations == []
    h.came_up("a0", 61.0)
    h.went_down("a0", 62.0)
    judge.feed([Call(70.0, "DELETE", DEL_R, ("a0", "r"), 204, "y")])  # a new death of a0: a third start in 60 s
    assert judge.flags.kinds == [BUDGET]
    assert "['y']" in judge.flags.violations[0]


def test_a_call_outside_every_acting_window_is_a_violation() -> None:
    windows = {"a": [(10.0, 20.0), (30.0, 40.0)], "b": []}
    judge = FenceJudge(lambda m: windows.get(m, []), slack_s=0.5)
    judge.feed([Call(15.0, "POST", ADD_R, ("x",), 201, "a"), Call(20.4, "POST", ADD_R, ("x",), 201, "a"),
                Call(25.0, "DELETE", DEL_R, ("x", "r"), 503, "a"), Call(35.0, "GET", READ, (), 200, "b"),
                Call(35.0, "POST", ADD_R, ("x",), 201, "b")])
    assert judge.flags.kinds == [FENCE, FENCE]
    assert "5.0s after its window closed" in judge.flags.violations[0]
    assert "no window open yet" in judge.flags.violations[1]


def test_state_counts_only_the_zones_a_resource_is_hinted_to_and_never_compute_nodes() -> None:
    cloud = Cloud(agent_down_time=4.0, clock=time.monotonic, seed=2)
    d1 = cloud.add_agent(DHCP, "n1", "az-1")
    d2 = cloud.add_agent(DHCP, "n2", "az-2")
    l1 = cloud.add_agent(L3, "n1", "az-1")
    cmp = cloud.add_agent(L3, "c1", "az-1", agent_mode="dvr")
    net = cloud.add_network("hinted", availability_zone_hints=["az-1"])
    cloud.bind_network(d1, net)
    router = cloud.add_router("r", ha=True)
    cloud.bind_router(l1, router)
    cloud.bind_router(cmp, router)
    h = AgentHistory(4.0, cloud.interval)
    for a in cloud.agents.values():
        h.add(a.id, a.agent_type, a.availability_zone or "", a.up_since, a.agent_mode)
    targets = Targets(dhcp_per_network=2, ha_replicas=2)
    assert state_problems(cloud, h, targets, time.monotonic()) == []  # one agent in az-1, one L3 agent that counts
    assert d2 not in cloud.stats()["bindings"]["dhcp"][net]


def removal(served: bool = False, wired: bool = True, draining: bool = False, router: bool = True,
            ha: bool = False, active: bool = False) -> RemovalFacts:
    return RemovalFacts(served, wired, draining, router, ha, active)


def test_a_shift_from_a_live_agent_passes_only_when_nothing_is_lost() -> None:
    """Rebalance, drain and verification take from live agents: the judge allows it only when the resource stays
    served (another running agent wired it), an HA router keeps its active replica unless an operator drains that
    agent, a legacy router goes only from a drained agent, and a binding never wired serves nothing to lose."""
    h = history()

    def flagged(path: str, facts: RemovalFacts) -> bool:
        ids = ("a1", "n1") if path == DEL_N else ("a1", "r1")
        return bool(judge_calls(h, read(100.0), Call(100.5, "DELETE", path, ids, 204, M, 100.4, resource=ids[1],
                                                     exists=True, removal=facts)))

    assert not flagged(DEL_N, removal(served=True, router=False))
    assert flagged(DEL_N, removal(served=False, router=False))
    assert flagged(DEL_N, removal(served=False, router=False, draining=True))  # a drain keeps a network served
    assert not flagged(DEL_R, removal(served=True, ha=True))  # a standby replica
    assert flagged(DEL_R, removal(served=True, ha=True, active=True))  # rebalance never takes the active one
    assert not flagged(DEL_R, removal(served=True, ha=True, active=True, draining=True))
    assert flagged(DEL_R, removal(served=False, ha=True, active=False, draining=True))  # never the last one
    assert flagged(DEL_R, removal())  # a legacy router from a live agent
    assert not flagged(DEL_R, removal(draining=True))  # ... unless an operator drains it
    assert not flagged(DEL_R, removal(wired=False))  # it never served there (unverified)


def test_the_emulator_states_the_facts_of_a_removal() -> None:
    cloud = Cloud(agent_down_time=4.0, clock=time.monotonic, seed=1, activation_delay_s=0.0)
    agents = [cloud.add_agent(L3, f"net-{i}", "nova") for i in range(3)]
    router = cloud.add_router(name="r", ha=True)
    for agent in agents[:2]:
        cloud.bind_router(agent, router)
    active = next(a for a, state in cloud.ha_states(router).items() if state == "active")
    standby = next(a for a in agents[:2] if a != active)
    assert cloud.removal_facts(DEL_R, router, active) == removal(served=True, ha=True, active=True)
    assert cloud.removal_facts(DEL_R, router, standby) == removal(served=True, ha=True)
    cloud.set_agent_down(standby)
    assert not cloud.removal_facts(DEL_R, router, active).served_elsewhere  # the other replica's agent is dead
