"""The pass loop: one pass at a time, every `check_interval` or sooner when woken, never faster than the floor.

The Daemon holds the parts that daemon/compose.py built from Settings and runs passes of the reconciler; it is
woken by the bus (daemon/bus.py), by a new role in the cluster, or by a test. When to look next is the core's rule
(core/cadence.py). SIGTERM and SIGINT stop it after the changes in flight finish; SIGHUP reloads the config: every
option that can change live is applied, an invalid new config is logged and the old one kept (RESTART_ONLY options
keep their running value with a warning). The process's plumbing: daemon/process.py, daemon/pidfile.py.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from rpcdaemon.adapters import systemd
from rpcdaemon.adapters.audit import AuditLog
from rpcdaemon.adapters.bus.watch import BusWatch
from rpcdaemon.adapters.neutron.client import NeutronClient
from rpcdaemon.adapters.status.http import StatusServer
from rpcdaemon.adapters.status.metrics import Metrics
from rpcdaemon.config.load import load_settings
from rpcdaemon.config.settings import ConfigError, Settings
from rpcdaemon.core.cadence import api_lagging, next_wait
from rpcdaemon.daemon.bus import BusFeed
from rpcdaemon.daemon.compose import (
    RESTART_ONLY,
    build_client,
    build_coordination,
    build_status_server,
    bus_settings,
    client_settings,
    default_member_id,
)
from rpcdaemon.daemon.executor import ChangeResult, Executor
from rpcdaemon.daemon.observer import NOBODY, Observer
from rpcdaemon.daemon.process import LOG_FORMAT, configure_levels, reopen_logging
from rpcdaemon.daemon.reconciler import Reconciler
from rpcdaemon.daemon.report import PassReport
from rpcdaemon.daemon.status import StatusView, build_status
from rpcdaemon.model import AgentId, Snapshot

LOG = logging.getLogger("rpcdaemon")
API_CATCH_UP_S = 1.0
__all__ = ["API_CATCH_UP_S", "LOG_FORMAT", "Daemon", "start_status_server"]


class Daemon:
    """The pass loop. `stop` ends it; `wake()` runs a pass now instead of at the next interval."""

    def __init__(
        self,
        settings: Settings,
        client: NeutronClient | None = None,
        audit: AuditLog | None = None,
        observer: Observer = NOBODY,
        member: str | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.member = member or default_member_id()
        self.observer = observer
        self.metrics = Metrics()
        self.audit = audit or AuditLog(settings.audit_log)
        self.client = client or build_client(settings, self.member)
        self.client.observer = self.metrics.observe_api
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
        self._clock = clock
        self.bus = BusWatch(clock, self.wake)
        self._bus_heard = bool(settings.rpchost)
        """Bus heartbeats are the second liveness signal (once the bus has been heard for a dead period)."""
        self.reconciler = Reconciler(self.client, self.executor, settings.policy(), clock=clock,
                                     resync_s=settings.resync_interval_s, with_bus=bool(settings.rpchost),
                                     heard=self._heard, may_act=self.cluster.may_act, observer=observer)
        self.feed = BusFeed(self.member, self.bus, self.reconciler.reader.named, self.metrics,
                            self.reconciler.reader.force_full)
        self.stop_event = threading.Event()
        self._wake = threading.Event()
        self.passes = 0
        self.first_good_pass: float | None = None
        self._watchdog_s = systemd.watchdog_interval_s()
        self._watchdog_at = 0.0
        self._pass_starts: deque[float] = deque()
        self.status_server: StatusServer | None = None
        self.metrics.is_leader.set(int(self.cluster.may_act()))

    def _heard(self, snapshot: Snapshot) -> Mapping[AgentId, float] | None:
        return self.bus.heard_for(snapshot, self.reconciler.policy.dead_after_s) if self._bus_heard else None

    def _keepalive(self) -> None:
        """WATCHDOG=1 when due: from the loop and from progress inside a long evacuation, never from a timer."""
        if self._watchdog_s is not None and time.monotonic() - self._watchdog_at >= self._watchdog_s:
            self._watchdog_at = time.monotonic()
            systemd.notify("WATCHDOG=1")

    def _result(self, result: ChangeResult) -> None:
        self._keepalive()
        self.metrics.actions.labels(result.change.action.value, result.outcome).inc()
        self.observer.on_result(result)

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
            self.metrics.observe_zones((z.agent_type, z.availability_zone, z.disrupted)
                                       for z in report.plan.zones.values())
            self.metrics.read_untrusted.set(int(any(a.startswith("UNTRUSTED") for a in report.plan.alarms)))
            self.metrics.observe_exposure(report.snapshot, report.plan.verdicts, self.reconciler.policy)
            for landing, seconds in report.plan.verified:
                self.metrics.verified.labels(landing.resource_type.value).inc()
                self.metrics.verify_seconds.observe(seconds)
            for landing in report.plan.unverified:
                self.metrics.unverified.labels(landing.resource_type.value).inc()
            self.metrics.awaiting.set(len(self.reconciler.state.landings))

    def ready(self) -> bool:
        """Ready after the first pass that read the cloud."""
        return self.first_good_pass is not None

    def status_view(self) -> StatusView:
        reader = self.reconciler.reader
        reads = {"last": reader.last_kind.value if reader.last_kind else None, "full_reads": reader.full_reads,
                 "last_full_read_s": round(reader.last_full_read_s, 3) if reader.last_full_read_s is not None
                 else None, "resync_period_s": round(reader.period(), 1)}
        return StatusView(self.member, self.reconciler.last_report, reads, self.cluster.view(), self.ready(),
                          self.settings.dry_run, self.passes, tuple(self.settings.plugins),
                          [r.as_dict() for r in self.audit.recent()[-50:]])

    def status_document(self) -> dict[str, Any]:
        return build_status(self.status_view())

    def serve_status(self) -> StatusServer | None:
        """Start the status port when [Daemon] status_listen is set; the daemon owns it (a reload may replace it)."""
        self.status_server = build_status_server(self.settings, self.status_document, self.metrics.render,
                                                 self.ready)
        return self.status_server

    def wake(self) -> None:
        """Ask for a pass soon. Wake-ups coalesce: one pass in flight, at most one pending, and pass starts at
        least `min_pass_interval` apart (a burst of 100 notifications is one or two passes, not 100)."""
        self.metrics.wakeups.inc()
        self._wake.set()

    def start_bus(self) -> None:
        """Listen to the bus (when rpchost is set); ValueError: its URLs cannot be used."""
        self.feed.start(self.settings)

    def in_memory_bus(self) -> Callable[[str, str], None]:
        """A bus in the same process (the demo, the chaos rig): publish(routing_key, body) reaches the daemon as
        the broker would."""
        self._bus_heard = True
        self.reconciler.reader.with_bus = True
        return self.feed.in_memory()

    def stop_bus(self) -> None:
        self.feed.stop()

    def _next_wait(self, started: float) -> float:
        """Until the next periodic pass, or sooner (core/cadence.py)."""
        dead_after = self.reconciler.policy.dead_after_s
        report = self.reconciler.last_report
        lagging = report is not None and report.plan is not None and api_lagging(report.plan.verdicts,
                                                                                  self.reconciler.policy)
        return next_wait(self.settings.check_interval_s - (time.monotonic() - started), self._clock(),
                         self.bus.next_expiry(dead_after), lagging, API_CATCH_UP_S)

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
        if client_settings(new) != client_settings(old):
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
        reader = self.reconciler.reader
        self.reconciler.policy = new.policy()
        reader.resync_s = new.resync_interval_s
        reader.with_bus = bool(new.rpchost) or reader.with_bus
        reader.force_full("the config was reloaded")
        self.executor.reconfigure(max_concurrency=new.max_concurrency, retries=new.api_retries, dry_run=new.dry_run)
        reopen_logging(new)  # the log file again (moved away by hand?), a changed log_format or use_syslog
        configure_levels(new)
        if bus_settings(new) != bus_settings(old):
            self.stop_bus()
            self._bus_heard = bool(new.rpchost)
            try:
                self.start_bus()
            except ValueError as exc:
                LOG.error("bus not used: %s", exc)
        if (new.status_listen, new.status_token, new.status_tls) != (old.status_listen, old.status_token,
                                                                       old.status_tls) or new.status_tls:
            self.restart_status_server()  # with TLS, always: the certificate may have been renewed in place
        for warning in new.warnings:
            LOG.warning("%s", warning)
        LOG.info("config reloaded from %s", path)
        return True

    def restart_status_server(self) -> None:
        """A new status listener (address or token changed): the old one stops first when the address is the
        same; a new address that cannot be bound is an error, and then nothing is served."""
        old, self.status_server = self.status_server, None
        if old is not None:
            old.stop()
        try:
            self.serve_status()
        except (OSError, ValueError) as exc:
            host, port = self.settings.status_listen
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
            LOG.error("cannot serve status on %s:%s after the reload: %s", host, port, reason)

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
        self.observer.on_pass(report)
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


def start_status_server(daemon: Daemon) -> StatusServer | None:
    """The daemon's status port (kept for the tests and rigs that start one beside a daemon they run)."""
    return daemon.serve_status()
