"""Choosing where a resource goes: the least loaded fitting agent, preferring a zone.

Load is counted in resources (routers or networks) per agent and updated as the plan assigns them, so an
evacuation spreads a dead agent's resources instead of piling them onto the one agent that was emptiest. Only
resources the snapshot lists count: a binding of a router or network missing from the list (deleted a moment ago,
or a read that lies by omission) is no load, so no repair avoids and no rebalance empties an agent for it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from rpcdaemon.core.safety import zone_of
from rpcdaemon.model import Agent, AgentId, Snapshot


@dataclass(frozen=True, slots=True)
class Eligibility:
    """Which agents may receive work in this plan, decided once for both planners."""

    targets: frozenset[AgentId]
    """Alive, out of hold-down, not going quiet, admin up, and not in a disrupted zone."""
    refused: Mapping[str, frozenset[AgentId]] = field(default_factory=dict)
    """Per resource id, the agents that refused to take it lately: the next best is picked instead."""

    def excluded_for(self, resource_id: str) -> set[AgentId]:
        return set(self.refused.get(resource_id, ()))


class Load:
    """Resources per agent, as the plan goes."""

    def __init__(self, counts: dict[AgentId, int]) -> None:
        self._counts = counts

    @classmethod
    def of_routers(cls, snapshot: Snapshot) -> Load:
        """Each L3 agent's listed routers."""
        return cls({a: len(known_routers(snapshot, r)) for a, r in (snapshot.l3_bindings or {}).items()})

    @classmethod
    def of_networks(cls, snapshot: Snapshot) -> Load:
        """Each DHCP agent's listed networks."""
        return cls({a: len(known_networks(snapshot, n)) for a, n in (snapshot.dhcp_bindings or {}).items()})

    def of(self, agent_id: AgentId) -> int:
        return self._counts.get(agent_id, 0)

    def add(self, agent_id: AgentId, delta: int = 1) -> None:
        self._counts[agent_id] = self.of(agent_id) + delta


def known_routers(snapshot: Snapshot, hosted: Iterable[str]) -> set[str]:
    """The hosted routers that the snapshot lists."""
    return {r for r in hosted if r in snapshot.routers}


def known_networks(snapshot: Snapshot, hosted: Iterable[str]) -> set[str]:
    """The hosted networks that the snapshot lists."""
    return {n for n in hosted if n in snapshot.networks}


def restrict_to_zones(candidates: Sequence[Agent], hints: Iterable[str]) -> list[Agent]:
    """Candidates in the hinted zones; all of them when there are no hints."""
    zones = set(hints)
    if not zones:
        return list(candidates)
    return [a for a in candidates if zone_of(a) in zones]


def pick_target(
    candidates: Sequence[Agent],
    load: Load,
    exclude: set[AgentId],
    preferred_zone: str | None = None,
    avoid_zones: Iterable[str] = (),
) -> Agent | None:
    """The least loaded candidate not excluded, in the preferred zone when one there fits, else outside the zones
    to avoid when one there fits (replicas spread over zones)."""
    pool = [a for a in candidates if a.id not in exclude]
    if preferred_zone is not None:
        same_zone = [a for a in pool if zone_of(a) == preferred_zone]
        pool = same_zone or pool
    avoid = set(avoid_zones)
    if avoid:
        elsewhere = [a for a in pool if zone_of(a) not in avoid]
        pool = elsewhere or pool
    if not pool:
        return None
    return min(pool, key=lambda a: (load.of(a.id), a.id))
