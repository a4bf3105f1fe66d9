"""The daemon hearing a real bus: heartbeats drive liveness, notifications trigger work at once, disagreement holds."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace

import pytest
from agents import Publisher, heartbeat, notification
from rabbit import Rabbit

from polling import poll
from rpcdaemon.config.settings import Settings, default_settings
from rpcdaemon.daemon.loop import Daemon
from rpcdaemon.emulator.cloud import Cloud
from rpcdaemon.emulator.server import EmulatorServer, serve
from rpcdaemon.model import DHCP_AGENT, L3_AGENT


@contextmanager
def daemon_running(settings: Settings, member: str) -> Iterator[Daemon]:
    daemon = Daemon(settings, member=member)
    thread = threading.Thread(target=daemon.run, daemon=True)
    thread.start()
    try:
        yield daemon
    finally:
        daemon.stop()
        thread.join(30)


class Agents:
    """Publishes a heartbeat for every agent not muted, every 0.3 s, as the agents' report_state would."""

    def __init__(self, url: str, cloud: Cloud) -> None:
        self.pub = Publisher(url)
        self.cloud = cloud
        self.muted: set[str] = set()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self.stop.wait(0.3):
            for agent in list(self.cloud.agents.values()):
                if agent.id not in self.muted:
                    self.pub.publish(heartbeat(agent.host, agent.agent_type), "q-reports-plugin")

    def close(self) -> None:
        self.stop.set()
        self.thread.join(5)
        self.pub.close()


@pytest.fixture
def stack(rabbit: Rabbit) -> Iterator[tuple[Daemon, Cloud, EmulatorServer, Agents]]:
    cloud = Cloud.build(l3_agents=3, routers=6, dhcp_agents=2, networks=2, agent_down_time=3, seed=21)
    with serve(cloud) as server:
        agents = Agents(rabbit.url, cloud)
        agents.thread.start()
        settings = replace(default_settings(), neutron_endpoint=server.url, rpchost=rabbit.url,
                           agent_down_time_s=3.0, check_interval_s=1.0, hold_down_s=5.0, status_listen=("", 0))
        try:
            with daemon_running(settings, "bus-test") as daemon:
                poll(lambda: daemon.bus.listening_since is not None, 30, "daemon listening on the bus")
                yield daemon, cloud, server, agents
        finally:
            agents.close()


def test_a_stopped_agent_is_repaired_with_both_signals(stack: tuple[Daemon, Cloud, EmulatorServer, Agents]) -> None:
    daemon, cloud, _server, agents = stack
    poll(lambda: daemon.reconciler.last_report is not None and daemon.reconciler.last_report.plan is not None
         and not daemon.reconciler.last_report.plan.warming_up and daemon.bus.counts["heartbeat"] > 20, 30,
         "warmed up with bus heartbeats")
    victim = next(a for a in cloud.agents.values() if a.agent_type == L3_AGENT)
    agents.muted.add(victim.id)
    cloud.set_agent_down(victim.id)
    poll(lambda: all(victim.id not in hosts and hosts for hosts in cloud.stats()["bindings"]["l3"].values()), 30,
         "routers moved off the stopped agent")
    moves = [r for r in daemon.audit.recent() if r.action == "move_router"]
    assert moves
    assert all(m.from_agent == victim.id for m in moves)
    assert "bus" in moves[0].reason or "heartbeat" in moves[0].reason


def test_bus_says_alive_api_says_dead_holds(stack: tuple[Daemon, Cloud, EmulatorServer, Agents]) -> None:
    daemon, cloud, _server, _agents = stack
    poll(lambda: daemon.bus.counts["heartbeat"] > 20 and daemon.reconciler.last_report is not None
         and daemon.reconciler.last_report.plan is not None and not daemon.reconciler.last_report.plan.warming_up,
         30, "warmed up")
    victim = next(a for a in cloud.agents.values() if a.agent_type == L3_AGENT)
    before = cloud.stats()["bindings"]["l3"]
    cloud.set_agent_down(victim.id)  # the API calls it dead, but its heartbeats keep crossing the bus
    poll(lambda: any("signals disagree" in n for n in (daemon.reconciler.last_report.plan.notes  # type: ignore[union-attr]
                                                      if daemon.reconciler.last_report else ())), 30,
         "disagreement reported")
    passes = daemon.passes
    poll(lambda: daemon.passes >= passes + 5, 30, "several more passes")
    assert cloud.stats()["bindings"]["l3"] == before
    assert not [r for r in daemon.audit.recent() if r.from_agent == victim.id]


