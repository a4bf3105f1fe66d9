"""B8 drain: an L3 agent hosting 200 HA and 200 legacy routers emptied by rpcdaemon, against a serial drain.

Why: a drain is planned downtime an operator sits through; what matters is how long the node takes to empty, how
long each legacy router is down, and whether any HA router is left without an active replica. The baseline is the
serial drain neutron-ha-tool does (one router after the other: remove, then add on the least loaded other agent,
each call awaited), on an identical fresh cloud in the same run.

Cloud (emulator, in this process: the samplers read its state directly): 4 L3 agents net-1..net-4; net-1 hosts 200
legacy routers and one replica of each of 200 HA routers (3 replicas each, the others on two of net-2..net-4, round
robin; the replica on net-1 is the active one: the hard case); every router has an interface (a port) so that its
activation can be seen; 20 ms per API call; ports go ACTIVE `--activation-delay` (default 2 s) after their binding.
rpcdaemon: the real Daemon loop (daemon/loop.py) in a thread, its defaults (check_interval 5 s, min_pass_interval
1 s, max_concurrency 16, ha_replicas 3), the emulated agents' heartbeats and Neutron's notifications delivered on the
in-memory bus as RabbitMQ would (so its own changes wake passes, as in production with rpchost set); `--no-bus`: the
poll-only daemon (a pass every check_interval). The drain starts by writing model.DRAIN_MARK into net-1's
description (what `rpcdaemon drain net-1` does).

Measured: time to empty (mark -> net-1 hosts nothing -> net-1 admin down); per legacy router its outage, from its
DELETE (as the emulator took it) to its interface port ACTIVE on the new host (exact, from the port's activation
time), max and median, and the DELETE -> POST gap; HA routers: every 100 ms the ha_state of every HA router is
sampled, and the routers that ever had no "active" replica are counted, with the longest such window. The
emulator's keepalived elects a successor at once when the active replica goes (ports.py; a real one takes
1.6-4.1 s, README "Day-2 operations"): a window here means no other replica was ready.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import threading
import time
from dataclasses import dataclass, field, replace
from typing import Any

import requests

from common import daemon_thread, machine
from rpcdaemon.config.settings import default_settings
from rpcdaemon.emulator.cloud import L3, Cloud
from rpcdaemon.emulator.server import serve
from rpcdaemon.model import DRAIN_MARK

AGENT_DOWN_TIME_S = 75.0


@dataclass
class Topology:
    cloud: Cloud
    drained: str
    others: list[str]
    legacy: list[str]
    ha: list[str]
    subnet_of: dict[str, str] = field(default_factory=dict)


def build(ha_routers: int, legacy_routers: int, agents: int, activation_delay_s: float, seed: int) -> Topology:
    cloud = Cloud(agent_down_time=AGENT_DOWN_TIME_S, seed=seed, activation_delay_s=0.0)
    ids = [cloud.add_agent(L3, f"net-{i + 1}") for i in range(agents)]
    drained, others = ids[0], ids[1:]
    topo = Topology(cloud, drained, others, [], [])
    for n in range(ha_routers):
        router = cloud.add_router(name=f"ha{n}", ha=True)
        cloud.bind_router(drained, router)  # first bound, first activated: the active replica is on net-1
        for k in range(2):
            cloud.bind_router(others[(n + k) % len(others)], router)
        topo.ha.append(router)
    for n in range(legacy_routers):
        router = cloud.add_router(name=f"legacy{n}")
        cloud.bind_router(drained, router)
        topo.legacy.append(router)
    for n, router in enumerate(topo.ha + topo.legacy):
        net = cloud.add_network(name=f"net{n}", dhcp=False)
        subnet = cloud.subnets_of(net)[0]
        cloud.add_router_interface(router, subnet)
        topo.subnet_of[router] = subnet
    cloud.set_activation_delay(activation_delay_s)
    cloud.latency_s = 0.02
    return topo


class Sampler:
    """Every `period_s`: which HA routers have no active replica (windows), and when net-1 is empty / admin down."""

    def __init__(self, topo: Topology, period_s: float = 0.1) -> None:
        self.topo, self.period_s = topo, period_s
        self.no_active_since: dict[str, float] = {}
        self.windows: dict[str, float] = {}
        """router -> the longest window seen without an active replica"""
        self.empty_at: float | None = None
        self.ha_off_at: float | None = None
        """when no HA router had a replica on net-1 any more"""
        self.down_at: float | None = None
        self.samples = 0
        self.ha_set = set(topo.ha)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sampler", daemon=True)

    def start(self) -> Sampler:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        now = time.monotonic()
        for router, since in self.no_active_since.items():
            self.windows[router] = max(self.windows.get(router, 0.0), now - since)

    def _run(self) -> None:
        cloud = self.topo.cloud
        while not self._stop.is_set():
            with cloud.lock:
                now = time.monotonic()
                for router in self.topo.ha:
                    active = "active" in cloud.ha_states(router).values()
                    if active and router in self.no_active_since:
                        since = self.no_active_since.pop(router)
                        self.windows[router] = max(self.windows.get(router, 0.0), now - since)
                    elif not active and router not in self.no_active_since:
                        self.no_active_since[router] = now
                hosted = cloud.l3.get(self.topo.drained, set())
                if self.ha_off_at is None and not hosted & self.ha_set:
                    self.ha_off_at = now
                if self.empty_at is None and not hosted:
                    self.empty_at = now
                if self.down_at is None and not cloud.agents[self.topo.drained].admin_state_up:
                    self.down_at = now
                self.samples += 1
            self._stop.wait(self.period_s)


@dataclass
class Result:
    empty_s: float
    down_s: float
    ha_off_s: float
    outages: list[float]
    gaps: list[float]
    no_active: int
    longest_no_active: float
    samples: int
    calls: dict[str, int]
    passes: int = 0


def outages(topo: Topology, calls: list[Any], wall_minus_mono: float) -> tuple[list[float], list[float]]:
    """Per legacy router: DELETE (as taken) -> its interface port ACTIVE on the new host; DELETE -> POST."""
    deletes: dict[str, float] = {}
    posts: dict[str, float] = {}
    for call in calls:
        if "l3-routers" in call.pattern and call.status in (200, 201, 204) and call.resource:
            if call.method == "DELETE":
                deletes.setdefault(call.resource, call.at)
            elif call.method == "POST":
                posts[call.resource] = call.at
    cloud = topo.cloud
    result, gaps = [], []
    with cloud.lock:
        for router in topo.legacy:
            port = cloud.ports[cloud._port_ids[("iface", router, topo.subnet_of[router])]]
            if router not in deletes or port.active_at is None:
                raise SystemExit(f"B8: legacy router {router} not moved or not active ({port})")
            result.append(port.active_at - wall_minus_mono - deletes[router])
            gaps.append(posts[router] - deletes[router])
    return result, gaps


def settle_ports(topo: Topology, deadline_s: float) -> None:
    """Wait for the last moved legacy routers' ports to go ACTIVE (activation delay after their binding)."""
    cloud, end = topo.cloud, time.monotonic() + deadline_s
    while time.monotonic() < end:
        with cloud.lock:
            cloud._settle()
            if all(cloud.ports[cloud._port_ids[("iface", r, topo.subnet_of[r])]].active_at is not None
                   for r in topo.legacy):
                return
        time.sleep(0.1)


