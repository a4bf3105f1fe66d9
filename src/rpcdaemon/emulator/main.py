"""`rpcdaemon emulator`: an emulated Neutron on loopback, for trying rpcdaemon (or anything else) without a cloud."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType

from rpcdaemon.bus.redact import redact_text
from rpcdaemon.bus.urls import BusUrlError, broker_urls
from rpcdaemon.emulator.bus import HeartbeatPump, kombu_publisher, notification_body
from rpcdaemon.emulator.cloud import Cloud
from rpcdaemon.emulator.server import serve


def parse_listen(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise ValueError(f"--listen must be HOST:PORT, got {value!r}")
    return host, int(port)


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="rpcdaemon emulator", description=__doc__)
    parser.add_argument("--listen", default="127.0.0.1:9696", help="HOST:PORT (default 127.0.0.1:9696; port 0: any)")
    parser.add_argument("--dhcp-agents", type=int, default=3)
    parser.add_argument("--l3-agents", type=int, default=3)
    parser.add_argument("--networks", type=int, default=10)
    parser.add_argument("--routers", type=int, default=10)
    parser.add_argument("--dhcp-per-network", type=int, default=1)
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--agent-down-time", type=float, default=75.0)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--transport-url", default=None,
                        help="publish heartbeats and notifications on this RabbitMQ (amqp:// or rabbit:// URL)")
    opts = parser.parse_args(argv)
    try:
        host, port = parse_listen(opts.listen)
    except ValueError as exc:
        print(f"rpcdaemon emulator: {exc}", file=sys.stderr)
        return 2
    cloud = Cloud.build(dhcp_agents=opts.dhcp_agents, l3_agents=opts.l3_agents, networks=opts.networks,
                        routers=opts.routers, dhcp_per_network=opts.dhcp_per_network,
                        agent_down_time=opts.agent_down_time, seed=opts.seed)
    cloud.latency_s = opts.latency_ms / 1000.0
    stop = threading.Event()

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        server = serve(cloud, host, port)
    except OSError as exc:
        print(f"rpcdaemon emulator: cannot listen on {opts.listen}: {exc}", file=sys.stderr)
        return 2
    pump = None
    close_bus = None
    if opts.transport_url:
        try:
            publish, close_bus = kombu_publisher(broker_urls(opts.transport_url)[0])
        except (BusUrlError, OSError) as exc:
            print(f"rpcdaemon emulator: cannot use {redact_text(opts.transport_url)}: {exc}", file=sys.stderr)
            server.stop()
            return 2
        cloud.notify = lambda event, payload: publish("notifications.info", notification_body(event, payload))
        pump = HeartbeatPump(cloud, publish).start()
    print(f"emulated Neutron listening on {server.url}; {opts.dhcp_agents} DHCP agents, {opts.l3_agents} L3 agents, "
          f"{opts.networks} networks, {opts.routers} routers; control API under {server.url}/_emulator/",
          flush=True)
    stop.wait()
    if pump is not None:
        pump.stop()
    if close_bus is not None:
        close_bus()
    server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
