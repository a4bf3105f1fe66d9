"""B3 on a real Neutron: a new network with a DHCP subnet -> on every target DHCP agent, p50 / p99, and the path.

A real Neutron 29 built by tests/neutron/testbed.py (RabbitMQ, MariaDB, the API under uWSGI), three fake DHCP agents,
Neutron's `dhcp_agents_per_network = 1` (its default: Neutron alone never puts a network on more than one agent, the
baseline), rpcdaemon at its defaults with `dhcp_agents_per_network = all` (3 agents). Each network is created (POST
/networks, POST /subnets) and timed from the subnet's answer to GET /networks/{id}/dhcp-agents listing all three.
Two runs, same testbed: rpcdaemon with the bus (a `subnet.create.end` / `port.create.end` notification wakes a
pass that reads that network) and without it (a pass every `check_interval` reads only the agents list between full
reads, so a new network is found by the next full read: every `resync_interval`, 60 s by default without a bus on
a small cloud). The path of each network is "notification" when a bus wake-up came between the subnet's creation
and the add and the add came within check_interval, else "periodic full read". Networks are created one at a time
at spread phases of the periodic pass.

    .venv/bin/python bench/b3_real_neutron.py [--networks 100]
"""

from __future__ import annotations

import argparse
import re
import signal
import statistics
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

from common import machine

REPO = Path(__file__).resolve().parents[1]
for _path in (REPO / "tests", REPO / "tests" / "neutron"):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))
from testbed import Rpcdaemon, Testbed, TestbedError, Topology  # noqa: E402

CHECK_INTERVAL_S = 5.0  # rpcdaemon's default check_interval
WAKEUPS = re.compile(r"^rpcdaemon_wakeups_total (\S+)$", re.MULTILINE)


def wakeups(rpcd: Rpcdaemon) -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{rpcd.status_port}/metrics", timeout=10) as response:
        match = WAKEUPS.search(response.read().decode())
    return float(match.group(1)) if match else 0.0


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def run(bed: Testbed, rpcd: Rpcdaemon, label: str, count: int, first_cidr: int, deadline_s: float = 60
        ) -> tuple[list[float], list[str], list[int]]:
    targets = {a.id for a in bed.agents_of("dhcp")}
    latencies: list[float] = []
    paths: list[str] = []
    neutron_alone: list[int] = []
    for i in range(count):
        n = first_cidr + i
        net = bed.request("POST", "/v2.0/networks", {"network": {"name": f"b3-{label}-{i}"}})["network"]["id"]
        before = wakeups(rpcd)
        bed.request("POST", "/v2.0/subnets", {"subnet": {
            "network_id": net, "ip_version": 4, "cidr": f"10.{200 + n // 250}.{n % 250}.0/24", "enable_dhcp": True,
            "name": f"b3-{label}-{i}"}})
        created = time.monotonic()
        first: int | None = None
        while True:
            hosts = bed.dhcp_agents_of(net)
            if first is None:
                first = len(hosts)
            if hosts >= targets:
                latencies.append(time.monotonic() - created)
                break
            if time.monotonic() - created > deadline_s:
                raise TestbedError(f"{label}: network {net} not on {len(targets)} agents within {deadline_s:g} s")
            time.sleep(0.05)  # the polling period
        woke = wakeups(rpcd) > before
        paths.append("notification" if woke and latencies[-1] < CHECK_INTERVAL_S else "periodic full read")
        neutron_alone.append(first)
        bed.networks.append(net)
        print(f"  {label} {i + 1}/{count}: {latencies[-1]:.2f} s ({paths[-1]}; Neutron had put it on {first})",
              flush=True)
        time.sleep(0.5 + (i * 1.7) % 4.5)  # the next one at another phase of the periodic pass
    return latencies, paths, neutron_alone


def summary(label: str, latencies: list[float], paths: list[str], alone: list[int]) -> str:
    by_path = {p: sum(1 for x in paths if x == p) for p in sorted(set(paths))}
    return (f"{label}: {len(latencies)} networks, p50 {statistics.median(latencies):.2f} s, "
            f"p99 {percentile(latencies, 0.99):.2f} s, max {max(latencies):.2f} s; path {by_path}; Neutron alone "
            f"had put each on {sorted(set(alone))} agent(s) of 3")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--networks", type=int, default=100, help="networks with the bus (default 100)")
    parser.add_argument("--no-bus-networks", type=int, default=3,
                        help="networks without the bus (default 3: each waits for the next full read, about 60 s)")
    opts = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda _signum, _frame: sys.exit(143))  # a kill still stops the testbed
    print(f"B3 on a real Neutron 29, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {machine()}; "
          f"command: bench/b3_real_neutron.py --networks {opts.networks} --no-bus-networks {opts.no_bus_networks}",
          flush=True)
    began = time.monotonic()
    bed = Testbed(Topology(l3_hosts=(), dhcp_hosts=("net-1", "net-2", "net-3"), vxlan_vnis=4000))
    rpcd: Rpcdaemon | None = None
    lines: list[str] = []
    try:
        bed.build()
        print(f"  testbed built in {time.monotonic() - began:.0f} s", flush=True)
        for label, bus in (("bus", True), ("no-bus", False)):
            options = {"plugins": "DHCPAgent", "check_interval": str(CHECK_INTERVAL_S),
                       "dhcp_agents_per_network": "all"}
            if not bus:
                options["rpchost"] = ""
            rpcd = Rpcdaemon(bed, Path(tempfile.mkdtemp(prefix=f"rpcd-b3-{label}-")), **options)
            rpcd.start()
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and not rpcd.status().get("last_pass"):
                time.sleep(0.5)  # the polling period of the start-up wait
            count = opts.networks if bus else opts.no_bus_networks
            latencies, paths, alone = run(bed, rpcd, label, count, 0 if bus else opts.networks,
                                          deadline_s=60 if bus else 180)
            lines.append(summary(label, latencies, paths, alone))
            rpcd.stop()
            rpcd = None
    finally:
        if rpcd is not None:
            rpcd.stop()
        bed.close()
    print("\n".join(lines))
    print(f"whole run {time.monotonic() - began:.0f} s")


if __name__ == "__main__":
    main()
