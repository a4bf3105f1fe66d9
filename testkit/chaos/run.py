"""One chaos run, end to end: build the cloud, start rpcdaemon on it (HTTP API, in-memory bus behind a faulty
relay, a jumpable clock, its status server under a low file-descriptor limit), inject faults for the configured
time, stop them, await convergence with a deadline, then report.

Everything rpcdaemon does is judged while the run goes (ActionJudge, PassRateJudge and BudgetJudge over the
emulator's call log; the threads and file descriptors the status port costs while a client swarm holds it), so a
wrong action is caught even if a later pass repairs it. Nothing here sleeps to wait for rpcdaemon: it polls with
deadlines.
"""

from __future__ import annotations

import bisect
import contextlib
import errno
import logging
import os
import resource
import statistics
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from urllib.parse import urlsplit

from rpcdaemon.config.settings import Settings, default_settings
from rpcdaemon.core.plan import Plan
from rpcdaemon.daemon.executor import ChangeResult
from rpcdaemon.daemon.loop import Daemon, start_status_server
from rpcdaemon.daemon.observer import Observer
from rpcdaemon.daemon.report import PassReport
from rpcdaemon.emulator.bus import HeartbeatPump, notification_body
from rpcdaemon.emulator.cloud import L3, Call, Cloud
from rpcdaemon.emulator.server import serve
from rpcdaemon.model import Snapshot
from testkit.chaos.clock import JumpClock
from testkit.chaos.config import ChaosConfig
from testkit.chaos.fleet import build_fleet
from testkit.chaos.history import AgentHistory
from testkit.chaos.invariants import (
    ActionJudge,
    BudgetJudge,
    PassRateJudge,
    Targets,
    over_target,
    state_problems,
)
from testkit.chaos.memory import MemorySampler
from testkit.chaos.monkey import ChaosMonkey, DownEvent
from testkit.chaos.relay import FaultyRelay
from testkit.chaos.report import ChaosReport
from testkit.chaos.swarm import HeldConnections

MEMBER = "chaos-daemon"
POLL_S = 0.25
QUIET_PASSES = 3
"""After convergence, this many more passes must change nothing."""
BURST_SPAN_S = 3.0
"""A burst lasts about a second: the passes that follow it are counted over this long from its start."""
STARVED = ("Too many open files", "[Errno 24]")
"""What a read or a change says when the process has no file descriptor left."""
CONVERGENCE = "convergence"
STORM = "action storm"
CRASH = "crash"
MEMORY = "memory"
SWARM_HELD = "status swarm: connections held"
STARVATION = "control loop starved"


class _CrashWatch(logging.Handler):
    """Counts the daemon's 'pass failed unexpectedly' (a bug escaping a pass) and uncaught thread exceptions."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.crashes: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if "pass failed unexpectedly" in record.getMessage():
            self.crashes.append(f"pass failed unexpectedly: {record.exc_info[1] if record.exc_info else ''}")

    def thread_hook(self, args: threading.ExceptHookArgs) -> None:
        name = args.thread.name if args.thread is not None else "?"
        self.crashes.append(f"thread {name} died: {args.exc_type.__name__}: {args.exc_value}")


def build_cloud(config: ChaosConfig) -> Cloud:
    """The chaos fleet's cloud (fleet.py): zones of unequal size, network and compute nodes, hinted resources."""
    return build_fleet(config).cloud


def daemon_settings(config: ChaosConfig, url: str) -> Settings:
    base = default_settings()
    settings = replace(base, neutron_endpoint=url, check_interval_s=config.check_interval_s,
                       agent_down_time_s=config.agent_down_time_s, agent_down_time_origin="chaos",
                       hold_down_s=config.hold_down_s, max_evacuations_per_minute=config.max_evacuations_per_minute,
                       max_concurrency=8, api_retries=3, audit_log=None, status_listen=("127.0.0.1", 0),
                       verify_timeout_s=config.verify_timeout_s,
                       l3=replace(base.l3, timeout_s=config.api_timeout_s, ha_replicas=config.ha_replicas),
                       dhcp=replace(base.dhcp, timeout_s=config.api_timeout_s,
                                    agents_per_network=config.dhcp_per_network))
    if config.min_pass_interval_s is not None:
        settings = replace(settings, min_pass_interval_s=config.min_pass_interval_s)
    if config.resync_interval_s is not None:
        settings = replace(settings, resync_interval_s=config.resync_interval_s)
    return settings


