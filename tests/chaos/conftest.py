"""Fixtures of tests/chaos: see chaos_rig.py."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
from chaos_rig import DOWN_TIME, MakeRig, Rig

from clocks import FakeClock
from rpcdaemon.config.settings import default_settings
from rpcdaemon.daemon.loop import Daemon
from rpcdaemon.emulator.cloud import Cloud
from rpcdaemon.emulator.server import EmulatorServer, serve


@pytest.fixture
def make_rig() -> Iterator[MakeRig]:
    servers: list[EmulatorServer] = []

    def make(dhcp_per_network: int = 2, ha_routers: int = 2, **build: Any) -> Rig:
        clock = FakeClock()
        cloud = Cloud.build(clock=clock, seed=3, agent_down_time=DOWN_TIME, dhcp_per_network=dhcp_per_network,
                            **build)
        l3 = sorted(a.id for a in cloud.agents.values() if a.agent_type == "L3 agent")
        for n in range(ha_routers):
            router = cloud.add_router(name=f"ha{n}", ha=True)
            for agent in l3[:3]:
                cloud.bind_router(agent, router)
        server = serve(cloud)
        servers.append(server)
        base = default_settings()
        settings = replace(base, neutron_endpoint=server.url, check_interval_s=5.0, agent_down_time_s=DOWN_TIME,
                           hold_down_s=60.0, audit_log=None, status_listen=("", 0),
                           l3=replace(base.l3, timeout_s=5.0, ha_replicas=3),
                           dhcp=replace(base.dhcp, timeout_s=5.0, agents_per_network=dhcp_per_network))
        daemon = Daemon(settings, member="test", clock=clock)
        rig = Rig(cloud, server, clock, daemon, daemon.in_memory_bus())
        for _ in range(int(DOWN_TIME // 5) + 2):  # observation covers a dead period: liveness is trusted
            report = rig.step()
            assert report.error is None, report.error
        return rig

    yield make
    for server in servers:
        server.stop()
