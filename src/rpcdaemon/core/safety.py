"""When not to act: disruption guard and evacuation budget.

Many agents looking dead at once is almost never many dead nodes: it is a broken control plane (a RabbitMQ
partition, an overloaded or restarting neutron-server, a database stall). Evacuating then moves everything onto the
few agents that happened to report last, and the storm itself makes things worse. So within one agent type and one
availability zone, if more than `max_dead_fraction` of the agents (and at least `disruption_min_dead`) are dead,
nothing there is evacuated and the state is reported loudly until it clears. Agents admin down where Neutron then
serves nothing count with the dead: a mass admin-down is as much a disruption (a mistaken bulk update, a script).

The budget caps how many agents may *start* being evacuated in a sliding minute; an agent whose evacuation started
continues until it is done.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from rpcdaemon.core.liveness import AgentLiveness, Verdict, admin_down_idle
from rpcdaemon.core.policy import Policy
from rpcdaemon.model import Agent, AgentId

BUDGET_WINDOW_S = 60.0


@dataclass(frozen=True, slots=True)
class ZoneHealth:
    agent_type: str
    availability_zone: str
    total: int
    dead: int
    disrupted: bool
    quiet: int = 0
    """Agents not dead yet but going quiet: counted with the dead by the guard."""
    admin_down: int = 0
    """Agents not dead but admin down where Neutron serves nothing on them: counted with the dead by the guard."""

    @property
    def key(self) -> str:
        return f"{self.agent_type}/{self.availability_zone}"

    def describe(self) -> str:
        state = "DISRUPTED: holding all evacuations" if self.disrupted else "ok"
        quiet = f" (and {self.quiet} going quiet)" if self.quiet else ""
        admin_down = f" (and {self.admin_down} admin down)" if self.admin_down else ""
        return f"{self.key}: {self.dead} of {self.total} dead{admin_down}{quiet}, {state}"


def zone_of(agent: Agent) -> str:
    return agent.availability_zone or "-"


def assess_zones(
    agents: Iterable[Agent], verdicts: Mapping[AgentId, AgentLiveness], policy: Policy
) -> dict[tuple[str, str], ZoneHealth]:
    """Health of every (agent type, availability zone) group; agents going quiet, and agents admin down where
    that means serving nothing (policy.services_on_admin_down false), count with the dead.

    Only agents rpcdaemon manages count: `dvr` agents on compute nodes are never evacuated nor chosen, so ten
    healthy ones must not make three dead network nodes of four look like "3 of 14, ok" (nor five dead compute
    agents block the failover of a truly dead network node). Nor do drained agents (the drain mark and admin
    down: out of the pool by an operator's intent, core/drain.py): two nodes in maintenance must not make two dead
    ones of six look like a disruption that holds their repair."""
    totals: dict[tuple[str, str], list[int]] = {}
    for agent in agents:
        if not agent.is_managed:
            continue
        counts = totals.setdefault((agent.agent_type, zone_of(agent)), [0, 0, 0, 0])
        if agent.draining and not agent.admin_state_up:
            continue  # its zone is known (every managed agent's is), but a drained agent is not counted
        counts[0] += 1
        liveness = verdicts.get(agent.id)
        if liveness is not None and liveness.verdict is Verdict.DEAD:
            counts[1] += 1
        elif admin_down_idle(agent, policy):
            counts[3] += 1
        elif liveness is not None and liveness.quiet:
            counts[2] += 1
    return {
        key: ZoneHealth(key[0], key[1], total, dead, is_disrupted(total, dead + quiet + admin_down, policy), quiet,
                        admin_down)
        for key, (total, dead, quiet, admin_down) in sorted(totals.items())
    }


def is_disrupted(total: int, dead: int, policy: Policy) -> bool:
    return dead >= policy.disruption_min_dead and dead > policy.max_dead_fraction * total


@dataclass(frozen=True, slots=True)
class EvacuationBudget:
    started: Mapping[AgentId, float] = field(default_factory=dict)
    """When the evacuation of each still-dead agent was admitted."""
    spent_until: float | None = None
    """Until then the whole budget counts as spent (a new leader that cannot know what its predecessor spent)."""


def budget_on_takeover(budget: EvacuationBudget, now: float, observing_since: float) -> EvacuationBudget:
    """The budget a replica starts acting with. A standby keeps the budget it would have spent (it plans every
    pass like the leader, from the same cloud), so its record stands for its predecessor's; one that has not
    observed for a whole budget window cannot know, and starts as if the window's budget were spent."""
    if now - observing_since >= BUDGET_WINDOW_S:
        return budget
    return EvacuationBudget(budget.started, observing_since + BUDGET_WINDOW_S)


def admit_evacuations(
    candidates: Iterable[AgentId], budget: EvacuationBudget, now: float, policy: Policy
) -> tuple[frozenset[AgentId], EvacuationBudget, list[AgentId]]:
    """Which dead agents may be evacuated now: (admitted, new budget, deferred)."""
    candidates = sorted(set(candidates))
    started = {
        a: t for a, t in budget.started.items() if a in candidates or 0 <= now - t < BUDGET_WINDOW_S
    }
    recent = sum(1 for t in started.values() if 0 <= now - t < BUDGET_WINDOW_S)
    spent_until = budget.spent_until if budget.spent_until is not None and now < budget.spent_until else None
    if spent_until is not None:
        recent = max(recent, policy.max_evacuations_per_minute)
    admitted = {a for a in started if a in candidates}
    deferred: list[AgentId] = []
    for agent_id in candidates:
        if agent_id in admitted:
            continue
        if recent < policy.max_evacuations_per_minute:
            started[agent_id] = now
            admitted.add(agent_id)
            recent += 1
        else:
            deferred.append(agent_id)
    return frozenset(admitted), EvacuationBudget(started, spent_until), deferred
