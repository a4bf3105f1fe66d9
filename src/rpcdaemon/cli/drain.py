"""`rpcdaemon drain HOST` and `rpcdaemon undrain HOST`: planned maintenance of a network node.

One actor, always: the CLI never moves a router or a network. `drain` writes the drain mark (model.DRAIN_MARK) into
the Neutron description of HOST's agents; rpcdaemon's acting replica (the leader of a cluster, or the one daemon)
reads it on its next pass and empties them with the least disruption (core/drain.py), then sets them admin down.
The intent lives in Neutron's database, so a leader that fails over mid-drain is followed by the next one, and the
CLI only follows the progress, read from the API: how many of the resources HOST hosted have left it.
`undrain` clears the mark and sets the agents admin up; with rebalancing on, load flows back at its rate.

`--dry-run` prints what would move where (the core's plans, played until HOST is empty, assuming every add works and
every new HA replica turns ready); `--wait` follows until HOST hosts nothing and its agents are admin down (exit 0),
or until `--timeout` (exit 1, with what is left).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from rpcdaemon.cli.common import EXIT_CONFIG, config_arg, load_or_say

if TYPE_CHECKING:
    from rpcdaemon.adapters.neutron.client import NeutronClient
    from rpcdaemon.config.settings import Settings
    from rpcdaemon.core.actions import Change
    from rpcdaemon.model import Agent, Snapshot

POLL_S = 2.0


def main(argv: Sequence[str], undrain: bool = False) -> int:
    name = "undrain" if undrain else "drain"
    parser = argparse.ArgumentParser(
        prog=f"rpcdaemon {name}",
        description=("Clear the drain mark of HOST's agents and set them admin up." if undrain else
                     "Mark HOST's DHCP and L3 agents for draining: rpcdaemon's acting replica empties them with the "
                     "least disruption, then sets them admin down."))
    parser.add_argument("host", metavar="HOST", help="the agents' host, as `openstack network agent list` shows it")
    config_arg(parser)
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    if not undrain:
        parser.add_argument("--dry-run", action="store_true", help="print what would move where; change nothing")
        parser.add_argument("--wait", action="store_true",
                            help="follow the drain until HOST hosts nothing and its agents are admin down")
        parser.add_argument("--timeout", type=float, default=1800.0, metavar="S",
                            help="with --wait: give up after this many seconds (default 1800)")
    opts = parser.parse_args(argv)
    prog = f"rpcdaemon {name}"

    settings = load_or_say(opts.config)
    if settings is None:
        return EXIT_CONFIG
    client = _client(settings, opts.config, prog)
    if isinstance(client, int):
        return client
    from rpcdaemon.adapters.neutron.client import NeutronReadError

    try:
        snapshot = _read(client, settings)
    except NeutronReadError as exc:
        print(f"{prog}: cannot read Neutron: {exc}", file=sys.stderr)
        return 1
    agents = _agents_of(snapshot, opts.host, settings)
    if not agents:
        print(f"{prog}: no DHCP or L3 agent that rpcdaemon manages runs on host {opts.host!r}", file=sys.stderr)
        return 1
    if undrain:
        return _undrain(client, agents, opts.json, prog)
    if opts.dry_run:
        return _dry_run(snapshot, agents, settings, opts.json)
    failed = _mark(client, agents, prog)
    if failed:
        return 1
    total = _hosted(snapshot, agents)
    if not opts.wait:
        _say(opts.json, {"host": opts.host, "marked": [a.id for a in agents], "hosted": total},
             f"{opts.host}: {len(agents)} agent(s) marked for draining ({total} resources hosted); rpcdaemon's acting "
             f"replica empties them. Follow: rpcdaemon drain {opts.host} --wait")
        return 0
    return _follow(client, opts.host, agents, total, opts.timeout, opts.json, _status_reader(opts.config))


def _client(settings: Settings, path: str, prog: str) -> NeutronClient | int:
    """A client that can work, or the exit code after one line saying why not."""
    from rpcdaemon.adapters.neutron.errors import NeutronConfigError
    from rpcdaemon.daemon.compose import build_client

    try:
        client = build_client(settings)
    except NeutronConfigError as exc:
        print(f"{prog}: {path}: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    usable, why = client.probe()
    if not usable:
        print(f"{prog}: {why}", file=sys.stderr)
        return 1
    return client


def _read(client: NeutronClient, settings: Settings) -> Snapshot:
    from rpcdaemon.core.plan import CoreState
    from rpcdaemon.daemon.reconciler import read_snapshot

    return read_snapshot(client, settings.policy(), CoreState())


def _agents_of(snapshot: Snapshot, host: str, settings: Settings) -> list[Agent]:
    policy = settings.policy()
    return [a for a in sorted(snapshot.agents.values(), key=lambda a: a.id)
            if a.host == host and a.is_managed
            and ((a.is_dhcp and policy.manage_dhcp) or (a.is_l3 and policy.manage_l3))]


def _hosted(snapshot: Snapshot, agents: Sequence[Agent]) -> int:
    count = 0
    for agent in agents:
        bindings = snapshot.l3_bindings if agent.is_l3 else snapshot.dhcp_bindings
        count += len((bindings or {}).get(agent.id, ()))
    return count


def _mark(client: NeutronClient, agents: Sequence[Agent], prog: str) -> int:
    from rpcdaemon.model import DRAIN_MARK

    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    failed = 0
    for agent in agents:
        result = client.set_agent(agent.id, description=f"{DRAIN_MARK} since {stamp}")
        if not result.outcome.ok:
            failed += 1
            print(f"{prog}: {agent.agent_type} {agent.host} ({agent.id}): Neutron refused the mark: "
                  f"{result.status} {result.error_type}: {result.message}", file=sys.stderr)
    return failed


def _undrain(client: NeutronClient, agents: Sequence[Agent], as_json: bool, prog: str) -> int:
    failed = 0
    for agent in agents:
        result = client.set_agent(agent.id, description="", admin_state_up=True)
        if not result.outcome.ok:
            failed += 1
            print(f"{prog}: {agent.agent_type} {agent.host} ({agent.id}): Neutron refused: {result.status} "
                  f"{result.error_type}: {result.message}", file=sys.stderr)
    _say(as_json, {"host": agents[0].host, "undrained": [a.id for a in agents], "failed": failed},
         f"{agents[0].host}: {len(agents) - failed} agent(s) admin up and unmarked; load flows back at the "
         "rebalancing rate")
    return 1 if failed else 0


def _dry_run(snapshot: Snapshot, agents: Sequence[Agent], settings: Settings, as_json: bool) -> int:
    """The core's plans, played on the snapshot as if every call worked and every new HA replica turned ready."""
    from rpcdaemon.core.actions import ChangeKind, apply_changes
    from rpcdaemon.core.liveness import state_from_api
    from rpcdaemon.core.plan import CoreState, make_plan

    policy = settings.policy()
    ids = {a.id for a in agents}
    snap = replace(snapshot, agents={i: replace(a, draining=a.draining or i in ids)
                                     for i, a in snapshot.agents.items()})
    now = 1_000_000.0
    state = CoreState(liveness=state_from_api(snap.agents, now, policy))
    steps: list[Change] = []
    for _ in range(200):
        snap = _all_ready(snap)
        plan, state = make_plan(snap, state, now, policy)
        mine = list(plan.changes)  # the drain's, and any repair the daemon would make meanwhile
        if not mine:
            break
        steps += mine
        snap = apply_changes(snap, mine)
        snap = replace(snap, agents={i: replace(a, admin_state_up=False) if any(
            c.action is ChangeKind.DISABLE_AGENT and c.from_agent == i for c in mine) else a
            for i, a in snap.agents.items()})
        now += 1.0
    hosts = {a.id: a.host for a in snapshot.agents.values()}
    if as_json:
        print(json.dumps([c.as_dict() for c in steps], indent=2))
        return 0
    held = [n for n in plan.notes if "drain" in n]
    for note in held:
        print(f"HOLD: {note}")
    for change in steps:
        src = hosts.get(change.from_agent, change.from_agent) if change.from_agent else "-"
        dst = hosts.get(change.to_agent, change.to_agent) if change.to_agent else "-"
        print(f"{change.action.value:<18} {change.resource_type.value} {change.resource_id}  {src} -> {dst}  "
              f"({change.reason})")
    left = _hosted(snap, agents)
    print(f"{len(steps)} change(s); {left or 'nothing'} left on {agents[0].host}")
    return 0


