"""Every rpcdaemon.conf option, declared once: section, name, kind, default, help, and whether the original had it.

The loader (settings.py), `check-config`, the sample config (etc/rpcdaemon.conf.sample, which a test compares
with `render_sample_config()`) and the defaults of `Settings` all read this table, so documentation and code cannot
drift apart. Each row parses and checks its own values with the parser its Kind carries (kinds.py) and its bounds.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass

from rpcdaemon.config.kinds import LOGLEVELS, PLUGINS, Kind
from rpcdaemon.redaction import SECRET_KEY

__all__ = ["LOGLEVELS", "OPTIONS", "PLUGINS", "SECTIONS", "Kind", "Option", "find_option", "option", "option_names",
           "render_sample_config"]

SECTIONS = ("Daemon", "L3Agent", "DHCPAgent", "Dump")


@dataclass(frozen=True, slots=True)
class Option:
    section: str
    name: str
    kind: Kind
    default: str
    help: str
    original: bool = False
    minimum: float | None = None
    maximum: float | None = None
    fallback: str = ""
    """For an option whose empty default means 'found elsewhere' (a plugin's neutron.conf): the value when nothing
    gives one. The help says so too (a test checks that it does)."""
    secret: bool = False
    """The value may hold a password or a token: a problem with it never shows the value."""

    def parse(self, text: str) -> object:
        """What `text` (stripped) means for this option. Empty is unset (None: the default or fallback applies)
        unless the kind gives empty a meaning of its own. Raises ValueError with what is wrong, and the value too
        unless it may be a secret: the message that follows `FILE: [SECTION] OPTION: `."""
        if text == "":
            return self.kind.empty
        try:
            return self.kind.parse(text, self)
        except ValueError as exc:
            shown = "" if self.secret or SECRET_KEY.search(self.name) else f" (got {text!r})"
            raise ValueError(f"{exc}{shown}") from None

    @property
    def default_value(self) -> object:
        """The default, parsed: what the option is when a file does not set it (or sets it empty)."""
        return self.parse(self.default)

    @property
    def fallback_value(self) -> object:
        """The fallback, parsed (None without one)."""
        return self.parse(self.fallback)


OPTIONS: tuple[Option, ...] = (
    Option("Daemon", "plugins", Kind.PLUGINS, "L3Agent DHCPAgent",
           "Plugins to run, separated by spaces or commas: L3Agent, DHCPAgent, Dump.", original=True),
    Option("Daemon", "rpchost", Kind.STR, "",
           "Message bus: a host (amqp://guest:guest@HOST:5672//), a kombu URL, or an oslo-style "
           "rabbit://user:pass@h1:5672,user:pass@h2:5672/vhost list. Empty: no bus, API polling only.",
           original=True, secret=True),
    Option("Daemon", "rpc_ssl_ca_file", Kind.FILE, "",
           "CA bundle to verify the broker's certificate (TLS: amqps://, rabbit+ssl:// or ?ssl=1 in rpchost)."),
    Option("Daemon", "rpc_ssl_cert_file", Kind.FILE, "", "Client certificate for the broker (TLS)."),
    Option("Daemon", "rpc_ssl_key_file", Kind.FILE, "", "Private key of the client certificate (TLS)."),
    Option("Daemon", "pidfile", Kind.PATH, "/var/run/rpcdaemon.pid",
           "Pid file written when detached (not with -d).", original=True),
    Option("Daemon", "logfile", Kind.PATH, "/var/log/rpcdaemon.log",
           "Log file when detached (with -d the log goes to stderr). Re-opened when it is moved away (logrotate "
           "without copytruncate: etc/rpcdaemon.logrotate) and on a reload (SIGHUP).", original=True),
    Option("Daemon", "loglevel", Kind.LOGLEVEL, "INFO", "DEBUG, INFO, WARNING, ERROR or CRITICAL.", original=True),
    Option("Daemon", "log_format", Kind.LOGFORMAT, "text",
           "text: 'TIME LEVEL LOGGER: MESSAGE' lines; json: one JSON object per line with time, level, logger and "
           "message (a traceback is part of the message). Either way secrets are redacted. A reload applies it."),
    Option("Daemon", "use_syslog", Kind.BOOL, "false",
           "Log to the local syslog (/dev/log) instead of the log file or stderr, also with -d. Without /dev/log: "
           "the log file (stderr with -d) and a WARNING. A reload applies it."),
    Option("Daemon", "syslog_facility", Kind.FACILITY, "daemon",
           "The syslog facility when use_syslog is true: daemon, user, local0 ... local7, etc."),
    Option("Daemon", "check_interval", Kind.SECONDS, "5", "Seconds between full passes (a full resync).",
           original=True, minimum=0.05),
    Option("Daemon", "min_pass_interval", Kind.SECONDS, "1",
           "Least seconds between the starts of two passes: a burst of bus events (rpcdaemon's own changes cause "
           "some) is coalesced into one pass in flight and one pending.", minimum=0, maximum=60),
    Option("Daemon", "resync_interval", Kind.SECONDS, "",
           "Seconds between full reads of the cloud (every binding, network and router); in between, agents are "
           "checked every check_interval and only what a notification or a verdict names is read. Empty: 200 x "
           "the last full read's duration within 300..3600 s with a bus (rpchost), 40 x within 60..900 s without "
           "(a full read costs a real Neutron's API about 10 ms of CPU per network and binding).",
           minimum=1, maximum=86400),
    Option("Daemon", "cloud", Kind.STR, "",
           "A clouds.yaml cloud name. Empty (and no neutron_endpoint): the OS_CLOUD / OS_* environment."),
    Option("Daemon", "neutron_endpoint", Kind.URL, "",
           "URL of a Neutron API served without Keystone (auth_strategy = noauth), e.g. http://127.0.0.1:9696.",
           secret=True),
    Option("Daemon", "agent_down_time", Kind.SECONDS, "",
           "Seconds without heartbeat before an agent is dead. Empty: [DEFAULT] agent_down_time of a plugin's "
           "conffile (neutron.conf), else 75.", minimum=1, fallback="75"),
    Option("Daemon", "hold_down", Kind.SECONDS, "60",
           "An agent that comes back is not given work until it has stayed up this long.", minimum=0),
    Option("Daemon", "max_dead_fraction", Kind.FRACTION, "0.5",
           "More than this fraction of one agent type in one zone dead at once (and at least 3) is a "
           "disruption: nothing there is evacuated.", minimum=0.0, maximum=1.0),
    Option("Daemon", "max_evacuations_per_minute", Kind.INT, "10",
           "At most this many agents start being evacuated in any sliding minute.", minimum=1),
    Option("Daemon", "rebalance_moves_per_minute", Kind.INT, "6",
           "At most this many rebalancing moves start in any sliding minute (see [L3Agent] rebalance and "
           "[DHCPAgent] rebalance).", minimum=1, maximum=600),
    Option("Daemon", "verify_timeout", Kind.SECONDS, "60",
           "A router or network rpcdaemon moved must be wired by its new agent (a port ACTIVE on its host) within "
           "this long, or it is 'unverified' and moved on to the next best agent. 0: no verification.", minimum=0),
    Option("Daemon", "verify_attempts", Kind.INT, "2",
           "How many agents in a row may fail to wire one resource before it is left where it is (with a "
           "warning).", minimum=1, maximum=10),
    Option("Daemon", "max_concurrency", Kind.INT, "16",
           "API calls in flight at once while acting (different resources).", minimum=1, maximum=256),
    Option("Daemon", "api_retries", Kind.INT, "3", "Retries of a call that failed transiently (5xx, timeout).",
           minimum=0, maximum=10),
    Option("Daemon", "dry_run", Kind.BOOL, "false", "Plan and record, but change nothing."),
    Option("Daemon", "audit_log", Kind.PATH, "",
           "A JSON-lines file recording every change (also logged on the rpcdaemon.audit.* loggers)."),
    Option("Daemon", "status_listen", Kind.HOSTPORT, "127.0.0.1:8787",
           "Where /status, /metrics, /healthz, /readyz and the dashboard are served. Empty: not served."),
    Option("Daemon", "status_token", Kind.STR, "",
           "Bearer token required by /status, /metrics and /readyz; /healthz and the dashboard page are open (the "
           "page asks for the token, or takes it from /#token=...). Empty: none.", secret=True),
    Option("Daemon", "status_token_file", Kind.FILE, "",
           "A file whose first line is the status token (instead of status_token, so that the token is not in "
           "this file): read at start and again on every reload (SIGHUP). Keep it readable by rpcdaemon only."),
    Option("Daemon", "status_tls_cert", Kind.FILE, "",
           "PEM certificate (with its chain) to serve the status port over HTTPS; needs status_tls_key. Empty: "
           "plain HTTP. Read again on every reload (SIGHUP)."),
    Option("Daemon", "status_tls_key", Kind.FILE, "", "PEM private key of status_tls_cert (not encrypted)."),
    Option("Daemon", "coordination_url", Kind.STR, "",
           "A tooz backend URL for running several replicas (one acts, the others stand by): "
           "etcd3+http://HOST:2379, zookeeper://HOST:2181, or file:///FOLDER for replicas on one host. "
           "Empty: a single instance.", secret=True),
    Option("Daemon", "coordination_lease", Kind.SECONDS, "10",
           "Seconds the backend keeps a replica's lock and membership without renewal: a dead acting replica is "
           "replaced within about this long, and one cut off from the backend stops acting sooner.",
           minimum=2, maximum=300),
    Option("Daemon", "coordination_group", Kind.STR, "",
           "Group the replicas meet in. Empty: rpcdaemon-<cloud> (or the Neutron endpoint's host and port)."),
    Option("L3Agent", "conffile", Kind.FILE, "", "Path to neutron.conf (for agent_down_time, "
           "max_l3_agents_per_router).", original=True),
    Option("L3Agent", "loglevel", Kind.LOGLEVEL, "", "Log level of this plugin. Empty: the Daemon's.", original=True),
    Option("L3Agent", "timeout", Kind.SECONDS, "30", "Max seconds for one API call.", original=True, minimum=0.1),
    Option("L3Agent", "queue_expire", Kind.SECONDS, "60", "Seconds after which an unused bus queue is deleted.",
           original=True, minimum=1),
    Option("L3Agent", "ha_replicas", Kind.INT, "",
           "Agents per HA router. Empty: max_l3_agents_per_router of the conffile, else 3.", minimum=1,
           fallback="3"),
    Option("L3Agent", "rebalance", Kind.REBALANCE, "ha",
           "Move load back to agents that came back or joined, while no agent is dead, suspect or in hold-down: "
           "'ha' moves standby replicas of HA routers only (no outage), 'all' legacy routers too (each is down "
           "for the seconds of its move), 'off' nothing."),
    Option("DHCPAgent", "conffile", Kind.FILE, "", "Path to neutron.conf (for agent_down_time).", original=True),
    Option("DHCPAgent", "loglevel", Kind.LOGLEVEL, "", "Log level of this plugin. Empty: the Daemon's.",
           original=True),
    Option("DHCPAgent", "timeout", Kind.SECONDS, "30", "Max seconds for one API call.", original=True, minimum=0.1),
    Option("DHCPAgent", "queue_expire", Kind.SECONDS, "60", "Seconds after which an unused bus queue is deleted.",
           original=True, minimum=1),
    Option("DHCPAgent", "dhcp_agents_per_network", Kind.ALL_OR_INT, "all",
           "Live DHCP agents per DHCP network: 'all' (the original behaviour) or a number.", minimum=1),
    Option("DHCPAgent", "rebalance", Kind.BOOL, "on",
           "Spread networks evenly over the DHCP agents (add, then remove: no outage), while no agent is dead, "
           "suspect or in hold-down. It matters only with a number in dhcp_agents_per_network."),
    Option("Dump", "loglevel", Kind.LOGLEVEL, "DEBUG", "Dumped messages are logged at DEBUG.", original=True),
    Option("Dump", "queue", Kind.STR, "neutron", "Exchange whose traffic is dumped.", original=True),
)


def option_names(section: str) -> list[str]:
    return [o.name for o in OPTIONS if o.section == section]


_BY_NAME = {(o.section, o.name): o for o in OPTIONS}


def find_option(section: str, name: str) -> Option | None:
    return _BY_NAME.get((section, name))


def option(section: str, name: str) -> Option:
    """The row of an option the code knows exists (KeyError for a name not in the table)."""
    return _BY_NAME[(section, name)]


def render_sample_config() -> str:
    lines = [
        "# rpcdaemon.conf: every option with its default. Generated by `rpcdaemon sample-config` from the option",
        "# definitions (src/rpcdaemon/config/options.py); do not edit by hand. Options marked (original) are those",
        "# of the original rpcdaemon; a config written for it works unchanged.",
    ]
    for section in SECTIONS:
        lines += ["", f"[{section}]"]
        for option in (o for o in OPTIONS if o.section == section):
            tag = " (original)" if option.original else ""
            lines += [f"# {line}" for line in textwrap.wrap(option.help + tag, 110)]
            lines.append(f"# Type: {option.kind.value}.")
            lines.append(f"#{option.name} = {option.default}".rstrip())
    return "\n".join(lines) + "\n"
