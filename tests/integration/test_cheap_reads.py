"""A steady state that costs O(changes), not O(cloud) (issue 16), shown with the emulator's call log.

Between full reads (every `resync_interval`) a pass reads the agents list; a notification reads the one resource
it names; an evacuation re-reads only the bindings of the agent it takes from; a notification that was lost is
repaired by the next full read.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace

import pytest

from polling import poll
from rpcdaemon.config.settings import default_settings
from rpcdaemon.daemon import reconciler
from rpcdaemon.daemon.loop import Daemon
from rpcdaemon.emulator.bus import HeartbeatPump, notification_body
from rpcdaemon.emulator.cloud import Cloud
from rpcdaemon.emulator.server import serve
from rpcdaemon.model import DHCP_AGENT, L3_AGENT

LISTS = ("GET /v2.0/networks", "GET /v2.0/routers", "GET /v2.0/agents/{id}/dhcp-networks",
         "GET /v2.0/agents/{id}/l3-routers")


@dataclass
class Stack:
    cloud: Cloud
    daemon: Daemon

    def calls(self) -> Counter[str]:
        return Counter(f"{c['method']} {c['pattern']}" for c in self.cloud.call_log())

    def passes_after(self, count: int) -> None:
        target = self.daemon.passes + count
        poll(lambda: self.daemon.passes >= target, 30, f"{count} more passes")

    def plan_alarms(self) -> tuple[str, ...]:
        report = self.daemon.reconciler.last_report
        return report.plan.alarms if report is not None and report.plan is not None else ()

    def hosts_of(self, kind: str, resource_id: str) -> set[str]:
        return set(self.cloud.stats()["bindings"][kind].get(resource_id, []))


@contextmanager
def stack(resync_s: float = 300.0) -> Iterator[Stack]:
    cloud = Cloud.build(dhcp_agents=3, l3_agents=3, networks=12, routers=12, agent_down_time=3, seed=16)
    cloud.report_interval = 0.5
    with serve(cloud) as server:
        settings = replace(default_settings(), neutron_endpoint=server.url, status_listen=("", 0),
                           check_interval_s=0.5, agent_down_time_s=3.0, hold_down_s=1.0, min_pass_interval_s=0.2,
                           resync_interval_s=resync_s)
        daemon = Daemon(settings, member="cheap")
        publish = daemon.in_memory_bus()
        pump = HeartbeatPump(cloud, publish).start()
        cloud.notify = lambda event, payload: publish("notifications.info", notification_body(event, payload))
        thread = threading.Thread(target=daemon.run, daemon=True)
        thread.start()
        try:
            s = Stack(cloud, daemon)
            # converged and warm: every network on every DHCP agent, the bus trusted
            poll(lambda: all(len(h) == 3 for h in cloud.stats()["bindings"]["dhcp"].values()), 30, "converged")
            s.passes_after(8)
            yield s
        finally:
            daemon.stop()
            thread.join(30)
            pump.stop()


def test_between_full_reads_a_pass_reads_the_agents_list_only() -> None:
    with stack() as s:
        s.cloud.reset_stats()
        s.passes_after(6)
        calls = s.calls()
        assert calls["GET /v2.0/agents"] >= 6
        assert set(calls) == {"GET /v2.0/agents"}, calls


def test_a_notification_reads_only_the_resource_it_names() -> None:
    with stack() as s:
        s.cloud.reset_stats()
        net = s.cloud.create_network("fresh")["id"]
        s.cloud.create_subnet(net)
        poll(lambda: len(s.hosts_of("dhcp", net)) == 3, 15, "the new network on all three DHCP agents")
        calls = s.calls()
        assert not any(calls[name] for name in LISTS), calls
        assert calls["GET /v2.0/networks/{id}"] >= 1
        assert calls["GET /v2.0/networks/{id}/dhcp-agents"] >= 1
        assert calls["POST /v2.0/agents/{id}/dhcp-networks"] == 2  # Neutron scheduled it on one itself


def test_an_evacuation_reads_only_the_bindings_of_the_agent_it_takes_from() -> None:
    with stack() as s:
        victim = next(a for a in s.cloud.stats()["agents"] if a["agent_type"] == L3_AGENT)["id"]
        others = {a["id"] for a in s.cloud.stats()["agents"] if a["agent_type"] in (L3_AGENT, DHCP_AGENT)} - {victim}
        s.cloud.reset_stats()
        s.cloud.set_agent_down(victim)
        poll(lambda: all(victim not in h and h for h in s.cloud.stats()["bindings"]["l3"].values()), 30,
             "the dead agent's routers on live agents")
        log = s.cloud.call_log()
        read_bindings = {c["ids"][0] for c in log if f"{c['method']} {c['pattern']}" in LISTS[2:]}
        assert victim in read_bindings, read_bindings
        assert not read_bindings & others, read_bindings
        assert not any(c["pattern"] in ("/v2.0/networks", "/v2.0/routers") and c["method"] == "GET" for c in log)


def test_a_lost_notification_is_repaired_by_the_next_full_read() -> None:
    with stack(resync_s=4.0) as s:
        notify, s.cloud.notify = s.cloud.notify, None  # the bus loses what follows
        net = s.cloud.create_network("unheard")["id"]
        s.cloud.create_subnet(net)
        s.cloud.notify = notify
        full_reads = s.daemon.reconciler.reader.full_reads
        poll(lambda: len(s.hosts_of("dhcp", net)) == 3, 30, "the unheard network on all three DHCP agents")
        assert s.daemon.reconciler.reader.full_reads > full_reads


def test_a_lying_full_read_is_not_kept_until_the_next_resync(monkeypatch: pytest.MonkeyPatch) -> None:
    """One router list that answered empty (a well-formed lie) holds every L3 change: that is right for the pass
    that read it, but the lie must not stay in the cache for a whole resync period (here 100 s): a dead L3 agent
    must be evacuated after the next full read, which comes soon (a tenth of the period here, 10 s)."""
    monkeypatch.setattr(reconciler, "FORCED_FULL_SPACING_S", 1.0)
    with stack(resync_s=100.0) as s:
        s.cloud.add_fault("GET", "/v2.0/routers", lie="empty")
        s.daemon.reconciler.reader.force_full("test: the next full read lies")
        poll(lambda: any(a.startswith("UNTRUSTED") for a in s.plan_alarms()), 30, "the lie seen and held")
        victim = next(a for a in s.cloud.stats()["agents"] if a["agent_type"] == L3_AGENT)["id"]
        s.cloud.set_agent_down(victim)
        poll(lambda: all(victim not in h and h for h in s.cloud.stats()["bindings"]["l3"].values()), 60,
             "the dead agent's routers on live agents, long before the 100 s resync")
