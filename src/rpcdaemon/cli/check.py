"""`rpcdaemon check-config -c FILE [--online]`: exit 0 when the file is valid, else 2 and one line per problem.

A valid file also gets its warnings (what works but is probably not meant) and which way to Neutron is in force
(a clouds.yaml cloud, a neutron_endpoint, or a conffile's Keystone credentials), never with a secret.
`--online` then reads the cloud once with those credentials, as the daemon would: a token, the endpoint, the admin
role (refused: exit 1), the agents by type and mode, and how many changes the first pass would make (a
`dhcp_agents_per_network = all` on a large cloud is thousands of new DHCP ports: better known before the start)."""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from rpcdaemon.cli.common import EXIT_CONFIG, config_arg

if TYPE_CHECKING:
    from rpcdaemon.config.settings import Settings

LARGE_DHCP_ADDS = 100
"""So many networks added to DHCP agents by the first pass deserve a word before the start."""


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="rpcdaemon check-config", description="Validate rpcdaemon.conf.")
    config_arg(parser)
    parser.add_argument("--online", action="store_true",
                        help="also read the cloud once: credentials, admin role, agents, the first pass's changes")
    opts = parser.parse_args(argv)
    from rpcdaemon.config.load import load_settings
    from rpcdaemon.config.settings import ConfigError

    try:
        settings = load_settings(opts.config)
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem)
        return EXIT_CONFIG
    from rpcdaemon.adapters.neutron.errors import NeutronConfigError
    from rpcdaemon.daemon.compose import check_way_to_neutron

    try:
        check_way_to_neutron(settings)  # offline: a cloud clouds.yaml does not hold, no credentials at all
    except NeutronConfigError as exc:
        print(f"{opts.config}: {exc}")
        return EXIT_CONFIG
    for warning in settings.warnings:
        print(f"WARNING: {warning}")
    print(f"{opts.config}: Neutron through {settings.credentials_in_force}")
    if opts.online:
        code = _online(opts.config, settings)
        if code:
            return code
    print(f"{opts.config}: OK")
    return 0


def _online(path: str, settings: Settings) -> int:
    """One read of the cloud and one plan, as `plan` makes them; 1 when the cloud refuses or cannot be read."""
    from collections import Counter

    from rpcdaemon.adapters.neutron.errors import NeutronReadError
    from rpcdaemon.core.liveness import state_from_api
    from rpcdaemon.core.plan import CoreState, make_plan
    from rpcdaemon.daemon.compose import build_client
    from rpcdaemon.daemon.reconciler import read_snapshot

    client = build_client(settings)
    _usable, why = client.probe()  # online, even "down for now" is an answer worth exit 1
    if why is not None:
        print(f"{path}: {why}")
        return 1
    policy = settings.policy()
    try:
        snapshot = read_snapshot(client, policy, CoreState())
    except NeutronReadError as exc:
        print(f"{path}: cannot read Neutron: {exc}")
        return 1
    print(f"{path}: a token was issued, the network endpoint answered, the admin role is effective")
    kinds = Counter((a.agent_type, a.agent_mode.value if a.agent_type == "L3 agent" else "-", a.alive)
                    for a in snapshot.agents.values())
    for (agent_type, mode, alive), count in sorted(kinds.items()):
        shown = f"{agent_type} ({mode})" if mode != "-" else agent_type
        print(f"{path}: {count} {shown} {'alive' if alive else 'dead'}")
    print(f"{path}: {len(snapshot.networks)} networks, {len(snapshot.routers)} routers")
    now = time.monotonic()
    plan, _ = make_plan(snapshot, CoreState(liveness=state_from_api(snapshot.agents, now, policy)), now, policy)
    actions = Counter(c.action.value for c in plan.changes)
    print(f"{path}: the first pass would make {len(plan.changes)} change(s)"
          + (": " + ", ".join(f"{n} {a}" for a, n in sorted(actions.items())) if actions else ""))
    adds = actions.get("add_network", 0)
    if adds >= LARGE_DHCP_ADDS:
        print(f"WARNING: {path}: {adds} networks would be added to DHCP agents at once: each is a new DHCP port "
              "and a dnsmasq on its agent (dhcp_agents_per_network)")
    for note in plan.notes:
        print(f"{path}: HOLD: {note}")
    return 0
