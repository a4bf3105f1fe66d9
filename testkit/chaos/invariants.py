"""What must hold whatever the faults did: the rules every action must obey, and the state the cloud must reach.

Action rules judge each scheduling call rpcdaemon made (from the emulator's call log, the ground truth) against
what the API showed when rpcdaemon last read the agents before the call arrived (passes never overlap, so that read
is the one the call was decided on):
- an add goes only to an agent the API showed alive;
- no binding of a resource that still exists (the emulator's truth when it took the call, whatever any list said)
  is removed from an agent the API showed alive (a healthy agent, or one whose heartbeats paused for less than a
  dead period), unless another running agent served it, wired (its port ACTIVE), at that moment (a rebalance or a
  drain shifts load, it never takes the last serving binding), the agent had not wired it (an unverified move), or
  an operator marked the agent for draining; a lying list must never be enough;
- nothing is removed from a zone where a majority of its managed agents of that type (and at least 3) had been
  shown dead for `settle_s` already: the disruption guard (compute-node `dvr` agents are no part of that count);
- an agent rpcdaemon judged dead gets nothing until it has been back for hold_down (less any forward jump of
  rpcdaemon's clock meanwhile): the hysteresis;
- a resource with availability_zone_hints is placed only on agents of those zones;
- an L3 agent in `dvr` or `dvr_no_external` mode (a compute node) never gets a call.
Rules over time (PassRateJudge, BudgetJudge, FenceJudge): passes per second stay bounded whatever the bus says; at
most the budget of agents start being evacuated in any minute of rpcdaemon's clock, across replicas and takeovers;
no replica calls the scheduling API while its acting window is closed.
State rules, once the faults stop: every legacy router on exactly one live agent, every HA router on at least its
replica count of live agents (in its zones) and on no dead one, every DHCP network on at least its target number of
live agents (in its zones) and on no dead one.

Every violation has a kind (KINDS), so that a run counts them by rule.
"""

from __future__ import annotations

import bisect
import math
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from rpcdaemon.emulator.cloud import DHCP, L3, Call, Cloud
from rpcdaemon.emulator.ports import RemovalFacts
from testkit.chaos.history import AgentHistory

AGENTS_READ = "GET /v2.0/agents"
ADDS = ("POST /v2.0/agents/{id}/dhcp-networks", "POST /v2.0/agents/{id}/l3-routers")
REMOVES = ("DELETE /v2.0/agents/{id}/dhcp-networks/{id}", "DELETE /v2.0/agents/{id}/l3-routers/{id}")

NO_READ = "call without a read"
ADD_DEAD = "add to a dead agent"
REMOVE_LIVE = "binding removed from a live agent"
DISRUPTED = "remove in a disrupted zone"
HOLD_DOWN = "hold-down"
HINTS = "placed outside its hinted zones"
COMPUTE = "call to a dvr agent"
PACE = "passes per second"
BUDGET = "evacuation budget"
FENCE = "call outside the acting window"
KINDS = (NO_READ, ADD_DEAD, REMOVE_LIVE, DISRUPTED, HOLD_DOWN, HINTS, COMPUTE, PACE, BUDGET, FENCE)
"""The action and time rules, by kind (a run adds its own: convergence, storm, crash, memory, status swarm)."""


class Flags:
    """Violations as found, each with its kind."""

    def __init__(self) -> None:
        self.violations: list[str] = []
        self.kinds: list[str] = []

    def flag(self, kind: str, text: str) -> None:
        self.violations.append(text)
        self.kinds.append(kind)

    def counts(self) -> Counter[str]:
        return Counter(self.kinds)


