"""rpcdaemon.conf -> Settings; every problem names the file, the section and the option.

The original rpcdaemon's file is accepted unchanged. All problems are collected before failing, so an operator
fixes a file in one round, and each says what is wrong and, for a misspelt name, what was probably meant.
No message ever quotes a line of a config file whole (configparser's own errors do: a misplaced
`status_token = ...` or a neutron.conf `connection = mysql://user:password@...` would be printed by check-config and
logged on a refused reload); parse errors name the file, the line number and what is wrong, values are shown only
for options that cannot hold a secret, and every message goes through rpcdaemon's one redaction.

Each option parses and checks its own value (options.py, kinds.py); what is left here is reading the file, the
checks that span options or files (cloud or endpoint, neutron.conf, check_interval below agent_down_time, the bus
and coordination URLs) and putting Settings together. From neutron.conf come agent_down_time,
max_l3_agents_per_router (each unless rpcdaemon.conf sets its own) and enable_services_on_agents_with_admin_state_down
(whether an admin-down agent still serves: Neutron's, never rpcdaemon's to choose).
"""

from __future__ import annotations

import configparser
from pathlib import Path
from typing import Any

from rpcdaemon.config.bus_url import BusUrlError, broker_urls
from rpcdaemon.config.coordination_url import CoordinationUrlError, check_coordination_url, group_name
from rpcdaemon.config.credentials import CredentialError, Credentials, from_conffile
from rpcdaemon.config.kinds import Kind, did_you_mean
from rpcdaemon.config.options import OPTIONS, SECTIONS, option, option_names
from rpcdaemon.config.settings import (
    DEFAULT_AGENT_DOWN_TIME,
    DEFAULT_HA_REPLICAS,
    NO_CREDENTIALS,
    ConfigError,
    DHCPSettings,
    DumpSettings,
    L3Settings,
    Settings,
)
from rpcdaemon.config.status_port import (
    is_loopback,
    read_token_file,
    server_context,
    token_file_exposed,
)
from rpcdaemon.redaction import redact_text

__all__ = ["check_config", "load_settings"]


def check_config(path: str) -> list[str]:
    try:
        load_settings(path)
    except ConfigError as exc:
        return exc.problems
    return []


class _Reader:
    """Typed reads of one parsed file, recording problems instead of raising."""

    def __init__(self, path: str, parser: configparser.ConfigParser) -> None:
        self.path = path
        self.parser = parser
        self.problems: list[str] = []

    def problem(self, section: str, name: str, message: str) -> None:
        self.problems.append(redact_text(f"{self.path}: [{section}] {name}: {message}"))

    def raw(self, section: str, name: str) -> str:
        if self.parser.has_section(section) and self.parser.has_option(section, name):
            return self.parser.get(section, name, raw=True).strip()
        return option(section, name).default

    def get(self, section: str, name: str) -> object:
        """The option's value in the file, or its default where the file leaves it unset (absent, or empty where
        empty means nothing of its own): None for an option without a default. A bad value is recorded as a
        problem and reads as the default, so the checks that follow still see a value of the right type."""
        row = option(section, name)
        try:
            value = row.parse(self.raw(section, name))
        except ValueError as exc:
            self.problem(section, name, str(exc))
            value = None
        return row.default_value if value is None else value