class _Jumps:
    """rpcdaemon's clock as the run moved it: real time -> rpcdaemon's time (for the budget's minute)."""

    def __init__(self) -> None:
        self._at: list[float] = []
        self._offset: list[float] = []
        self._lock = threading.Lock()

    def jumped(self, at: float, seconds: float) -> None:
        with self._lock:
            self._at.append(at)
            self._offset.append((self._offset[-1] if self._offset else 0.0) + seconds)

    def daemon_time(self, real: float) -> float:
        with self._lock:
            i = bisect.bisect_right(self._at, real)
            return real + (self._offset[i - 1] if i else 0.0)


class _SwarmWatch:
    """What the status port costs while a client swarm holds it: the connections the process holds on it (a status
    server that bounds them holds a few dozen, one without a bound hundreds), its threads, and its file descriptors
    (none left: the control loop can open no connection to Neutron)."""

    def __init__(self, bound: int) -> None:
        self.bound = bound
        self.count_held: HeldConnections | None = None
        self.held: list[int] = []
        """Per swarm: the most connections the process held on the status port."""
        self.growth: list[int] = []
        """Per swarm: the most threads above the level before it."""
        self.fds_peak = 0
        self.violations: list[tuple[str, str]] = []
        self._calm: list[int] = []
        self._peak: int | None = None
        self._held = 0
        self._exhausted = False

    def sample(self, swarming: bool) -> None:
        threads = threading.active_count()
        try:
            self.fds_peak = max(self.fds_peak, len(os.listdir("/proc/self/fd")))
        except OSError as exc:
            if exc.errno == errno.EMFILE:
                self.fds_peak = max(self.fds_peak, resource.getrlimit(resource.RLIMIT_NOFILE)[0])
                self._exhausted = self._exhausted or swarming
        if swarming:
            self._peak = max(self._peak or 0, threads)
            held = self.count_held() if self.count_held is not None else None
            self._held = max(self._held, held or 0)
            return
        if self._peak is not None:
            self._close()
        self._calm = [*self._calm[-39:], threads]

    def _close(self) -> None:
        base = int(statistics.median(self._calm)) if self._calm else 0
        self.growth.append(max(0, (self._peak or 0) - base))
        self.held.append(self._held)
        if self._held > self.bound:
            self.violations.append((SWARM_HELD, f"status swarm: the process held {self._held} connections of idle "
                                                f"or slow clients on its status port at once (bound {self.bound})"))
        if self._exhausted:
            self.violations.append((STARVATION, "status swarm: the process had no file descriptor left: the control "
                                                "loop could open no connection to Neutron"))
        self._peak, self._held, self._exhausted = None, 0, False

    def close(self) -> None:
        if self._peak is not None:
            self._close()
        if self.count_held is not None:
            self.count_held.close()


def _lower_fd_limit(headroom: int | None) -> tuple[int, int] | None:
    """Let the process open only `headroom` descriptors more than it holds now; the previous limits (to restore)."""
    if headroom is None:
        return None
    try:
        in_use = len(os.listdir("/proc/self/fd"))
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        wanted = in_use + headroom
        if soft != resource.RLIM_INFINITY and soft <= wanted:
            return None
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    except (OSError, ValueError):
        return None
    return soft, hard


class _Calls:
    """Every judge fed from one drain of the call log; the figures of rpcdaemon's own calls."""

    def __init__(self, cloud: Cloud, judges: list[ActionJudge | PassRateJudge | BudgetJudge]) -> None:
        self.cloud = cloud
        self.judges = judges
        self.lies: Counter[str] = Counter()
        self.rows = 0

    def drain(self) -> None:
        calls = self.cloud.drain_calls()
        mine = [c for c in calls if c.member is not None]
        for judge in self.judges:
            judge.feed(mine)
        self._figures(mine)

    def _figures(self, calls: list[Call]) -> None:
        for call in calls:
            self.rows += call.rows or 0
            if call.lie is not None:
                self.lies[f"{call.lie} {call.pattern}"] += 1