def test_a_new_network_is_hosted_on_the_notification(rabbit: Rabbit) -> None:
    cloud = Cloud.build(l3_agents=1, routers=0, dhcp_agents=3, networks=1, agent_down_time=75, seed=22)
    with serve(cloud) as server:
        settings = replace(default_settings(), neutron_endpoint=server.url, rpchost=rabbit.url,
                           check_interval_s=60.0, status_listen=("", 0))
        pub = Publisher(rabbit.url)
        with daemon_running(settings, "bus-notify") as daemon:
            poll(lambda: daemon.bus.listening_since is not None and daemon.passes >= 1, 30, "daemon ready")
            poll(lambda: all(len(v) == 3 for v in cloud.stats()["bindings"]["dhcp"].values()), 30, "initial sync")
            # one full read at start: the bus's first connection does not force a second one (B10: 11 s of a
            # real API's CPU at 1,000 networks)
            assert daemon.reconciler.reader.full_reads == 1
            passes = daemon.passes
            net = cloud.add_network(dhcp=True)
            body = notification("network.create.end", {"network": {"id": net, "revision_number": 1}})
            pub.publish(body, "notifications.info")
            pub.publish(body, "notifications.info")  # a duplicate collapses
            stale = notification("network.update.end", {"network": {"id": net, "revision_number": 0}})
            pub.publish(stale, "notifications.info")  # reordered: older than what was seen
            poll(lambda: len(cloud.stats()["bindings"]["dhcp"][net]) == 3, 10, "hosted on all DHCP agents")
            assert daemon.passes <= passes + 3  # event-driven, long before the 60 s resync
            poll(lambda: daemon.bus.counts["stale"] == 1, 10, "the stale notification counted")
            dhcp_ids = {a.id for a in cloud.agents.values() if a.agent_type == DHCP_AGENT}
            assert set(cloud.stats()["bindings"]["dhcp"][net]) == dhcp_ids
        pub.close()


def test_a_lost_notification_is_repaired_by_the_resync_and_a_broker_restart_resyncs(own_rabbit: Rabbit) -> None:
    cloud = Cloud.build(l3_agents=1, routers=0, dhcp_agents=2, networks=1, agent_down_time=75, seed=23)
    with serve(cloud) as server:
        settings = replace(default_settings(), neutron_endpoint=server.url, rpchost=own_rabbit.url,
                           check_interval_s=2.0, resync_interval_s=6.0, status_listen=("", 0))
        with daemon_running(settings, "bus-resync") as daemon:
            poll(lambda: daemon.bus.listening_since is not None and daemon.passes >= 1, 30, "daemon ready")
            full_reads = daemon.reconciler.reader.full_reads
            lost = cloud.add_network(dhcp=True)  # its notification is never published
            poll(lambda: len(cloud.stats()["bindings"]["dhcp"][lost]) == 2, 20, "hosted by the periodic resync")
            assert daemon.reconciler.reader.full_reads > full_reads
            daemon.reconciler.reader.resync_s = 300.0  # from now on only the reconnect can force a full read
            first = daemon.bus.listening_since
            own_rabbit.stop()
            after = cloud.add_network(dhcp=True)  # created while the broker is away: its notification is lost
            reads = daemon.reconciler.reader.full_reads
            own_rabbit.start()
            poll(lambda: daemon.bus.listening_since not in (None, first), 60, "reconnected")
            poll(lambda: len(cloud.stats()["bindings"]["dhcp"][after]) == 2, 20, "resynced after the restart")
            assert daemon.reconciler.reader.full_reads > reads
            adds = [r for r in daemon.audit.recent() if r.action == "add_network"]
            assert len([r for r in adds if r.resource_id == lost]) == 2  # nothing done twice
