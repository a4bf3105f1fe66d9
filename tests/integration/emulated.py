"""Helpers: an emulated Neutron served over HTTP on loopback, and rpcdaemon's real shell pointed at it.

Time is virtual where the test drives passes itself: the emulator's heartbeats and rpcdaemon's liveness share one
clock that the test advances, so "dead after 75 s" takes no real time and no test sleeps. Everything else (HTTP,
openstacksdk, the executor's threads) is real.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from clocks import FakeClock
from rpcdaemon.adapters.audit import AuditLog
from rpcdaemon.config.settings import Settings
from rpcdaemon.daemon.reconciler import Reconciler
from rpcdaemon.daemon.report import PassReport
from rpcdaemon.emulator.cloud import Cloud
from rpcdaemon.emulator.server import EmulatorServer

DOWN_TIME = 75.0


@dataclass
class Env:
    cloud: Cloud
    server: EmulatorServer
    clock: FakeClock
    settings: Settings
    reconciler: Reconciler
    audit: AuditLog

    def run_pass(self) -> PassReport:
        return self.reconciler.run_pass()

    def step(self, seconds: float = 5.0) -> PassReport:
        self.clock.advance(seconds)
        return self.run_pass()

    def converge(self, max_passes: int = 10, seconds: float = 5.0) -> list[PassReport]:
        """Pass until a pass plans nothing (or fail after max_passes)."""
        reports = []
        for _ in range(max_passes):
            report = self.step(seconds)
            reports.append(report)
            assert report.error is None, report.error
            if report.plan is not None and not report.plan.changes:
                return reports
        raise AssertionError(f"no convergence in {max_passes} passes: {reports[-1].plan}")

    def advance(self, seconds: float, every: float = 5.0) -> list[PassReport]:
        """Let time pass with a pass every `every` seconds, as the daemon does (a longer gap between passes would
        trip the clock-jump guard and restart observation)."""
        reports = []
        while seconds > 1e-9:
            reports.append(self.step(min(every, seconds)))
            seconds -= every
        return reports

    def kill(self, agent_id: str) -> PassReport:
        """Stop the agent's heartbeats; pass every 5 s until a pass judges it dead; return that pass."""
        self.cloud.set_agent_down(agent_id)
        for _ in range(40):
            report = self.step(5.0)
            if report.plan is not None and report.plan.verdicts[agent_id].is_dead:  # type: ignore[index]
                return report
        raise AssertionError(f"agent {agent_id} never judged dead")

    def agents(self, agent_type: str) -> list[dict[str, Any]]:
        return [a for a in self.cloud.stats()["agents"] if a["agent_type"] == agent_type]

    def bindings(self, kind: str) -> dict[str, list[str]]:
        table: dict[str, list[str]] = self.cloud.stats()["bindings"][kind]
        return table


MakeEnv = Callable[..., Env]