class _Repairs:
    """Times each death of an agent that hosted something: heartbeats stopped -> all it hosted served again."""

    def __init__(self, cloud: Cloud, history: AgentHistory, targets: Targets) -> None:
        self._cloud, self._history, self._targets = cloud, history, targets
        self._seen = 0
        self._pending: list[DownEvent] = []
        self.times: list[float] = []
        self.untimed = 0

    def check(self, downs: list[DownEvent], now: float) -> None:
        for event in downs[self._seen:]:
            if event.hosted and event.kind != "agent_flap":  # a flap must cause nothing: there is no repair to time
                self._pending.append(event)
        self._seen = len(downs)
        still: list[DownEvent] = []
        for event in self._pending:
            if not self._history.is_down(event.agent_id, now) or self._history.info(event.agent_id) is None:
                self.untimed += 1
                continue
            kind = "router" if event.agent_type == L3 else "network"
            only = {(kind, r) for r in event.hosted}
            if self._history.api_dead(event.agent_id, now) and not state_problems(
                    self._cloud, self._history, self._targets, now, only):
                self.times.append(now - event.at)
            else:
                still.append(event)
        self._pending = still

    def close(self) -> None:
        self.untimed += len(self._pending)
        self._pending = []


def run_chaos(config: ChaosConfig, say: Callable[[str], None] | None = None,
              setup: Callable[[Daemon, Cloud], None] | None = None) -> ChaosReport:
    """Run, judge, report. `say` gets progress lines; `setup` sees the daemon and the cloud before the run starts
    (the tests use it to sabotage the daemon and check that the judges notice)."""
    say = say or (lambda _line: None)
    started = time.monotonic()
    report = ChaosReport(seed=config.seed, fault_s=config.duration_s)
    faults: Counter[str] = report.faults
    fleet = build_fleet(config)
    cloud = fleet.cloud
    history = AgentHistory(config.agent_down_time_s, cloud.interval)
    with cloud.lock:
        for agent in cloud.agents.values():
            history.add(agent.id, agent.agent_type, agent.availability_zone or "", agent.up_since, agent.agent_mode)
    targets = Targets(config.dhcp_per_network, config.ha_replicas)
    # rpcdaemon sees each agent of a majority die at its own observation (heartbeat phase, bus delays, failed
    # reads), so the first may be evacuated before the guard trips; a dead period later the guard must hold.
    judge = ActionJudge(history, MEMBER, settle_s=config.agent_down_time_s + 2.0, hold_down_s=config.hold_down_s,
                        hints=fleet.hints)
    jumps = _Jumps()
    settings_min = config.min_pass_interval_s
    pace = PassRateJudge(settings_min if settings_min is not None else default_settings().min_pass_interval_s)
    budget = BudgetJudge(history, config.max_evacuations_per_minute, jumps.daemon_time)
    calls = _Calls(cloud, [judge, pace, budget])
    swarm_watch = _SwarmWatch(config.swarm_connection_bound)
    repairs = _Repairs(cloud, history, targets)
    crash = _CrashWatch()
    old_hook = threading.excepthook
    rpc_log = logging.getLogger("rpcdaemon")
    rpc_log.addHandler(crash)
    threading.excepthook = crash.thread_hook
    starved: list[str] = []

    class Watcher(Observer):
        def on_result(self, result: ChangeResult) -> None:
            report.changes[f"{result.change.action.value} {result.outcome}"] += 1
            if any(mark in result.detail for mark in STARVED):
                starved.append(f"{result.change.action.value}: {result.detail[:160]}")

        def on_pass(self, pass_report: PassReport) -> None:
            report.passes += 1
            report.pass_errors += pass_report.error is not None
            if pass_report.error is not None and any(mark in pass_report.error for mark in STARVED):
                starved.append(f"pass: {pass_report.error[:160]}")

        def on_plan(self, plan: Plan, _snapshot: Snapshot) -> None:
            now = time.monotonic()
            for agent_id, liveness in plan.verdicts.items():
                if liveness.is_dead:
                    judge.judged_dead(agent_id, now)

    fd_limits: tuple[int, int] | None = None
    try:
        with serve(cloud) as server:
            start = config.clock_start
            if start is None:
                start = 100.0 if config.seed % 2 else 1e9
            clock = JumpClock(start=start)
            daemon = Daemon(daemon_settings(config, server.url), observer=Watcher(), member=MEMBER, clock=clock)
            fd_limits = _lower_fd_limit(config.fd_headroom)
            report.fd_limit = resource.getrlimit(resource.RLIMIT_NOFILE)[0] if fd_limits else None
            status = start_status_server(daemon)
            status_port = urlsplit(status.url).port if status is not None else None
            swarm_watch.count_held = HeldConnections(status_port) if status_port is not None else None
            relay = FaultyRelay(daemon.in_memory_bus(), config.seed + 1, faults, on_down=daemon.bus.disconnected,
                                on_up=daemon.bus.connected).start()
            monkey = ChaosMonkey(cloud, history, relay, clock, config, faults, fleet=fleet, status_port=status_port)
            relay.tap = monkey.tap

            def on_jump(at: float, seconds: float) -> None:
                judge.clock_jumped(at, seconds)
                jumps.jumped(at, seconds)

            monkey.on_jump = on_jump

            if setup is not None:
                setup(daemon, cloud)
            pump = HeartbeatPump(cloud, relay.publish).start()
            cloud.notify = lambda event, payload: relay.publish("notifications.info",
                                                                notification_body(event, payload))
            runner = threading.Thread(target=daemon.run, name="chaos-rpcdaemon", daemon=True)
            runner.start()
            try:
                _await(lambda: daemon.passes >= 2, 60, "rpcdaemon's first passes")
                sampler = MemorySampler(heap=config.tracemalloc).start()
                monkey.start()
                say(f"faults for {config.duration_s:.0f}s (seed {config.seed}; rpcdaemon's clock started at {start:g})")
                fault_end = time.monotonic() + config.duration_s
                next_say = time.monotonic() + 30
                while time.monotonic() < fault_end and runner.is_alive():
                    _observe(calls, repairs, monkey, swarm_watch, time.monotonic())
                    if time.monotonic() >= next_say:
                        down = sum(1 for a in history.agents() if history.is_down(a.agent_id, time.monotonic()))
                        found = (len(judge.violations) + len(pace.flags.violations) + len(budget.flags.violations)
                                 + len(swarm_watch.violations) + len(starved))
                        say(f"  {sum(faults.values())} faults, {report.total_changes} changes, "
                            f"{found} violations so far; {report.passes} passes "
                            f"({report.pass_errors} unread), {down} agents down")
                        next_say += 30
                    time.sleep(POLL_S)  # the sampling period of the observer, not a wait for rpcdaemon
                monkey.stop_faults()
                swarm_watch.close()
                stopped = time.monotonic()
                finals = monkey.parting_kills()
                say(f"faults stopped, {len(finals)} last agent(s) killed; awaiting convergence")
                deadline = (stopped + config.agent_down_time_s * 2 + config.hold_down_s
                            + (config.resync_interval_s or 60.0) + config.convergence_deadline_s)
                problems: list[str] = ["not checked"]
                while runner.is_alive() and time.monotonic() < deadline:
                    now = time.monotonic()
                    _observe(calls, repairs, monkey, swarm_watch, now)
                    problems = state_problems(cloud, history, targets, now)
                    if not problems:
                        report.converged_s = now - stopped
                        break
                    time.sleep(POLL_S)
                report.final_problems = problems
                if report.converged_s is not None:
                    _check_quiet(daemon, report, cloud, history, targets, runner)
                repairs.close()
                report.memory = sampler.stop()
                if not runner.is_alive():
                    report.add(CRASH, "rpcdaemon's loop is not running any more")
            finally:
                daemon.stop()
                runner.join(30)
                pump.stop()
                relay.stop()
                monkey.stop_faults()
                if status is not None:
                    status.stop()
            calls.drain()
            report.over_target_networks = over_target(cloud, history, targets, time.monotonic())
    finally:
        if fd_limits is not None:
            with contextlib.suppress(OSError, ValueError):
                resource.setrlimit(resource.RLIMIT_NOFILE, fd_limits)
        rpc_log.removeHandler(crash)
        threading.excepthook = old_hook

    pace.close()
    report.rows_read = calls.rows
    report.lies = calls.lies
    report.pace_peak, report.pace_window_s, report.pace_bound = pace.peak, pace.window_s, pace.bound
    report.bursts = [(n, pace.passes_between(at, at + BURST_SPAN_S)) for at, n in monkey.bursts]
    report.swarm_threads = swarm_watch.growth
    report.swarm_held = swarm_watch.held
    report.swarms = monkey.swarms
    report.hinted = fleet.hinted()
    for kind, text in zip(judge.kinds, judge.violations, strict=True):
        report.add(kind, text)
    for flags in (pace.flags, budget.flags):
        for kind, text in zip(flags.kinds, flags.violations, strict=True):
            report.add(kind, text)
    for kind, text in swarm_watch.violations:
        report.add(kind, text)
    report.fds_peak = swarm_watch.fds_peak
    if starved:
        report.add(STARVATION, f"the control loop starved of file descriptors {len(starved)} times while clients "
                               f"held the status port: {starved[0]}")
    _conclude(report, config, repairs, monkey, history, crash.crashes, calls)
    report.wall_s = time.monotonic() - started
    return report