def load_settings(path: str) -> Settings:
    parser = configparser.ConfigParser(interpolation=None, strict=False, default_section="DEFAULT")
    parser.optionxform = str.lower  # type: ignore[assignment,method-assign]
    try:
        content = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([f"{path}: config file not found"]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([f"{path}: cannot read the config file: {exc}"]) from None
    try:
        parser.read_string(content, source=path)
    except configparser.Error as exc:
        raise ConfigError(ini_problems(path, exc)) from None

    r = _Reader(path, parser)
    for section in parser.sections():
        if section not in SECTIONS:
            r.problems.append(f"{path}: [{section}]: unknown section{did_you_mean(section, SECTIONS)}")
            continue
        known = option_names(section)
        defaults = set(parser.defaults())
        for name in parser.options(section):
            if name not in known and name not in defaults:
                r.problem(section, name, f"unknown option{did_you_mean(name, known)}")

    v = {(o.section, o.name): r.get(o.section, o.name) for o in OPTIONS}

    def text(section: str, name: str) -> str | None:
        value = v[(section, name)]
        return value if isinstance(value, str) and value else None

    def string(section: str, name: str) -> str:
        value = v[(section, name)]
        assert isinstance(value, str), (section, name)  # every option read here has a default
        return value

    def number(section: str, name: str) -> float:
        value = v[(section, name)]
        assert isinstance(value, int | float), (section, name)  # every option read here has a default
        return float(value)

    def count(section: str, name: str) -> int:
        value = v[(section, name)]
        assert isinstance(value, int), (section, name)  # every option read here has a default
        return value

    cloud, endpoint = text("Daemon", "cloud"), text("Daemon", "neutron_endpoint")
    if cloud and endpoint:
        r.problem("Daemon", "neutron_endpoint", "set either cloud or neutron_endpoint, not both")
    loglevel = string("Daemon", "loglevel")

    def plugin(section: str) -> dict[str, Any]:
        """What the L3 and DHCP sections have in common, as PluginSettings' fields."""
        return {
            "conffile": text(section, "conffile"),
            "loglevel": text(section, "loglevel") or loglevel,
            "timeout_s": number(section, "timeout"),
            "queue_expire_s": number(section, "queue_expire"),
        }

    l3_common, dhcp_common = plugin("L3Agent"), plugin("DHCPAgent")
    neutron: list[tuple[str, str, configparser.ConfigParser]] = []
    for section, common in (("L3Agent", l3_common), ("DHCPAgent", dhcp_common)):
        conffile = common["conffile"]
        if conffile is not None:
            neutron_conf = _read_neutron_conf(conffile, r, section)
            if neutron_conf is not None:
                neutron.append((section, conffile, neutron_conf))

    credentials, in_force = _credentials(r, neutron, cloud, endpoint)

    own_down_time = v[("Daemon", "agent_down_time")]
    if isinstance(own_down_time, float):
        down_time, origin = own_down_time, path
    else:
        found = _neutron_value(r, neutron, "agent_down_time", _least("Daemon", "agent_down_time"),
                               "an integer number of seconds")
        down_time, origin = (float(found[0]), found[1]) if found is not None else (DEFAULT_AGENT_DOWN_TIME, "default")
    ha_replicas = v[("L3Agent", "ha_replicas")]
    if not isinstance(ha_replicas, int):
        found = _neutron_value(r, neutron, "max_l3_agents_per_router", _least("L3Agent", "ha_replicas"),
                               "an integer", zero="0 (every agent) cannot be followed: set [L3Agent] ha_replicas")
        ha_replicas = found[0] if found is not None else DEFAULT_HA_REPLICAS
    services_on_admin_down = _neutron_flag(r, neutron, "enable_services_on_agents_with_admin_state_down")
    per_network = v[("DHCPAgent", "dhcp_agents_per_network")]
    interval = number("Daemon", "check_interval")
    if interval >= down_time:
        r.problem("Daemon", "check_interval", f"must be less than agent_down_time ({down_time:g}s from {origin}): "
                  "liveness is observed between passes")
    rpchost = text("Daemon", "rpchost")
    if rpchost:
        try:
            broker_urls(rpchost)
        except BusUrlError as exc:
            r.problem("Daemon", "rpchost", str(exc))

    coordination_url = text("Daemon", "coordination_url")
    if coordination_url:
        try:
            check_coordination_url(coordination_url)
        except CoordinationUrlError as exc:
            r.problem("Daemon", "coordination_url", str(exc))

    status_token, status_tls, warnings = _status_port(r, v, path)
    warnings += _racing_failover(r, neutron, plugins=v[("Daemon", "plugins")])

    if r.problems:
        raise ConfigError(r.problems)
    plugins, listen, resync = v[("Daemon", "plugins")], v[("Daemon", "status_listen")], v[("Daemon", "resync_interval")]
    assert isinstance(plugins, tuple) and isinstance(listen, tuple)  # what Kind.PLUGINS and Kind.HOSTPORT give
    return Settings(
        source=path,
        plugins=plugins,
        rpchost=rpchost or "",
        rpc_ssl={key: value for key, name in (("ca_certs", "rpc_ssl_ca_file"), ("certfile", "rpc_ssl_cert_file"),
                                              ("keyfile", "rpc_ssl_key_file"))
                 if (value := text("Daemon", name))},
        pidfile=string("Daemon", "pidfile"),
        logfile=string("Daemon", "logfile"),
        loglevel=loglevel,
        log_format=string("Daemon", "log_format"),
        use_syslog=v[("Daemon", "use_syslog")] is True,
        syslog_facility=string("Daemon", "syslog_facility"),
        check_interval_s=interval,
        min_pass_interval_s=number("Daemon", "min_pass_interval"),
        resync_interval_s=resync if isinstance(resync, float) else None,
        cloud=cloud,
        neutron_endpoint=endpoint,
        credentials=credentials,
        credentials_in_force=in_force,
        agent_down_time_s=down_time,
        agent_down_time_origin=origin,
        services_on_admin_down=services_on_admin_down is True,
        hold_down_s=number("Daemon", "hold_down"),
        max_dead_fraction=number("Daemon", "max_dead_fraction"),
        max_evacuations_per_minute=count("Daemon", "max_evacuations_per_minute"),
        max_concurrency=count("Daemon", "max_concurrency"),
        rebalance_moves_per_minute=count("Daemon", "rebalance_moves_per_minute"),
        verify_timeout_s=number("Daemon", "verify_timeout"),
        verify_attempts=count("Daemon", "verify_attempts"),
        api_retries=count("Daemon", "api_retries"),
        dry_run=v[("Daemon", "dry_run")] is True,
        audit_log=text("Daemon", "audit_log"),
        status_listen=listen,
        status_token=status_token,
        status_token_file=text("Daemon", "status_token_file"),
        status_tls=status_tls,
        warnings=tuple(warnings),
        coordination_url=coordination_url,
        coordination_lease_s=number("Daemon", "coordination_lease"),
        coordination_group=text("Daemon", "coordination_group") or group_name(cloud, endpoint),
        l3=L3Settings(**l3_common, ha_replicas=ha_replicas, rebalance=string("L3Agent", "rebalance")),
        dhcp=DHCPSettings(**dhcp_common, agents_per_network=per_network if isinstance(per_network, int) else None,
                          rebalance=v[("DHCPAgent", "rebalance")] is True),
        dump=DumpSettings(loglevel=string("Dump", "loglevel"), queue=string("Dump", "queue")),
    )


def _credentials(r: _Reader, neutron: list[tuple[str, str, configparser.ConfigParser]], cloud: str | None,
                 endpoint: str | None) -> tuple[Credentials | None, str]:
    """The way to Neutron, in order: a clouds.yaml cloud, a neutron_endpoint without Keystone, the credentials of
    a plugin's conffile (the original's admin_* keys or [keystone_authtoken]); and how to say which is in force."""
    if cloud:
        return None, f"clouds.yaml cloud {cloud!r} ([Daemon] cloud)"
    if endpoint:
        return None, redact_text(f"{endpoint} without Keystone ([Daemon] neutron_endpoint)")
    for path in dict.fromkeys(p for _section, p, _parser in neutron):
        parser = next(parser for _section, p, parser in neutron if p == path)
        try:
            found = from_conffile(path, parser)
        except CredentialError as exc:
            r.problems.append(redact_text(f"{path}: [{exc.section}] {exc.name}: {exc}"))
            return None, "none (the conffile's credentials cannot work)"
        if found is not None:
            return found, redact_text(found.describe())
    return None, NO_CREDENTIALS


FAILOVERS = (("L3Agent", "allow_automatic_l3agent_failover", "routers", False),
             ("DHCPAgent", "allow_automatic_dhcp_failover", "networks", True))
"""(plugin, neutron.conf flag, what it moves, Neutron 29's default)."""


def _racing_failover(r: _Reader, neutron: list[tuple[str, str, configparser.ConfigParser]], plugins: object
                     ) -> list[str]:
    """Neutron's own failover, on in a conffile, for what rpcdaemon manages too: two actors would race."""
    warnings: list[str] = []
    for plugin, flag, what, default in FAILOVERS:
        if not isinstance(plugins, tuple) or plugin not in plugins:
            continue
        for path, parser in {p: parser for _section, p, parser in neutron}.items():
            value = _neutron_flag(r, [(plugin, path, parser)], flag)
            server_conf = parser.has_section("database") or "core_plugin" in parser.defaults()
            if value is True or (value is None and default and server_conf):
                shown = "true" if value else "unset (Neutron's default: true)"
                warnings.append(f"{path}: [DEFAULT] {flag} is {shown}: neutron-server also takes {what} off dead "
                                f"agents and races rpcdaemon's {plugin}: set it to false on the servers")
    return warnings


def _status_port(r: _Reader, v: dict[tuple[str, str], object], path: str
                 ) -> tuple[str | None, tuple[str, str] | None, list[str]]:
    """The status port's token (from the file when one is given), its TLS files (loaded once here, so that a bad
    pair is a config problem), and the warnings: exposed without a token, a token file others may read."""
    def text(name: str) -> str | None:
        value = v[("Daemon", name)]
        return value if isinstance(value, str) and value else None

    warnings: list[str] = []
    token, token_file = text("status_token"), text("status_token_file")
    if token and token_file:
        r.problem("Daemon", "status_token_file", "set either status_token or status_token_file, not both")
    elif token_file:
        try:
            token = read_token_file(token_file)
        except ValueError as exc:
            r.problem("Daemon", "status_token_file", str(exc))
        if token_file_exposed(token_file):
            warnings.append(f"{path}: [Daemon] status_token_file: {token_file} is readable by every user "
                            "(chmod 600 or 640)")
    cert, key = text("status_tls_cert"), text("status_tls_key")
    tls: tuple[str, str] | None = None
    if bool(cert) != bool(key):
        missing = "status_tls_key" if cert else "status_tls_cert"
        r.problem("Daemon", missing, "status_tls_cert and status_tls_key go together: set both, or neither")
    elif cert and key:
        try:
            server_context(cert, key)
            tls = (cert, key)
        except ValueError as exc:
            r.problem("Daemon", "status_tls_cert", str(exc))
    listen = v[("Daemon", "status_listen")]
    if isinstance(listen, tuple) and listen[0] and not is_loopback(str(listen[0])) and not token:
        warnings.append(f"{path}: [Daemon] status_listen: {listen[0]} is not a loopback address and no status "
                        "token is set: /status (every agent and host) and /metrics are open to anyone who can "
                        "reach it (set status_token_file)")
    return token, tls, warnings


def _least(section: str, name: str) -> int:
    """An integer option's minimum: the least a neutron.conf value standing in for it may be."""
    minimum = option(section, name).minimum
    assert minimum is not None, (section, name)
    return int(minimum)


def ini_problems(path: str, exc: configparser.Error) -> list[str]:
    """What is wrong with an ini file, by line number, never quoting the line: configparser's own message holds
    the offending line whole, and in a config file that line may well be `password = ...`."""
    if isinstance(exc, configparser.MissingSectionHeaderError):
        return [f"{path}: line {exc.lineno}: not a valid ini file: an option or text before the first [section] "
                "header"]
    if isinstance(exc, configparser.ParsingError):
        return [f"{path}: line {lineno}: not a valid ini file: neither a [section] header nor 'name = value'"
                for lineno, _line in exc.errors] or [f"{path}: not a valid ini file"]
    if isinstance(exc, configparser.DuplicateSectionError | configparser.DuplicateOptionError):
        where = f"line {exc.lineno}: " if exc.lineno is not None else ""
        what = (f"option {exc.option!r} of [{exc.section}]" if isinstance(exc, configparser.DuplicateOptionError)
                else f"section [{exc.section}]")
        return [redact_text(f"{path}: {where}not a valid ini file: {what} given twice")]
    return [f"{path}: not a valid ini file ({type(exc).__name__})"]


def _read_neutron_conf(conffile: str, r: _Reader, section: str) -> configparser.ConfigParser | None:
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    try:
        parser.read_string(Path(conffile).read_text(encoding="utf-8"), source=conffile)
    except configparser.Error as exc:
        for problem in ini_problems(conffile, exc):
            r.problem(section, "conffile", f"cannot read neutron config: {problem}")
        return None
    except (OSError, UnicodeDecodeError) as exc:
        r.problem(section, "conffile", f"cannot read neutron config {conffile}: {type(exc).__name__}: {exc}")
        return None
    return parser


def _neutron_value(r: _Reader, neutron: list[tuple[str, str, configparser.ConfigParser]], name: str,
                   minimum: int, what: str, zero: str | None = None) -> tuple[int, str] | None:
    """[DEFAULT] `name` of the plugins' neutron.conf files: the first one set, as (value, path). Neutron reads it
    as an integer (oslo.config IntOpt), so rpcdaemon does too: `nan`, `inf` or `0.5` would pass a float() and then
    keep every agent from ever being judged dead. Every file that sets it is checked, each named in its problem."""
    found: tuple[int, str] | None = None
    for path in dict.fromkeys(p for _section, p, _parser in neutron):
        parser = next(parser for _section, p, parser in neutron if p == path)
        raw = parser.defaults().get(name)
        if raw is None or not raw.strip():
            continue
        text = raw.strip()
        shown = repr(text) if len(text) <= 40 else repr(text[:40] + "...")
        where = f"{path}: [DEFAULT] {name}"
        try:
            number = int(text)
        except ValueError:
            r.problems.append(f"{where}: must be {what} (got {shown})")
            continue
        if number == 0 and zero is not None:
            r.problems.append(f"{where}: {zero}")
        elif number < minimum:
            r.problems.append(f"{where}: must be at least {minimum} (got {shown})")
        elif found is None:
            found = (number, path)
    return found


class _Unbounded:
    """The bounds of a value that has none (a boolean)."""

    minimum: float | None = None
    maximum: float | None = None


def _neutron_flag(r: _Reader, neutron: list[tuple[str, str, configparser.ConfigParser]], name: str) -> bool | None:
    """[DEFAULT] `name` of the plugins' neutron.conf files, a boolean: the first one set, None when none is.
    Neutron reads it as oslo.config's BoolOpt, whose words (true/false, yes/no, on/off, 1/0, any case) are
    rpcdaemon's own booleans; any other value keeps neutron-server from starting, so it is a problem here too.
    Every file that sets it is checked, each named in its problem."""
    found: bool | None = None
    for path in dict.fromkeys(p for _section, p, _parser in neutron):
        parser = next(parser for _section, p, parser in neutron if p == path)
        raw = parser.defaults().get(name)
        if raw is None or not raw.strip():
            continue
        text = raw.strip()
        try:
            value = Kind.BOOL.parse(text, _Unbounded())
        except ValueError:
            shown = repr(text) if len(text) <= 40 else repr(text[:40] + "...")
            r.problems.append(f"{path}: [DEFAULT] {name}: must be true or false (got {shown})")
            continue
        if found is None:
            found = value is True
    return found
