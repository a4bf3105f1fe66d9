"""B9 verification (emulator part): what proof that a move serves costs the API per pass, and how long it takes.

Why: every add rpcdaemon makes is checked until a port of the resource is ACTIVE on the new host (core/verify.py),
and the check must stay cheap however many moves await proof: one GET /v2.0/ports?binding:host_id=...&device_owner=...
per pass for all of them. This measures it where it could grow: 1,000 routers under verification at once.

Cloud (emulator in this process): 4 L3 agents net-1..net-4, 1,000 legacy routers on net-1, each with an interface
(a port), 20 ms per API call, agent_down_time 4 s. net-1 dies; the real Daemon loop (daemon/loop.py, defaults:
check_interval 5 s, min_pass_interval 1 s, max_concurrency 16; heartbeats and notifications on the in-memory bus,
as RabbitMQ would deliver them) evacuates its 1,000 routers to net-2..net-4 in one pass, and every add awaits proof.
Three runs, each on a fresh cloud:
  a) the targets are inert (they take the routers and never activate a port: set_inert), verify_timeout 600 s, so
     all 1,000 stay under verification: the calls and rows of each pass after the evacuation;
  b) the baseline: the same with verify_timeout = 0 (no verification);
  c) the targets activate ports `--activation-delay` (default 2 s) after their binding, verify_timeout at its
     default (60 s): the time from each add to 'verified' (the daemon's own figure: report.plan.verified).
  d) few moves onto hosts that hold much: `--few` (default 10) routers on net-1, and each of net-2..net-4 also runs
     a DHCP agent hosting `--dhcp-networks` (default 3,000) networks (a DHCP port each); inert targets,
     verify_timeout 600 s: the rows GET /v2.0/ports brings per pass, with the host read whole (core/verify.py's
     HOST_READ_SHARE = 0, the way before 2026-11-30: the baseline) and with the default (what awaits proof read by
     its own ports when it is less than half of what its host holds).
Calls per pass are what the emulator answered between two pass ends (the Observer's on_pass), exact.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import time
from collections import Counter
from dataclasses import dataclass, field, replace

import rpcdaemon.core.verify as verify
from common import daemon_thread, machine
from rpcdaemon.config.settings import default_settings
from rpcdaemon.daemon.loop import Daemon
from rpcdaemon.daemon.observer import Observer
from rpcdaemon.daemon.report import PassReport
from rpcdaemon.emulator.cloud import DHCP, L3, Cloud
from rpcdaemon.emulator.server import serve

AGENT_DOWN_TIME_S = 4.0
PORTS = "GET /v2.0/ports"


@dataclass
class PassCalls:
    at: float
    calls: Counter[str]
    rows: Counter[str]
    awaiting: int
    changes: int
    duration_s: float


@dataclass
class Recorder(Observer):
    cloud: Cloud
    daemon: Daemon | None = None
    passes: list[PassCalls] = field(default_factory=list)
    verified: list[float] = field(default_factory=list)
    """The daemon's own figure per landing: from the end of the pass that added it to the plan that proved it."""
    verified_at: dict[str, float] = field(default_factory=dict)
    """router -> when the emulator answered the GET /v2.0/ports of the pass that proved it (monotonic)"""
    posted_at: dict[str, float] = field(default_factory=dict)
    """router -> when the emulator took its add (POST l3-routers, monotonic)"""
    unverified: int = 0

    def on_pass(self, report: PassReport) -> None:
        calls, rows = Counter[str](), Counter[str]()
        ports_at = None
        for call in self.cloud.drain_calls():
            if call.method == "GET" and call.pattern == "/v2.0/ports":
                ports_at = call.at
            calls[f"{call.method} {call.pattern}"] += 1
            if call.rows is not None:
                rows[f"{call.method} {call.pattern}"] += call.rows
            if call.method == "POST" and "l3-routers" in call.pattern and call.resource and call.status in (200, 201):
                self.posted_at[call.resource] = call.at
        if report.plan is not None:
            self.verified += [seconds for _, seconds in report.plan.verified]
            for landing, _ in report.plan.verified:
                if ports_at is not None:
                    self.verified_at[landing.resource_id] = ports_at
            self.unverified += len(report.plan.unverified)
        awaiting = len(self.daemon.reconciler.state.landings) if self.daemon is not None else 0
        self.passes.append(PassCalls(time.monotonic(), calls, rows, awaiting, len(report.results),
                                     report.duration_s))