def run_rpcdaemon(opts: argparse.Namespace) -> Result:
    topo = build(opts.ha, opts.legacy, opts.agents, opts.activation_delay, seed=8)
    cloud = topo.cloud
    with serve(cloud) as server:
        settings = replace(default_settings(), neutron_endpoint=server.url, audit_log=None,
                           agent_down_time_s=AGENT_DOWN_TIME_S, agent_down_time_origin="b8")
        with daemon_thread(cloud, settings, bus=not opts.no_bus) as daemon:
            end = time.monotonic() + 60
            while daemon.passes < 2 and time.monotonic() < end:
                time.sleep(0.1)
            report = daemon.reconciler.last_report
            if report is None or report.error or report.plan is None or report.plan.changes:
                raise SystemExit(f"B8: the daemon is not settled before the drain: {report}")
            cloud.reset_stats()
            passes_before = daemon.passes
            wall_minus_mono = time.time() - time.monotonic()
            sampler = Sampler(topo).start()
            marked = time.monotonic()
            cloud.update_agent(topo.drained, description=f"{DRAIN_MARK} since b8")
            end = marked + opts.deadline
            while sampler.down_at is None and time.monotonic() < end:
                time.sleep(0.2)
            passes = daemon.passes - passes_before
            settle_ports(topo, opts.activation_delay + 5)
            sampler.stop()
    return finish(topo, sampler, marked, wall_minus_mono, passes)


def finish(topo: Topology, sampler: Sampler, started: float, wall_minus_mono: float, passes: int) -> Result:
    if sampler.empty_at is None or sampler.down_at is None:
        left = len(topo.cloud.l3.get(topo.drained, ()))
        raise SystemExit(f"B8: not drained within the deadline: {left} routers left on net-1")
    calls = topo.cloud.drain_calls()
    outage, gaps = outages(topo, calls, wall_minus_mono)
    windows = [w for w in sampler.windows.values() if w > 0]
    assert sampler.ha_off_at is not None
    return Result(sampler.empty_at - started, sampler.down_at - started, sampler.ha_off_at - started, outage, gaps,
                  len(windows), max(windows, default=0.0), sampler.samples, topo.cloud.stats()["calls"], passes)


