"""Settings: what rpcdaemon.conf says, as one frozen value, with the table's defaults (options.py) parsed.

Reading a file into Settings (and every problem it can have) is config/load.py; the core's Policy is made from
Settings here (`Settings.policy()`), so that the core never reads configuration itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rpcdaemon.config.coordination_url import group_name
from rpcdaemon.config.credentials import Credentials
from rpcdaemon.config.options import OPTIONS, option, render_sample_config
from rpcdaemon.core.policy import Policy

__all__ = ["ConfigError", "Settings", "default_settings", "render_sample_config"]


def _default(section: str, name: str) -> Any:
    """What Settings holds for an option no file sets: the table's default parsed by the option itself, else its
    fallback. Settings' defaults come only from here, so they cannot disagree with the table (a test checks each)."""
    row = option(section, name)
    try:
        value = row.default_value
        return row.fallback_value if value is None else value
    except ValueError as exc:
        raise ValueError(f"options.py: [{section}] {name}: a default that does not parse: {exc}") from None


DEFAULT_AGENT_DOWN_TIME: float = _default("Daemon", "agent_down_time")
DEFAULT_HA_REPLICAS: int = _default("L3Agent", "ha_replicas")
SECRET_BEARING = frozenset(o.name for o in OPTIONS if o.secret)
"""Options whose value may hold a password or a token: a problem with one never shows its value."""


class ConfigError(Exception):
    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True, slots=True)
class PluginSettings:
    conffile: str | None = _default("L3Agent", "conffile")
    loglevel: str = _default("Daemon", "loglevel")
    """Unset: the Daemon's."""
    timeout_s: float = _default("L3Agent", "timeout")
    queue_expire_s: float = _default("L3Agent", "queue_expire")


@dataclass(frozen=True, slots=True)
class DHCPSettings(PluginSettings):
    conffile: str | None = _default("DHCPAgent", "conffile")
    timeout_s: float = _default("DHCPAgent", "timeout")
    queue_expire_s: float = _default("DHCPAgent", "queue_expire")
    agents_per_network: int | None = _default("DHCPAgent", "dhcp_agents_per_network")
    """None: all live DHCP agents."""
    rebalance: bool = _default("DHCPAgent", "rebalance")


@dataclass(frozen=True, slots=True)
class L3Settings(PluginSettings):
    ha_replicas: int = DEFAULT_HA_REPLICAS
    rebalance: str = _default("L3Agent", "rebalance")
    """off, ha or all."""


@dataclass(frozen=True, slots=True)
class DumpSettings:
    loglevel: str = _default("Dump", "loglevel")
    queue: str = _default("Dump", "queue")


DEFAULT_CONFIG = "/usr/local/etc/rpcdaemon.conf"
"""The original's default path, which every subcommand's -c defaults to (and the systemd unit reads)."""
NO_CREDENTIALS = "none configured: openstacksdk's defaults (OS_CLOUD, OS_* variables)"


@dataclass(frozen=True, slots=True)
class Settings:
    """The whole configuration. Every default comes from the option table (options.py), through `_default`."""

    source: str = "<defaults>"
    plugins: tuple[str, ...] = _default("Daemon", "plugins")
    rpchost: str = _default("Daemon", "rpchost") or ""
    rpc_ssl: dict[str, str] = field(default_factory=dict)
    """TLS files for the broker: ca_certs, certfile, keyfile (only those set)."""
    pidfile: str = _default("Daemon", "pidfile")
    logfile: str = _default("Daemon", "logfile")
    loglevel: str = _default("Daemon", "loglevel")
    log_format: str = _default("Daemon", "log_format")
    """text or json."""
    use_syslog: bool = _default("Daemon", "use_syslog")
    syslog_facility: str = _default("Daemon", "syslog_facility")
    check_interval_s: float = _default("Daemon", "check_interval")
    min_pass_interval_s: float = _default("Daemon", "min_pass_interval")
    resync_interval_s: float | None = _default("Daemon", "resync_interval")
    """None: the default period, which grows with the cost of a full read (core/cache.py: resync_period)."""
    cloud: str | None = _default("Daemon", "cloud")
    credentials: Credentials | None = field(default=None, repr=False)
    """Keystone credentials from a plugin's conffile, when neither cloud nor neutron_endpoint is set."""
    credentials_in_force: str = NO_CREDENTIALS
    """Which way to Neutron is in force, as check-config and the start-up log say it (never a secret)."""
    neutron_endpoint: str | None = _default("Daemon", "neutron_endpoint")
    agent_down_time_s: float = DEFAULT_AGENT_DOWN_TIME
    agent_down_time_origin: str = "default"
    services_on_admin_down: bool = False
    """neutron.conf [DEFAULT] enable_services_on_agents_with_admin_state_down (Neutron's default: false): whether
    an admin-down agent still serves what it hosts. Not an rpcdaemon option: read from the plugins' conffile."""
    hold_down_s: float = _default("Daemon", "hold_down")
    max_dead_fraction: float = _default("Daemon", "max_dead_fraction")
    max_evacuations_per_minute: int = _default("Daemon", "max_evacuations_per_minute")
    max_concurrency: int = _default("Daemon", "max_concurrency")
    rebalance_moves_per_minute: int = _default("Daemon", "rebalance_moves_per_minute")
    verify_timeout_s: float = _default("Daemon", "verify_timeout")
    verify_attempts: int = _default("Daemon", "verify_attempts")
    api_retries: int = _default("Daemon", "api_retries")
    dry_run: bool = _default("Daemon", "dry_run")
    audit_log: str | None = _default("Daemon", "audit_log")
    status_listen: tuple[str, int] = _default("Daemon", "status_listen")
    status_token: str | None = field(default=_default("Daemon", "status_token"), repr=False)
    """The token in force: status_token, or the first line of status_token_file."""
    status_token_file: str | None = _default("Daemon", "status_token_file")
    status_tls: tuple[str, str] | None = None
    """(certificate, key) files when the status port is served over HTTPS."""
    warnings: tuple[str, ...] = ()
    """What works but is probably not what the operator wants (check-config prints them, the daemon logs them)."""
    coordination_url: str | None = _default("Daemon", "coordination_url")
    coordination_lease_s: float = _default("Daemon", "coordination_lease")
    coordination_group: str = _default("Daemon", "coordination_group") or group_name(None, None)
    l3: L3Settings = field(default_factory=L3Settings)
    dhcp: DHCPSettings = field(default_factory=DHCPSettings)
    dump: DumpSettings = field(default_factory=DumpSettings)

    def policy(self) -> Policy:
        """The knobs the core decides with, from these settings (the core never sees the settings themselves)."""
        return Policy(
            dead_after_s=self.agent_down_time_s,
            hold_down_s=self.hold_down_s,
            max_dead_fraction=self.max_dead_fraction,
            max_evacuations_per_minute=self.max_evacuations_per_minute,
            dhcp_agents_per_network=self.dhcp.agents_per_network,
            ha_replicas=self.l3.ha_replicas,
            services_on_admin_down=self.services_on_admin_down,
            l3_rebalance=self.l3.rebalance,
            dhcp_rebalance=self.dhcp.rebalance,
            rebalance_moves_per_minute=self.rebalance_moves_per_minute,
            verify_timeout_s=self.verify_timeout_s,
            verify_attempts=self.verify_attempts,
            manage_dhcp="DHCPAgent" in self.plugins,
            manage_l3="L3Agent" in self.plugins,
        )


DEFAULTS = Settings()


def default_settings() -> Settings:
    return DEFAULTS


