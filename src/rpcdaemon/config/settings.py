"""rpcdaemon.conf -> one frozen Settings; every problem names the file, the section and the option.

The original rpcdaemon's file is accepted unchanged. All problems are collected before failing, so an operator
fixes a file in one round, and each says what is wrong and, for a misspelt name, what was probably meant.
No message ever quotes a line of a config file whole (configparser's own errors do: a misplaced
`status_token = ...` or a neutron.conf `connection = mysql://user:password@...` would be printed by check-config and
logged on a refused reload); parse errors name the file, the line number and what is wrong, values are shown only
for options that cannot hold a secret, and every message goes through rpcdaemon's one redaction.
"""

from __future__ import annotations

import configparser
import difflib
import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from rpcdaemon.config.bus_url import BusUrlError, broker_urls
from rpcdaemon.config.coordination_url import CoordinationUrlError, check_coordination_url, group_name
from rpcdaemon.config.options import (
    LOGLEVELS,
    OPTIONS,
    PLUGINS,
    SECTIONS,
    Kind,
    Option,
    find_option,
    option_names,
    render_sample_config,
)
from rpcdaemon.redaction import SECRET_KEY, redact_text

__all__ = ["ConfigError", "Settings", "check_config", "default_settings", "load_settings", "render_sample_config"]

DEFAULT_AGENT_DOWN_TIME = 75.0
DEFAULT_HA_REPLICAS = 3
SECRET_BEARING = frozenset({"neutron_endpoint", "rpchost", "coordination_url", "status_token"})
"""Options whose value may hold a password or a token: a problem with one never shows its value."""
MIN_NEUTRON_AGENT_DOWN_TIME = 1


class ConfigError(Exception):
    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True, slots=True)
class PluginSettings:
    conffile: str | None = None
    loglevel: str = "INFO"
    timeout_s: float = 30.0
    queue_expire_s: float = 60.0


@dataclass(frozen=True, slots=True)
class DHCPSettings(PluginSettings):
    agents_per_network: int | None = None
    """None: all live DHCP agents."""


@dataclass(frozen=True, slots=True)
class L3Settings(PluginSettings):
    ha_replicas: int = DEFAULT_HA_REPLICAS


@dataclass(frozen=True, slots=True)
class DumpSettings:
    loglevel: str = "DEBUG"
    queue: str = "neutron"


@dataclass(frozen=True, slots=True)
class Settings:
    source: str = "<defaults>"
    plugins: tuple[str, ...] = ("L3Agent", "DHCPAgent")
    rpchost: str = ""
    rpc_ssl: dict[str, str] = field(default_factory=dict)
    """TLS files for the broker: ca_certs, certfile, keyfile (only those set)."""
    pidfile: str = "/var/run/rpcdaemon.pid"
    logfile: str = "/var/log/rpcdaemon.log"
    loglevel: str = "INFO"
    check_interval_s: float = 5.0
    min_pass_interval_s: float = 1.0
    resync_interval_s: float | None = None
    """None: the default period, which grows with the cost of a full read (core/cache.py: resync_period)."""
    cloud: str | None = None
    neutron_endpoint: str | None = None
    agent_down_time_s: float = DEFAULT_AGENT_DOWN_TIME
    agent_down_time_origin: str = "default"
    hold_down_s: float = 60.0
    max_dead_fraction: float = 0.5
    max_evacuations_per_minute: int = 10
    max_concurrency: int = 16
    api_retries: int = 3
    dry_run: bool = False
    audit_log: str | None = None
    status_listen: tuple[str, int] = ("127.0.0.1", 8787)
    status_token: str | None = field(default=None, repr=False)
    coordination_url: str | None = None
    coordination_lease_s: float = 10.0
    coordination_group: str = "rpcdaemon-default"
    l3: L3Settings = field(default_factory=L3Settings)
    dhcp: DHCPSettings = field(default_factory=DHCPSettings)
    dump: DumpSettings = field(default_factory=DumpSettings)


DEFAULTS = Settings()


