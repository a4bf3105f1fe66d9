"""The chaos run's agent history replays the emulated server's liveness rule exactly (the action rules are judged
against it, so a drift would make them lie)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from testkit.chaos.history import AgentHistory

from clocks import FakeClock
from rpcdaemon.emulator.cloud import L3, Cloud


@settings(max_examples=200, deadline=None)
@given(steps=st.lists(st.tuples(st.floats(0.01, 9.0), st.booleans()), min_size=1, max_size=12),
       probes=st.lists(st.floats(0.0, 60.0), min_size=1, max_size=8))
def test_api_dead_matches_the_emulator(steps: list[tuple[float, bool]], probes: list[float]) -> None:
    clock = FakeClock()
    cloud = Cloud(agent_down_time=4.0, report_interval=1.0, clock=clock, seed=1)
    agent = cloud.add_agent(L3, "h1")
    history = AgentHistory(4.0, 1.0)
    history.add(agent, L3, "nova", cloud.agents[agent].up_since)
    checks: list[tuple[float, bool]] = []
    for advance, down in steps:
        clock.now += advance
        if down:
            cloud.set_agent_down(agent)
            history.went_down(agent, cloud.agents[agent].down_at or 0.0)
        else:
            cloud.set_agent_up(agent)
            history.came_up(agent, cloud.agents[agent].up_since)
        checks.append((clock.now, not cloud.is_alive(cloud.agents[agent])))
        for probe in probes:
            clock.now += probe / 10
            checks.append((clock.now, not cloud.is_alive(cloud.agents[agent])))
    for at, dead in checks:
        assert history.api_dead(agent, at) == dead, (at, dead)
