"""`rpcdaemon demo`: the whole story on an emulated cloud, with no OpenStack at all.

It starts an emulated Neutron in-process (served over HTTP on loopback, so the daemon uses its real openstacksdk
code path), runs the daemon against it, stops one L3 agent and one DHCP agent after a few seconds, and prints the
repair as it happens: what died, what moved where, and how long after the agent's last heartbeat everything it
hosted was served again.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import replace
from types import FrameType
from typing import TextIO

from rpcdaemon.config.settings import default_settings
from rpcdaemon.core.plan import Plan
from rpcdaemon.daemon.executor import ChangeResult
from rpcdaemon.daemon.loop import LOG_FORMAT, Daemon
from rpcdaemon.daemon.observer import Observer
from rpcdaemon.emulator.bus import HeartbeatPump, notification_body
from rpcdaemon.emulator.cloud import Cloud
from rpcdaemon.emulator.server import serve
from rpcdaemon.model import Snapshot


class Story:
    """Prints timestamped lines relative to the demo's start."""

    def __init__(self, out: TextIO) -> None:
        self._out = out
        self._t0 = time.monotonic()
        self._lock = threading.Lock()

    def say(self, text: str) -> None:
        with self._lock:
            self._out.write(f"[t+{time.monotonic() - self._t0:5.1f}s] {text}\n")
            self._out.flush()


class Narrator(Observer):
    """Tells the story from the daemon's own news (core/news.py): transitions, holds, each change."""

    def __init__(self, story: Story, hosts: dict[str, str]) -> None:
        self._story = story
        self._hosts = hosts

    def on_plan(self, plan: Plan, snapshot: Snapshot) -> None:
        for t in plan.news.transitions:
            agent = snapshot.agents[t.agent_id]
            self._story.say(f"rpcdaemon: {agent.agent_type} {agent.host} {t.before.value} -> {t.after.value}: "
                            f"{t.reason}")
        for note in plan.news.raised:
            self._story.say(f"rpcdaemon HOLDS: {note}")

    def on_result(self, result: ChangeResult) -> None:
        c = result.change
        src = self._hosts.get(c.from_agent, "-") if c.from_agent else "-"
        dst = self._hosts.get(c.to_agent, "-") if c.to_agent else "-"
        self._story.say(f"  {c.action.value:<16} {c.resource_type.value} {c.resource_id[:8]}  {src:>7} -> {dst:<7}"
                        f" {result.outcome} ({result.duration_s * 1000:.0f} ms)")


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="rpcdaemon demo", description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--duration", type=float, default=None, help="stop after S seconds (default: until Ctrl-C)")
    parser.add_argument("--agent-down-time", type=float, default=5.0, help="Neutron's agent_down_time (s)")
    parser.add_argument("--kill-after", type=float, default=4.0, help="stop the agents after S seconds")
    parser.add_argument("--networks", type=int, default=8)
    parser.add_argument("--routers", type=int, default=9)
    parser.add_argument("--verbose", action="store_true", help="also show the daemon's own log")
    opts = parser.parse_args(argv)

    logging.basicConfig(level=logging.INFO if opts.verbose else logging.ERROR, format=LOG_FORMAT, stream=sys.stderr)
    logging.getLogger("rpcdaemon.audit").propagate = opts.verbose  # and its per-plugin children
    story = Story(sys.stdout)
    cloud = Cloud.build(dhcp_agents=3, l3_agents=3, networks=opts.networks, routers=opts.routers,
                        dhcp_per_network=1, agent_down_time=opts.agent_down_time, seed=7)
    stop = threading.Event()

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)

    with serve(cloud) as server:
        settings = replace(default_settings(), neutron_endpoint=server.url, check_interval_s=1.0,
                           agent_down_time_s=opts.agent_down_time, agent_down_time_origin="demo",
                           hold_down_s=10.0, audit_log=None)
        daemon = Daemon(settings, observer=Narrator(story, {a["id"]: a["host"] for a in cloud.stats()["agents"]}))
        publish = daemon.in_memory_bus()  # the emulated agents' heartbeats reach the daemon as over RabbitMQ
        pump = HeartbeatPump(cloud, publish).start()
        cloud.notify = lambda event, payload: publish("notifications.info", notification_body(event, payload))
        story.say(f"emulated Neutron on {server.url}: 3 DHCP agents, 3 L3 agents, {opts.networks} networks, "
                  f"{opts.routers} routers; agent_down_time {opts.agent_down_time:.0f}s")
        story.say("rpcdaemon started: watching liveness (no agent can be judged dead before one agent_down_time)")
        story.say("first pass: every DHCP network goes onto every live DHCP agent (dhcp_agents_per_network = all)")
        runner = threading.Thread(target=daemon.run, name="daemon", daemon=True)
        runner.start()
        _watch(cloud, story, opts, stop)
        daemon.stop()
        runner.join(timeout=30)
        pump.stop()
        story.say(f"demo over: {daemon.passes} passes, {len(daemon.audit.recent())} changes recorded")
    return 0


def _watch(cloud: Cloud, story: Story, opts: argparse.Namespace, stop: threading.Event) -> None:
    start = time.monotonic()
    killed: dict[str, tuple[str, str, float]] = {}
    reported: set[str] = set()
    while not stop.is_set():
        elapsed = time.monotonic() - start
        if opts.duration is not None and elapsed >= opts.duration:
            return
        if not killed and elapsed >= opts.kill_after:
            killed = _kill_one_of_each(cloud, story)
        for agent_id, (kind, host, died_at) in killed.items():
            if agent_id in reported:
                continue
            stats = cloud.stats()
            table = stats["bindings"]["l3" if kind == "L3 agent" else "dhcp"]
            live = {a["id"] for a in stats["agents"] if a["alive"]}
            left = [r for r, hosts in table.items() if agent_id in hosts]
            unserved = [r for r, hosts in table.items() if not set(hosts) & live]
            if not left and not unserved:
                reported.add(agent_id)
                what = "routers" if kind == "L3 agent" else "networks"
                story.say(f"REPAIRED: every {what[:-1]} of {kind} {host} is served by a live agent, "
                          f"{time.monotonic() - died_at:.1f}s after it was stopped")
        stop.wait(0.2)


def _kill_one_of_each(cloud: Cloud, story: Story) -> dict[str, tuple[str, str, float]]:
    stats = cloud.stats()
    killed: dict[str, tuple[str, str, float]] = {}
    for kind, table in (("L3 agent", "l3"), ("DHCP agent", "dhcp")):
        candidates = [a for a in stats["agents"] if a["agent_type"] == kind and a["alive"]]
        load = {a["id"]: sum(a["id"] in hosts for hosts in stats["bindings"][table].values()) for a in candidates}
        victim = max(candidates, key=lambda a: (load[a["id"]], a["host"]))
        cloud.set_agent_down(victim["id"])
        killed[victim["id"]] = (kind, victim["host"], time.monotonic())
        what = "routers" if kind == "L3 agent" else "networks"
        story.say(f"KILLED {kind} {victim['host']} (hosting {load[victim['id']]} {what}): its heartbeats stop")
    return killed
