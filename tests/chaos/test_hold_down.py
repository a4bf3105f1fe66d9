"""Hysteresis that the chaos runs broke (both fixed): a dead agent is SUSPECT while observation restarts (failed
reads for a dead period, a clock jump, a bus reconnect), and that time must not count toward its hold-down (seed 23,
core/liveness.py); one agents list whose rows are all malformed must not read as "no agents" and erase every
agent's history (seed 31, shell/neutron.py). Either way, an agent back from the dead is RECOVERING, not a target at
once."""

from __future__ import annotations

from chaos_rig import DOWN_TIME, MakeRig, Rig

from rpcdaemon.core.liveness import Verdict
from rpcdaemon.emulator.cloud import L3


def kill_until_dead(rig: Rig) -> str:
    """Stop an L3 agent's heartbeats and pass until rpcdaemon judges it dead; its id."""
    victim = sorted(a.id for a in rig.cloud.agents.values() if a.agent_type == L3)[0]
    rig.cloud.set_agent_down(victim)
    for _ in range(30):
        plan = rig.step().plan
        if plan is not None and plan.verdicts[victim].is_dead:  # type: ignore[index]
            return victim
    raise AssertionError("never judged dead")


def test_an_agent_back_from_the_dead_is_held_down_even_after_observation_restarted(make_rig: MakeRig) -> None:
    rig = make_rig(dhcp_agents=3, l3_agents=3, networks=3, routers=3, ha_routers=0)
    victim = kill_until_dead(rig)
    rig.daemon.bus.disconnected()  # the broker restarts while the reads fail for longer than a dead period
    rig.clock.now += DOWN_TIME + 25
    rig.daemon.bus.connected()
    seen = []
    for _ in range(13):  # 65 s: longer than hold_down (60 s), shorter than a dead period (75 s)
        plan = rig.step().plan
        assert plan is not None
        seen.append(plan.verdicts[victim].verdict)  # type: ignore[index]
    assert all(v is Verdict.SUSPECT for v in seen), seen  # the scenario: suspect all along, never dead again
    rig.cloud.set_agent_up(victim)
    plan = rig.step().plan
    assert plan is not None
    assert plan.verdicts[victim].verdict is Verdict.RECOVERING, plan.verdicts[victim]  # type: ignore[index]


def test_one_garbled_agents_list_does_not_erase_a_death(make_rig: MakeRig) -> None:
    rig = make_rig(dhcp_agents=3, l3_agents=3, networks=3, routers=3, ha_routers=0)
    victim = kill_until_dead(rig)
    rig.cloud.add_fault("GET", "GET /v2.0/agents", body='{"agents": [null]}', count=1)
    rig.step()
    rig.cloud.set_agent_up(victim)
    plan = rig.step().plan
    assert plan is not None
    assert plan.verdicts[victim].verdict is Verdict.RECOVERING, plan.verdicts[victim]  # type: ignore[index]