@dataclass
class ActionJudge:
    history: AgentHistory
    member: str
    settle_s: float = 3.0
    hold_down_s: float = 0.0
    hints: Mapping[str, frozenset[str]] = field(default_factory=dict)
    """Resource id -> its availability_zone_hints (absent or empty: none)."""
    violations: list[str] = field(default_factory=list)
    kinds: list[str] = field(default_factory=list)
    """The kind (KINDS) of each violation, in the same order."""
    calls: Counter[str] = field(default_factory=Counter)
    """rpcdaemon's scheduling calls by "METHOD pattern status"."""
    _reads: list[float] = field(default_factory=list)
    _dead_verdicts: dict[str, list[float]] = field(default_factory=dict)
    _jumps: list[tuple[float, float]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _flag(self, kind: str, text: str) -> None:
        self.violations.append(text)
        self.kinds.append(kind)

    def judged_dead(self, agent_id: str, at: float) -> None:
        """rpcdaemon's plan at `at` (real time) had this agent DEAD."""
        with self._lock:
            self._dead_verdicts.setdefault(agent_id, []).append(at)

    def clock_jumped(self, at: float, seconds: float) -> None:
        with self._lock:
            self._jumps.append((at, seconds))

    def feed(self, calls: list[Call]) -> None:
        for call in calls:
            if call.member != self.member:
                continue
            key = f"{call.method} {call.pattern}"
            if key == AGENTS_READ and call.status == 200:
                self._reads.append(call.at)
                if len(self._reads) > 1024:
                    del self._reads[:512]
            elif key in ADDS or key in REMOVES:
                self.calls[f"{key} {call.status}"] += 1
                self._judge(key, call)

    def _judge(self, key: str, call: Call) -> None:
        agent_id = call.ids[0] if call.ids else ""
        info = self.history.info(agent_id)
        if info is not None and info.compute:
            self._flag(COMPUTE, f"{key} {call.status} on agent {agent_id} in {info.mode} mode (a compute node)")
            return
        # when the request arrived: an injected delay may decide it after rpcdaemon's next read
        sent = call.received if call.received is not None else call.at
        i = bisect.bisect_right(self._reads, sent)
        if i == 0:
            self._flag(NO_READ, f"{key} on {agent_id} at {sent:.2f} with no read of the agents before it")
            return
        read_at = self._reads[i - 1]
        if key in ADDS and self.history.api_dead(agent_id, read_at):
            self._flag(ADD_DEAD, f"add to agent {agent_id} that the API showed dead when rpcdaemon read it "
                                 f"(down for {self.history.down_for(agent_id, read_at):.1f}s)")
        elif key in ADDS:
            self._judge_hold_down(agent_id, read_at)
        if key in ADDS and 200 <= call.status < 300:
            hints = self.hints.get(call.resource or "", frozenset())
            if hints and info is not None and info.zone not in hints:
                self._flag(HINTS, f"{call.resource} (hinted to {sorted(hints)}) placed on agent {agent_id} in "
                                  f"{info.zone}")
        if key in REMOVES:
            if not self.history.api_dead(agent_id, read_at):
                if call.exists is False:
                    return  # the resource was gone: removing its binding is right, wherever it is
                if allowed_from_live(call.removal):
                    return
                state = "healthy" if not self.history.is_down(agent_id, read_at) else (
                    f"down for only {self.history.down_for(agent_id, read_at):.1f}s")
                wall = time.time() - time.monotonic()
                back = self.history.last_revival(agent_id, read_at)
                self._flag(REMOVE_LIVE,
                           f"remove {call.ids[1:]} from agent {agent_id} the API showed alive ({state}; read "
                           f"{read_at + wall:.2f}, sent {sent + wall:.2f}, answered {call.at + wall:.2f} "
                           f"{call.status}, last back {back[1] + wall if back else None}; the resource "
                           f"{'existed' if call.exists else 'may have existed'}; {call.removal})")
            elif self._disrupted(agent_id, read_at):
                wall = time.time() - time.monotonic()
                down = {a[:8]: round(self.history.down_for(a, read_at), 1) for a in self.history.group_of(agent_id)}
                self._flag(DISRUPTED, f"remove {call.ids[1:]} from agent {agent_id} in a disrupted zone (read "
                                      f"{read_at + wall:.2f}; down for, by agent: {down})")

    def _judge_hold_down(self, agent_id: str, read_at: float) -> None:
        """rpcdaemon last judged the agent dead at `dead_at`; the agent came back at `up_at` after the read behind
        that verdict; rpcdaemon could see it back from its first read after that (`seen_at`). An add decided on a
        read less than hold_down (less forward clock jumps) after `seen_at` skipped the hysteresis."""
        if self.hold_down_s <= 0:
            return
        with self._lock:
            dead_at = max((t for t in self._dead_verdicts.get(agent_id, ()) if t <= read_at), default=None)
            i = bisect.bisect_right(self._reads, dead_at) if dead_at is not None else 0
            verdict_read = self._reads[i - 1] if i else dead_at
        if dead_at is None or verdict_read is None:
            return
        up_at = self.history.first_up_after(agent_id, verdict_read)
        if up_at is None or up_at > read_at:
            return
        with self._lock:
            j = bisect.bisect_left(self._reads, up_at)
            seen_at = self._reads[j] if j < len(self._reads) else None
            jumps = [(t, s) for t, s in self._jumps if up_at <= t <= read_at]
        if seen_at is None or seen_at > read_at:
            return
        jumped = sum(s for _, s in jumps if s > 0)
        back_for = read_at - seen_at
        if back_for < self.hold_down_s - jumped - 0.25:
            wall = time.time() - time.monotonic()
            self._flag(HOLD_DOWN,
                f"hold-down: add to agent {agent_id} back for only {back_for:.1f}s of a {self.hold_down_s:g}s "
                f"hold-down after rpcdaemon judged it dead (judged dead {dead_at + wall:.2f}, back "
                f"{up_at + wall:.2f}, read {read_at + wall:.2f}, clock jumps "
                f"{[(round(t + wall, 2), round(s, 1)) for t, s in jumps]})")

    def _disrupted(self, agent_id: str, at: float) -> bool:
        group = self.history.group_of(agent_id)
        settled = [a for a in group if self.history.api_dead(a, at - self.settle_s) and self.history.api_dead(a, at)]
        return len(settled) >= 3 and len(settled) > len(group) / 2


class PassRateJudge:
    """Passes per second stay bounded whatever the bus says: a burst of 100 notifications must not give 100 passes.
    A pass reads the agents once when the read succeeds, so successful GET /v2.0/agents by a member, per sliding
    `window_s`, count its passes; more than window_s / min_pass_interval + 2 is a violation (one per episode)."""

    def __init__(self, min_pass_interval_s: float, window_s: float = 2.0) -> None:
        self.window_s = window_s
        self.bound = math.floor(window_s / min_pass_interval_s) + 2 if min_pass_interval_s > 0 else None
        self.flags = Flags()
        self.peak = 0
        """The most reads of the agents by one member in any window."""
        self.times: list[float] = []
        """When each successful read of the agents was answered (every member)."""
        self._reads: dict[str, deque[float]] = {}
        self._episode: dict[str, tuple[float, float, int] | None] = {}
        """member -> (first, last, most) of its reads over the bound, while they go on."""

    def feed(self, calls: list[Call]) -> None:
        for call in calls:
            if call.member is None or f"{call.method} {call.pattern}" != AGENTS_READ or call.status != 200:
                continue
            recent = self._reads.setdefault(call.member, deque())
            recent.append(call.at)
            self.times.append(call.at)
            while recent and recent[0] <= call.at - self.window_s:
                recent.popleft()
            self.peak = max(self.peak, len(recent))
            episode = self._episode.get(call.member)
            if self.bound is not None and len(recent) > self.bound:
                self._episode[call.member] = (episode[0] if episode else call.at, call.at,
                                              max(len(recent), episode[2] if episode else 0))
            elif episode is not None:
                self._close(call.member)

    def close(self) -> None:
        for member in list(self._episode):
            self._close(member)

    def passes_between(self, start: float, end: float) -> int:
        return sum(1 for t in self.times if start <= t < end)

    def _close(self, member: str) -> None:
        episode = self._episode.pop(member, None)
        if episode is None:
            return
        first, last, most = episode
        wall = time.time() - time.monotonic()
        self.flags.flag(PACE, f"{member} read the agents {most} times in {self.window_s:g}s (bound {self.bound})"
                              f" from {first + wall:.2f} for {last - first:.1f}s")


class BudgetJudge:
    """At most `limit` agents start being evacuated in any minute of rpcdaemon's clock, whoever leads (a takeover
    must not restart the count). An agent's evacuation starts, as the call log shows it, at the first call that
    removes something from it while it is down (rpcdaemon removes from a dead agent only once it is being
    evacuated); `daemon_time` turns the log's real times into rpcdaemon's clock (which a chaos run jumps), and
    `cloud_time` into the history's (the emulated cloud's clock: real time in a chaos run, virtual in a test)."""

    def __init__(self, history: AgentHistory, limit: int, daemon_time: Callable[[float], float],
                 window_s: float = 60.0, cloud_time: Callable[[float], float] | None = None) -> None:
        self.history = history
        self.limit = limit
        self.window_s = window_s
        self.daemon_time = daemon_time
        self.cloud_time = cloud_time or (lambda t: t)
        self.flags = Flags()
        self.started: list[tuple[float, str, str | None]] = []
        """(rpcdaemon's time, agent, member) of each evacuation start."""
        self._seen: set[tuple[str, float]] = set()
        self._flagged_until = -math.inf

    def feed(self, calls: list[Call]) -> None:
        for call in calls:
            if f"{call.method} {call.pattern}" not in REMOVES or not call.ids or call.status == 0:
                continue
            agent_id = call.ids[0]
            sent = call.received if call.received is not None else call.at
            since = self.history.down_since(agent_id, self.cloud_time(sent))
            if since is None or (agent_id, since) in self._seen:
                continue
            self._seen.add((agent_id, since))
            at = self.daemon_time(sent)
            self.started.append((at, agent_id, call.member))
            window = [s for s in self.started if at - self.window_s < s[0] <= at]
            if len(window) > self.limit and at > self._flagged_until:
                self._flagged_until = at + self.window_s
                who = sorted({m or "?" for _, _, m in window})
                self.flags.flag(BUDGET, f"{len(window)} agents started being evacuated within {self.window_s:g}s "
                                        f"of rpcdaemon's clock (limit {self.limit}; by {who}: "
                                        f"{[(round(t - window[0][0], 1), a[:8]) for t, a, _ in window]})")


class FenceJudge:
    """No replica calls the scheduling API while its acting window is closed. `windows(member)` gives the real
    times during which the replica said it might act (ActingWindows samples them); a call that arrived outside
    every window, by more than `slack_s` (the hop from the check to the server), is a violation."""

    def __init__(self, windows: Callable[[str], list[tuple[float, float]]], slack_s: float = 0.5) -> None:
        self.windows = windows
        self.slack_s = slack_s
        self.flags = Flags()

    def feed(self, calls: list[Call]) -> None:
        for call in calls:
            key = f"{call.method} {call.pattern}"
            if call.member is None or (key not in ADDS and key not in REMOVES):
                continue
            sent = call.received if call.received is not None else call.at
            spans = self.windows(call.member)
            if any(start - self.slack_s <= sent <= end + self.slack_s for start, end in spans):
                continue
            before = [end for _, end in spans if end < sent]
            closed = f"{sent - max(before):.1f}s after its window closed" if before else "with no window open yet"
            self.flags.flag(FENCE, f"{key} {call.status} by {call.member} {closed}")


@dataclass(frozen=True)
class Targets:
    dhcp_per_network: int
    ha_replicas: int


def live_agents(cloud: Cloud, history: AgentHistory, now: float) -> set[str]:
    with cloud.lock:
        return {a.id for a in cloud.agents.values()
                if a.admin_state_up and cloud.is_alive(a) and not history.is_down(a.id, now)}


def _zones(cloud: Cloud, history: AgentHistory) -> tuple[dict[str, str], set[str]]:
    """(agent id -> zone, the ids of compute-node L3 agents)."""
    with cloud.lock:
        agents = list(cloud.agents.values())
    zones = {a.id: a.availability_zone or "" for a in agents}
    compute = {a.id for a in agents if (info := history.info(a.id)) is not None and info.compute}
    compute |= {a.id for a in agents if a.agent_mode in ("dvr", "dvr_no_external")}
    return zones, compute


def allowed_from_live(facts: RemovalFacts | None) -> bool:
    """May a binding of an existing resource be taken from a live agent? Only when nothing is lost: the agent never
    wired it (an unverified move), or another running agent serves it, wired (a rebalance or a drain shifts load,
    it never takes the last serving binding), and an HA router's active replica only from an agent an operator is
    draining (a rebalance takes standby replicas); a legacy router only from a drained agent (its one binding: the
    operator accepted the seconds of its move)."""
    if facts is None:
        return False
    if not facts.wired_here:
        return True
    if facts.ha:
        return facts.served_elsewhere and (not facts.active_here or facts.draining)
    if facts.router:
        return facts.draining
    return facts.served_elsewhere


def state_problems(cloud: Cloud, history: AgentHistory, targets: Targets, now: float,
                   only: set[tuple[str, str]] | None = None) -> list[str]:
    """What is not yet as it must be (empty: converged). `only`: check just these (kind, id) resources. A hinted
    resource's target counts the live agents of its zones only; compute-node L3 agents count for nothing."""
    stats: dict[str, Any] = cloud.stats()
    with cloud.lock:
        ha = {r for r, row in cloud.routers.items() if row["ha"]}
        hints = {r: set(row["availability_zone_hints"]) for r, row in cloud.routers.items()}
        hints.update({n: set(row["availability_zone_hints"]) for n, row in cloud.networks.items()})
        dhcp_nets = {n for n in cloud.networks if any(cloud.subnets[s]["enable_dhcp"] for s in cloud.subnets_of(n))}
    zone_of, compute = _zones(cloud, history)
    live = live_agents(cloud, history, now)
    live_dhcp = {a["id"] for a in stats["agents"] if a["agent_type"] == DHCP} & live
    live_l3 = {a["id"] for a in stats["agents"] if a["agent_type"] == L3} & live - compute

    def within(agents: set[str], resource: str) -> set[str]:
        zones = hints.get(resource)
        return {a for a in agents if zone_of.get(a) in zones} if zones else agents

    problems: list[str] = []
    for router, all_hosts in stats["bindings"]["l3"].items():
        if only is not None and ("router", router) not in only:
            continue
        hosts = [a for a in all_hosts if a not in compute]
        on_live = [a for a in hosts if a in live]
        on_dead = [a for a in hosts if history.api_dead(a, now)]
        if router in ha:
            want = min(targets.ha_replicas, len(within(live_l3, router)))
            if len(on_live) < want or on_dead:
                problems.append(f"HA router {router}: {len(on_live)} live replicas (want {want}), "
                                f"{len(on_dead)} on dead agents")
        elif len(hosts) != 1 or not on_live:
            problems.append(f"router {router}: on {len(hosts)} agents, {len(on_live)} live")
    for net, hosts in stats["bindings"]["dhcp"].items():
        if net not in dhcp_nets or (only is not None and ("network", net) not in only):
            continue
        on_live = [a for a in hosts if a in live]
        on_dead = [a for a in hosts if history.api_dead(a, now)]
        want = min(targets.dhcp_per_network, len(within(live_dhcp, net)))
        if len(on_live) < want or on_dead:
            problems.append(f"network {net}: {len(on_live)} live DHCP agents (want {want}), "
                            f"{len(on_dead)} dead ones")
    return problems


def over_target(cloud: Cloud, history: AgentHistory, targets: Targets, now: float) -> int:
    """DHCP networks on more live agents than their target, HA routers on more than their replica count (allowed:
    rpcdaemon never trims; reported)."""
    stats: dict[str, Any] = cloud.stats()
    live = live_agents(cloud, history, now)
    _zone_of, compute = _zones(cloud, history)
    with cloud.lock:
        ha = {r for r, row in cloud.routers.items() if row["ha"]}
    networks = sum(1 for hosts in stats["bindings"]["dhcp"].values()
                   if len([a for a in hosts if a in live]) > targets.dhcp_per_network)
    routers = sum(1 for r, hosts in stats["bindings"]["l3"].items()
                  if r in ha and len([a for a in hosts if a in live and a not in compute]) > targets.ha_replicas)
    return networks + routers
