"""B1 evacuation: one dead L3 agent hosting 1,000 routers, 49 live L3 agents, 20 ms per API call.

Measured: from the start of the pass that sees the agent dead to every router hosted again on a live agent,
for rpcdaemon's default concurrency and for the serial baseline (concurrency 1: how the original rpcdaemon and
Neutron's own failover work), in the same run. Prints both and the ratio. Target: <= 3 s and >= 10x.
"""

from __future__ import annotations

import argparse
import statistics
import time

from common import control, emulator, machine, reconciler_for, settings_for


def trial(routers: int, live_agents: int, latency_ms: float, concurrency: int) -> tuple[float, int]:
    spec = {"agent_down_time": 2, "latency_ms": latency_ms, "l3": [routers] + [0] * live_agents, "seed": 11}
    with emulator(spec) as url:
        stats = control(url, "GET", "/_emulator/stats")
        victim = next(a["id"] for a in stats["agents"] if a["host"] == "l3-1")
        control(url, "POST", f"/_emulator/agents/{victim}/down")
        while any(a["alive"] for a in control(url, "GET", "/_emulator/stats")["agents"] if a["id"] == victim):
            time.sleep(0.1)
        settings = settings_for(url, max_concurrency=concurrency, agent_down_time_s=2.0,
                                max_evacuations_per_minute=10)
        reconciler = reconciler_for(settings)
        started = time.perf_counter()
        report = reconciler.run_pass()
        elapsed = time.perf_counter() - started
        bindings = control(url, "GET", "/_emulator/stats")["bindings"]["l3"]
        live = {a["id"] for a in control(url, "GET", "/_emulator/stats")["agents"] if a["alive"]}
        hosted = sum(1 for agents in bindings.values() if len(agents) == 1 and agents[0] in live)
        if hosted != routers or report.error:
            raise SystemExit(f"B1: only {hosted} of {routers} routers hosted ({report.error})")
        per_agent = [sum(1 for v in bindings.values() if a in v) for a in live]
        return elapsed, max(per_agent) - min(per_agent)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--routers", type=int, default=1000)
    parser.add_argument("--live-agents", type=int, default=49)
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--trials", type=int, default=3)
    parser.add_argument("--skip-serial", action="store_true")
    opts = parser.parse_args()
    print(f"B1 evacuation: {opts.routers} routers on 1 dead L3 agent, {opts.live_agents} live, "
          f"{opts.latency_ms:.0f} ms per call; {machine()}")
    times = []
    for i in range(opts.trials):
        elapsed, spread = trial(opts.routers, opts.live_agents, opts.latency_ms, opts.concurrency)
        times.append(elapsed)
        print(f"  rpcdaemon (concurrency {opts.concurrency}) trial {i + 1}: {elapsed:.2f} s, "
              f"load spread max-min {spread}")
    median = statistics.median(times)
    if opts.skip_serial:
        print(f"  rpcdaemon median {median:.2f} s (serial baseline skipped)")
        return
    serial, _ = trial(opts.routers, opts.live_agents, opts.latency_ms, 1)
    print(f"  serial baseline (concurrency 1): {serial:.2f} s")
    print(f"B1 result: rpcdaemon median {median:.2f} s (target <= 3 s), serial {serial:.2f} s, "
          f"ratio {serial / median:.1f}x (target >= 10x)")


if __name__ == "__main__":
    main()
