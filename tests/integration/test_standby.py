"""A standby replica reads and plans but never acts, spends no evacuation budget, and acts at once on takeover."""

from __future__ import annotations

from emulated import MakeEnv

from rpcdaemon.model import L3_AGENT


def test_a_standby_observes_without_acting_and_a_takeover_acts_at_once(make_env: MakeEnv) -> None:
    env = make_env(l3_agents=4, routers=16, dhcp_agents=0, networks=0, policy={"max_evacuations_per_minute": 1})
    acting = False
    env.reconciler.may_act = lambda: acting
    victim = env.agents(L3_AGENT)[0]["id"]
    before = env.bindings("l3")

    report = env.kill(victim)
    assert report.plan is not None and report.plan.changes, "the standby plans the evacuation"
    assert report.results == [] and env.bindings("l3") == before, "but does not act"
    for _ in range(3):
        assert env.step().results == []
    assert env.reconciler.state.budget.started == {}, "no budget spent on evacuations it did not start"

    acting = True  # takeover: its observations are warm, so the first pass evacuates
    report = env.step()
    assert report.results and all(r.ok for r in report.results)
    assert all(victim not in hosts and len(hosts) == 1 for hosts in env.bindings("l3").values())