def default_settings() -> Settings:
    return DEFAULTS


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
        option = find_option(section, name)
        assert option is not None, (section, name)
        if self.parser.has_section(section) and self.parser.has_option(section, name):
            return self.parser.get(section, name, raw=True).strip()
        return option.default

    def get(self, section: str, name: str) -> object:
        option = find_option(section, name)
        assert option is not None
        value = self.raw(section, name)
        try:
            return _convert(option, value)
        except ValueError as exc:
            shown = "" if name in SECRET_BEARING or SECRET_KEY.search(name) else f" (got {value!r})"
            self.problem(section, name, f"{exc}{shown}")
            return _convert(option, option.default) if option.default else None


def _number(option: Option, value: str, cast: Callable[[str], float]) -> float:
    try:
        number = cast(value)
    except ValueError:
        raise ValueError(f"must be {'an integer' if cast is int else 'a number'}") from None
    if not math.isfinite(number):
        raise ValueError("must be a finite number")
    if option.minimum is not None and number < option.minimum:
        raise ValueError(f"must be at least {option.minimum:g}")
    if option.maximum is not None and number > option.maximum:
        raise ValueError(f"must be at most {option.maximum:g}")
    return number


def _convert(option: Option, value: str) -> object:
    kind = option.kind
    if value == "" and kind not in (Kind.PLUGINS,):
        return None
    if kind in (Kind.SECONDS, Kind.FRACTION):
        number = _number(option, value, float)
        if kind is Kind.FRACTION and number <= 0:
            raise ValueError("must be more than 0")
        return number
    if kind is Kind.INT:
        return int(_number(option, value, int))
    if kind is Kind.BOOL:
        lowered = value.lower()
        if lowered in ("1", "yes", "true", "on"):
            return True
        if lowered in ("0", "no", "false", "off"):
            return False
        raise ValueError("must be true or false")
    if kind is Kind.LOGLEVEL:
        if value.upper() not in LOGLEVELS:
            raise ValueError(f"must be one of {', '.join(LOGLEVELS)}")
        return value.upper()
    if kind is Kind.PLUGINS:
        names = value.split()
        for name in names:
            if name not in PLUGINS:
                raise ValueError(f"unknown plugin {name!r}{_did_you_mean(name, PLUGINS)}")
        return tuple(dict.fromkeys(names))
    if kind is Kind.ALL_OR_INT:
        return None if value.lower() == "all" else int(_number(option, value, int))
    if kind is Kind.URL:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http:// or https:// URL")
        return value
    if kind is Kind.HOSTPORT:
        host, sep, port = value.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
            raise ValueError("must be HOST:PORT")
        return (host.strip("[]"), int(port))
    if kind is Kind.FILE:
        if not os.path.isfile(value):
            raise ValueError(f"file {value} does not exist")
        if not os.access(value, os.R_OK):
            raise ValueError(f"file {value} is not readable")
        return value
    return value


