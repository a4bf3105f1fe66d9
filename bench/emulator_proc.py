"""Runs an emulated Neutron in its own process, so the benchmark's CPU and GIL measure rpcdaemon alone.

Usage: python bench/emulator_proc.py SPEC_JSON  -> prints the URL on stdout, serves until stdin closes.
SPEC: {"agent_down_time": s, "latency_ms": x, "l3": [n_routers per agent...], "dhcp": [n per agent], "networks": n,
       "dhcp_per_network": k, "seed": s}
"""

from __future__ import annotations

import json
import sys

from rpcdaemon.emulator.bus import HeartbeatPump, kombu_publisher
from rpcdaemon.emulator.cloud import Cloud
from rpcdaemon.emulator.server import serve


def build(spec: dict[str, object]) -> Cloud:
    cloud = Cloud(agent_down_time=float(spec.get("agent_down_time", 75)), seed=int(spec.get("seed", 1)),  # type: ignore[arg-type]
                  report_interval=float(spec["report_interval"]) if spec.get("report_interval") else None)  # type: ignore[arg-type]
    l3_counts: list[int] = list(spec.get("l3", []))  # type: ignore[call-overload]
    dhcp_agents = int(spec.get("dhcp_agents", 0))  # type: ignore[call-overload]
    l3_ids = [cloud.add_agent("L3 agent", f"l3-{i + 1}") for i in range(len(l3_counts))]
    dhcp_ids = [cloud.add_agent("DHCP agent", f"dhcp-{i + 1}") for i in range(dhcp_agents)]
    for agent_id, count in zip(l3_ids, l3_counts, strict=True):
        for _ in range(count):
            cloud.bind_router(agent_id, cloud.add_router())
    per = int(spec.get("dhcp_per_network", 1))  # type: ignore[call-overload]
    for n in range(int(spec.get("networks", 0))):  # type: ignore[call-overload]
        net = cloud.add_network(dhcp=True)
        for k in range(per):
            cloud.bind_network(dhcp_ids[(n + k) % len(dhcp_ids)], net)
    cloud.latency_s = float(spec.get("latency_ms", 0)) / 1000.0  # type: ignore[arg-type]
    return cloud


def main() -> None:
    spec = json.loads(sys.argv[1])
    cloud = build(spec)
    pump = None
    if spec.get("transport_url"):
        publish, _close = kombu_publisher(str(spec["transport_url"]))
        pump = HeartbeatPump(cloud, publish).start()
    with serve(cloud) as server:
        print(server.url, flush=True)
        sys.stdin.read()
    if pump is not None:
        pump.stop()


if __name__ == "__main__":
    main()
