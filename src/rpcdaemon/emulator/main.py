"""`rpcdaemon emulator`: an emulated Neutron on loopback, for trying rpcdaemon (or anything else) without a cloud.

Why it exists: the demo, the benchmarks and anyone evaluating rpcdaemon need a Neutron to point it at; this one
starts in a second, builds a topology from a few counts, and exposes a control API (/_emulator/...) to kill agents,
inject faults and read call counts. It serves until SIGINT or SIGTERM, then stops cleanly.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from types import FrameType
from typing import Any

from rpcdaemon.config.bus_url import BusUrlError, broker_urls
from rpcdaemon.emulator.bus import HeartbeatPump, kombu_publisher, notification_body
from rpcdaemon.emulator.cloud import Cloud
from rpcdaemon.emulator.server import EmulatorServer, serve
from rpcdaemon.redaction import redact_text

PROG = "rpcdaemon emulator"


def parse_listen(value: str) -> tuple[str, int]:
    """HOST:PORT ([::1]:PORT for IPv6); port 0 means any free port."""
    host, sep, port = value.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise ValueError(f"--listen must be HOST:PORT, got {value!r}")
    return host, int(port)


def _count(value: str) -> int:
    number = int(value)
    if number < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return number


def _seconds(value: str) -> float:
    number = float(value)
    if not number >= 0:  # also rejects nan
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return number


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description="An emulated Neutron API (the subset rpcdaemon uses).")
    parser.add_argument("--listen", default="127.0.0.1:9696", help="HOST:PORT (default 127.0.0.1:9696; port 0: any)")
    parser.add_argument("--dhcp-agents", type=_count, default=3, metavar="N")
    parser.add_argument("--l3-agents", type=_count, default=3, metavar="N")
    parser.add_argument("--networks", type=_count, default=10, metavar="N")
    parser.add_argument("--routers", type=_count, default=10, metavar="N")
    parser.add_argument("--dhcp-per-network", type=_count, default=1, metavar="N")
    parser.add_argument("--availability-zones", type=_count, default=1, metavar="N",
                        help="agents in zones az-1..az-N round robin (default 1: all in 'nova')")
    parser.add_argument("--dvr-agents", type=_count, default=0, metavar="N",
                        help="compute hosts cmp-1..cmp-N, each with an L3 agent in dvr mode (never to be touched)")
    parser.add_argument("--latency-ms", type=_seconds, default=0.0, metavar="X", help="added to every API call")
    parser.add_argument("--row-cost-us", type=_seconds, default=0.0, metavar="X",
                        help="cost model: each list answer takes --list-base-ms + rows x X microseconds (a real "
                             "Neutron 29 on 2 cores: about 1000-2000 per network row, 1000 per router row; "
                             "default 0: off)")
    parser.add_argument("--list-base-ms", type=_seconds, default=0.0, metavar="X",
                        help="cost model: the fixed part of a list answer's cost (default 0)")
    parser.add_argument("--api-workers", type=_count, default=0, metavar="N",
                        help="cost model: list answers pay their cost N at a time, as N worker processes do "
                             "(default 0: no bound)")
    parser.add_argument("--agent-down-time", type=_seconds, default=75.0, metavar="S",
                        help="seconds without a heartbeat before an agent shows alive=false (default 75)")
    parser.add_argument("--activation-delay", type=_seconds, default=0.5, metavar="S",
                        help="seconds from a port's binding to its activation by the agent of its host (default 0.5)")
    parser.add_argument("--seed", type=int, default=None, help="deterministic ids")
    parser.add_argument("--transport-url", default=None,
                        help="publish heartbeats and notifications on this RabbitMQ (amqp:// or rabbit:// URL)")
    return parser


def main(argv: Sequence[str]) -> int:
    try:
        opts = build_parser().parse_args(list(argv))
    except SystemExit as exc:  # --help (0) or a usage error (2, message already on stderr)
        return exc.code if isinstance(exc.code, int) else 2
    try:
        host, port = parse_listen(opts.listen)
    except ValueError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 2
    if opts.agent_down_time <= 0:
        print(f"{PROG}: --agent-down-time must be > 0", file=sys.stderr)
        return 2
    stop = threading.Event()
    previous = _on_signals(stop)
    try:
        return _run(opts, host, port, stop)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _run(opts: argparse.Namespace, host: str, port: int, stop: threading.Event) -> int:
    cloud = Cloud.build(dhcp_agents=opts.dhcp_agents, l3_agents=opts.l3_agents, networks=opts.networks,
                        routers=opts.routers, dhcp_per_network=opts.dhcp_per_network,
                        agent_down_time=opts.agent_down_time, seed=opts.seed,
                        availability_zones=opts.availability_zones, latency_s=opts.latency_ms / 1000.0,
                        dvr_agents=opts.dvr_agents, row_cost_s=opts.row_cost_us / 1e6,
                        list_base_s=opts.list_base_ms / 1000.0, api_workers=opts.api_workers,
                        activation_delay_s=opts.activation_delay)
    try:
        server = serve(cloud, host, port)
    except OSError as exc:
        print(f"{PROG}: cannot listen on {opts.listen}: {exc}", file=sys.stderr)
        return 2
    pump: HeartbeatPump | None = None
    close_bus: Callable[[], None] | None = None
    if opts.transport_url:
        try:
            publish, close_bus = kombu_publisher(broker_urls(opts.transport_url)[0])
        except (BusUrlError, OSError) as exc:
            print(f"{PROG}: cannot use {redact_text(opts.transport_url)}: {exc}", file=sys.stderr)
            server.stop()
            return 2
        cloud.notify = lambda event, payload: publish("notifications.info", notification_body(event, payload))
        pump = HeartbeatPump(cloud, publish).start()
    try:
        print(f"emulated Neutron listening on {server.url}; {opts.dhcp_agents} DHCP agents, {opts.l3_agents} L3 "
              f"agents, {opts.networks} networks, {opts.routers} routers; control API under {server.url}/_emulator/",
              flush=True)
        while not stop.wait(1.0):  # a timed wait: the signal handler runs promptly
            pass
    finally:
        _stop(server, pump, close_bus)
    return 0


def _on_signals(stop: threading.Event) -> dict[int, Any]:
    """SIGINT and SIGTERM set `stop`; returns the previous handlers, to restore. Handlers can only be set from the
    main thread: elsewhere, none is set."""
    if threading.current_thread() is not threading.main_thread():
        return {}

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    return {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}


def _stop(server: EmulatorServer, pump: HeartbeatPump | None, close_bus: Callable[[], None] | None) -> None:
    if pump is not None:
        pump.stop()
    if close_bus is not None:
        close_bus()
    server.stop()


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
