"""Chaos run: rpcdaemon against an emulated cloud under random faults (API errors and lies, bus, agents, zones,
compute nodes, tenants, its clock, its status port), then the faults stop and the invariants are checked; prints the
report, with the violations counted by rule. Exit 1 on any invariant violation.

    .venv/bin/python bench/chaos.py --duration 600 --seed 42
"""

from __future__ import annotations

import argparse
import faulthandler
import logging
import random
import signal
import sys
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the chaos rig (testkit/) is not installed

from testkit.chaos.config import ChaosConfig
from testkit.chaos.run import run_chaos


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--duration", type=float, default=120.0, help="seconds of faults (default 120)")
    parser.add_argument("--seed", type=int, default=None, help="default: random (printed)")
    parser.add_argument("--agents-per-zone", type=int, default=5)
    parser.add_argument("--zones", type=int, default=2)
    parser.add_argument("--networks", type=int, default=40)
    parser.add_argument("--routers", type=int, default=40)
    parser.add_argument("--ha-routers", type=int, default=6)
    parser.add_argument("--small-zone-agents", type=int, default=2,
                        help="agents of each type in one more, small zone (0: none)")
    parser.add_argument("--dvr-per-zone", type=int, default=4, help="compute-node dvr L3 agents per big zone")
    parser.add_argument("--agent-down-time", type=float, default=4.0)
    parser.add_argument("--row-cost-us", type=float, default=0.0,
                        help="the emulator's cost model: microseconds per list row (a real Neutron: 1000-2000)")
    parser.add_argument("--min-pass-interval", type=float, default=None, help="rpcdaemon's (default: its own)")
    parser.add_argument("--swarm-idle", type=int, default=300, help="idle clients of a status-port swarm")
    parser.add_argument("--no-fd-limit", action="store_true",
                        help="leave the file-descriptor limit alone (default: 150 more than in use at the start)")
    parser.add_argument("--no-clock-back", action="store_true", help="jump rpcdaemon's clock forward only")
    parser.add_argument("--tolerate", action="append", default=[], metavar="PREFIX",
                        help="violations starting with PREFIX (e.g. hold-down) are a known defect: reported, not "
                             "failing the run")
    parser.add_argument("--tracemalloc", action="store_true", help="also sample the Python heap (slower)")
    parser.add_argument("--verbose", action="store_true", help="rpcdaemon's own log on stderr")
    opts = parser.parse_args()
    faulthandler.register(signal.SIGUSR1)  # kill -USR1 <pid>: every thread's stack on stderr (a hang)
    logging.basicConfig(level=logging.INFO if opts.verbose else logging.CRITICAL, stream=sys.stderr)
    seed = opts.seed if opts.seed is not None else random.SystemRandom().randrange(1, 2**31)
    config = replace(ChaosConfig(), seed=seed, duration_s=opts.duration, zones=opts.zones,
                     agents_per_zone=opts.agents_per_zone, networks=opts.networks, routers=opts.routers,
                     ha_routers=opts.ha_routers, agent_down_time_s=opts.agent_down_time,
                     small_zone_agents=opts.small_zone_agents, dvr_per_zone=opts.dvr_per_zone,
                     row_cost_s=opts.row_cost_us / 1e6, min_pass_interval_s=opts.min_pass_interval,
                     swarm_idle=opts.swarm_idle, fd_headroom=None if opts.no_fd_limit else 150,
                     clock_jumps_back=not opts.no_clock_back, tracemalloc=opts.tracemalloc,
                     tolerated=tuple(opts.tolerate))
    print(f"seed {seed} (replay: bench/chaos.py --seed {seed} --duration {opts.duration:g})", flush=True)
    report = run_chaos(config, say=lambda line: print(line, flush=True))
    print(report.render())
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
