"""B2 steady state of a large region: 50 DHCP + 50 L3 agents, 10,000 networks on 3 DHCP agents each, 5,000
routers, all healthy. Measured per pass: API calls (target <= 2 x agents + 5), rpcdaemon's CPU seconds (target
<= 1 s; the emulator runs in another process), and rpcdaemon's peak RSS (target <= 200 MB). The baseline printed
beside the call count is what a per-resource read (one call per network and per router, as the original
rpcdaemon's loops did) would cost for the same region.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import time
from dataclasses import replace

from common import control, emulator, machine, reconciler_for, settings_for


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


if __name__ == "__main__":
    main()
