"""`rpcdaemon plan -c FILE [--json]`: one read of the cloud and what the daemon would do now, and why; acts on
nothing (a dry run an operator can read before trusting the daemon, or during an incident)."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence

from rpcdaemon.cli.common import EXIT_CONFIG, config_arg, load_or_say


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="rpcdaemon plan", description="Read the cloud once and print what rpcdaemon would do now; acts on nothing."
    )
    config_arg(parser)
    parser.add_argument("--json", action="store_true", help="a JSON list of changes")
    opts = parser.parse_args(argv)

    from rpcdaemon.adapters.neutron.client import NeutronReadError
    from rpcdaemon.adapters.neutron.errors import NeutronConfigError
    from rpcdaemon.core.liveness import out_of_service, state_from_api
    from rpcdaemon.core.plan import CoreState, make_plan
    from rpcdaemon.daemon.compose import build_client
    from rpcdaemon.daemon.reconciler import read_snapshot

    settings = load_or_say(opts.config)
    if settings is None:
        return EXIT_CONFIG
    policy = settings.policy()
    try:
        client = build_client(settings)
    except NeutronConfigError as exc:
        print(f"rpcdaemon plan: {opts.config}: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    usable, why = client.probe()  # a token, the endpoint, the admin role: refused is one line, not an empty plan
    if not usable:
        print(f"rpcdaemon plan: {why}", file=sys.stderr)
        return 1
    try:
        snapshot = read_snapshot(client, policy, CoreState())
    except NeutronReadError as exc:
        print(f"rpcdaemon plan: cannot read Neutron: {exc}", file=sys.stderr)
        return 1
    now = time.monotonic()
    state = CoreState(liveness=state_from_api(snapshot.agents, now, policy))
    plan, _ = make_plan(snapshot, state, now, policy)
    if opts.json:
        print(json.dumps([c.as_dict() for c in plan.changes], indent=2))
        return 0
    hosts = {a.id: a.host for a in snapshot.agents.values()}
    dead = sorted(hosts[a] for a, v in plan.verdicts.items() if v.is_dead)
    idle = sorted(hosts[a] for a, (what, _) in out_of_service(snapshot.agents, plan.verdicts, policy).items()
                  if what == "admin down")
    print(f"{len(snapshot.agents)} agents ({len(dead)} dead{': ' + ', '.join(dead) if dead else ''}"
          f"{f'; {len(idle)} admin down and served nothing: ' + ', '.join(idle) if idle else ''}), "
          f"{len(snapshot.networks)} networks, {len(snapshot.routers)} routers")
    for note in plan.notes:
        print(f"HOLD: {note}")
    if not plan.changes:
        print("nothing to do")
    for change in plan.changes:
        src = hosts.get(change.from_agent, change.from_agent) if change.from_agent else "-"
        dst = hosts.get(change.to_agent, change.to_agent) if change.to_agent else "-"
        print(f"{change.action.value:<18} {change.resource_type.value} {change.resource_id}  {src} -> {dst}  "
              f"({change.reason})")
    return 0
