"""`rpcdaemon check-config -c FILE`: exit 0 when the file is valid, else 2 and one line per problem.

A valid file also gets its warnings (what works but is probably not meant) and which way to Neutron is in force
(a clouds.yaml cloud, a neutron_endpoint, or a conffile's Keystone credentials), never with a secret."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from rpcdaemon.cli.common import EXIT_CONFIG, config_arg


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="rpcdaemon check-config", description="Validate rpcdaemon.conf.")
    config_arg(parser)
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
    print(f"{opts.config}: OK")
    return 0
