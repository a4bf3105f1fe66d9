"""One chaos run, end to end: build the cloud, start rpcdaemon on it (HTTP API, in-memory bus behind a faulty
relay, a jumpable clock), inject faults for the configured time, stop them, await convergence with a deadline,
then report.

Everything rpcdaemon does is judged while the run goes (ActionJudge over the emulator's call log), so a wrong action
is caught even if a later pass repairs it. Nothing here sleeps to wait for rpcdaemon: it polls with deadlines.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import replace

from rpcdaemon.chaos.clock import JumpClock
from rpcdaemon.chaos.config import ChaosConfig
from rpcdaemon.chaos.history import AgentHistory
from rpcdaemon.chaos.invariants import ActionJudge, Targets, over_target, state_problems
from rpcdaemon.chaos.memory import MemorySampler
from rpcdaemon.chaos.monkey import ChaosMonkey, DownEvent
from rpcdaemon.chaos.relay import FaultyRelay
from rpcdaemon.chaos.report import ChaosReport
from rpcdaemon.core.plan import Plan
from rpcdaemon.emulator.bus import HeartbeatPump, notification_body
from rpcdaemon.emulator.cloud import L3, Cloud
from rpcdaemon.emulator.server import serve
from rpcdaemon.model import Snapshot
from rpcdaemon.reconciler import PassReport
from rpcdaemon.runner import Daemon
from rpcdaemon.settings import Settings, default_settings
from rpcdaemon.shell.executor import ChangeResult

MEMBER = "chaos-daemon"
POLL_S = 0.25
QUIET_PASSES = 3
"""After convergence, this many more passes must change nothing."""


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
    """Zones az-1..az-N, `agents_per_zone` DHCP and L3 agents in each, networks on `dhcp_per_network` agents,
    legacy routers round robin, HA routers on `ha_replicas` agents: converged from the start."""
    agents = config.zones * config.agents_per_zone
    cloud = Cloud.build(dhcp_agents=agents, l3_agents=agents, networks=config.networks, routers=config.routers,
                        dhcp_per_network=config.dhcp_per_network, agent_down_time=config.agent_down_time_s,
                        seed=config.seed, availability_zones=config.zones, clock=time.monotonic)
    l3 = sorted((a for a in cloud.agents.values() if a.agent_type == L3), key=lambda a: a.host)
    for n in range(config.ha_routers):
        router = cloud.add_router(name=f"ha{n}", ha=True)
        for k in range(min(config.ha_replicas, len(l3))):
            cloud.bind_router(l3[(n + k) % len(l3)].id, router)
    return cloud


def daemon_settings(config: ChaosConfig, url: str) -> Settings:
    base = default_settings()
    return replace(base, neutron_endpoint=url, check_interval_s=config.check_interval_s,
                   agent_down_time_s=config.agent_down_time_s, agent_down_time_origin="chaos",
                   hold_down_s=config.hold_down_s, max_evacuations_per_minute=config.max_evacuations_per_minute,
                   max_concurrency=8, api_retries=3, audit_log=None, status_listen=("", 0),
                   l3=replace(base.l3, timeout_s=config.api_timeout_s, ha_replicas=config.ha_replicas),
                   dhcp=replace(base.dhcp, timeout_s=config.api_timeout_s,
                                agents_per_network=config.dhcp_per_network))


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
    cloud = build_cloud(config)
    history = AgentHistory(config.agent_down_time_s, cloud.interval)
    with cloud.lock:
        for agent in cloud.agents.values():
            history.add(agent.id, agent.agent_type, agent.availability_zone or "", agent.up_since)
    targets = Targets(config.dhcp_per_network, config.ha_replicas)
    # rpcdaemon sees each agent of a majority die at its own observation (heartbeat phase, bus delays, failed
    # reads), so the first may be evacuated before the guard trips; a dead period later the guard must hold.
    judge = ActionJudge(history, MEMBER, settle_s=config.agent_down_time_s + 2.0, hold_down_s=config.hold_down_s)
    repairs = _Repairs(cloud, history, targets)
    crash = _CrashWatch()
    old_hook = threading.excepthook
    rpc_log = logging.getLogger("rpcdaemon")
    rpc_log.addHandler(crash)
    threading.excepthook = crash.thread_hook

    def on_result(result: ChangeResult) -> None:
        report.changes[f"{result.change.action.value} {result.outcome}"] += 1

    def on_pass(pass_report: PassReport) -> None:
        report.passes += 1
        report.pass_errors += pass_report.error is not None

    try:
        with serve(cloud) as server:
            clock = JumpClock()
            daemon = Daemon(daemon_settings(config, server.url), on_result=on_result, on_pass=on_pass,
                            member=MEMBER, clock=clock)
            relay = FaultyRelay(daemon.in_memory_bus(), config.seed + 1, faults, on_down=daemon.bus.disconnected,
                                on_up=daemon.bus.connected).start()
            monkey = ChaosMonkey(cloud, history, relay, clock, config, faults)
            relay.tap = monkey.tap
            monkey.on_jump = judge.clock_jumped

            def on_plan(plan: Plan, _snapshot: Snapshot) -> None:
                now = time.monotonic()
                for agent_id, liveness in plan.verdicts.items():
                    if liveness.is_dead:
                        judge.judged_dead(agent_id, now)

            daemon.reconciler.on_plan = on_plan
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
                say(f"faults for {config.duration_s:.0f}s (seed {config.seed})")
                fault_end = time.monotonic() + config.duration_s
                next_say = time.monotonic() + 30
                while time.monotonic() < fault_end and runner.is_alive():
                    _observe(cloud, judge, repairs, monkey, time.monotonic())
                    if time.monotonic() >= next_say:
                        down = sum(1 for a in history.agents() if history.is_down(a.agent_id, time.monotonic()))
                        say(f"  {sum(faults.values())} faults, {report.total_changes} changes, "
                            f"{len(judge.violations)} violations so far; {report.passes} passes "
                            f"({report.pass_errors} unread), {down} agents down")
                        next_say += 30
                    time.sleep(POLL_S)  # the sampling period of the observer, not a wait for rpcdaemon
                monkey.stop_faults()
                stopped = time.monotonic()
                finals = monkey.parting_kills()
                say(f"faults stopped, {len(finals)} last agent(s) killed; awaiting convergence")
                deadline = (stopped + config.agent_down_time_s * 2 + config.hold_down_s
                            + config.convergence_deadline_s)
                problems: list[str] = ["not checked"]
                while runner.is_alive() and time.monotonic() < deadline:
                    now = time.monotonic()
                    _observe(cloud, judge, repairs, monkey, now)
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
                    report.violations.append("rpcdaemon's loop is not running any more")
            finally:
                daemon.stop()
                runner.join(30)
                pump.stop()
                relay.stop()
                monkey.stop_faults()
            judge.feed(cloud.drain_calls())
            report.over_target_networks = over_target(cloud, history, targets, time.monotonic())
    finally:
        rpc_log.removeHandler(crash)
        threading.excepthook = old_hook

    _conclude(report, config, judge, repairs, monkey, history, crash.crashes)
    report.wall_s = time.monotonic() - started
    return report


def _conclude(report: ChaosReport, config: ChaosConfig, judge: ActionJudge, repairs: _Repairs, monkey: ChaosMonkey,
              history: AgentHistory, crashes: list[str]) -> None:
    """Gather the figures and turn every broken rule into a violation (known defects apart)."""
    now = time.monotonic()
    report.calls = judge.calls
    report.repairs_s = repairs.times
    report.unrepaired = repairs.untimed
    report.resources_at_risk = sum(len(e.hosted) for e in monkey.downs
                                   if history.became_dead(e.agent_id, e.at, now))
    report.change_bound = 3 * report.resources_at_risk + 3 * monkey.races + 10
    report.violations[:0] = judge.violations + crashes
    if report.faults["bus_delivery_raised"]:
        report.violations.append(f"rpcdaemon's bus entry point raised {report.faults['bus_delivery_raised']} times")
    if report.converged_s is None:
        report.violations.append(f"no convergence within the deadline: {len(report.final_problems)} problems")
    if report.total_changes > report.change_bound:
        report.violations.append(f"action storm: {report.total_changes} changes > bound {report.change_bound}")
    if report.memory is not None and report.memory.samples >= 9 and not report.memory.flat():
        report.violations.append("memory grew: last third above the first third by more than the margin")
    report.known = [v for v in report.violations if v.startswith(config.tolerated)] if config.tolerated else []
    report.violations = [v for v in report.violations if v not in report.known]


def _observe(cloud: Cloud, judge: ActionJudge, repairs: _Repairs, monkey: ChaosMonkey, now: float) -> None:
    judge.feed(cloud.drain_calls())
    repairs.check(list(monkey.downs), now)


def _check_quiet(daemon: Daemon, report: ChaosReport, cloud: Cloud, history: AgentHistory, targets: Targets,
                 runner: threading.Thread) -> None:
    """Converged means stable: the next passes change nothing and the state still holds."""
    before, passes = report.total_changes, daemon.passes
    _await(lambda: daemon.passes >= passes + QUIET_PASSES or not runner.is_alive(),
           QUIET_PASSES * 10 + 10, "quiet passes")
    if report.total_changes != before:
        report.violations.append(f"{report.total_changes - before} changes after convergence")
    problems = state_problems(cloud, history, targets, time.monotonic())
    if problems:
        report.violations.append(f"converged state did not hold: {problems[:3]}")


def _await(condition: Callable[[], bool], deadline_s: float, what: str) -> None:
    end = time.monotonic() + deadline_s
    while not condition():
        if time.monotonic() > end:
            raise TimeoutError(f"not within {deadline_s}s: {what}")
        time.sleep(0.05)