def _conclude(report: ChaosReport, config: ChaosConfig, repairs: _Repairs, monkey: ChaosMonkey,
              history: AgentHistory, crashes: list[str], calls: _Calls) -> None:
    """Gather the figures and turn every broken rule into a violation (known defects apart)."""
    now = time.monotonic()
    report.calls = calls.judges[0].calls if isinstance(calls.judges[0], ActionJudge) else Counter()
    report.repairs_s = repairs.times
    report.unrepaired = repairs.untimed
    report.resources_at_risk = sum(len(e.hosted) for e in monkey.downs
                                   if history.became_dead(e.agent_id, e.at, now))
    # a lie about agents or bindings may make a resource look short of agents: at most a few adds each
    misled = sum(n for kind, n in calls.lies.items() if "/agents" in kind)
    report.change_bound = 3 * report.resources_at_risk + 3 * monkey.races + 3 * monkey.churned + 15 * misled + 10
    for text in crashes:
        report.add(CRASH, text)
    if report.faults["bus_delivery_raised"]:
        report.add(CRASH, f"rpcdaemon's bus entry point raised {report.faults['bus_delivery_raised']} times")
    if report.converged_s is None:
        report.add(CONVERGENCE, f"no convergence within the deadline: {len(report.final_problems)} problems")
    if report.total_changes > report.change_bound:
        report.add(STORM, f"action storm: {report.total_changes} changes > bound {report.change_bound}")
    if report.memory is not None and report.memory.samples >= 9 and not report.memory.flat():
        report.add(MEMORY, "memory grew: last third above the first third by more than the margin")
    report.tolerate(config.tolerated)


