"""What must hold whatever the faults did: the rules every action must obey, and the state the cloud must reach.

Action rules judge each scheduling call rpcdaemon made (from the emulator's call log, the ground truth) against
what the API showed when rpcdaemon last read the agents before the call arrived (passes never overlap, so that read
is the one the call was decided on):
- an add goes only to an agent the API showed alive;
- a remove hits only an agent the API showed dead (a healthy agent, or one whose heartbeats paused for less than
  a dead period, is never touched);
- nothing is removed from a zone where a majority of its agents of that type (and at least 3) had been shown
  dead for `settle_s` already: the disruption guard;
- an agent rpcdaemon judged dead gets nothing until it has been back for hold_down (less any forward jump of
  rpcdaemon's clock meanwhile): the hysteresis.
State rules, once the faults stop: every legacy router on exactly one live agent, every HA router on its full
replica count of live agents and on no dead one, every DHCP network on at least its target number of live agents
and on no dead one.
"""

from __future__ import annotations

import bisect
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from rpcdaemon.chaos.history import AgentHistory
from rpcdaemon.emulator.cloud import DHCP, L3, Call, Cloud

AGENTS_READ = "GET /v2.0/agents"
ADDS = ("POST /v2.0/agents/{id}/dhcp-networks", "POST /v2.0/agents/{id}/l3-routers")
REMOVES = ("DELETE /v2.0/agents/{id}/dhcp-networks/{id}", "DELETE /v2.0/agents/{id}/l3-routers/{id}")


@dataclass
class ActionJudge:
    history: AgentHistory
    member: str
    settle_s: float = 3.0
    hold_down_s: float = 0.0
    violations: list[str] = field(default_factory=list)
    calls: Counter[str] = field(default_factory=Counter)
    """rpcdaemon's scheduling calls by "METHOD pattern status"."""
    _reads: list[float] = field(default_factory=list)
    _dead_verdicts: dict[str, list[float]] = field(default_factory=dict)
    _jumps: list[tuple[float, float]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

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
        # when the request arrived: an injected delay may decide it after rpcdaemon's next read
        sent = call.received if call.received is not None else call.at
        i = bisect.bisect_right(self._reads, sent)
        if i == 0:
            self.violations.append(f"{key} on {agent_id} at {sent:.2f} with no read of the agents before it")
            return
        read_at = self._reads[i - 1]
        if key in ADDS and self.history.api_dead(agent_id, read_at):
            self.violations.append(f"add to agent {agent_id} that the API showed dead when rpcdaemon read it "
                                   f"(down for {self.history.down_for(agent_id, read_at):.1f}s)")
        elif key in ADDS:
            self._judge_hold_down(agent_id, read_at)
        if key in REMOVES:
            if not self.history.api_dead(agent_id, read_at):
                state = "healthy" if not self.history.is_down(agent_id, read_at) else (
                    f"down for only {self.history.down_for(agent_id, read_at):.1f}s")
                wall = time.time() - time.monotonic()
                back = self.history.last_revival(agent_id, read_at)
                self.violations.append(
                    f"remove {call.ids[1:]} from agent {agent_id} the API showed alive ({state}; read "
                    f"{read_at + wall:.2f}, sent {sent + wall:.2f}, answered {call.at + wall:.2f}, last back "
                    f"{back[1] + wall if back else None})")
            elif self._disrupted(agent_id, read_at):
                wall = time.time() - time.monotonic()
                info = self.history.info(agent_id)
                group = [a.agent_id for a in self.history.agents()
                         if info is not None and a.agent_type == info.agent_type and a.zone == info.zone]
                down = {a[:8]: round(self.history.down_for(a, read_at), 1) for a in group}
                self.violations.append(f"remove {call.ids[1:]} from agent {agent_id} in a disrupted zone (read "
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
            self.violations.append(
                f"hold-down: add to agent {agent_id} back for only {back_for:.1f}s of a {self.hold_down_s:g}s "
                f"hold-down after rpcdaemon judged it dead (judged dead {dead_at + wall:.2f}, back "
                f"{up_at + wall:.2f}, read {read_at + wall:.2f}, clock jumps "
                f"{[(round(t + wall, 2), round(s, 1)) for t, s in jumps]})")

    def _disrupted(self, agent_id: str, at: float) -> bool:
        info = self.history.info(agent_id)
        if info is None:
            return False
        group = [a.agent_id for a in self.history.agents()
                 if a.agent_type == info.agent_type and a.zone == info.zone]
        settled = [a for a in group if self.history.api_dead(a, at - self.settle_s) and self.history.api_dead(a, at)]
        return len(settled) >= 3 and len(settled) > len(group) / 2


@dataclass(frozen=True)
class Targets:
    dhcp_per_network: int
    ha_replicas: int


def live_agents(cloud: Cloud, history: AgentHistory, now: float) -> set[str]:
    with cloud.lock:
        return {a.id for a in cloud.agents.values()
                if a.admin_state_up and cloud.is_alive(a) and not history.is_down(a.id, now)}


def state_problems(cloud: Cloud, history: AgentHistory, targets: Targets, now: float,
                   only: set[tuple[str, str]] | None = None) -> list[str]:
    """What is not yet as it must be (empty: converged). `only`: check just these (kind, id) resources."""
    stats: dict[str, Any] = cloud.stats()
    with cloud.lock:
        ha = {r for r, row in cloud.routers.items() if row["ha"]}
        dhcp_nets = {n for n in cloud.networks if any(cloud.subnets[s]["enable_dhcp"] for s in cloud.subnets_of(n))}
    live = live_agents(cloud, history, now)
    live_dhcp = {a["id"] for a in stats["agents"] if a["agent_type"] == DHCP} & live
    live_l3 = {a["id"] for a in stats["agents"] if a["agent_type"] == L3} & live
    problems: list[str] = []
    for router, hosts in stats["bindings"]["l3"].items():
        if only is not None and ("router", router) not in only:
            continue
        on_live = [a for a in hosts if a in live]
        on_dead = [a for a in hosts if history.api_dead(a, now)]
        if router in ha:
            want = min(targets.ha_replicas, len(live_l3))
            if len(on_live) != want or on_dead:
                problems.append(f"HA router {router}: {len(on_live)} live replicas (want {want}), "
                                f"{len(on_dead)} on dead agents")
        elif len(hosts) != 1 or not on_live:
            problems.append(f"router {router}: on {len(hosts)} agents, {len(on_live)} live")
    for net, hosts in stats["bindings"]["dhcp"].items():
        if net not in dhcp_nets or (only is not None and ("network", net) not in only):
            continue
        on_live = [a for a in hosts if a in live]
        on_dead = [a for a in hosts if history.api_dead(a, now)]
        want = min(targets.dhcp_per_network, len(live_dhcp))
        if len(on_live) < want or on_dead:
            problems.append(f"network {net}: {len(on_live)} live DHCP agents (want {want}), "
                            f"{len(on_dead)} dead ones")
    return problems


def over_target(cloud: Cloud, history: AgentHistory, targets: Targets, now: float) -> int:
    """DHCP networks on more live agents than their target (allowed: rpcdaemon never trims; reported)."""
    stats: dict[str, Any] = cloud.stats()
    live = live_agents(cloud, history, now)
    return sum(1 for hosts in stats["bindings"]["dhcp"].values()
               if len([a for a in hosts if a in live]) > targets.dhcp_per_network)
