"""B5 the race against a real Neutron: Neutron's own L3 failover vs rpcdaemon, on the same testbed, same run.

A real Neutron 29 built by tests/neutron/testbed.py (RabbitMQ, MariaDB, neutron-rpc-server, periodic workers, the
API under uWSGI), three fake L3 agents (agent_down_time = 10 s, a heartbeat every 2 s), 60 legacy routers placed
evenly. Each trial stops one agent (SIGSTOP: heartbeats and RPC answers stop) and measures from the agent's last
heartbeat to the moment the API shows every one of its routers hosted on a live agent:
  (a) Neutron's built-in failover (allow_automatic_l3agent_failover = True), rpcdaemon not running;
  (b) rpcdaemon listening to the same bus (built-in failover off; Neutron's processes restarted with that config).
Between trials the agent is resumed and its routers are put back (with rpcdaemon stopped, so the put-back does not
race with its repairs), so every trial starts from 20/20/20. Last, a
flapping run (heartbeats paused 4 s, several times) counts rpcdaemon's actions: it must be 0.
--production-defaults runs the same race at Neutron's shipped timing (agent_down_time 75 s, agents reporting every
30 s) with rpcdaemon at its own defaults (check_interval 5 s, hold_down 60 s), where detection is most of the time.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

from common import machine

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # bus.rabbit, used by the testbed
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "neutron"))
from testbed import Agent, Rpcdaemon, Testbed, Topology

HOSTS = ("net-1", "net-2", "net-3")


def hosted(bed: Testbed, routers: set[str], victim: Agent, live: list[Agent]) -> bool:
    on_live: set[str] = set()
    for agent in live:
        on_live |= bed.routers_on(agent.id)
    return routers <= on_live and not routers & bed.routers_on(victim.id)


def trial(bed: Testbed, victim: Agent, deadline_s: float = 180) -> tuple[float, float]:
    """(seconds from the victim's last heartbeat to all its routers on live agents, that last heartbeat)"""
    routers = bed.routers_on(victim.id)
    live = [a for a in bed.agents_of("l3") if a is not victim]
    victim.pause()
    last = victim.last_beat()
    end = time.monotonic() + deadline_s
    while not hosted(bed, routers, victim, live):
        if time.monotonic() > end:
            raise SystemExit(f"B5: {victim.host}'s routers not all on live agents within {deadline_s}s")
        time.sleep(0.05)
    done = time.time()
    victim.resume()
    return done - last, last


def breakdown(actions: list[dict[str, object]], victim: Agent, last: float) -> str:
    """From the agent's last heartbeat to rpcdaemon's first move starting, then to its last move done."""
    moves = [a for a in actions if a["from_agent"] == victim.id and a["action"] == "move_router"]
    if not moves:
        return "no move recorded"
    ends = [datetime.fromisoformat(str(a["time"])).timestamp() for a in moves]
    starts = [end - float(str(a["duration_s"])) for a, end in zip(moves, ends, strict=True)]
    return (f"{len(moves)} moves; first started {min(starts) - last:.2f} s after the last heartbeat, "
            f"all done {max(ends) - min(starts):.2f} s later")


def rebalance(bed: Testbed, per_agent: int) -> None:
    """Routers moved back (remove, add) until every L3 agent hosts `per_agent`: each trial starts the same."""
    bed.resume_all()
    l3 = bed.agents_of("l3")
    load = {a.id: sorted(bed.routers_on(a.id)) for a in l3}
    for agent in l3:
        while len(load[agent.id]) < per_agent:
            donor = max(load, key=lambda a: len(load[a]))
            router = load[donor].pop()
            bed.place_router(router, agent.id)
            load[agent.id].append(router)


def wait_steady(rpcd: Rpcdaemon, bed: Testbed, deadline_s: float = 120) -> None:
    end = time.monotonic() + deadline_s
    while True:
        try:
            status = rpcd.status()
            verdicts = {a["id"]: a["verdict"] for a in status["agents"]}
            if not status["warming_up"] and all(verdicts.get(a.id) == "alive" for a in bed.agents):
                return
        except OSError:
            pass
        if time.monotonic() > end:
            raise SystemExit("B5: rpcdaemon never saw every agent alive")
        time.sleep(0.2)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=3)
    parser.add_argument("--routers", type=int, default=60)
    parser.add_argument("--flaps", type=int, default=5)
    parser.add_argument("--production-defaults", action="store_true",
                        help="agent_down_time 75 s and a heartbeat every 30 s (Neutron's defaults), rpcdaemon at its "
                             "defaults (check_interval 5 s, hold_down 60 s)")
    opts = parser.parse_args()
    per_agent = opts.routers // len(HOSTS)
    topology = Topology(l3_hosts=HOSTS, dhcp_hosts=(), l3_failover=True)
    daemon = {"plugins": "L3Agent"}
    if opts.production_defaults:
        topology.agent_down_time, topology.report_interval = 75, 30.0
        daemon.update(check_interval="5", hold_down="60")
    # Neutron's own failover waits 2 x agent_down_time, then its check runs every agent_down_time / 2
    deadline_s = max(180.0, 4 * topology.agent_down_time + 60)
    print(f"B5 race on a real Neutron 29: {opts.routers} routers on {len(HOSTS)} L3 agents, agent_down_time "
          f"{topology.agent_down_time} s, heartbeat every {topology.report_interval:g} s; rpcdaemon {daemon}; "
          f"{datetime.now().astimezone():%Y-%m-%d %H:%M %Z}; {machine()}; command: {' '.join(sys.argv)}", flush=True)
    began = time.monotonic()
    bed = Testbed(topology)
    results: dict[str, list[float]] = {"neutron": [], "rpcdaemon": []}
    rpcd: Rpcdaemon | None = None
    try:
        bed.build()
        l3 = bed.agents_of("l3")
        bed.routers = [bed.create_router(f"b5-{i}", on_agent=l3[i % len(l3)].id) for i in range(opts.routers)]
        print(f"  testbed built in {time.monotonic() - began:.0f} s "
              f"({', '.join(f'{k} {v:.1f} s' for k, v in bed.timings.items())})", flush=True)
        for i in range(opts.trials):
            elapsed, _ = trial(bed, l3[i % len(l3)], deadline_s)
            results["neutron"].append(elapsed)
            print(f"  trial {i + 1} neutron built-in failover: {elapsed:.2f} s", flush=True)
            rebalance(bed, per_agent)
        bed.restart_neutron(l3_failover=False)
        bed.resume_all(120)
        rpcd = Rpcdaemon(bed, Path(tempfile.mkdtemp(prefix="rpcd-b5-")), **daemon)
        for i in range(opts.trials):
            rpcd.start()
            wait_steady(rpcd, bed, 120 + 2 * topology.agent_down_time)
            mark = len(rpcd.actions())
            victim = l3[i % len(l3)]
            elapsed, last = trial(bed, victim, deadline_s)
            results["rpcdaemon"].append(elapsed)
            print(f"  trial {i + 1} rpcdaemon: {elapsed:.2f} s ({breakdown(rpcd.actions()[mark:], victim, last)})",
                  flush=True)
            rpcd.stop()  # the put-back below must not race with rpcdaemon's own repairs
            rebalance(bed, per_agent)
        rpcd.start()
        wait_steady(rpcd, bed, 120 + 2 * topology.agent_down_time)
        before = len(rpcd.actions())
        victim = l3[0]
        for _ in range(opts.flaps):
            victim.pause()
            time.sleep(4.0)  # heartbeats paused for less than agent_down_time
            victim.resume()
            time.sleep(4.0)
        passes = rpcd.status()["passes"]
        while rpcd.status()["passes"] < passes + 3:
            time.sleep(0.2)
        flap_actions = len(rpcd.actions()) - before
    finally:
        if rpcd is not None:
            rpcd.stop()
            shutil.rmtree(rpcd.base, ignore_errors=True)
        bed.close()
    neutron, ours = statistics.median(results["neutron"]), statistics.median(results["rpcdaemon"])
    print(f"B5 result: last heartbeat -> every router on a live agent, median {neutron:.2f} s Neutron's failover, "
          f"{ours:.2f} s rpcdaemon: {neutron / ours:.1f}x; rpcdaemon actions during {opts.flaps} flaps of 4 s: "
          f"{flap_actions}; whole run {time.monotonic() - began:.0f} s")


if __name__ == "__main__":
    main()
