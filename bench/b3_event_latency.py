"""B3 event latency on a real RabbitMQ: network.create.end published -> the network hosted on every DHCP agent.

The emulated Neutron (0 ms API latency, another process) has 3 DHCP agents; rpcdaemon runs with its default
`dhcp_agents_per_network = all` and a 30 s resync, so what is measured is the event path: bus -> wake -> a pass that
re-reads the truth -> adds. For each network: create it with a DHCP subnet through the API (Neutron auto-schedules it
on one agent), publish network.create.end, and time until the executor has added it to the two others. Baseline in
the same run: the poll-only path (no bus) with the default check_interval of 5 s, on a few networks.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import threading
import time
import urllib.request
from dataclasses import replace
from pathlib import Path

from common import emulator, machine, settings_for

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "bus"))
from agents import Publisher, notification
from rabbit import Rabbit

from rpcdaemon.daemon.executor import ChangeResult
from rpcdaemon.daemon.loop import Daemon
from rpcdaemon.daemon.observer import Observer


def post(url: str, path: str, body: dict[str, object]) -> dict[str, object]:
    request = urllib.request.Request(url + path, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        result: dict[str, object] = json.loads(response.read())
    return result


class Waiter(Observer):
    """Signals when a network has had `expected` additions done by the daemon."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.added: dict[str, int] = {}
        self.done: dict[str, threading.Event] = {}

    def expect(self, net: str) -> threading.Event:
        with self.lock:
            return self.done.setdefault(net, threading.Event())

    def on_result(self, result: ChangeResult) -> None:
        change = result.change
        if change.action.value == "add_network" and result.ok:
            with self.lock:
                self.added[change.resource_id] = self.added.get(change.resource_id, 0) + 1
                if self.added[change.resource_id] >= 2:
                    self.done.setdefault(change.resource_id, threading.Event()).set()


def measure(url: str, rabbit_url: str | None, count: int, check_interval: float) -> list[float]:
    waiter = Waiter()
    settings = settings_for(url, rpchost=rabbit_url or "", check_interval_s=check_interval,
                            status_listen=("", 0))
    daemon = Daemon(replace(settings, agent_down_time_s=75.0), observer=waiter, member="b3")
    thread = threading.Thread(target=daemon.run, daemon=True)
    thread.start()
    pub = Publisher(rabbit_url) if rabbit_url else None
    try:
        deadline = time.monotonic() + 60
        while daemon.passes < 1 or (rabbit_url and daemon.bus.listening_since is None):
            if time.monotonic() > deadline:
                raise SystemExit("B3: daemon did not start")
            time.sleep(0.05)
        times = []
        for _ in range(count):
            net = post(url, "/v2.0/networks", {"network": {"name": "b3"}})["network"]["id"]  # type: ignore[index]
            done = waiter.expect(str(net))
            post(url, "/v2.0/subnets", {"subnet": {"network_id": net, "cidr": "10.9.0.0/24", "enable_dhcp": True}})
            started = time.perf_counter()
            if pub is not None:
                pub.publish(notification("network.create.end", {"network": {"id": net, "revision_number": 1}}),
                            "notifications.info")
            if not done.wait(check_interval * 3 + 10):
                raise SystemExit(f"B3: network {net} not hosted")
            times.append(time.perf_counter() - started)
        return times
    finally:
        if pub is not None:
            pub.close()
        daemon.stop()
        thread.join(30)


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--networks", type=int, default=500)
    parser.add_argument("--poll-networks", type=int, default=10)
    opts = parser.parse_args()
    print(f"B3 event latency: network.create.end -> hosted on all 3 DHCP agents; {machine()}")
    broker = Rabbit()
    broker.start()
    try:
        spec = {"agent_down_time": 75, "l3": [0], "dhcp_agents": 3, "networks": 0, "seed": 3}
        with emulator(spec) as url:
            bus = measure(url, broker.url, opts.networks, check_interval=30.0)
        with emulator(spec) as url:
            poll = measure(url, None, opts.poll_networks, check_interval=5.0)
    finally:
        broker.cleanup()
    print(f"  bus path ({len(bus)} networks): p50 {pct(bus, 50) * 1000:.1f} ms, p99 {pct(bus, 99) * 1000:.1f} ms, "
          f"max {max(bus) * 1000:.1f} ms (target p99 <= 100 ms)")
    print(f"  poll-only baseline, check_interval 5 s ({len(poll)} networks): p50 {pct(poll, 50) * 1000:.0f} ms, "
          f"max {max(poll) * 1000:.0f} ms")
    print(f"B3 result: p99 {pct(bus, 99) * 1000:.1f} ms on the bus vs median {statistics.median(poll):.2f} s polling")


if __name__ == "__main__":
    main()
