"""Leader failover under chaos: two Daemon replicas share a file:// coordination backend and one emulated cloud.

The chaos run has one replica; these tests give the rules that only a cluster can break their own judges, over the
emulator's call log (each call names its replica):
- the evacuation budget holds across a takeover: a new leader must not start as if nothing had been spent
  (BudgetJudge);
- a replica cut off from the backend stops calling the scheduling API once its acting window closes, also in the
  middle of a change (its retries), not only between changes (FenceJudge).
Agents' time is virtual (passes driven by the test, "75 s" pass at once); leases are real (a few seconds).
"""

from __future__ import annotations

import bisect
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import pytest
from chaos_rig import DOWN_TIME
from testkit.chaos.cluster import ActingWindows, FaultyBackend
from testkit.chaos.history import AgentHistory
from testkit.chaos.invariants import BudgetJudge, FenceJudge

from clocks import FakeClock
from polling import poll
from rpcdaemon.adapters.bus.envelope import decode
from rpcdaemon.config.settings import default_settings
from rpcdaemon.daemon import loop as runner
from rpcdaemon.daemon.loop import Daemon
from rpcdaemon.daemon.report import PassReport
from rpcdaemon.emulator.bus import heartbeat_body
from rpcdaemon.emulator.cloud import L3, Cloud
from rpcdaemon.emulator.server import EmulatorServer, serve

A, B = "replica-a", "replica-b"


@dataclass
class Pair:
    cloud: Cloud
    server: EmulatorServer
    clock: FakeClock
    backend: FaultyBackend
    daemons: dict[str, Daemon]
    history: AgentHistory
    steps: list[tuple[float, float]] = field(default_factory=list)
    """(real time, virtual time) at each step: the call log's times on the replicas' clock."""

    def daemon_time(self, real: float) -> float:
        i = bisect.bisect_right(self.steps, (real, float("inf")))
        return self.steps[i - 1][1] if i else self.clock.now

    def step(self, *members: str, seconds: float = 5.0) -> dict[str, PassReport]:
        """Time passes; every live agent heartbeats on each replica's bus; the named replicas each run a pass."""
        self.clock.now += seconds
        self.steps.append((time.monotonic(), self.clock.now))
        reports = {}
        for member in members:
            daemon = self.daemons[member]
            for agent in list(self.cloud.agents.values()):
                if agent.down_at is None:
                    body = heartbeat_body(agent.host, agent.agent_type, agent.agent_mode, False)
                    daemon.bus.on_message(decode(body, "q-reports-plugin"))
            reports[member] = daemon.run_once()
        return reports

    def kill(self, agent_id: str) -> None:
        self.cloud.set_agent_down(agent_id)
        self.history.went_down(agent_id, self.cloud.agents[agent_id].down_at or self.clock.now)


MakePair = Callable[..., Pair]


