"""The chaos run's judges can fail: each rule flags the action it forbids and passes the one it allows."""

from __future__ import annotations

import time

from rpcdaemon.chaos.history import AgentHistory
from rpcdaemon.chaos.invariants import ActionJudge, Targets, state_problems
from rpcdaemon.emulator.cloud import DHCP, L3, Call, Cloud

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
    assert len(found) == 1 and "healthy" in found[0]


def test_remove_from_a_flapping_agent_is_a_violation_and_from_a_dead_one_is_not() -> None:
    h = history()
    h.went_down("a1", 98.0)  # 2 s of silence at the read: not dead yet
    h.went_down("a2", 90.0)  # 10 s: dead
    found = judge_calls(h, read(100.0), Call(100.5, "DELETE", DEL_R, ("a1", "r1"), 204, M),
                        Call(100.6, "DELETE", DEL_N, ("a2", "n1"), 204, M))
    assert len(found) == 1 and "a1" in found[0] and "down for only" in found[0]


def test_add_to_a_dead_agent_is_a_violation() -> None:
    h = history()
    h.went_down("a3", 50.0)
    found = judge_calls(h, read(100.0), Call(100.5, "POST", ADD_R, ("a3",), 201, M),
                        Call(100.6, "POST", ADD_R, ("a4",), 201, M))
    assert len(found) == 1 and "a3" in found[0]


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
    assert len(found) == 1 and "disrupted" in found[0]


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
    assert len(judge.violations) == 1 and "hold-down" in judge.violations[0]
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
