"""B2 steady state of a large region: 50 DHCP + 50 L3 agents, 10,000 networks on 3 DHCP agents each, 5,000
routers, all healthy. Measured per full pass: API calls (target <= 2 x agents + 5), rpcdaemon's CPU seconds
(target <= 1 s; the emulator runs in another process), and rpcdaemon's peak RSS (target <= 200 MB). The baseline
printed beside the call count is what a per-resource read (one call per network and per router, as the original
rpcdaemon's loops did) would cost for the same region.

The emulator answers in microseconds, so what those calls cost a real Neutron is estimated from the rows each
list returns and the per-row CPU measured on a real Neutron 29 by B10 (bench/README.md): the cost of one full read,
and the cost per minute of the steady state at the defaults (check_interval 5 s: one GET /agents a pass, and a
full read every resync period, which by default grows with the full read's cost), against reading everything at
every pass (the loop before issue 16) as the baseline.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import time
from dataclasses import replace

from common import control, emulator, machine, reconciler_for, settings_for
from rpcdaemon.core.cache import resync_period

# API CPU seconds per row and per call on a real Neutron 29 (B10, 2026-11-29; round values)
PER_ROW = {"networks": 2.5e-3, "subnets": 2.0e-3, "routers": 1.2e-3, "dhcp_bindings": 2.0e-3, "l3_bindings": 1.5e-3}
PER_CALL = 0.04
AGENTS_CALL = 0.022


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--agents", type=int, default=50, help="per type")
    parser.add_argument("--networks", type=int, default=10_000)
    parser.add_argument("--routers", type=int, default=5_000)
    parser.add_argument("--passes", type=int, default=3)
    opts = parser.parse_args()
    per_agent = opts.routers // opts.agents
    spec = {"agent_down_time": 75, "l3": [per_agent] * opts.agents, "dhcp_agents": opts.agents,
            "networks": opts.networks, "dhcp_per_network": 3, "seed": 2}
    print(f"B2 steady state: {opts.agents} DHCP + {opts.agents} L3 agents, {opts.networks} networks x 3 DHCP "
          f"agents, {per_agent * opts.agents} routers; {machine()}")
    with emulator(spec) as url:
        settings = settings_for(url, max_concurrency=16)
        settings = replace(settings, dhcp=replace(settings.dhcp, agents_per_network=3))
        reconciler = reconciler_for(settings)
        first = reconciler.run_pass()
        assert first.error is None and first.plan is not None and not first.plan.changes, first.plan
        calls, cpu, wall = [], [], []
        for _ in range(opts.passes):
            control(url, "POST", "/_emulator/reset-stats")
            cpu0, wall0 = time.process_time(), time.perf_counter()
            report = reconciler.run_pass()
            cpu.append(time.process_time() - cpu0)
            wall.append(time.perf_counter() - wall0)
            assert report.plan is not None and not report.plan.changes
            counted = control(url, "GET", "/_emulator/stats")["calls"]
            calls.append(sum(counted.values()))
        agents = 2 * opts.agents
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"  API calls per pass: {max(calls)} (target <= {2 * agents + 5}); "
              f"per-resource baseline would be {1 + opts.networks + per_agent * opts.agents + 3}")
        print(f"  CPU per pass: median {statistics.median(cpu):.2f} s, max {max(cpu):.2f} s (target <= 1 s); "
              f"wall median {statistics.median(wall):.2f} s")
        print(f"  peak RSS: {peak_mb:.0f} MB (target <= 200 MB)")
        snap = first.snapshot
        assert snap is not None
        rows = {"networks": len(snap.networks), "subnets": sum(1 for n in snap.networks.values() if n.dhcp),
                "routers": len(snap.routers),
                "dhcp_bindings": sum(len(v) for v in (snap.dhcp_bindings or {}).values()),
                "l3_bindings": sum(len(v) for v in (snap.l3_bindings or {}).values())}
        full_read_s = sum(PER_ROW[k] * n for k, n in rows.items()) + PER_CALL * max(calls)
        # the new loop: cached passes between full reads (a bus, so notifications name what changed)
        cached = reconciler_for(settings)
        cached.reader.resync_s, cached.reader.with_bus = None, True
        cached.run_pass()  # its first pass reads everything
        control(url, "POST", "/_emulator/reset-stats")
        for _ in range(opts.passes):
            report = cached.run_pass()
            assert report.plan is not None and not report.plan.changes
        counted = control(url, "GET", "/_emulator/stats")["calls"]
        per_pass = sum(counted.values()) / opts.passes
        wall_read = statistics.median(wall)
        for label, bus in (("with a bus", True), ("without a bus", False)):
            # the period rpcdaemon picks from a full read's duration; on a real Neutron that read takes about as
            # long as its API CPU (B10: 11.9 s wall for 10.7 s CPU), so the estimate stands for the duration
            period = resync_period(None, bus, full_read_s)
            steady = 12 * AGENTS_CALL + full_read_s * 60 / period
            print(f"  Neutron API CPU, estimated ({label}): one full read {full_read_s:.0f} s; steady state "
                  f"{steady:.2f} s/min = {steady / 60 * 100:.1f}% of a core (full read every {period:.0f} s, "
                  f"GET /agents every 5 s); baseline (every pass a full read, back to back) "
                  f"{min(60.0, full_read_s * 12):.0f} s/min = one core or more")
        print(f"  cached passes: {per_pass:.1f} API calls each ({counted}); rows per full read {rows}; "
              f"rpcdaemon's own wall per full read {wall_read:.2f} s")


if __name__ == "__main__":
    main()
