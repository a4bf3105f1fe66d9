"""What the subcommands share: the -c FILE argument with the original's default path, and the exit codes."""

from __future__ import annotations

import argparse

DEFAULT_CONFIG = "/usr/local/etc/rpcdaemon.conf"
EXIT_CONFIG = 2
"""A configuration that cannot work (check-config's problems, a bad coordination URL at start)."""


def config_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-c", dest="config", metavar="FILE", default=DEFAULT_CONFIG,
                        help=f"path to rpcdaemon.conf (default {DEFAULT_CONFIG})")
