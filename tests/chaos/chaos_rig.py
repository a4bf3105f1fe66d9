"""Helpers of tests/chaos: a Daemon (real shell: HTTP, openstacksdk, executor) on an emulated cloud, one virtual
clock for both, the in-memory bus, and passes driven by the test: "75 seconds" pass instantly, nothing sleeps."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from clocks import FakeClock
from rpcdaemon.daemon.loop import Daemon
from rpcdaemon.daemon.report import PassReport
from rpcdaemon.emulator.bus import heartbeat_body
from rpcdaemon.emulator.cloud import Cloud
from rpcdaemon.emulator.server import EmulatorServer

DOWN_TIME = 75.0


@dataclass
class Rig:
    cloud: Cloud
    server: EmulatorServer
    clock: FakeClock
    daemon: Daemon
    publish: Callable[[str, str], None]

    def heartbeats(self) -> None:
        """Every agent that is up reports on the bus (as the emulator's pump does each interval)."""
        for agent in list(self.cloud.agents.values()):
            if agent.down_at is None:
                self.publish("q-reports-plugin", heartbeat_body(agent.host, agent.agent_type, agent.agent_mode,
                                                                False))

    def step(self, seconds: float = 5.0) -> PassReport:
        self.clock.now += seconds
        self.heartbeats()
        return self.daemon.run_once()

    def changes(self, reports: list[PassReport]) -> list[Any]:
        return [r for report in reports for r in report.results]


MakeRig = Callable[..., Rig]
