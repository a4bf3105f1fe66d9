"""The one entry point of the core: (snapshot, state, now, policy) -> (plan, new state).

A pass of the daemon reads a snapshot, calls `make_plan`, and hands `plan.changes` to the executor. The plan also
carries everything an operator needs to understand it: every agent's verdict with its reason, every zone's
health, and notes on what is held back and why (disruption, budget, disagreement between signals).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field, replace

from rpcdaemon.core.actions import Change, ChangeKind, ResourceType
from rpcdaemon.core.dhcp import plan_dhcp
from rpcdaemon.core.drain import plan_drain
from rpcdaemon.core.handover import Handover, finish
from rpcdaemon.core.l3 import plan_l3
from rpcdaemon.core.liveness import (
    AgentLiveness,
    LivenessState,
    Verdict,
    admin_down_confirmed,
    is_target,
    observe,
    out_of_service,
)
from rpcdaemon.core.news import News, what_changed
from rpcdaemon.core.placement import Eligibility
from rpcdaemon.core.policy import Policy
from rpcdaemon.core.rebalance import WINDOW_S, allowance, plan_rebalance
from rpcdaemon.core.safety import (
    EvacuationBudget,
    ZoneHealth,
    admit_evacuations,
    assess_zones,
    budget_on_takeover,
    zone_of,
)
from rpcdaemon.core.vanish import assess_read, find_vanished
from rpcdaemon.core.verify import UNVERIFIED_MEMORY_S, Landing, record_landings, verify
from rpcdaemon.model import Agent, AgentId, RouterId, Snapshot

REFUSAL_MEMORY_S = 300.0
"""How long an agent that refused a resource is not offered it again."""


@dataclass(frozen=True, slots=True)
class CoreState:
    """What the core remembers between passes: observations, the evacuation budget, the agents last read (with
    their type, so that one missing from a later list is noticed), and recent refusals."""

    liveness: LivenessState = field(default_factory=LivenessState)
    budget: EvacuationBudget = field(default_factory=EvacuationBudget)
    agent_types: Mapping[AgentId, str] = field(default_factory=dict)
    refusals: Mapping[tuple[str, AgentId], float] = field(default_factory=dict)
    """(resource id, agent) -> until when that agent is not offered that resource."""
    announced: Mapping[AgentId, Verdict] = field(default_factory=dict)
    """Each agent's verdict as last told (suspect is never told): a change of it is news."""
    shown_notes: frozenset[str] = frozenset()
    """The notes of the last plan: a new one is news, one gone is news."""
    first_plan_at: float | None = None
    """When this replica made its first plan: how long it has watched the budget being spent."""
    stood_by: bool = False
    """This replica has planned as a standby: when it begins to act, it takes over (see budget_on_takeover)."""
    was_acting: bool = False
    """The last plan was made to be carried out (not as a standby)."""
    rebalance_starts: tuple[float, ...] = ()
    """When the rebalancing moves of the last minute were planned (core/rebalance.py: the rate limit)."""
    landings: Mapping[tuple[ResourceType, str, AgentId], Landing] = field(default_factory=dict)
    """What rpcdaemon put on an agent and has not seen wired yet (core/verify.py)."""
    verify_failures: Mapping[str, int] = field(default_factory=dict)
    """Per resource, how many agents in a row took it and never wired it."""
    handovers: Mapping[tuple[str, AgentId], Handover] = field(default_factory=dict)
    """DHCP networks being handed over (core/handover.py), by (network, new agent)."""
    unmovable: Mapping[tuple[RouterId, AgentId], float] = field(default_factory=dict)
    """HA replicas a rebalance found not movable, and until when they are left out (core/rebalance.py)."""


@dataclass(frozen=True, slots=True)
class Plan:
    changes: tuple[Change, ...]
    verdicts: Mapping[AgentId, AgentLiveness]
    zones: Mapping[tuple[str, str], ZoneHealth]
    evacuating: frozenset[AgentId]
    notes: tuple[str, ...]
    """Human-readable: what is held back and why (the alarms among them)."""
    warming_up: bool
    """True while observation is younger than the dead threshold: no agent can be judged dead yet."""
    alarms: tuple[str, ...] = ()
    """The notes that are errors: a disrupted zone, a read not trusted."""
    reread: bool = False
    """The read was not trusted or left out what exists: read everything again soon (core/vanish.py)."""
    news: News = field(default_factory=News)
    """What changed since the last plan: agent transitions, notes raised and cleared (logged once, narrated)."""
    wants_ha_states: frozenset[RouterId] = frozenset()
    """HA routers whose replicas' ha_state the plan needs before it may take a replica (drain, rebalance): the
    shell reads them (GET /routers/{id}/l3-agents) into Snapshot.ha_states and plans again."""
    draining: frozenset[AgentId] = frozenset()
    """Agents being drained (core/drain.py)."""
    verified: tuple[tuple[Landing, float], ...] = ()
    """Landings proven wired this plan, with the seconds each took (core/verify.py)."""
    unverified: tuple[Landing, ...] = ()
    """Landings not wired within verify_timeout_s: planned again elsewhere (their changes are in `changes`)."""