def run_serial(opts: argparse.Namespace) -> Result:
    """neutron-ha-tool's way: list the agent's routers, then for each: DELETE, then POST to the least loaded other
    agent (not already hosting it), every call awaited; then the agent admin down."""
    topo = build(opts.ha, opts.legacy, opts.agents, opts.activation_delay, seed=8)
    cloud = topo.cloud
    with serve(cloud) as server, requests.Session() as http:
        def routers_of(agent: str) -> list[str]:
            answer = http.get(f"{server.url}/v2.0/agents/{agent}/l3-routers", timeout=30)
            answer.raise_for_status()
            return [r["id"] for r in answer.json()["routers"]]

        cloud.reset_stats()
        wall_minus_mono = time.time() - time.monotonic()
        sampler = Sampler(topo).start()
        started = time.monotonic()
        hosted = {a: set(routers_of(a)) for a in topo.others}
        for router in routers_of(topo.drained):
            answer = http.delete(f"{server.url}/v2.0/agents/{topo.drained}/l3-routers/{router}", timeout=30)
            answer.raise_for_status()
            target = min((a for a in topo.others if router not in hosted[a]), key=lambda a: (len(hosted[a]), a))
            answer = http.post(f"{server.url}/v2.0/agents/{target}/l3-routers", json={"router_id": router},
                               timeout=30)
            answer.raise_for_status()
            hosted[target].add(router)
        answer = http.put(f"{server.url}/v2.0/agents/{topo.drained}", json={"agent": {"admin_state_up": False}},
                          timeout=30)
        answer.raise_for_status()
        end = time.monotonic() + 5
        while sampler.down_at is None and time.monotonic() < end:
            time.sleep(0.05)
        settle_ports(topo, opts.activation_delay + 5)
        sampler.stop()
    return finish(topo, sampler, started, wall_minus_mono, 0)


def show(name: str, result: Result) -> None:
    writes = {k: v for k, v in sorted(result.calls.items()) if not k.startswith("GET")}
    print(f"  {name}: HA replicas all off net-1 {result.ha_off_s:.2f} s, empty {result.empty_s:.2f} s, "
          f"admin down {result.down_s:.2f} s after the start"
          + (f" ({result.passes} passes)" if result.passes else ""))
    print(f"    legacy outage (DELETE -> port ACTIVE on the new host), {len(result.outages)} routers: median "
          f"{statistics.median(result.outages):.2f} s, max {max(result.outages):.2f} s, "
          f"min {min(result.outages):.2f} s; DELETE -> POST median {statistics.median(result.gaps) * 1000:.0f} ms, max "
          f"{max(result.gaps) * 1000:.0f} ms")
    print(f"    HA routers ever without an active replica: {result.no_active} "
          f"(longest {result.longest_no_active:.2f} s; {result.samples} samples of all HA routers, every 100 ms)")
    print(f"    writes: {writes}; reads: {sum(v for k, v in result.calls.items() if k.startswith('GET'))}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ha", type=int, default=200)
    parser.add_argument("--legacy", type=int, default=200)
    parser.add_argument("--agents", type=int, default=4, help="L3 agents, net-1 the drained one (>= 4)")
    parser.add_argument("--activation-delay", type=float, default=2.0)
    parser.add_argument("--deadline", type=float, default=900.0, help="give up on the drain after S seconds")
    parser.add_argument("--no-bus", action="store_true", help="poll-only daemon: a pass every check_interval")
    parser.add_argument("--skip-serial", action="store_true")
    parser.add_argument("--quick", action="store_true", help="20 HA + 20 legacy routers")
    opts = parser.parse_args()
    if opts.quick:
        opts.ha, opts.legacy = 20, 20
    if opts.agents < 4:
        parser.error("--agents must be >= 4 (3 replicas elsewhere need 3 other agents)")
    logging.basicConfig(level=logging.WARNING)
    print(f"B8 drain: net-1 with {opts.ha} HA routers (active replica on net-1, 3 replicas) + {opts.legacy} legacy "
          f"routers, {opts.agents} L3 agents, 20 ms per call, activation delay {opts.activation_delay:.1f} s; "
          f"{machine()}", flush=True)
    show(f"rpcdaemon (daemon loop, defaults, {'poll only' if opts.no_bus else 'bus'})", run_rpcdaemon(opts))
    if not opts.skip_serial:
        show("serial baseline (neutron-ha-tool's way)", run_serial(opts))


if __name__ == "__main__":
    main()
