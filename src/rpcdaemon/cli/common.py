"""What the subcommands share: the -c FILE argument with the original's default path, and the exit codes."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from rpcdaemon.config.settings import DEFAULT_CONFIG

if TYPE_CHECKING:
    from rpcdaemon.config.settings import Settings

__all__ = ["DEFAULT_CONFIG", "EXIT_CONFIG", "config_arg", "load_or_say"]

EXIT_CONFIG = 2
"""A configuration that cannot work (check-config's problems, a bad coordination URL at start)."""


def load_or_say(path: str) -> Settings | None:
    """The settings of `path`, or None after printing every problem on stderr (the caller exits EXIT_CONFIG)."""
    from rpcdaemon.config.load import load_settings
    from rpcdaemon.config.settings import ConfigError

    try:
        return load_settings(path)
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        return None


def config_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-c", dest="config", metavar="FILE", default=DEFAULT_CONFIG,
                        help=f"path to rpcdaemon.conf (default {DEFAULT_CONFIG})")
