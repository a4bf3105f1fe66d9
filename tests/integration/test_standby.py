"""A standby replica reads and plans but never acts, keeps the budget its leader spent, and acts at once on takeover.

The standby plans every pass from the same cloud as the leader, so the evacuations it would have admitted are the
ones its leader started: it keeps that record (issue 11, item 5: a takeover used to restart the budget, and with
a limit of 3 per minute, 3 evacuations began before a failover and 3 more 7 s after it)."""

from __future__ import annotations

from emulated import MakeEnv

from rpcdaemon.model import L3_AGENT


def test_a_standby_observes_without_acting_and_a_takeover_acts_at_once(make_env: MakeEnv) -> None:
    env = make_env(l3_agents=4, routers=16, dhcp_agents=0, networks=0, policy={"max_evacuations_per_minute": 1})
    acting = False
    env.reconciler.may_act = lambda: acting
    victim, second = env.agents(L3_AGENT)[0]["id"], env.agents(L3_AGENT)[1]["id"]
    before = env.bindings("l3")
    env.cloud.set_agent_down(second)  # two agents die together; the budget admits one a minute

    report = env.kill(victim)
    assert report.plan is not None, "the standby plans the evacuation"
    assert report.plan.changes, "the standby plans the evacuation"
    assert report.results == [], "but does not act"
    assert env.bindings("l3") == before, "but does not act"
    for _ in range(3):
        assert env.step().results == []
    spent = set(env.reconciler.state.budget.started)
    assert len(spent) == 1, "the budget its leader spent"
    assert spent <= {victim, second}, "the budget its leader spent"
    first, other = (victim, second) if victim in spent else (second, victim)

    acting = True  # takeover: its observations are warm, so the first pass evacuates what was admitted
    report = env.step()
    assert report.results
    assert all(r.ok for r in report.results)
    assert {r.change.from_agent for r in report.results} == {first}
    assert all(first not in hosts and len(hosts) == 1 for hosts in env.bindings("l3").values())
    # the second agent stays deferred: the new leader does not restart the budget its predecessor spent
    assert report.plan is not None
    assert any("deferred" in n for n in report.plan.notes)
    assert any(other in hosts for hosts in env.bindings("l3").values())
