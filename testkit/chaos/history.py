"""What the chaos run did to each agent and when: the ground truth the action rules are judged against.

The emulated server computes `alive` from heartbeats (the last one is up_since + k * report_interval, no later than
the moment the agent stopped); this history replays exactly that rule, so "was the API showing this agent dead when
rpcdaemon read the agents?" has an exact answer for any past instant.
"""

from __future__ import annotations

import itertools
import threading
from dataclasses import dataclass, field

DVR_ONLY_MODES = frozenset({"dvr", "dvr_no_external"})
"""L3 agents on compute nodes: never evacuated nor chosen, so never counted with the others of their zone."""


@dataclass
class _Phase:
    up_since: float
    down_at: float | None = None


@dataclass
class AgentInfo:
    agent_id: str
    agent_type: str
    zone: str
    phases: list[_Phase] = field(default_factory=list)
    disturbed: bool = False
    """Its heartbeats were stopped at least once (a kill or a flap)."""
    mode: str | None = None
    """An L3 agent's agent_mode."""

    @property
    def compute(self) -> bool:
        """An L3 agent in dvr or dvr_no_external mode (a compute node): rpcdaemon must never touch it."""
        return self.mode in DVR_ONLY_MODES

    @property
    def group(self) -> tuple[str, str, bool]:
        """What the disruption guard counts together: one type, one zone, managed agents apart from compute ones."""
        return self.agent_type, self.zone, self.compute


class AgentHistory:
    """Up/down phases of every agent; times are the emulated cloud's clock (time.monotonic in a chaos run)."""

    def __init__(self, agent_down_time: float, report_interval: float) -> None:
        self.agent_down_time = agent_down_time
        self.report_interval = report_interval
        self._agents: dict[str, AgentInfo] = {}
        self._lock = threading.Lock()

    def add(self, agent_id: str, agent_type: str, zone: str, up_since: float, mode: str | None = None) -> None:
        with self._lock:
            self._agents[agent_id] = AgentInfo(agent_id, agent_type, zone, [_Phase(up_since)], mode=mode)

    def group_of(self, agent_id: str) -> list[str]:
        """Ids of the agents counted with this one by the disruption guard (itself included)."""
        info = self.info(agent_id)
        if info is None:
            return []
        return [a.agent_id for a in self.agents() if a.group == info.group]

    def down_since(self, agent_id: str, at: float) -> float | None:
        """When the down phase holding `at` began (None: up at `at`)."""
        phase = self._phase(agent_id, at)
        if phase is None or phase.down_at is None or phase.down_at > at:
            return None
        return phase.down_at

    def went_down(self, agent_id: str, at: float) -> None:
        with self._lock:
            info = self._agents[agent_id]
            info.disturbed = True
            if info.phases[-1].down_at is None:
                info.phases[-1].down_at = at

    def came_up(self, agent_id: str, at: float) -> None:
        with self._lock:
            info = self._agents[agent_id]
            if info.phases[-1].down_at is not None:
                info.phases.append(_Phase(at))

    def info(self, agent_id: str) -> AgentInfo | None:
        with self._lock:
            return self._agents.get(agent_id)

    def agents(self) -> list[AgentInfo]:
        with self._lock:
            return list(self._agents.values())

    def is_down(self, agent_id: str, at: float) -> bool:
        """Its heartbeats were stopped at `at` (whatever the API said yet)."""
        phase = self._phase(agent_id, at)
        return phase is not None and phase.down_at is not None and phase.down_at <= at

    def api_dead(self, agent_id: str, at: float) -> bool:
        """The emulated API showed alive=false at `at` (Neutron's rule, as cloud.is_alive)."""
        phase = self._phase(agent_id, at)
        if phase is None or phase.down_at is None or phase.down_at > at:
            return False
        beats = int(max(0.0, phase.down_at - phase.up_since) // self.report_interval)
        last = phase.up_since + beats * self.report_interval
        return at - last > self.agent_down_time

    def down_for(self, agent_id: str, at: float) -> float:
        """How long its heartbeats had been stopped at `at` (0 when up)."""
        phase = self._phase(agent_id, at)
        if phase is None or phase.down_at is None or phase.down_at > at:
            return 0.0
        return at - phase.down_at

    def last_revival(self, agent_id: str, at: float) -> tuple[float, float] | None:
        """(down_at, up_at) of the last down phase that had ended by `at`."""
        with self._lock:
            info = self._agents.get(agent_id)
            phases = list(info.phases) if info is not None else []
        found = None
        for before, after in itertools.pairwise(phases):
            if before.down_at is not None and after.up_since <= at:
                found = (before.down_at, after.up_since)
        return found

    def first_up_after(self, agent_id: str, at: float) -> float | None:
        """When the agent first came back after `at` (None: not since)."""
        with self._lock:
            info = self._agents.get(agent_id)
            starts = [p.up_since for p in info.phases[1:]] if info is not None else []
        return next((t for t in starts if t > at), None)

    def became_dead(self, agent_id: str, down_at: float, now: float) -> bool:
        """The down phase that began at `down_at` lasted until the API showed the agent dead."""
        with self._lock:
            info = self._agents.get(agent_id)
            phases = list(info.phases) if info is not None else []
        for i, phase in enumerate(phases):
            if phase.down_at == down_at:
                end = phases[i + 1].up_since if i + 1 < len(phases) else now
                return self.api_dead(agent_id, end - 1e-6)
        return False

    def _phase(self, agent_id: str, at: float) -> _Phase | None:
        with self._lock:
            info = self._agents.get(agent_id)
            if info is None:
                return None
            found = None
            for phase in info.phases:
                if phase.up_since <= at:
                    found = phase
            return found
