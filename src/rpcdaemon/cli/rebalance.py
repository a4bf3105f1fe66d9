"""`rpcdaemon rebalance [--max-moves N] [--dry-run] [--json]`: one rebalancing round, now.

The daemon rebalances by itself at `rebalance_moves_per_minute` when `[L3Agent] rebalance` / `[DHCPAgent] rebalance`
are on; this is the one-shot for an operator who keeps them off, or wants it done now. It plans with the core's own
rule (core/rebalance.py: standby HA replicas, DHCP networks with a number per network, legacy routers only with
`rebalance = all`; only in a calm cloud), so it never takes an active replica nor fights a failover.

One actor, always: to act, the command must be the actor. With a coordination backend it takes the leader lock of
the daemon's group for its run (a running leader holds it: the command refuses, and says to let the daemon rebalance
or to stop it); without one, it refuses while a daemon holds the pidfile on this host. `--dry-run` needs neither.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from rpcdaemon.cli.common import EXIT_CONFIG, config_arg, load_or_say

if TYPE_CHECKING:
    from rpcdaemon.adapters.neutron.client import NeutronClient
    from rpcdaemon.config.settings import Settings
    from rpcdaemon.core.actions import Change

ROUNDS = 50


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="rpcdaemon rebalance",
                                     description="Move load from the most to the least loaded agents, once.")
    config_arg(parser)
    parser.add_argument("--max-moves", type=int, default=20, metavar="N", help="at most N moves (default 20)")
    parser.add_argument("--dry-run", action="store_true", help="print what would move where; change nothing")
    parser.add_argument("--json", action="store_true", help="print the moves as JSON")
    opts = parser.parse_args(argv)
    if opts.max_moves < 1:
        print("rpcdaemon rebalance: --max-moves must be at least 1", file=sys.stderr)
        return EXIT_CONFIG
    settings = load_or_say(opts.config)
    if settings is None:
        return EXIT_CONFIG
    from rpcdaemon.cli.drain import _client

    client = _client(settings, opts.config, "rpcdaemon rebalance")
    if isinstance(client, int):
        return client
    if opts.dry_run:
        return _report(_plan(client, settings, opts.max_moves), opts.json, acted=False)
    return _act(client, settings, opts.max_moves, opts.json)


def _plan(client: NeutronClient, settings: Settings, max_moves: int) -> list[Change]:
    """The moves of one round: planned as the daemon would, with the ha_state of the replicas it may take."""
    from rpcdaemon.core.liveness import state_from_api
    from rpcdaemon.core.plan import CoreState, make_plan
    from rpcdaemon.core.rebalance import calm
    from rpcdaemon.daemon.reconciler import read_snapshot

    policy = settings.policy()
    policy = replace(policy, l3_rebalance=policy.l3_rebalance if policy.l3_rebalance != "off" else "ha",
                     dhcp_rebalance=True, rebalance_moves_per_minute=max_moves)
    snapshot = read_snapshot(client, policy, CoreState())
    now = 1_000_000.0
    state = CoreState(liveness=state_from_api(snapshot.agents, now, policy))
    plan, _ = make_plan(snapshot, state, now, policy)
    if plan.wants_ha_states:
        snapshot = replace(snapshot, ha_states=client.fetch_ha_states(sorted(plan.wants_ha_states)))
        plan, _ = make_plan(snapshot, state, now, policy)
    for note in plan.notes:
        print(f"HOLD: {note}", file=sys.stderr)
    why = calm(snapshot, plan.verdicts)
    if why is not None:
        print(f"HOLD: no rebalancing while {why}", file=sys.stderr)
    return [c for c in plan.changes if c.reason.startswith("rebalancing")]


def _act(client: NeutronClient, settings: Settings, max_moves: int, as_json: bool) -> int:
    from rpcdaemon.adapters.audit import AuditLog
    from rpcdaemon.daemon.executor import Executor

    member = f"rpcdaemon-rebalance-{socket.gethostname()}-{os.getpid()}"
    cluster = None
    if settings.coordination_url:
        from rpcdaemon.adapters.coordination import Cluster
        from rpcdaemon.core.leadership import LeaseTiming, Role

        cluster = Cluster(settings.coordination_url, settings.coordination_group, member,
                          LeaseTiming(settings.coordination_lease_s))
        cluster.tick()
        if cluster.role is not Role.LEADER:
            cluster.stop()
            print("rpcdaemon rebalance: a running rpcdaemon leads this cloud (it holds the leader lock of "
                  f"{settings.coordination_group}): only it acts. Let it rebalance ([L3Agent] rebalance, "
                  "[DHCPAgent] rebalance), or stop it first; --dry-run shows the moves", file=sys.stderr)
            return 1
    else:
        from rpcdaemon.daemon.pidfile import PidfileError, check_pidfile

        try:
            check_pidfile(settings.pidfile)
        except PidfileError as exc:
            print(f"rpcdaemon rebalance: {exc}: only it acts. Let it rebalance ([L3Agent] rebalance, "
                  "[DHCPAgent] rebalance), or stop it first; --dry-run shows the moves", file=sys.stderr)
            return 1
    try:
        changes = _plan(client, settings, max_moves)
        executor = Executor(client.apply_call, AuditLog(settings.audit_log), max_concurrency=settings.max_concurrency,
                            retries=settings.api_retries, member=member,
                            may_act=cluster.may_act if cluster is not None else (lambda: True))
        results = executor.run(changes)
    finally:
        if cluster is not None:
            cluster.stop()
    failed = [r for r in results if not r.ok]
    _report(changes, as_json, acted=True, failed=len(failed))
    return 1 if failed else 0


def _report(changes: Sequence[Change], as_json: bool, acted: bool, failed: int = 0) -> int:
    if as_json:
        print(json.dumps({"moves": [c.as_dict() for c in changes], "done": acted, "failed": failed}, indent=2))
        return 0
    for change in changes:
        print(f"{change.action.value:<18} {change.resource_type.value} {change.resource_id}  {change.from_agent} -> "
              f"{change.to_agent}  ({change.reason})")
    verb = "moved" if acted else "would move"
    print(f"{len(changes) - failed} {verb}" + (f", {failed} failed" if failed else "")
          + ("" if changes else ": balanced, or not calm (see HOLD lines)"))
    return 0
