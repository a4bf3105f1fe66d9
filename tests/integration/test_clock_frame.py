"""Every time the shell hands the core is read from the daemon's one clock. The cloud reader once timed its
agents list with time.monotonic while the reconciler used the daemon's clock: after a jump of that clock, passes
were judged by one frame or the other depending on how long the read took, and the chaos suite saw a hold-down end
2.8 s early with no jump in the window (CI, seed 1077399575). Here the daemon's clock starts far from the system's
monotonic clock, so a reader on the wrong clock judges every pass by the wrong time."""

from __future__ import annotations

from emulated import DOWN_TIME, MakeEnv

from rpcdaemon.core.liveness import Verdict
from rpcdaemon.model import L3_AGENT


def test_liveness_and_hold_down_follow_the_daemons_clock_not_the_systems(make_env: MakeEnv) -> None:
    env = make_env(l3_agents=3, routers=6, dhcp_agents=1, networks=0, clock_start=0.0,
                   policy={"hold_down_s": 30.0})
    env.converge()
    victim = env.agents(L3_AGENT)[0]["id"]

    env.kill(victim)  # fails when the reader times passes by the system's clock: time would not pass
    env.converge()
    assert not any(victim in agents for agents in env.bindings("l3").values())

    env.cloud.set_agent_up(victim)
    for report in env.advance(25.0):
        assert report.plan is not None and report.plan.verdicts is not None
        assert report.plan.verdicts[victim].verdict in (Verdict.SUSPECT, Verdict.RECOVERING), (
            report.plan.verdicts[victim])
    assert env.reconciler.state.liveness.observed_at == env.clock()
    after = env.advance(DOWN_TIME)
    assert after[-1].plan is not None and after[-1].plan.verdicts[victim].verdict is Verdict.ALIVE
