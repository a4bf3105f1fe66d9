"""Choosing where a resource goes: the least loaded fitting agent, preferring a zone.

Load is counted in resources (routers or networks) per agent and updated as the plan assigns them, so an
evacuation spreads a dead agent's resources instead of piling them onto the one agent that was emptiest.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from rpcdaemon.core.safety import zone_of
from rpcdaemon.model import Agent, AgentId


class Load:
    """Resources per agent, as the plan goes."""

    def __init__(self, counts: dict[AgentId, int]) -> None:
        self._counts = counts

    def of(self, agent_id: AgentId) -> int:
        return self._counts.get(agent_id, 0)

    def add(self, agent_id: AgentId, delta: int = 1) -> None:
        self._counts[agent_id] = self.of(agent_id) + delta


def restrict_to_zones(candidates: Sequence[Agent], hints: Iterable[str]) -> list[Agent]:
    """Candidates in the hinted zones; all of them when there are no hints."""
    zones = set(hints)
    if not zones:
        return list(candidates)
    return [a for a in candidates if zone_of(a) in zones]


def pick_target(
    candidates: Sequence[Agent], load: Load, exclude: set[AgentId], preferred_zone: str | None = None
) -> Agent | None:
    """The least loaded candidate not excluded, in the preferred zone when one there fits."""
    pool = [a for a in candidates if a.id not in exclude]
    if preferred_zone is not None:
        same_zone = [a for a in pool if zone_of(a) == preferred_zone]
        pool = same_zone or pool
    if not pool:
        return None
    return min(pool, key=lambda a: (load.of(a.id), a.id))