def _did_you_mean(name: str, choices: tuple[str, ...] | list[str]) -> str:
    close = difflib.get_close_matches(name, choices, n=1, cutoff=0.6)
    if not close:
        close = [c for c in choices if c.lower() == name.lower()]
    return f" (did you mean {close[0]!r}?)" if close else ""


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
            r.problems.append(f"{path}: [{section}]: unknown section{_did_you_mean(section, SECTIONS)}")
            continue
        known = option_names(section)
        defaults = set(parser.defaults())
        for name in parser.options(section):
            if name not in known and name not in defaults:
                r.problem(section, name, f"unknown option{_did_you_mean(name, known)}")

    v = {(o.section, o.name): r.get(o.section, o.name) for o in OPTIONS}

    def text(section: str, name: str) -> str | None:
        value = v[(section, name)]
        return value if isinstance(value, str) and value else None

    def num(section: str, name: str, fallback: float) -> float:
        value = v[(section, name)]
        return float(value) if isinstance(value, (int, float)) else fallback

    cloud, endpoint = text("Daemon", "cloud"), text("Daemon", "neutron_endpoint")
    if cloud and endpoint:
        r.problem("Daemon", "neutron_endpoint", "set either cloud or neutron_endpoint, not both")
    loglevel = text("Daemon", "loglevel") or "INFO"

    def plugin(section: str) -> PluginSettings:
        return PluginSettings(
            conffile=text(section, "conffile"),
            loglevel=text(section, "loglevel") or loglevel,
            timeout_s=num(section, "timeout", 30.0),
            queue_expire_s=num(section, "queue_expire", 60.0),
        )

    l3_common, dhcp_common = plugin("L3Agent"), plugin("DHCPAgent")
    neutron: list[tuple[str, str, configparser.ConfigParser]] = []
    for section, common in (("L3Agent", l3_common), ("DHCPAgent", dhcp_common)):
        if common.conffile is not None:
            neutron_conf = _read_neutron_conf(common.conffile, r, section)
            if neutron_conf is not None:
                neutron.append((section, common.conffile, neutron_conf))

    own_down_time = v[("Daemon", "agent_down_time")]
    if isinstance(own_down_time, float):
        down_time, origin = own_down_time, path
    else:
        found = _neutron_value(r, neutron, "agent_down_time", MIN_NEUTRON_AGENT_DOWN_TIME,
                               "an integer number of seconds")
        down_time, origin = (float(found[0]), found[1]) if found is not None else (DEFAULT_AGENT_DOWN_TIME, "default")
    ha_replicas = v[("L3Agent", "ha_replicas")]
    if not isinstance(ha_replicas, int):
        found = _neutron_value(r, neutron, "max_l3_agents_per_router", 1, "an integer",
                               zero="0 (every agent) cannot be followed: set [L3Agent] ha_replicas")
        ha_replicas = found[0] if found is not None else DEFAULT_HA_REPLICAS
    per_network = v[("DHCPAgent", "dhcp_agents_per_network")]
    interval = v[("Daemon", "check_interval")]
    if isinstance(interval, float) and interval >= down_time:
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

    if r.problems:
        raise ConfigError(r.problems)
    plugins = v[("Daemon", "plugins")]
    listen = v[("Daemon", "status_listen")]
    return Settings(
        source=path,
        plugins=plugins if isinstance(plugins, tuple) else DEFAULTS.plugins,
        rpchost=text("Daemon", "rpchost") or "",
        rpc_ssl={key: value for key, name in (("ca_certs", "rpc_ssl_ca_file"), ("certfile", "rpc_ssl_cert_file"),
                                              ("keyfile", "rpc_ssl_key_file"))
                 if (value := text("Daemon", name))},
        pidfile=text("Daemon", "pidfile") or DEFAULTS.pidfile,
        logfile=text("Daemon", "logfile") or DEFAULTS.logfile,
        loglevel=loglevel,
        check_interval_s=num("Daemon", "check_interval", 5.0),
        min_pass_interval_s=num("Daemon", "min_pass_interval", 1.0),
        resync_interval_s=resync if isinstance(resync := v[("Daemon", "resync_interval")], float) else None,
        cloud=cloud,
        neutron_endpoint=endpoint,
        agent_down_time_s=down_time,
        agent_down_time_origin=origin,
        hold_down_s=num("Daemon", "hold_down", 60.0),
        max_dead_fraction=num("Daemon", "max_dead_fraction", 0.5),
        max_evacuations_per_minute=int(num("Daemon", "max_evacuations_per_minute", 10)),
        max_concurrency=int(num("Daemon", "max_concurrency", 16)),
        api_retries=int(num("Daemon", "api_retries", 3)),
        dry_run=v[("Daemon", "dry_run")] is True,
        audit_log=text("Daemon", "audit_log"),
        status_listen=listen if isinstance(listen, tuple) else ("", 0),
        status_token=text("Daemon", "status_token"),
        coordination_url=coordination_url,
        coordination_lease_s=num("Daemon", "coordination_lease", 10.0),
        coordination_group=text("Daemon", "coordination_group") or group_name(cloud, endpoint),
        l3=L3Settings(**_fields(l3_common), ha_replicas=ha_replicas),
        dhcp=DHCPSettings(
            **_fields(dhcp_common), agents_per_network=per_network if isinstance(per_network, int) else None
        ),
        dump=DumpSettings(loglevel=text("Dump", "loglevel") or "DEBUG", queue=text("Dump", "queue") or "neutron"),
    )


def _fields(common: PluginSettings) -> dict[str, Any]:
    return {"conffile": common.conffile, "loglevel": common.loglevel, "timeout_s": common.timeout_s,
            "queue_expire_s": common.queue_expire_s}


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