def _observe(calls: _Calls, repairs: _Repairs, monkey: ChaosMonkey, swarm_watch: _SwarmWatch, now: float) -> None:
    calls.drain()
    repairs.check(list(monkey.downs), now)
    swarm_watch.sample(monkey.swarm is not None)


def _check_quiet(daemon: Daemon, report: ChaosReport, cloud: Cloud, history: AgentHistory, targets: Targets,
                 runner: threading.Thread) -> None:
    """Converged means stable: the next passes change nothing and the state still holds. The pass in flight when
    the state was first seen converged is the converging one: its last results (counted after their calls and
    audit records) are not changes after convergence."""
    in_flight = daemon.passes
    _await(lambda: daemon.passes > in_flight or not runner.is_alive(), 60, "the converging pass to end")
    before, passes = report.total_changes, daemon.passes
    _await(lambda: daemon.passes >= passes + QUIET_PASSES or not runner.is_alive(),
           QUIET_PASSES * 10 + 10, "quiet passes")
    if report.total_changes != before:
        report.add(CONVERGENCE, f"{report.total_changes - before} changes after convergence")
    problems = state_problems(cloud, history, targets, time.monotonic())
    if problems:
        report.add(CONVERGENCE, f"converged state did not hold: {problems[:3]}")


def _await(condition: Callable[[], bool], deadline_s: float, what: str) -> None:
    end = time.monotonic() + deadline_s
    while not condition():
        if time.monotonic() > end:
            raise TimeoutError(f"not within {deadline_s}s: {what}")
        time.sleep(0.05)
