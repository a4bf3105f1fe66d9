"""L3Agent planning: routers on dead L3 agents move to live ones; HA routers get their lost replica back.

Targets must fit the router: a legacy router may go to a `legacy` or `dvr_snat` agent, a distributed router only
to `dvr_snat` (its SNAT part); agents in `dvr` or `dvr_no_external` mode (compute nodes) are never evacuated and
never chosen. A router's availability_zone_hints are obeyed; without hints the dead agent's zone is preferred.
A legacy move is remove-then-add, because Neutron refuses the add while the old binding exists; a router left
hosted nowhere (a crash between the two calls, or anything else) is scheduled by the next pass.
"""

from __future__ import annotations

from collections.abc import Mapping

from rpcdaemon.core.actions import Change, ChangeKind, ResourceType
from rpcdaemon.core.liveness import AgentLiveness, Verdict, is_target
from rpcdaemon.core.placement import Load, pick_target, restrict_to_zones
from rpcdaemon.core.policy import Policy
from rpcdaemon.core.safety import zone_of
from rpcdaemon.model import Agent, AgentId, AgentMode, Router, Snapshot

SNAT_MODES = frozenset({AgentMode.LEGACY, AgentMode.DVR_SNAT})
"""Agent modes rpcdaemon manages: the others (dvr, dvr_no_external) are compute-node agents, left alone."""


def fits(router: Router, agent: Agent) -> bool:
    if router.distributed:
        return agent.agent_mode is AgentMode.DVR_SNAT
    return agent.agent_mode in SNAT_MODES


def plan_l3(
    snapshot: Snapshot,
    verdicts: Mapping[AgentId, AgentLiveness],
    evacuable: frozenset[AgentId],
    policy: Policy,
) -> list[Change]:
    bindings = snapshot.l3_bindings or {}
    agents = [a for a in snapshot.agents_of("L3 agent") if a.agent_mode in SNAT_MODES]
    managed = {a.id for a in agents}
    targets = [a for a in agents if is_target(a, verdicts[a.id])]
    load = Load({a.id: len(bindings.get(a.id, ())) for a in agents})
    hosting = snapshot.l3_agents_of_router()

    changes: list[Change] = []
    for router_id in sorted(snapshot.routers):
        router = snapshot.routers[router_id]
        hosts = hosting.get(router_id, set()) & managed
        candidates = [a for a in targets if fits(router, a)]
        hinted = restrict_to_zones(candidates, router.availability_zone_hints)
        planner = _plan_ha if router.ha else _plan_single
        changes += planner(router, hosts, snapshot, verdicts, evacuable, hinted, load, policy)
    return changes


def _plan_single(
    router: Router,
    hosts: set[AgentId],
    snapshot: Snapshot,
    verdicts: Mapping[AgentId, AgentLiveness],
    evacuable: frozenset[AgentId],
    candidates: list[Agent],
    load: Load,
    policy: Policy,
) -> list[Change]:
    """A router that lives on one agent: legacy, or the SNAT part of a distributed router."""
    dead = sorted(a for a in hosts if verdicts[a].verdict is Verdict.DEAD)
    leaving = [a for a in dead if a in evacuable]
    if hosts - set(dead) or len(leaving) < len(dead):
        # Hosted on a living agent (any dead binding is stale), or held by the disruption guard / budget.
        if not hosts - set(dead):
            return []
        return [
            Change(ChangeKind.REMOVE_ROUTER, ResourceType.ROUTER, router.id, a, None,
                   f"stale binding on dead L3 agent {snapshot.agents[a].host}; router is hosted elsewhere")
            for a in leaving
        ]
    preferred = zone_of(snapshot.agents[leaving[0]]) if leaving else None
    target = pick_target(candidates, load, exclude=set(), preferred_zone=preferred)
    if target is None:
        return []
    load.add(target.id)
    if not leaving:
        return [
            Change(ChangeKind.SCHEDULE_ROUTER, ResourceType.ROUTER, router.id, None, target.id,
                   f"router hosted by no L3 agent; {target.host} is the least loaded fitting agent")
        ]
    first, *others = leaving
    load.add(first, -1)
    changes = [
        Change(ChangeKind.MOVE_ROUTER, ResourceType.ROUTER, router.id, first, target.id,
               f"L3 agent {snapshot.agents[first].host} is dead: {verdicts[first].reason}; "
               f"{target.host} is the least loaded fitting agent")
    ]
    for agent_id in others:
        load.add(agent_id, -1)
        changes.append(
            Change(ChangeKind.REMOVE_ROUTER, ResourceType.ROUTER, router.id, agent_id, None,
                   f"stale binding on dead L3 agent {snapshot.agents[agent_id].host}")
        )
    return changes


def _plan_ha(
    router: Router,
    hosts: set[AgentId],
    snapshot: Snapshot,
    verdicts: Mapping[AgentId, AgentLiveness],
    evacuable: frozenset[AgentId],
    candidates: list[Agent],
    load: Load,
    policy: Policy,
) -> list[Change]:
    """An HA router: each replica on a dead agent is replaced by one on a live agent (add, then remove)."""
    if not hosts:
        target = pick_target(candidates, load, exclude=set())
        if target is None:
            return []
        load.add(target.id)
        return [
            Change(ChangeKind.SCHEDULE_ROUTER, ResourceType.ROUTER, router.id, None, target.id,
                   f"HA router hosted by no L3 agent; {target.host} is the least loaded fitting agent")
        ]
    leaving = sorted(a for a in hosts if verdicts[a].verdict is Verdict.DEAD and a in evacuable)
    taken = set(hosts)
    changes: list[Change] = []
    for agent_id in leaving:
        target = pick_target(candidates, load, exclude=taken, preferred_zone=zone_of(snapshot.agents[agent_id]))
        if target is None:
            break
        taken.add(target.id)
        load.add(target.id)
        load.add(agent_id, -1)
        changes.append(
            Change(ChangeKind.REPLACE_HA_REPLICA, ResourceType.ROUTER, router.id, agent_id, target.id,
                   f"HA replica on dead L3 agent {snapshot.agents[agent_id].host} "
                   f"({verdicts[agent_id].reason}); {target.host} is the least loaded fitting agent")
        )
    return changes
