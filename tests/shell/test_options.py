"""The option table is the one source of defaults: Settings, default_settings() and the core's Policy agree with it.

Settings' field defaults are derived from the table, and Policy (in the pure core, which may not read the table)
keeps defaults of its own; these tests fail when any of them drifts from what the table says, and when an option is
added to the table without saying which Settings field holds it.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import fields, replace
from pathlib import Path

import pytest

from rpcdaemon.config.coordination_url import group_name
from rpcdaemon.config.kinds import Kind
from rpcdaemon.config.load import check_config, load_settings
from rpcdaemon.config.options import OPTIONS, SECTIONS, Option, find_option, option
from rpcdaemon.config.settings import Settings, default_settings
from rpcdaemon.core.policy import Policy

Read = Callable[[Settings], object]


def at(path: str) -> Read:
    return operator.attrgetter(path)


FIELD: dict[tuple[str, str], Read] = {
    ("Daemon", "plugins"): at("plugins"),
    ("Daemon", "rpchost"): lambda s: s.rpchost or None,  # unset is "" in Settings
    ("Daemon", "rpc_ssl_ca_file"): lambda s: s.rpc_ssl.get("ca_certs"),
    ("Daemon", "rpc_ssl_cert_file"): lambda s: s.rpc_ssl.get("certfile"),
    ("Daemon", "rpc_ssl_key_file"): lambda s: s.rpc_ssl.get("keyfile"),
    ("Daemon", "pidfile"): at("pidfile"),
    ("Daemon", "logfile"): at("logfile"),
    ("Daemon", "loglevel"): at("loglevel"),
    ("Daemon", "log_format"): at("log_format"),
    ("Daemon", "use_syslog"): at("use_syslog"),
    ("Daemon", "syslog_facility"): at("syslog_facility"),
    ("Daemon", "check_interval"): at("check_interval_s"),
    ("Daemon", "min_pass_interval"): at("min_pass_interval_s"),
    ("Daemon", "resync_interval"): at("resync_interval_s"),
    ("Daemon", "cloud"): at("cloud"),
    ("Daemon", "neutron_endpoint"): at("neutron_endpoint"),
    ("Daemon", "agent_down_time"): at("agent_down_time_s"),
    ("Daemon", "hold_down"): at("hold_down_s"),
    ("Daemon", "max_dead_fraction"): at("max_dead_fraction"),
    ("Daemon", "max_evacuations_per_minute"): at("max_evacuations_per_minute"),
    ("Daemon", "max_concurrency"): at("max_concurrency"),
    ("Daemon", "api_retries"): at("api_retries"),
    ("Daemon", "dry_run"): at("dry_run"),
    ("Daemon", "audit_log"): at("audit_log"),
    ("Daemon", "status_listen"): at("status_listen"),
    ("Daemon", "status_token"): at("status_token"),
    ("Daemon", "status_token_file"): at("status_token_file"),
    ("Daemon", "status_tls_cert"): lambda s: s.status_tls[0] if s.status_tls else None,
    ("Daemon", "status_tls_key"): lambda s: s.status_tls[1] if s.status_tls else None,
    ("Daemon", "coordination_url"): at("coordination_url"),
    ("Daemon", "coordination_lease"): at("coordination_lease_s"),
    ("Daemon", "coordination_group"): lambda s: None if s.coordination_group == group_name(None, None)
                                       else s.coordination_group,  # unset: named after the cloud
    ("L3Agent", "conffile"): at("l3.conffile"),
    ("L3Agent", "loglevel"): lambda s: None if s.l3.loglevel == s.loglevel else s.l3.loglevel,  # unset: Daemon's
    ("L3Agent", "timeout"): at("l3.timeout_s"),
    ("L3Agent", "queue_expire"): at("l3.queue_expire_s"),
    ("L3Agent", "ha_replicas"): at("l3.ha_replicas"),
    ("L3Agent", "rebalance"): at("l3.rebalance"),
    ("DHCPAgent", "rebalance"): at("dhcp.rebalance"),
    ("Daemon", "rebalance_moves_per_minute"): at("rebalance_moves_per_minute"),
    ("Daemon", "verify_timeout"): at("verify_timeout_s"),
    ("Daemon", "verify_attempts"): at("verify_attempts"),
    ("DHCPAgent", "conffile"): at("dhcp.conffile"),
    ("DHCPAgent", "loglevel"): lambda s: None if s.dhcp.loglevel == s.loglevel else s.dhcp.loglevel,
    ("DHCPAgent", "timeout"): at("dhcp.timeout_s"),
    ("DHCPAgent", "queue_expire"): at("dhcp.queue_expire_s"),
    ("DHCPAgent", "dhcp_agents_per_network"): at("dhcp.agents_per_network"),
    ("Dump", "loglevel"): at("dump.loglevel"),
    ("Dump", "queue"): at("dump.queue"),
}
"""Where Settings holds each option (read back as the table would give it)."""

IDS = [f"{o.section}.{o.name}" for o in OPTIONS]


def unset(o: Option) -> object:
    """What the table says an option is when no file sets it: its default, else its fallback."""
    value = o.default_value
    return o.fallback_value if value is None else value


def test_every_option_says_where_settings_holds_it() -> None:
    assert set(FIELD) == {(o.section, o.name) for o in OPTIONS}
    assert {o.section for o in OPTIONS} == set(SECTIONS)


@pytest.mark.parametrize("o", OPTIONS, ids=IDS)
def test_each_default_parses_to_the_settings_default(o: Option) -> None:
    assert FIELD[(o.section, o.name)](Settings()) == unset(o)
    assert FIELD[(o.section, o.name)](default_settings()) == unset(o)


@pytest.mark.parametrize("o", [o for o in OPTIONS if o.fallback], ids=[f"{o.section}.{o.name}" for o in OPTIONS
                                                                        if o.fallback])
def test_a_fallback_is_for_an_option_without_default_and_its_help_says_it(o: Option) -> None:
    assert o.default == "" and o.fallback_value is not None
    assert f"else {o.fallback}." in o.help


def test_default_settings_are_what_an_empty_file_gives(tmp_path: Path) -> None:
    path = tmp_path / "rpcdaemon.conf"
    path.write_text("")
    assert load_settings(str(path)) == replace(default_settings(), source=str(path))
    assert default_settings() == Settings()


def test_an_empty_value_is_the_default_unless_its_kind_says_otherwise(tmp_path: Path) -> None:
    path = tmp_path / "rpcdaemon.conf"
    path.write_text("".join(f"[{section}]\n" + "".join(f"{o.name} =\n" for o in OPTIONS if o.section == section)
                            for section in SECTIONS))
    given = load_settings(str(path))
    assert given.plugins == () and given.status_listen == ("", 0)  # empty: no plugin; not served
    assert given == replace(default_settings(), source=str(path), plugins=(), status_listen=("", 0))


def test_an_empty_check_interval_is_checked_like_the_default(tmp_path: Path) -> None:
    """Empty means the default (5 s), which must be less than agent_down_time as much as a value given is."""
    path = tmp_path / "rpcdaemon.conf"
    path.write_text("[Daemon]\nagent_down_time = 3\ncheck_interval =\n")
    assert check_config(str(path)) == [f"{path}: [Daemon] check_interval: must be less than agent_down_time (3s "
                                       f"from {path}): liveness is observed between passes"]


TABLE_IN_POLICY = {
    "dead_after_s": ("Daemon", "agent_down_time"),
    "hold_down_s": ("Daemon", "hold_down"),
    "max_dead_fraction": ("Daemon", "max_dead_fraction"),
    "max_evacuations_per_minute": ("Daemon", "max_evacuations_per_minute"),
    "dhcp_agents_per_network": ("DHCPAgent", "dhcp_agents_per_network"),
    "ha_replicas": ("L3Agent", "ha_replicas"),
    "l3_rebalance": ("L3Agent", "rebalance"),
    "dhcp_rebalance": ("DHCPAgent", "rebalance"),
    "rebalance_moves_per_minute": ("Daemon", "rebalance_moves_per_minute"),
    "verify_timeout_s": ("Daemon", "verify_timeout"),
    "verify_attempts": ("Daemon", "verify_attempts"),
}


def test_policy_defaults_equal_the_table() -> None:
    """The core cannot import the table, so Policy restates these defaults; here they are held to it."""
    defaults = Policy()
    for name, (section, option_name) in TABLE_IN_POLICY.items():
        assert getattr(defaults, name) == unset(option(section, option_name)), name
    assert default_settings().policy() == defaults


def test_settings_policy_carries_every_knob(tmp_path: Path) -> None:
    path = tmp_path / "rpcdaemon.conf"
    path.write_text("[Daemon]\nplugins = DHCPAgent\nagent_down_time = 40\nhold_down = 7\nmax_dead_fraction = 0.25\n"
                    "max_evacuations_per_minute = 4\n[L3Agent]\nha_replicas = 2\n"
                    "[DHCPAgent]\ndhcp_agents_per_network = 2\n")
    policy = load_settings(str(path)).policy()
    assert policy == replace(Policy(), dead_after_s=40.0, hold_down_s=7.0, max_dead_fraction=0.25,
                             max_evacuations_per_minute=4, ha_replicas=2, dhcp_agents_per_network=2,
                             manage_l3=False, manage_dhcp=True)
    assert {f.name for f in fields(Policy)} >= set(TABLE_IN_POLICY)


class Unbounded:
    minimum: float | None = None
    maximum: float | None = None


@pytest.mark.parametrize(("kind", "text", "value"), [
    (Kind.STR, "x y", "x y"),
    (Kind.BOOL, "On", True),
    (Kind.BOOL, "no", False),
    (Kind.INT, "7", 7),
    (Kind.SECONDS, "1.5", 1.5),
    (Kind.FRACTION, "0.25", 0.25),
    (Kind.LOGLEVEL, "warning", "WARNING"),
    (Kind.PLUGINS, "Dump L3Agent Dump", ("Dump", "L3Agent")),
    (Kind.PATH, "/var/x", "/var/x"),
    (Kind.FILE, __file__, __file__),
    (Kind.URL, "https://h:9696", "https://h:9696"),
    (Kind.HOSTPORT, "[::1]:80", ("::1", 80)),
    (Kind.ALL_OR_INT, "ALL", None),
    (Kind.ALL_OR_INT, "2", 2),
])
def test_each_kind_parses_its_values(kind: Kind, text: str, value: object) -> None:
    assert kind.parse(text, Unbounded()) == value


@pytest.mark.parametrize(("kind", "text", "message"), [
    (Kind.BOOL, "maybe", "must be true or false"),
    (Kind.INT, "1.5", "must be an integer"),
    (Kind.SECONDS, "soon", "must be a number"),
    (Kind.SECONDS, "inf", "must be a finite number"),
    (Kind.FRACTION, "0", "must be more than 0"),
    (Kind.LOGLEVEL, "LOUD", "must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL"),
    (Kind.PLUGINS, "L3agent", "unknown plugin 'L3agent' (did you mean 'L3Agent'?)"),
    (Kind.FILE, "/nonexistent/x", "file /nonexistent/x does not exist"),
    (Kind.URL, "ftp://h", "must be an http:// or https:// URL"),
    (Kind.HOSTPORT, "h:99999", "must be HOST:PORT"),
    (Kind.ALL_OR_INT, "some", "must be an integer"),
])
def test_each_kind_says_what_is_wrong(kind: Kind, text: str, message: str) -> None:
    with pytest.raises(ValueError) as info:
        kind.parse(text, Unbounded())
    assert str(info.value) == message


def test_an_option_names_its_bounds_and_shows_a_value_only_when_it_cannot_be_a_secret() -> None:
    lease = option("Daemon", "coordination_lease")
    with pytest.raises(ValueError, match=r"^must be at least 2 \(got '1'\)$"):
        lease.parse("1")
    with pytest.raises(ValueError, match=r"^must be at most 300 \(got '301'\)$"):
        lease.parse("301")
    endpoint = option("Daemon", "neutron_endpoint")
    with pytest.raises(ValueError, match=r"^must be an http:// or https:// URL$"):
        endpoint.parse("ftp://admin:pw@h/")
    assert find_option("Daemon", "nope") is None