def build(routers: int, agents: int, dhcp_networks: int = 0) -> tuple[Cloud, str, list[str]]:
    cloud = Cloud(agent_down_time=AGENT_DOWN_TIME_S, seed=9, activation_delay_s=0.0)
    ids = [cloud.add_agent(L3, f"net-{i + 1}") for i in range(agents)]
    dhcp_ids = [cloud.add_agent(DHCP, f"net-{i + 1}") for i in range(1, agents)] if dhcp_networks else []
    for n in range(dhcp_networks):
        net = cloud.add_network(name=f"dhcp-net{n}")
        for agent in dhcp_ids:
            cloud.bind_network(agent, net)
    for n in range(routers):
        router = cloud.add_router(name=f"router{n}")
        cloud.bind_router(ids[0], router)
        net = cloud.add_network(name=f"net{n}", dhcp=False)
        cloud.add_router_interface(router, cloud.subnets_of(net)[0])
    cloud.latency_s = 0.02
    return cloud, ids[0], ids[1:]


def run(routers: int, agents: int, *, inert: bool, verify_timeout_s: float, activation_delay_s: float,
        after_s: float, until_verified: bool, dhcp_networks: int = 0) -> tuple[Recorder, int]:
    """The daemon evacuates a dead net-1; the passes are recorded for `after_s` after the evacuation pass (or until
    every landing is verified). Returns the recorder and the index of the evacuation pass."""
    cloud, victim, targets = build(routers, agents, dhcp_networks)
    cloud.set_activation_delay(activation_delay_s)
    for agent in targets:
        cloud.set_inert(agent, inert)
    recorder = Recorder(cloud)
    with serve(cloud) as server:
        settings = replace(default_settings(), neutron_endpoint=server.url, audit_log=None,
                           agent_down_time_s=AGENT_DOWN_TIME_S, agent_down_time_origin="b9",
                           verify_timeout_s=verify_timeout_s)
        with daemon_thread(cloud, settings, observer=recorder) as daemon:
            recorder.daemon = daemon
            end = time.monotonic() + 60
            while len(recorder.passes) < 2 and time.monotonic() < end:
                time.sleep(0.1)
            cloud.set_agent_down(victim)
            end = time.monotonic() + 120
            while not any(p.changes for p in recorder.passes) and time.monotonic() < end:
                time.sleep(0.1)
            evacuation = next((i for i, p in enumerate(recorder.passes) if p.changes), None)
            if evacuation is None:
                raise SystemExit("B9: the daemon did not evacuate net-1 within 120 s")
            end = time.monotonic() + after_s
            while time.monotonic() < end:
                if until_verified and len(recorder.verified) >= routers:
                    break
                time.sleep(0.1)
            left = len(cloud.l3.get(victim, ()))
            if left:
                raise SystemExit(f"B9: {left} routers left on net-1")
    return recorder, evacuation