def make_plan(
    snapshot: Snapshot,
    state: CoreState,
    now: float,
    policy: Policy,
    heard: Mapping[AgentId, float] | None = None,
    standby: bool = False,
) -> tuple[Plan, CoreState]:
    """`standby`: this replica plans without acting; its budget then records every dead agent it would evacuate,
    hosting work or not (the leader may have emptied one before this replica looked): a takeover starts from a
    record that counts at least what the leader spent. The first plan to act after standing by is a takeover: its
    budget is the standby's record, or spent when this replica has not watched a whole budget window."""
    first_plan_at = state.first_plan_at if state.first_plan_at is not None else now
    budget_before = state.budget
    if not standby and state.stood_by and not state.was_acting:
        budget_before = budget_on_takeover(state.budget, now, first_plan_at)
    liveness, verdicts = observe(state.liveness, snapshot.agents, now, policy, heard)
    vanished = find_vanished(snapshot, state.agent_types)
    # an agent missing from the list is remembered until a read of it answers 404; a death is remembered even
    # then: an agent that reappears under the same id (a lying 404, a restored database) serves its hold-down
    kept = {a: o for a, o in state.liveness.observations.items()
            if a not in snapshot.agents and (a in vanished.agents or o.dead_since is not None
                                             or o.up_since is not None)}
    liveness = replace(liveness, observations={**kept, **liveness.observations})
    agent_types = {**{a: state.agent_types[a] for a in vanished.agents if a in state.agent_types},
                   **{a.id: a.agent_type for a in snapshot.agents.values()}}
    trust = assess_read(snapshot, vanished, agent_types)

    zones = assess_zones(snapshot.agents.values(), verdicts, policy)
    disrupted = [z for z in zones.values() if z.disrupted]
    alarms: list[str] = [f"zone {z.describe()}" for z in disrupted] + list(trust.alarms)
    notes: list[str] = list(alarms) + list(trust.notes)

    # dead agents, and admin-down ones where Neutron then serves nothing: evacuated alike, under the same guards
    down = out_of_service(snapshot.agents, verdicts, policy)
    needing: list[AgentId] = []
    for agent in snapshot.agents.values():
        verdict = verdicts[agent.id]
        if verdict.verdict is Verdict.SUSPECT and verdict.suspect_for_s >= policy.disagreement_report_s:
            notes.append(f"agent {agent.host} ({agent.agent_type}) suspect: {verdict.reason}")
        if (agent.id in down and agent.is_managed and (standby or hosts_work(agent, snapshot))
                and not zones[(agent.agent_type, zone_of(agent))].disrupted):
            needing.append(agent.id)
    evacuable, budget, deferred = admit_evacuations(needing, budget_before, now, policy)
    notes += [
        f"agent {snapshot.agents[a].host} {down[a][0]} but deferred: more than {policy.max_evacuations_per_minute} "
        "evacuations started in the last minute"
        for a in deferred
    ]

    refusals = {key: until for key, until in state.refusals.items() if until > now}
    refused: dict[str, set[AgentId]] = {}
    for resource_id, agent_id in refusals:
        refused.setdefault(resource_id, set()).add(agent_id)
    blocked_zones = {(z.agent_type, z.availability_zone) for z in disrupted}
    eligible = Eligibility(
        targets=frozenset(
            a.id for a in snapshot.agents.values()
            if a.is_managed and is_target(a, verdicts[a.id]) and (a.agent_type, zone_of(a)) not in blocked_zones
        ),
        refused={r: frozenset(agents) for r, agents in refused.items()},
    )

    changes: list[Change] = []
    if policy.manage_dhcp and snapshot.dhcp_bindings is not None and not trust.hold_dhcp:
        planned, planner_notes = plan_dhcp(snapshot, verdicts, evacuable, policy, eligible, trust.removable_networks)
        changes += planned
        notes += planner_notes
    if policy.manage_l3 and snapshot.l3_bindings is not None and not trust.hold_l3:
        planned, planner_notes = plan_l3(snapshot, verdicts, evacuable, policy, eligible)
        changes += planned
        notes += planner_notes
    admin_down = frozenset(a for a in evacuable if admin_down_confirmed(snapshot.agents[a], verdicts[a], policy))
    changes = never_from_the_living(changes, verdicts, trust.removable_networks, admin_down)

    # proof that what rpcdaemon moved serves; what an agent took and never wired goes to the next best agent
    check = verify(snapshot, state.landings, state.verify_failures, now, policy, eligible)
    landings = check.pending if check.pending is not None else state.landings
    failures = dict(state.verify_failures)
    for landing, _ in check.verified:
        failures.pop(landing.resource_id, None)
    for landing in check.unverified:
        failures[landing.resource_id] = failures.get(landing.resource_id, 0) + 1
        refusals[(landing.resource_id, landing.agent_id)] = now + UNVERIFIED_MEMORY_S
    touched = {c.resource_id for c in changes}
    changes += [c for c in check.changes if c.resource_id not in touched]
    notes += check.notes
    pending = frozenset(landings)
    finished, handovers = finish(snapshot, state.handovers, pending, {u.key for u in check.unverified}, now)
    touched = {c.resource_id for c in changes}
    changes += [c for c in finished if c.resource_id not in touched]

    # deliberate moves from live agents, each only once its resource is served elsewhere: a drain an operator
    # asked for (after the repairs, on other resources), then rebalancing (only when there is nothing else to do)
    wants: set[RouterId] = set()
    draining: frozenset[AgentId] = frozenset()
    starts = tuple(t for t in state.rebalance_starts if now - t < WINDOW_S)
    unmovable = {r: until for r, until in state.unmovable.items() if until > now}
    if not (trust.hold_l3 or trust.hold_dhcp or trust.reread):
        drain = plan_drain(snapshot, verdicts, zones, policy, eligible, {c.resource_id for c in changes},
                           tuple(handovers.values()), pending, now)
        changes += drain.changes
        handovers.update({(h.network, h.to_agent): h for h in drain.handovers})
        notes += drain.notes
        wants |= drain.wants_ha_states
        draining = drain.draining
        if not changes and not alarms and not wants:
            rebalance = plan_rebalance(snapshot, verdicts, policy, eligible, allowance(starts, now, policy), now,
                                       bool(handovers), frozenset(unmovable))
            changes += rebalance.changes
            handovers.update({(h.network, h.to_agent): h for h in rebalance.handovers})
            wants |= rebalance.wants_ha_states
            starts += (now,) * len(rebalance.changes)
            unmovable.update({replica: now + s for replica, s in rebalance.unmovable.items()})

    warming_up = liveness.restarted_at is not None and now - liveness.restarted_at < policy.dead_after_s
    news, announced, shown = what_changed(state.announced, state.shown_notes, verdicts, tuple(notes))
    plan = Plan(tuple(changes), verdicts, zones, evacuable, tuple(notes), warming_up, tuple(alarms), trust.reread,
                news, frozenset(wants), draining, check.verified, check.unverified)
    return plan, CoreState(liveness, budget, agent_types, refusals, announced, shown, first_plan_at,
                           state.stood_by or standby, not standby, starts, landings, failures, handovers, unmovable)