@pytest.fixture
def make_pair(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[MakePair]:
    made: list[Pair] = []

    def make(l3_agents: int, routers: int, budget: int, lease_s: float) -> Pair:
        clock = FakeClock()
        cloud = Cloud.build(dhcp_agents=0, l3_agents=l3_agents, networks=0, routers=routers, seed=5,
                            agent_down_time=DOWN_TIME, clock=clock)
        server = serve(cloud)
        backend = FaultyBackend()
        monkeypatch.setattr(runner, "build_coordination", backend.build_coordination)
        base = default_settings()
        settings = replace(base, neutron_endpoint=server.url, plugins=("L3Agent",), check_interval_s=5.0,
                           agent_down_time_s=DOWN_TIME, hold_down_s=60.0, max_evacuations_per_minute=budget,
                           audit_log=None, status_listen=("", 0), api_retries=3,
                           coordination_url=f"file://{tmp_path}/coordination", coordination_lease_s=lease_s,
                           coordination_group="chaos-failover", l3=replace(base.l3, timeout_s=10.0))
        history = AgentHistory(DOWN_TIME, cloud.interval)
        for agent in cloud.agents.values():
            history.add(agent.id, agent.agent_type, agent.availability_zone or "", agent.up_since, agent.agent_mode)
        pair = Pair(cloud, server, clock, backend, {m: Daemon(settings, member=m, clock=clock) for m in (A, B)},
                    history)
        made.append(pair)
        for daemon in pair.daemons.values():
            daemon.in_memory_bus()
        pair.daemons[A].cluster.start()
        poll(pair.daemons[A].cluster.may_act, 30, "replica-a leads")
        pair.daemons[B].cluster.start()
        for _ in range(int(DOWN_TIME // 5) + 2):  # both watch the agents for a dead period: liveness is trusted
            pair.step(A, B)
        return pair

    yield make
    for pair in made:
        for member, daemon in pair.daemons.items():
            pair.backend.restore(member)
            daemon.cluster.stop()
        pair.server.stop()


def l3_agents(pair: Pair) -> list[str]:
    return sorted(a.id for a in pair.cloud.agents.values() if a.agent_type == L3)


def test_a_takeover_does_not_restart_the_evacuation_budget(make_pair: MakePair) -> None:
    pair = make_pair(l3_agents=10, routers=30, budget=2, lease_s=3.0)
    judge = BudgetJudge(pair.history, limit=2, daemon_time=pair.daemon_time, cloud_time=pair.daemon_time)
    for victim in l3_agents(pair)[:4]:  # 4 of 10: a minority, so only the budget holds them back
        pair.kill(victim)
    for _ in range(30):
        pair.step(A, B)
        judge.feed(pair.cloud.drain_calls())
        if len(judge.started) >= 2:
            break
    assert [m for _, _, m in judge.started] == [A, A], judge.started
    pair.daemons[A].cluster.stop()  # a clean handover: replica-b leads at once
    poll(pair.daemons[B].cluster.may_act, 30, "replica-b takes over")
    for _ in range(6):  # 30 s: still within the minute of replica-a's two evacuations
        pair.step(B)
        judge.feed(pair.cloud.drain_calls())
    assert judge.flags.violations == [], judge.flags.violations
    for _ in range(10):  # past that minute, the two others start
        pair.step(B)
        judge.feed(pair.cloud.drain_calls())
    assert len(judge.started) == 4, (judge.started, judge.flags.violations)
    assert judge.flags.violations == [], (judge.started, judge.flags.violations)


def test_a_replica_cut_off_stops_calling_within_its_window_also_between_retries(make_pair: MakePair) -> None:
    pair = make_pair(l3_agents=6, routers=12, budget=30, lease_s=3.0)
    windows = ActingWindows()
    for member, daemon in pair.daemons.items():
        windows.watch(member, daemon.cluster.may_act)
    windows.start()
    judge = FenceJudge(windows.windows)
    try:
        victim = l3_agents(pair)[0]
        pair.kill(victim)
        # every remove is slow and fails: each change retries for longer than the acting window
        pair.cloud.add_fault("DELETE", "/v2.0/agents/{id}/l3-routers/{id}", status=503, delay_s=1.5, count=1000)
        for _ in range(30):
            plan = pair.step(B)[B].plan  # the standby sees what the leader is about to see
            if plan is not None and plan.verdicts[victim].is_dead:  # type: ignore[index]
                break
            assert pair.step(A, seconds=0.0)[A].results == []
        pair.backend.cut_off(A)  # replica-a's renewals fail from now on: its window closes within 0.8 lease
        report = pair.step(A, seconds=0.0)[A]
        assert report.results, "replica-a started the evacuation while its window was open"
        poll(lambda: not pair.daemons[A].cluster.may_act(), 30, "replica-a's window closed")
        judge.feed(pair.cloud.drain_calls())
    finally:
        windows.stop()
    assert judge.flags.violations == [], judge.flags.violations
