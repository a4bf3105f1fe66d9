"""The one entry point of the core: (snapshot, state, now, policy) -> (plan, new state).

A pass of the daemon reads a snapshot, calls `make_plan`, and hands `plan.changes` to the executor. The plan also
carries everything an operator needs to understand it: every agent's verdict with its reason, every zone's
health, and notes on what is held back and why (disruption, budget, disagreement between signals).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from rpcdaemon.core.actions import Change
from rpcdaemon.core.dhcp import plan_dhcp
from rpcdaemon.core.l3 import SNAT_MODES, plan_l3
from rpcdaemon.core.liveness import AgentLiveness, LivenessState, Verdict, observe
from rpcdaemon.core.policy import Policy
from rpcdaemon.core.safety import EvacuationBudget, ZoneHealth, admit_evacuations, assess_zones, zone_of
from rpcdaemon.model import Agent, AgentId, Snapshot


@dataclass(frozen=True, slots=True)
class CoreState:
    """What the core remembers between passes (observations and the evacuation budget): nothing else."""

    liveness: LivenessState = field(default_factory=LivenessState)
    budget: EvacuationBudget = field(default_factory=EvacuationBudget)


@dataclass(frozen=True, slots=True)
class Plan:
    changes: tuple[Change, ...]
    verdicts: Mapping[AgentId, AgentLiveness]
    zones: Mapping[tuple[str, str], ZoneHealth]
    evacuating: frozenset[AgentId]
    notes: tuple[str, ...]
    """Human-readable: what is held back and why."""
    warming_up: bool
    """True while observation is younger than the dead threshold: no agent can be judged dead yet."""


def make_plan(
    snapshot: Snapshot,
    state: CoreState,
    now: float,
    policy: Policy,
    heard: Mapping[AgentId, float] | None = None,
) -> tuple[Plan, CoreState]:
    liveness, verdicts = observe(state.liveness, snapshot.agents, now, policy, heard)
    zones = assess_zones(snapshot.agents.values(), verdicts, policy)
    notes: list[str] = [f"zone {z.describe()}" for z in zones.values() if z.disrupted]

    needing: list[AgentId] = []
    for agent in snapshot.agents.values():
        verdict = verdicts[agent.id]
        if verdict.verdict is Verdict.SUSPECT and verdict.suspect_for_s >= policy.disagreement_report_s:
            notes.append(f"agent {agent.host} ({agent.agent_type}) suspect: {verdict.reason}")
        if verdict.is_dead and hosts_work(agent, snapshot) and not zones[(agent.agent_type, zone_of(agent))].disrupted:
            needing.append(agent.id)
    evacuable, budget, deferred = admit_evacuations(needing, state.budget, now, policy)
    notes += [
        f"agent {snapshot.agents[a].host} dead but deferred: more than {policy.max_evacuations_per_minute} "
        "evacuations started in the last minute"
        for a in deferred
    ]

    changes: list[Change] = []
    if policy.manage_dhcp and snapshot.dhcp_bindings is not None:
        changes += plan_dhcp(snapshot, verdicts, evacuable, policy)
    if policy.manage_l3 and snapshot.l3_bindings is not None:
        changes += plan_l3(snapshot, verdicts, evacuable, policy)

    warming_up = liveness.restarted_at is not None and now - liveness.restarted_at < policy.dead_after_s
    plan = Plan(tuple(changes), verdicts, zones, evacuable, tuple(notes), warming_up)
    return plan, CoreState(liveness, budget)


def hosts_work(agent: Agent, snapshot: Snapshot) -> bool:
    """Does this agent hold anything rpcdaemon would move away from it?"""
    if agent.is_dhcp:
        return bool((snapshot.dhcp_bindings or {}).get(agent.id))
    if agent.is_l3 and agent.agent_mode in SNAT_MODES:
        return bool((snapshot.l3_bindings or {}).get(agent.id))
    return False
