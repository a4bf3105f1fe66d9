"""The daemon around the reconciler: settings -> parts, the pass loop, signals, logging (the pidfile: shell/pidfile.py).

The loop runs a pass every `check_interval` and can be woken early (an event from the bus, a test); passes never
overlap. SIGTERM and SIGINT stop it after the changes in flight finish; SIGHUP reloads the config, and an invalid
new config is logged and the old one kept.
"""

from __future__ import annotations

import logging
import os
import socket
import ssl
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from rpcdaemon.adapters import systemd
from rpcdaemon.adapters.audit import AuditLog
from rpcdaemon.adapters.bus.dump import format_line
from rpcdaemon.adapters.bus.envelope import BusMessage, Malformed, decode
from rpcdaemon.adapters.bus.listener import BusListener
from rpcdaemon.adapters.bus.watch import BusWatch
from rpcdaemon.adapters.coordination import Cluster, Coordination, Standalone
from rpcdaemon.adapters.neutron.client import NeutronClient
from rpcdaemon.adapters.status.http import StatusServer
from rpcdaemon.adapters.status.metrics import BUS_KINDS, Metrics
from rpcdaemon.config.bus_url import broker_urls
from rpcdaemon.config.settings import ConfigError, Settings, load_settings
from rpcdaemon.core.leadership import LeaseTiming
from rpcdaemon.core.liveness import Verdict
from rpcdaemon.core.policy import Policy
from rpcdaemon.daemon import pidfile as _pidfile
from rpcdaemon.daemon.executor import ChangeResult, Executor
from rpcdaemon.daemon.reconciler import PassReport, Reconciler
from rpcdaemon.daemon.status import build_status
from rpcdaemon.redaction import RedactingFormatter

LOG = logging.getLogger("rpcdaemon")
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
API_CATCH_UP_S = 1.0


def policy_from(settings: Settings) -> Policy:
    return Policy(
        dead_after_s=settings.agent_down_time_s,
        hold_down_s=settings.hold_down_s,
        max_dead_fraction=settings.max_dead_fraction,
        max_evacuations_per_minute=settings.max_evacuations_per_minute,
        dhcp_agents_per_network=settings.dhcp.agents_per_network,
        ha_replicas=settings.l3.ha_replicas,
        manage_dhcp="DHCPAgent" in settings.plugins,
        manage_l3="L3Agent" in settings.plugins,
    )


def api_timeout(settings: Settings) -> float:
    timeouts = [p.timeout_s for name, p in (("L3Agent", settings.l3), ("DHCPAgent", settings.dhcp))
                if name in settings.plugins]
    return min(timeouts) if timeouts else settings.l3.timeout_s


def build_client(settings: Settings, member: str | None = None) -> NeutronClient:
    return NeutronClient.connect(
        cloud=settings.cloud,
        endpoint=settings.neutron_endpoint,
        timeout_s=api_timeout(settings),
        read_concurrency=min(settings.max_concurrency, 16),
        member=member,
        pool_size=settings.max_concurrency,
    )


def default_member_id() -> str:
    """RPCDAEMON_MEMBER when set (a name that survives restarts), else host and pid: unique on one host too."""
    return os.environ.get("RPCDAEMON_MEMBER") or f"{socket.gethostname()}-{os.getpid()}"