def never_from_the_living(
    changes: Iterable[Change], verdicts: Mapping[AgentId, AgentLiveness], removable: Iterable[str],
    admin_down: Collection[AgentId] = frozenset(),
) -> list[Change]:
    """The last word on every plan: nothing is taken from an agent that is not judged dead, unless the resource
    is confirmed deleted. Whatever a planner concluded from a read, a live agent keeps what it serves.

    The one exception is `admin_down`: agents whose evacuation was admitted this plan (past the disruption guard
    and the budget) because they are admin down where Neutron serves nothing on them (liveness.admin_down_confirmed).
    Such an agent serves nothing it hosts, so taking from it takes nothing from anyone."""
    gone = set(removable)
    kept: list[Change] = []
    for change in changes:
        source = change.from_agent
        takes = change.action in (ChangeKind.REMOVE_NETWORK, ChangeKind.REMOVE_ROUTER, ChangeKind.MOVE_ROUTER,
                                  ChangeKind.REPLACE_HA_REPLICA)
        if takes and source is not None and change.resource_id not in gone:
            liveness = verdicts.get(source)
            if (liveness is None or liveness.verdict is not Verdict.DEAD) and source not in admin_down:
                continue
        kept.append(change)
    return kept


def remember_refusals(state: CoreState, refused: Iterable[tuple[str, AgentId]], now: float) -> CoreState:
    """Agents that refused to take a resource (an add answered with a lasting error) are not offered it again for
    REFUSAL_MEMORY_S: the next best agent is picked instead of the same refusal every pass."""
    refusals = dict(state.refusals)
    for key in refused:
        refusals[key] = now + REFUSAL_MEMORY_S
    return replace(state, refusals=refusals)


def remember_landings(state: CoreState, added: Iterable[tuple[ResourceType, str, AgentId]], now: float) -> CoreState:
    """The adds Neutron accepted join what awaits proof that it serves (core/verify.py)."""
    return replace(state, landings=record_landings(state.landings, added, now))


def hosts_work(agent: Agent, snapshot: Snapshot) -> bool:
    """Does this agent hold anything rpcdaemon would move away from it?"""
    if agent.is_dhcp:
        return bool((snapshot.dhcp_bindings or {}).get(agent.id))
    if agent.is_l3 and agent.is_managed:
        return bool((snapshot.l3_bindings or {}).get(agent.id))
    return False
