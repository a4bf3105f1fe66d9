"""What changed since the last plan, for people: agents that turned dead or alive, notes raised and cleared.

The daemon logs each once, when it happens, not on every pass; the demo narrates the same list. A disagreement
between the bus and the API (SUSPECT) is not a transition: it is reported as a note, after a grace, and an agent
that goes alive -> suspect -> dead is told as alive -> dead.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from rpcdaemon.core.liveness import AgentLiveness, Verdict
from rpcdaemon.model import AgentId


@dataclass(frozen=True, slots=True)
class Transition:
    agent_id: AgentId
    before: Verdict
    after: Verdict
    reason: str


@dataclass(frozen=True, slots=True)
class News:
    transitions: tuple[Transition, ...] = ()
    raised: tuple[str, ...] = ()
    """Notes new in this plan, sorted."""
    cleared: tuple[str, ...] = ()
    """Notes of the last plan that this one no longer has, sorted."""


def what_changed(
    announced: Mapping[AgentId, Verdict], shown: frozenset[str], verdicts: Mapping[AgentId, AgentLiveness],
    notes: tuple[str, ...],
) -> tuple[News, dict[AgentId, Verdict], frozenset[str]]:
    """News against what was last announced; returns it with the new announced verdicts and shown notes."""
    transitions: list[Transition] = []
    now_announced = dict(announced)
    for agent_id, liveness in verdicts.items():
        if liveness.verdict is Verdict.SUSPECT:
            continue
        before = announced.get(agent_id)
        if before is not None and before is not liveness.verdict:
            transitions.append(Transition(agent_id, before, liveness.verdict, liveness.reason))
        now_announced[agent_id] = liveness.verdict
    current = frozenset(notes)
    news = News(tuple(transitions), tuple(sorted(current - shown)), tuple(sorted(shown - current)))
    return news, now_announced, current
