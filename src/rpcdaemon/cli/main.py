"""The `rpcdaemon` command: the daemon with the original's `-d` and `-c FILE`, and the operator's subcommands.

    rpcdaemon [-d] [-c FILE]                 the daemon (default config /usr/local/etc/rpcdaemon.conf)
    rpcdaemon check-config -c FILE           exit 0 when valid, else 2 and one line per problem
    rpcdaemon plan -c FILE [--json]          one read of the cloud: what the daemon would do now, and why
    rpcdaemon status [--url URL] [--json]    what a running daemon sees and did (reads its /status)
    rpcdaemon drain HOST [--dry-run] [--wait] [--json]   empty a network node for maintenance (the daemon acts)
    rpcdaemon undrain HOST                   put it back in service
    rpcdaemon rebalance [--max-moves N] [--dry-run] [--json]   one rebalancing round, as the only actor
    rpcdaemon dump [-c FILE] [--queue X] [--key K ...] [--match F=GLOB ...] [--json]   bus traffic, redacted
    rpcdaemon emulator --listen HOST:PORT    an emulated Neutron API (demo, tests, benchmarks)
    rpcdaemon demo [--duration S]            the whole story on an emulated cloud, live in the terminal
    rpcdaemon sample-config                  the sample config, generated from the option definitions

Each subcommand lives in a module of its own and is imported only when asked for (`check-config` must not pay for
openstacksdk). Errors a user can cause are one clear message and an exit code, never a traceback.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

SUBCOMMANDS = ("check-config", "plan", "status", "drain", "undrain", "rebalance", "dump", "emulator", "demo",
               "sample-config")


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] in SUBCOMMANDS:
        command, rest = args[0], args[1:]
        if command == "check-config":
            from rpcdaemon.cli.check import main as check_main

            return check_main(rest)
        if command == "plan":
            from rpcdaemon.cli.plan import main as plan_main

            return plan_main(rest)
        if command == "status":
            from rpcdaemon.cli.status import main as status_main

            return status_main(rest)
        if command in ("drain", "undrain"):
            from rpcdaemon.cli.drain import main as drain_main

            return drain_main(rest, undrain=command == "undrain")
        if command == "rebalance":
            from rpcdaemon.cli.rebalance import main as rebalance_main

            return rebalance_main(rest)
        if command == "dump":
            from rpcdaemon.adapters.bus.dump import main as dump_main

            return dump_main(rest)
        if command == "emulator":
            from rpcdaemon.emulator.main import main as emulator_main

            return emulator_main(rest)
        if command == "demo":
            from rpcdaemon.cli.demo import main as demo_main

            return demo_main(rest)
        from rpcdaemon.config.settings import render_sample_config

        sys.stdout.write(render_sample_config())
        return 0
    from rpcdaemon.cli.run import main as run_main

    return run_main(args, SUBCOMMANDS)


if __name__ == "__main__":
    raise SystemExit(main())