def per_pass(name: str, recorder: Recorder, evacuation: int) -> list[PassCalls]:
    passes = recorder.passes[evacuation + 1:]
    t0 = recorder.passes[evacuation].at
    evac = recorder.passes[evacuation]
    print(f"  {name}: evacuation pass {sum(evac.calls.values())} calls in {evac.duration_s:.2f} s; then "
          "(t from its end):")
    for i, p in enumerate(passes):
        print(f"    pass +{i + 1} (t+{p.at - t0:5.1f} s): {sum(p.calls.values())} calls, {PORTS} {p.calls[PORTS]} "
              f"({p.rows[PORTS]} rows), awaiting proof {p.awaiting}, changes {p.changes}; "
              f"{dict(sorted(p.calls.items()))}")
    return passes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--routers", type=int, default=1000)
    parser.add_argument("--agents", type=int, default=4)
    parser.add_argument("--activation-delay", type=float, default=2.0)
    parser.add_argument("--window", type=float, default=22.0,
                        help="seconds of passes recorded after the evacuation pass in runs a and b")
    parser.add_argument("--few", type=int, default=10, help="routers moved in run d")
    parser.add_argument("--dhcp-networks", type=int, default=3000, help="networks each target's host holds in run d")
    parser.add_argument("--quick", action="store_true", help="100 routers, a 12 s window, 300 networks in d")
    opts = parser.parse_args()
    if opts.quick:
        opts.routers, opts.window, opts.dhcp_networks = 100, 12.0, 300
    logging.basicConfig(level=logging.WARNING)
    print(f"B9 verification: {opts.routers} legacy routers evacuated from a dead L3 agent to {opts.agents - 1} "
          f"others, 20 ms per call, daemon defaults with the in-memory bus; {machine()}", flush=True)
    rec_a, ev_a = run(opts.routers, opts.agents, inert=True, verify_timeout_s=600, activation_delay_s=0,
                      after_s=opts.window, until_verified=False)
    a = per_pass("a) inert targets, verify_timeout 600 s", rec_a, ev_a)
    rec_b, ev_b = run(opts.routers, opts.agents, inert=True, verify_timeout_s=0, activation_delay_s=0,
                      after_s=opts.window, until_verified=False)
    b = per_pass("b) baseline, verify_timeout 0", rec_b, ev_b)
    under = [p for p in a if p.awaiting >= opts.routers]
    if under and b:
        extra_calls = [sum(p.calls.values()) for p in under]
        base_calls = [sum(p.calls.values()) for p in b]
        print(f"  result: with {opts.routers} routers awaiting proof, {PORTS} per pass: "
              f"{sorted(set(p.calls[PORTS] for p in under))} (target <= 2), rows per pass "
              f"{sorted(set(p.rows[PORTS] for p in under))}; calls per pass (median) "
              f"{statistics.median(extra_calls):.0f} against {statistics.median(base_calls):.0f} without verification")
    rec_c, ev_c = run(opts.routers, opts.agents, inert=False, verify_timeout_s=60,
                      activation_delay_s=opts.activation_delay, after_s=90, until_verified=True)
    per_pass(f"c) activation delay {opts.activation_delay:.1f} s, verify_timeout 60 s", rec_c, ev_c)
    times = [rec_c.verified_at[r] - rec_c.posted_at[r] for r in rec_c.verified_at if r in rec_c.posted_at]
    if rec_c.posted_at:
        print(f"  the adds were taken over {max(rec_c.posted_at.values()) - min(rec_c.posted_at.values()):.2f} s")
    if times:
        print(f"  add (the POST as the emulator took it) -> verified (the answer of the ports read that proved it), "
              f"{len(times)} of {opts.routers}, {rec_c.unverified} unverified: "
              f"median {statistics.median(times):.2f} s, "
              f"max {max(times):.2f} s, min {min(times):.2f} s; the daemon's own figure (rpcdaemon_verify_seconds, "
              f"from the end of the adding pass): median {statistics.median(rec_c.verified):.2f} s, "
              f"max {max(rec_c.verified):.2f} s")
    else:
        print(f"  add -> verified: none verified ({rec_c.unverified} unverified)")
    rows: dict[str, list[int]] = {}
    for name, share in (("whole hosts (HOST_READ_SHARE 0, the baseline)", 0.0),
                        (f"by what awaits proof (HOST_READ_SHARE {verify.HOST_READ_SHARE})", verify.HOST_READ_SHARE)):
        default, verify.HOST_READ_SHARE = verify.HOST_READ_SHARE, share
        try:
            rec_d, ev_d = run(opts.few, opts.agents, inert=True, verify_timeout_s=600, activation_delay_s=0,
                              after_s=opts.window / 2, until_verified=False, dhcp_networks=opts.dhcp_networks)
        finally:
            verify.HOST_READ_SHARE = default
        under = [p for p in per_pass(f"d) {opts.few} routers onto hosts with {opts.dhcp_networks} DHCP networks "
                                     f"each, ports read {name}", rec_d, ev_d) if p.awaiting >= opts.few]
        rows[name] = [p.rows[PORTS] for p in under]
        print(f"  result d, {name}: {PORTS} per pass {sorted(set(p.calls[PORTS] for p in under))}, rows per pass "
              f"{sorted(set(rows[name]))}")


if __name__ == "__main__":
    main()
