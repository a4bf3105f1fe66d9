"""`rpcdaemon check-config -c FILE`: exit 0 when the file is valid, else 2 and one line per problem."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from rpcdaemon.cli.common import EXIT_CONFIG, config_arg


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="rpcdaemon check-config", description="Validate rpcdaemon.conf.")
    config_arg(parser)
    opts = parser.parse_args(argv)
    from rpcdaemon.config.load import check_config

    problems = check_config(opts.config)
    for problem in problems:
        print(problem)
    if problems:
        return EXIT_CONFIG
    print(f"{opts.config}: OK")
    return 0
