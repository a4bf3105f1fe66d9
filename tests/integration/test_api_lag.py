"""When the bus already says an agent is dead and the API has yet to agree, the API is read again within a second
instead of at the next periodic pass: the repair follows the server's own verdict, not the resync period."""

from __future__ import annotations

import time
from dataclasses import replace

from rpcdaemon.config.settings import default_settings
from rpcdaemon.core.liveness import AgentLiveness, Verdict
from rpcdaemon.core.plan import Plan
from rpcdaemon.daemon.loop import API_CATCH_UP_S, Daemon
from rpcdaemon.daemon.report import PassReport
from rpcdaemon.model import AgentId


def daemon_after(*verdicts: AgentLiveness) -> Daemon:
    settings = replace(default_settings(), neutron_endpoint="http://127.0.0.1:9", agent_down_time_s=10.0,
                       check_interval_s=5.0, status_listen=("", 0))
    daemon = Daemon(settings, member="lag-test")
    plan = Plan((), {v.agent_id: v for v in verdicts}, {}, frozenset(), (), False)
    daemon.reconciler.last_report = PassReport(0.0, 0.1, None, plan)
    return daemon


def lagging(suspect_for_s: float = 0.0) -> AgentLiveness:
    return AgentLiveness(AgentId("a"), Verdict.SUSPECT, api_alive=True, silent_s=10.5, reason="signals disagree",
                         suspect_for_s=suspect_for_s)


def test_the_api_is_read_again_soon_while_it_lags_behind_the_bus() -> None:
    assert daemon_after(lagging())._next_wait(time.monotonic()) <= API_CATCH_UP_S


def test_otherwise_the_periodic_pass_stands() -> None:
    alive = AgentLiveness(AgentId("b"), Verdict.ALIVE, api_alive=True, silent_s=1.0, reason="heartbeat seen")
    api_dead_bus_alive = AgentLiveness(AgentId("c"), Verdict.SUSPECT, api_alive=False, silent_s=1.0, reason="x")
    for verdicts in ((alive,), (api_dead_bus_alive,), (lagging(suspect_for_s=30.0),)):  # a lasting disagreement
        assert daemon_after(*verdicts)._next_wait(time.monotonic()) > 4.0
