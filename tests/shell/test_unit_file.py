"""etc/rpcdaemon.service against the code (issue 13): the unit must start the daemon with the config the CLI reads
by default (the unit said /etc/rpcdaemon.conf while `rpcdaemon` and the README said /usr/local/etc/rpcdaemon.conf),
and its hardening must leave the daemon able to read neutron.conf and clouds.yaml."""

from __future__ import annotations

import configparser
import shlex
from pathlib import Path

from rpcdaemon.adapters.bus.dump import DEFAULT_CONFIG as DUMP_DEFAULT_CONFIG
from rpcdaemon.cli.common import DEFAULT_CONFIG

UNIT = Path(__file__).resolve().parents[2] / "etc" / "rpcdaemon.service"


def service() -> configparser.SectionProxy:
    parser = configparser.ConfigParser(interpolation=None, strict=True)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(UNIT.read_text(), source=str(UNIT))
    return parser["Service"]


def test_the_unit_starts_the_daemon_with_the_cli_default_config() -> None:
    argv = shlex.split(service()["ExecStart"])
    assert argv[0].endswith("/rpcdaemon") and "-d" in argv
    assert argv[argv.index("-c") + 1] == DEFAULT_CONFIG == DUMP_DEFAULT_CONFIG
    assert DEFAULT_CONFIG in UNIT.read_text().split("[Unit]")[0]  # the install note names the same path


def test_the_hardened_unit_can_read_neutron_conf_and_clouds_yaml() -> None:
    unit = service()
    assert unit["ProtectSystem"] == "strict" and unit["DynamicUser"] == "yes"
    assert "neutron" in unit["SupplementaryGroups"].split()  # /etc/neutron is root:neutron 0750 on every distro
    readable = unit["ReadOnlyPaths"].split()
    assert {"-/etc/neutron", "-/etc/openstack", f"-{DEFAULT_CONFIG}"} <= set(readable)