class Daemon:
    """The pass loop. `stop` ends it; `wake()` runs a pass now instead of at the next interval."""

    def __init__(
        self,
        settings: Settings,
        client: NeutronClient | None = None,
        audit: AuditLog | None = None,
        on_result: Callable[[ChangeResult], None] | None = None,
        on_pass: Callable[[PassReport], None] | None = None,
        member: str | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.member = member or default_member_id()
        self.metrics = Metrics()
        self.audit = audit or AuditLog(settings.audit_log)
        self.client = client or build_client(settings, self.member)
        self.client.observer = self.metrics.observe_api
        self._on_result = on_result

        self.cluster = build_coordination(settings, self.member, self.wake)
        self.executor = Executor(
            self.client.apply_call,
            self.audit,
            max_concurrency=settings.max_concurrency,
            retries=settings.api_retries,
            dry_run=settings.dry_run,
            member=self.member,
            on_result=self._result,
            may_act=self.cluster.may_act,
        )
        self.reconciler = Reconciler(self.client, self.executor, policy_from(settings), clock=clock,
                                     resync_s=settings.resync_interval_s, with_bus=bool(settings.rpchost))
        self.reconciler.may_act = self.cluster.may_act
        self._clock = clock
        self.bus = BusWatch(clock, self.wake)
        self.listeners: list[BusListener] = []
        if settings.rpchost:
            self._use_bus_heartbeats()
        self.stop_event = threading.Event()
        self._wake = threading.Event()
        self._on_pass = on_pass
        self.passes = 0
        self.first_good_pass: float | None = None
        self._watchdog_s = systemd.watchdog_interval_s()
        self._watchdog_at = 0.0
        self._pass_starts: deque[float] = deque()
        self.status_server: StatusServer | None = None
        self._bus_connected_before = False
        self.metrics.is_leader.set(int(self.cluster.may_act()))

    def _use_bus_heartbeats(self) -> None:
        """Bus heartbeats become the second liveness signal (once the bus has been heard for a dead period)."""
        self.reconciler.heard = lambda snap: self.bus.heard_for(snap, self.reconciler.policy.dead_after_s)

    def _keepalive(self) -> None:
        """WATCHDOG=1 when due: from the loop and from progress inside a long evacuation, never from a timer."""
        if self._watchdog_s is not None and time.monotonic() - self._watchdog_at >= self._watchdog_s:
            self._watchdog_at = time.monotonic()
            systemd.notify("WATCHDOG=1")

    def _result(self, result: ChangeResult) -> None:
        self._keepalive()
        self.metrics.actions.labels(result.change.action.value, result.outcome).inc()
        if self._on_result is not None:
            self._on_result(result)

    def _observe_pass(self, report: PassReport) -> None:
        self.metrics.is_leader.set(int(self.cluster.may_act()))
        self.metrics.passes.labels(report.outcome).inc()
        self.metrics.pass_duration.observe(report.duration_s)
        if report.plan is not None and report.snapshot is not None:
            counts: dict[tuple[str, str], int] = {}
            for agent_id, liveness in report.plan.verdicts.items():
                key = (report.snapshot.agents[agent_id].agent_type, liveness.verdict.value)
                counts[key] = counts.get(key, 0) + 1
            self.metrics.observe_agents((t, v, n) for (t, v), n in counts.items())
            for zone in report.plan.zones.values():
                self.metrics.disrupted.labels(zone.agent_type, zone.availability_zone).set(int(zone.disrupted))
            self.metrics.read_untrusted.set(int(any(a.startswith("UNTRUSTED") for a in report.plan.alarms)))

    def ready(self) -> bool:
        """Ready after the first pass that read the cloud."""
        return self.first_good_pass is not None

    def status_document(self) -> dict[str, Any]:
        return build_status(self)

    def wake(self) -> None:
        """Ask for a pass soon. Wake-ups coalesce: one pass in flight, at most one pending, and pass starts at
        least `min_pass_interval` apart (a burst of 100 notifications is one or two passes, not 100)."""
        self.metrics.wakeups.inc()
        self._wake.set()

    def start_bus(self) -> None:
        """Listen to the bus (when rpchost is set); the Dump plugin logs what crosses its exchange at DEBUG."""
        if not self.settings.rpchost:
            return
        urls = broker_urls(self.settings.rpchost)
        expire = min(self.settings.l3.queue_expire_s, self.settings.dhcp.queue_expire_s)

        def on_message(message: BusMessage) -> None:
            self.metrics.bus_messages.labels(message.kind if message.kind in BUS_KINDS else "other").inc()
            self.reconciler.reader.named.note(message)
            self.bus.on_message(message)

        def on_connected() -> None:
            if self._bus_connected_before:  # the first connection comes with the start-up full read
                self.reconciler.reader.force_full("the bus reconnected: what was sent meanwhile is lost")
            self._bus_connected_before = True
            self.bus.connected()

        def on_malformed(kind: str, _why: str) -> None:
            self.metrics.bus_malformed.labels(kind).inc()

        tls = bus_tls(urls, self.settings.rpc_ssl)
        listener = BusListener(urls, f"rpcdaemon-{self.member}", on_message, on_malformed=on_malformed,
                               on_connected=on_connected, on_disconnected=self.bus.disconnected,
                               queue_expire_s=expire, ssl=tls)
        self.listeners.append(listener.start())
        if "Dump" in self.settings.plugins:
            dump_log = logging.getLogger("rpcdaemon.dump")
            dump_log.setLevel(self.settings.dump.loglevel)
            self.listeners.append(BusListener(
                urls, f"rpcdaemon-{self.member}-dump", lambda m: dump_log.debug("%s", format_line(m)),
                bindings={"#": "dump"}, exchange=self.settings.dump.queue, queue_expire_s=expire, ssl=tls,
            ).start())

    def in_memory_bus(self) -> Callable[[str, str], None]:
        """A bus in the same process (the demo): publish(routing_key, body) reaches the daemon as the broker would."""
        self._use_bus_heartbeats()
        self.reconciler.reader.with_bus = True
        self.bus.connected()

        def publish(routing_key: str, body: str) -> None:
            try:
                message = decode(body, routing_key)
            except Malformed as exc:
                self.metrics.bus_malformed.labels(exc.kind).inc()
                return
            self.metrics.bus_messages.labels(message.kind if message.kind in BUS_KINDS else "other").inc()
            self.reconciler.reader.named.note(message)
            self.bus.on_message(message)

        return publish

    def stop_bus(self) -> None:
        for listener in self.listeners:
            listener.stop()
        self.listeners.clear()

    def _next_wait(self, started: float) -> float:
        """Until the next periodic pass, or sooner when a heard agent is about to fall silent for a dead period,
        or when the bus already says an agent is dead and the API has yet to agree (its server judges on its own
        timer, a moment later): then the API is read again within API_CATCH_UP_S, for a short while."""
        remaining = self.settings.check_interval_s - (time.monotonic() - started)
        expiry = self.bus.next_expiry(self.reconciler.policy.dead_after_s)
        if expiry is not None:
            remaining = min(remaining, expiry - self._clock() + 0.05)
        if self._api_lagging():
            remaining = min(remaining, API_CATCH_UP_S)
        return remaining

    def _api_lagging(self) -> bool:
        report = self.reconciler.last_report
        if report is None or report.plan is None:
            return False
        policy = self.reconciler.policy
        return any(v.verdict is Verdict.SUSPECT and v.api_alive and v.silent_s >= policy.dead_after_s
                   and v.suspect_for_s < policy.disagreement_report_s for v in report.plan.verdicts.values())

    def stop(self) -> None:
        self.stop_event.set()
        self._wake.set()

    def reload(self, path: str) -> bool:
        """SIGHUP: take a new config if it is valid (else keep the old one), apply every option that can be
        applied live, and for each one that needs a restart log a WARNING and keep the value in force."""
        try:
            new = load_settings(path)
        except ConfigError as exc:
            LOG.error("config reload refused, keeping the running config:\n%s", exc)
            return False
        old = self.settings
        pending = [name for name in RESTART_ONLY if getattr(new, name) != getattr(old, name)]
        for name in pending:
            LOG.warning("config reload: %s changed: it takes effect at the next start; the running value stays",
                        RESTART_ONLY[name])
        new = replace(new, **{name: getattr(old, name) for name in pending})
        if _client_settings(new) != _client_settings(old):
            try:
                client = build_client(new, self.member)
            except Exception as exc:  # a cloud that does not exist, a bad clouds.yaml: keep everything as it was
                LOG.error("config reload refused, keeping the running config: cannot build the Neutron client: "
                          "%s: %s", type(exc).__name__, exc)
                return False
            client.observer = self.metrics.observe_api
            self.client = self.reconciler.client = self.reconciler.reader.client = client
            self.executor.apply_call = client.apply_call
        if new.audit_log != old.audit_log:
            audit, self.audit = self.audit, AuditLog(new.audit_log)
            self.executor.audit = self.audit
            audit.close()
        self.settings = new
        self.reconciler.policy = policy_from(new)
        self.reconciler.reader.resync_s = new.resync_interval_s
        self.reconciler.reader.with_bus = bool(new.rpchost) or self.reconciler.reader.with_bus
        self.reconciler.reader.force_full("the config was reloaded")
        self.executor.reconfigure(max_concurrency=new.max_concurrency, retries=new.api_retries,
                                  dry_run=new.dry_run)
        configure_levels(new)
        if _bus_settings(new) != _bus_settings(old):
            self.stop_bus()
            if new.rpchost:
                self._use_bus_heartbeats()
                try:
                    self.start_bus()
                except ValueError as exc:
                    LOG.error("bus not used: %s", exc)
            else:
                self.reconciler.heard = None
        if (new.status_listen, new.status_token) != (old.status_listen, old.status_token):
            self.restart_status_server()
        LOG.info("config reloaded from %s", path)
        return True

    def restart_status_server(self) -> None:
        """A new status listener (address or token changed): the old one stops first when the address is the
        same; a new address that cannot be bound is an error, and then nothing is served."""
        old, self.status_server = self.status_server, None
        if old is not None:
            old.stop()
        try:
            start_status_server(self)
        except OSError as exc:
            host, port = self.settings.status_listen
            LOG.error("cannot serve status on %s:%s after the reload: %s", host, port, exc.strerror or exc)

    def run_once(self) -> PassReport:
        """One pass with its bookkeeping (metrics, readiness, systemd status)."""
        now = time.monotonic()
        self._pass_starts.append(now)
        while self._pass_starts and now - self._pass_starts[0] > 60:
            self._pass_starts.popleft()
        window = min(60.0, max(1.0, now - self._pass_starts[0]))
        self.metrics.passes_per_second.set(len(self._pass_starts) / window)
        report = self.reconciler.run_pass(self.stop_event)
        self.passes += 1
        if report.error is None and self.first_good_pass is None:
            self.first_good_pass = report.started_at
        self._observe_pass(report)
        systemd.notify(f"STATUS=last pass {report.outcome}, {len(report.results)} change(s)")
        if self._on_pass is not None:
            self._on_pass(report)
        return report

    def run(self) -> None:
        LOG.info("rpcdaemon running: plugins %s, check every %.1fs, agents dead after %.0fs (%s)%s",
                 " ".join(self.settings.plugins), self.settings.check_interval_s, self.settings.agent_down_time_s,
                 self.settings.agent_down_time_origin, ", DRY RUN" if self.settings.dry_run else "")
        try:
            self.start_bus()
        except ValueError as exc:
            LOG.error("bus not used: %s", exc)
        self.cluster.start()
        systemd.notify("READY=1", "STATUS=running")
        while not self.stop_event.is_set():
            started = time.monotonic()
            self._wake.clear()
            self._keepalive()
            try:
                self.run_once()
            except Exception:  # a bug in one pass must not end the daemon: log it, try again next interval
                LOG.exception("pass failed unexpectedly")
            remaining = self._next_wait(started)
            if remaining > 0:
                self._wake.wait(remaining)
            floor = started + self.settings.min_pass_interval_s - time.monotonic()
            if floor > 0:  # every pass waits for the floor (events, timers); wake-ups meanwhile coalesce into it
                self.stop_event.wait(floor)
        systemd.notify("STOPPING=1")
        self.cluster.stop()  # after the changes in flight: a standby takes over at once
        self.stop_bus()
        LOG.info("rpcdaemon stopped")


def bus_tls(urls: list[str], files: dict[str, str]) -> bool | dict[str, Any]:
    """kombu's `ssl` argument: certificate files when configured (the broker's certificate then verified),
    plain TLS for amqps:// URLs, else none."""
    if files:
        return {**files, "cert_reqs": ssl.CERT_REQUIRED if "ca_certs" in files else ssl.CERT_NONE}
    return any(url.startswith("amqps://") for url in urls)


def build_coordination(settings: Settings, member: str, wake: Callable[[], None]) -> Coordination:
    """A cluster member when coordination_url is set (a new role wakes a pass), else the only instance."""
    if not settings.coordination_url:
        return Standalone(member)
    host, port = settings.status_listen
    return Cluster(settings.coordination_url, settings.coordination_group, member,
                   LeaseTiming(settings.coordination_lease_s), on_role=lambda _role: wake(),
                   status_url=f"http://{host}:{port}/status" if host else None)


def start_status_server(daemon: Daemon) -> StatusServer | None:
    host, port = daemon.settings.status_listen
    if not host:
        return None
    token = getattr(daemon.settings, "status_token", None) or None
    server = StatusServer(host, port, daemon.status_document, daemon.metrics.render, daemon.ready, token).start()
    daemon.status_server = server
    return server


RESTART_ONLY = {
    "pidfile": "[Daemon] pidfile",
    "logfile": "[Daemon] logfile",
    "coordination_url": "[Daemon] coordination_url",
    "coordination_lease_s": "[Daemon] coordination_lease",
    "coordination_group": "[Daemon] coordination_group",
}
"""Options a running daemon cannot change (a reload warns and keeps the value in force)."""


def _client_settings(settings: Settings) -> tuple[object, ...]:
    return (settings.cloud, settings.neutron_endpoint, api_timeout(settings), min(settings.max_concurrency, 16))


def _bus_settings(settings: Settings) -> tuple[object, ...]:
    return (settings.rpchost, settings.rpc_ssl, settings.l3.queue_expire_s, settings.dhcp.queue_expire_s,
            "Dump" in settings.plugins, settings.dump.queue)


# --- process plumbing -------------------------------------------------------------------------------------------


def configure_logging(settings: Settings, foreground: bool) -> None:
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    handler: logging.Handler = logging.StreamHandler(sys.stderr)
    if not foreground:
        Path(settings.logfile).parent.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(settings.logfile)
    handler.setFormatter(RedactingFormatter(LOG_FORMAT))  # every line: URL credentials, tokens, ESC sequences
    root.addHandler(handler)
    root.setLevel(logging.WARNING)
    configure_levels(settings)


def configure_levels(settings: Settings) -> None:
    """The Daemon's loglevel for rpcdaemon, each plugin's own for its changes and (Dump) its lines."""
    logging.getLogger("rpcdaemon").setLevel(settings.loglevel)
    logging.getLogger("rpcdaemon.audit").setLevel(logging.INFO)
    logging.getLogger("rpcdaemon.audit.L3Agent").setLevel(settings.l3.loglevel)
    logging.getLogger("rpcdaemon.audit.DHCPAgent").setLevel(settings.dhcp.loglevel)
    logging.getLogger("rpcdaemon.dump").setLevel(settings.dump.loglevel)
    for name in ("openstack", "keystoneauth", "urllib3"):
        logging.getLogger(name).setLevel(logging.WARNING)


# The pidfile lives in shell/pidfile.py (locked, never through a link); these names stay for their importers.
PidfileError = _pidfile.PidfileError
check_pidfile = _pidfile.check_pidfile
acquire_pidfile = _pidfile.acquire_pidfile
release_pidfile = _pidfile.release_pidfile
_process_alive = _pidfile.process_alive

