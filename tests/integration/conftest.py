"""Fixtures of the integration tests: see emulated.py."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
from emulated import DOWN_TIME, Env, MakeEnv

from clocks import FakeClock
from rpcdaemon.adapters.audit import AuditLog
from rpcdaemon.adapters.neutron.client import NeutronClient
from rpcdaemon.config.settings import default_settings
from rpcdaemon.daemon.executor import Executor
from rpcdaemon.daemon.reconciler import Reconciler
from rpcdaemon.emulator.cloud import Cloud
from rpcdaemon.emulator.server import EmulatorServer, serve


@pytest.fixture
def make_env() -> Iterator[MakeEnv]:
    servers: list[EmulatorServer] = []

    def make(settings_overrides: dict[str, Any] | None = None, warm: bool = True,
             policy: dict[str, Any] | None = None, clock_start: float = 1_000_000.0, **build: Any) -> Env:
        clock = FakeClock(clock_start)
        build.setdefault("agent_down_time", DOWN_TIME)
        cloud = Cloud.build(clock=clock, seed=1, **build)
        server = serve(cloud)
        servers.append(server)
        settings = replace(
            default_settings(), neutron_endpoint=server.url, agent_down_time_s=DOWN_TIME, hold_down_s=60.0,
            max_concurrency=8, **(settings_overrides or {}),
        )
        audit = AuditLog()
        client = NeutronClient.connect(endpoint=server.url, timeout_s=settings.dhcp.timeout_s)
        executor = Executor(client.apply_call, audit, max_concurrency=settings.max_concurrency,
                            retries=settings.api_retries, backoff_s=0.01)
        reconciler = Reconciler(client, executor, replace(settings.policy(), **(policy or {})), clock=clock)
        env = Env(cloud, server, clock, settings, reconciler, audit)
        if warm:
            env.run_pass()
            env.advance(DOWN_TIME + 1)  # observation has covered one dead period: liveness is now trusted
        return env

    yield make
    for server in servers:
        server.stop()
