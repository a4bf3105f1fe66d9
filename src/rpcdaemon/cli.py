"""The `rpcdaemon` command: the daemon with the original's `-d` and `-c FILE`, and the operator's subcommands.

    rpcdaemon [-d] [-c FILE]                 the daemon (default config /usr/local/etc/rpcdaemon.conf)
    rpcdaemon check-config -c FILE           exit 0 when valid, else 2 and one line per problem
    rpcdaemon plan -c FILE [--json]          one read of the cloud: what the daemon would do now, and why
    rpcdaemon status [--url URL] [--json]    what a running daemon sees and did (reads its /status)
    rpcdaemon dump [-c FILE] [--queue X] [--key K ...] [--match F=GLOB ...] [--json]   bus traffic, redacted
    rpcdaemon emulator --listen HOST:PORT    an emulated Neutron API (demo, tests, benchmarks)
    rpcdaemon demo [--duration S]            the whole story on an emulated cloud, live in the terminal
    rpcdaemon sample-config                  the sample config, generated from the option definitions

Errors a user can cause (bad config, unreachable API, a held pidfile) are one clear message and an exit code,
never a traceback.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time
from collections.abc import Sequence
from types import FrameType

from rpcdaemon import __version__

DEFAULT_CONFIG = "/usr/local/etc/rpcdaemon.conf"
SUBCOMMANDS = ("check-config", "plan", "status", "dump", "emulator", "demo", "sample-config")
EXIT_CONFIG = 2


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] in SUBCOMMANDS:
        command, rest = args[0], args[1:]
        if command == "check-config":
            return check_config_main(rest)
        if command == "plan":
            return plan_main(rest)
        if command == "status":
            from rpcdaemon.status_cli import main as status_main

            return status_main(rest)
        if command == "dump":
            from rpcdaemon.bus.dump import main as dump_main

            return dump_main(rest)
        if command == "emulator":
            from rpcdaemon.emulator.main import main as emulator_main

            return emulator_main(rest)
        if command == "demo":
            from rpcdaemon.demo import main as demo_main

            return demo_main(rest)
        from rpcdaemon.settings import render_sample_config

        sys.stdout.write(render_sample_config())
        return 0
    return daemon_main(args)


def _config_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-c", dest="config", metavar="FILE", default=DEFAULT_CONFIG,
                        help=f"path to rpcdaemon.conf (default {DEFAULT_CONFIG})")


def daemon_main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="rpcdaemon",
        description="Keeps Neutron DHCP networks and routers on live agents. Subcommands: " + ", ".join(SUBCOMMANDS),
    )
    parser.add_argument("-d", dest="foreground", action="store_true",
                        help="do not detach: stay in the foreground, log to stderr, no pidfile")
    _config_arg(parser)
    parser.add_argument("--version", action="version", version=f"rpcdaemon {__version__}")
    opts = parser.parse_args(argv)

    from rpcdaemon.settings import ConfigError, load_settings

    try:
        settings = load_settings(opts.config)
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_CONFIG

    from rpcdaemon import runner
    from rpcdaemon.shell.coordination_url import CoordinationUrlError

    if not opts.foreground:
        try:
            runner.check_pidfile(settings.pidfile)  # before detaching, so the error reaches the terminal
        except (runner.PidfileError, OSError) as exc:
            print(f"rpcdaemon: {exc}", file=sys.stderr)
            return 1
        runner.detach()
        runner.acquire_pidfile(settings.pidfile)
    runner.configure_logging(settings, opts.foreground)
    try:
        daemon = runner.Daemon(settings)
    except CoordinationUrlError as exc:
        runner.LOG.error("%s: [Daemon] coordination_url: %s", opts.config, exc)
        return 2
    try:
        status_server = runner.start_status_server(daemon)
    except OSError as exc:
        runner.LOG.error("cannot serve status on %s:%s: %s", *settings.status_listen, exc)
        return 1

    def on_stop(signum: int, _frame: FrameType | None) -> None:
        runner.LOG.info("signal %s: finishing the changes in flight, then stopping", signal.Signals(signum).name)
        daemon.stop()

    def on_hup(_signum: int, _frame: FrameType | None) -> None:
        daemon.reload(opts.config)

    signal.signal(signal.SIGTERM, on_stop)
    signal.signal(signal.SIGINT, on_stop)
    signal.signal(signal.SIGHUP, on_hup)
    try:
        daemon.run()
    finally:
        if status_server is not None:
            status_server.stop()
        daemon.audit.close()
        if not opts.foreground:
            runner.release_pidfile(settings.pidfile)
    return 0


def check_config_main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="rpcdaemon check-config", description="Validate rpcdaemon.conf.")
    _config_arg(parser)
    opts = parser.parse_args(argv)
    from rpcdaemon.settings import check_config

    problems = check_config(opts.config)
    for problem in problems:
        print(problem)
    if problems:
        return EXIT_CONFIG
    print(f"{opts.config}: OK")
    return 0


def plan_main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="rpcdaemon plan", description="Read the cloud once and print what rpcdaemon would do now; acts on nothing."
    )
    _config_arg(parser)
    parser.add_argument("--json", action="store_true", help="a JSON list of changes")
    opts = parser.parse_args(argv)

    from rpcdaemon.core.liveness import state_from_api
    from rpcdaemon.core.plan import CoreState, make_plan
    from rpcdaemon.reconciler import read_snapshot
    from rpcdaemon.runner import build_client, policy_from
    from rpcdaemon.settings import ConfigError, load_settings
    from rpcdaemon.shell.neutron import NeutronReadError

    try:
        settings = load_settings(opts.config)
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_CONFIG
    policy = policy_from(settings)
    try:
        snapshot = read_snapshot(build_client(settings), policy, CoreState())
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
    print(f"{len(snapshot.agents)} agents ({len(dead)} dead{': ' + ', '.join(dead) if dead else ''}), "
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


if __name__ == "__main__":
    raise SystemExit(main())
