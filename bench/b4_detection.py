"""B4 detection: an agent's heartbeats stop -> its evacuation starts, bus path vs poll-only path, same run.

Emulated Neutron in another process with agent_down_time = 10 s and a 2.5 s report interval, its agents'
heartbeats published on a real RabbitMQ. rpcdaemon with check_interval = 5 s (the default) and agent_down_time =
10 s: (a) listening to the bus, (b) polling the API only. Each trial stops one L3 agent's heartbeats (t0) and
measures until rpcdaemon plans its first move away from it.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
from pathlib import Path

from common import control, emulator, machine, settings_for

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "bus"))
from rabbit import Rabbit

from rpcdaemon.core.plan import Plan
from rpcdaemon.daemon.loop import Daemon
from rpcdaemon.daemon.observer import Observer
from rpcdaemon.model import Snapshot


def trial(rabbit_url: str, use_bus: bool) -> float:
    spec = {"agent_down_time": 10, "report_interval": 2.5, "l3": [10, 10, 10], "dhcp_agents": 1, "networks": 0,
            "seed": 4, "transport_url": rabbit_url}
    with emulator(spec) as url:
        victim = next(a["id"] for a in control(url, "GET", "/_emulator/stats")["agents"] if a["host"] == "l3-1")
        started = threading.Event()

        class Watch(Observer):
            def on_plan(self, plan: Plan, _snapshot: Snapshot) -> None:
                if any(c.from_agent == victim for c in plan.changes):
                    started.set()

        settings = settings_for(url, rpchost=rabbit_url if use_bus else "", check_interval_s=5.0,
                                agent_down_time_s=10.0, status_listen=("", 0))
        daemon = Daemon(settings, member="b4", observer=Watch())
        thread = threading.Thread(target=daemon.run, daemon=True)
        thread.start()
        try:
            deadline = time.monotonic() + 60
            while True:  # warmed up: observation (and the bus) older than the dead period
                report = daemon.reconciler.last_report
                if report is not None and report.plan is not None and not report.plan.warming_up and (
                        not use_bus or daemon.bus.counts["heartbeat"] > 10):
                    break
                if time.monotonic() > deadline:
                    raise SystemExit("B4: no warm-up")
                time.sleep(0.1)
            time.sleep(1.3)  # a random-ish phase against the poll loop
            control(url, "POST", f"/_emulator/agents/{victim}/down")
            t0 = time.perf_counter()
            if not started.wait(60):
                raise SystemExit("B4: evacuation never started")
            return time.perf_counter() - t0
        finally:
            daemon.stop()
            thread.join(30)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=3)
    opts = parser.parse_args()
    print(f"B4 detection: heartbeats stop -> evacuation starts (agent_down_time 10 s, check_interval 5 s); "
          f"{machine()}")
    broker = Rabbit()
    broker.start()
    results: dict[str, list[float]] = {"bus": [], "poll": []}
    try:
        for i in range(opts.trials):
            for path in ("bus", "poll"):
                elapsed = trial(broker.url, path == "bus")
                results[path].append(elapsed)
                print(f"  trial {i + 1} {path:>4}: {elapsed:.2f} s")
    finally:
        broker.cleanup()
    bus, poll = statistics.median(results["bus"]), statistics.median(results["poll"])
    print(f"B4 result: median {bus:.2f} s with the bus, {poll:.2f} s polling only "
          f"(the dead threshold itself is 10 s; the heartbeat period 2.5 s)")


if __name__ == "__main__":
    main()