def _all_ready(snap: Snapshot) -> Snapshot:
    """Every replica of every HA router ready, the first one (by agent id) active: what a dry run assumes."""
    from rpcdaemon.model import RouterId

    hosting = snap.l3_agents_of_router()
    return replace(snap, ha_states={
        RouterId(r): {a: ("active" if a == min(agents) else "standby") for a in agents}
        for r, agents in hosting.items() if r in snap.routers and snap.routers[r].ha})


def _status_reader(config: str) -> Callable[[], dict[str, Any] | None]:
    """The local daemon's /status (from the config's status_listen and token), for the current move and the
    failures; None when it is not served or does not answer (the drain is followed from the API all the same)."""
    from rpcdaemon.cli.status import _target, fetch_status

    try:
        url, token, context = _target(argparse.Namespace(url=None, token=None, token_file=None, cacert=None,
                                                          config=config))
    except (ValueError, OSError, SystemExit):
        return lambda: None

    def read() -> dict[str, Any] | None:
        try:
            return fetch_status(url, token, timeout_s=3.0, context=context)
        except Exception:
            return None

    return read


def _moves_of(status: dict[str, Any] | None, agents: Sequence[Agent]) -> tuple[str, int]:
    """(the latest move off these agents, how many of them did not succeed) from a daemon's recent actions."""
    if status is None:
        return "", 0
    ids = {a.id for a in agents}
    mine = [r for r in status.get("recent_actions", []) if r.get("from_agent") in ids]
    failed = sum(1 for r in mine if r.get("outcome") not in ("done", "already", "planned"))
    if not mine:
        return "", failed
    last = mine[-1]
    return (f"; now: {last['action']} {last['resource_type']} {str(last['resource_id'])[:8]} -> "
            f"{last.get('to_host') or '-'} ({last['outcome']})"), failed


def _follow(client: NeutronClient, host: str, agents: Sequence[Agent], total: int,
            timeout_s: float, as_json: bool,
            status: Callable[[], dict[str, Any] | None] = lambda: None) -> int:
    """Poll the API until HOST hosts nothing and its agents are admin down, printing the count as it falls. Each
    poll is cheap: the agents list and the bindings of HOST's agents (one call each), never the whole cloud."""
    from rpcdaemon.adapters.neutron.client import NeutronReadError
    from rpcdaemon.model import Snapshot

    started = time.monotonic()
    tty = sys.stdout.isatty() and not as_json
    left, last_left, last_change, disabled = total, None, started, False
    while True:
        try:
            listed = client.fetch_agents()
            dhcp, l3 = client.fetch_bindings([a.id for a in agents if a.is_dhcp], [a.id for a in agents if a.is_l3])
            snap: Snapshot | None = Snapshot(agents=listed, dhcp_bindings=dhcp, l3_bindings=l3)
        except NeutronReadError as exc:
            print(f"rpcdaemon drain: cannot read Neutron (retrying): {exc}", file=sys.stderr)
            snap = None
        if snap is not None:
            mine = [snap.agents[a.id] for a in agents if a.id in snap.agents]
            left = _hosted(snap, mine)
            disabled = all(not a.admin_state_up for a in mine)
            if left != last_left:
                last_left, last_change = left, time.monotonic()
                moved = max(0, total - left)
                current, failed = _moves_of(status(), agents)
                line = (f"{host}: {moved} of {total} moved, {left} left" + (f", {failed} failed" if failed else "")
                        + current)
                if tty:
                    print(f"\r{line}   ", end="", flush=True)
                elif not as_json:
                    print(line, flush=True)
            if left == 0 and disabled:
                break
        now = time.monotonic()
        if now - started >= timeout_s:
            if tty:
                print()
            _say(as_json, {"host": host, "done": False, "left": left, "seconds": round(now - started, 1)},
                 f"{host}: not drained after {timeout_s:.0f}s: {left} resource(s) left"
                 f"{'' if left else ', agents not yet admin down'}; see `rpcdaemon status` (is it running and "
                 "acting?)")
            return 1
        if now - last_change > 120 and not as_json:
            print(f"\n{host}: no progress for {now - last_change:.0f}s: is rpcdaemon running and acting "
                  "(rpcdaemon status)?", file=sys.stderr)
            last_change = now
        time.sleep(POLL_S)
    if tty:
        print()
    elapsed = time.monotonic() - started
    _say(as_json, {"host": host, "done": True, "moved": total, "seconds": round(elapsed, 1)},
         f"{host}: drained in {elapsed:.0f}s ({total} resources moved); its agents are admin down. "
         f"Back in service: rpcdaemon undrain {host}")
    return 0


def _say(as_json: bool, document: dict[str, Any], line: str) -> None:
    print(json.dumps(document) if as_json else line)
