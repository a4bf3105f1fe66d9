"""L3Agent planning: routers on dead L3 agents move to live ones; HA routers get their lost replica back.

An agent admin down where Neutron then serves nothing (liveness.out_of_service) is left like a dead one: its
routers move, its HA replicas are replaced, with reasons that say "admin down".

Targets must fit the router: a legacy router may go to a `legacy` or `dvr_snat` agent, a distributed router only
to `dvr_snat` (its SNAT part); agents in `dvr` or `dvr_no_external` mode (compute nodes) are never evacuated and
never chosen. A router's availability_zone_hints are obeyed; without hints the dead agent's zone is preferred.
An HA router is kept on min(ha_replicas, fitting live agents) agents, its replicas spread over zones.
A legacy move is remove-then-add, because Neutron refuses the add while the old binding exists; a router left
hosted nowhere (a crash between the two calls, or anything else) is scheduled by the next pass.
"""

from __future__ import annotations

from collections.abc import Mapping

from rpcdaemon.core.actions import Change, ChangeKind, ResourceType
from rpcdaemon.core.liveness import AgentLiveness, out_of_service
from rpcdaemon.core.placement import Eligibility, Load, pick_target, restrict_to_zones
from rpcdaemon.core.policy import Policy
from rpcdaemon.core.safety import zone_of
from rpcdaemon.model import L3_AGENT, Agent, AgentId, AgentMode, Router, Snapshot


def fits(router: Router, agent: Agent) -> bool:
    if router.distributed:
        return agent.agent_mode is AgentMode.DVR_SNAT
    return agent.is_managed


def plan_l3(
    snapshot: Snapshot,
    verdicts: Mapping[AgentId, AgentLiveness],
    evacuable: frozenset[AgentId],
    policy: Policy,
    eligible: Eligibility,
) -> tuple[list[Change], list[str]]:
    agents = [a for a in snapshot.agents_of(L3_AGENT) if a.is_managed]
    managed = {a.id for a in agents}
    targets = [a for a in agents if a.id in eligible.targets]
    load = Load.of_routers(snapshot)
    hosting = snapshot.l3_agents_of_router()
    down = out_of_service(snapshot.agents, verdicts, policy)

    changes: list[Change] = []
    waiting: list[str] = []
    elsewhere: list[str] = []
    for router_id in sorted(snapshot.routers):
        router = snapshot.routers[router_id]
        hosts = hosting.get(router_id, set()) & managed
        if not router.distributed and not hosts and hosting.get(router_id):
            # hosted, but only by agents rpcdaemon never touches (compute-node dvr agents): not "hosted nowhere"
            elsewhere.append(router_id)
            continue
        candidates = [a for a in targets if fits(router, a)]
        hinted = [a for a in restrict_to_zones(candidates, router.availability_zone_hints)
                  if a.id not in eligible.excluded_for(router_id)]
        planner = _plan_ha if router.ha else _plan_single
        planned = planner(router, hosts, snapshot, down, evacuable, hinted, load, policy)
        changes += planned
        if router.availability_zone_hints and not hinted and not planned and _needs_home(hosts, down):
            waiting.append(router_id)
    notes = []
    if elsewhere:
        notes.append(f"{len(elsewhere)} router(s) hosted only by agents rpcdaemon does not manage (dvr compute "
                     f"nodes): left alone (e.g. {elsewhere[0]})")
    if waiting:
        notes.append(f"{len(waiting)} router(s) wait for a live fitting L3 agent in their hinted zones "
                     f"(e.g. {waiting[0]})")
    return changes, notes


def _needs_home(hosts: set[AgentId], down: Mapping[AgentId, tuple[str, str]]) -> bool:
    return all(a in down for a in hosts)


def _plan_single(
    router: Router,
    hosts: set[AgentId],
    snapshot: Snapshot,
    down: Mapping[AgentId, tuple[str, str]],
    evacuable: frozenset[AgentId],
    candidates: list[Agent],
    load: Load,
    policy: Policy,
) -> list[Change]:
    """A router that lives on one agent: legacy, or the SNAT part of a distributed router."""
    dead = sorted(a for a in hosts if a in down)
    leaving = [a for a in dead if a in evacuable]
    if hosts - set(dead) or len(leaving) < len(dead):
        # Hosted on a serving agent (any other binding is stale), or held by the disruption guard / budget.
        if not hosts - set(dead):
            return []
        return [
            Change(ChangeKind.REMOVE_ROUTER, ResourceType.ROUTER, router.id, a, None,
                   f"stale binding on {down[a][0]} L3 agent {snapshot.agents[a].host}; router is hosted elsewhere")
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
               f"L3 agent {snapshot.agents[first].host} is {down[first][0]}: {down[first][1]}; "
               f"{target.host} is the least loaded fitting agent")
    ]
    for agent_id in others:
        load.add(agent_id, -1)
        changes.append(
            Change(ChangeKind.REMOVE_ROUTER, ResourceType.ROUTER, router.id, agent_id, None,
                   f"stale binding on {down[agent_id][0]} L3 agent {snapshot.agents[agent_id].host}")
        )
    return changes


def _plan_ha(
    router: Router,
    hosts: set[AgentId],
    snapshot: Snapshot,
    down: Mapping[AgentId, tuple[str, str]],
    evacuable: frozenset[AgentId],
    candidates: list[Agent],
    load: Load,
    policy: Policy,
) -> list[Change]:
    """An HA router: each replica on an agent serving nothing (dead, or admin down) is replaced by one on a live
    agent (add, then remove), and a
    router with fewer replicas than min(ha_replicas, fitting agents) is topped up, spread over zones."""
    leaving = sorted(a for a in hosts if a in down and a in evacuable)
    staying = hosts - set(leaving)
    taken = set(hosts)
    zones_used = {zone_of(snapshot.agents[a]) for a in staying}
    changes: list[Change] = []
    living = [a for a in hosts if a not in down]
    for agent_id in leaving:
        target = pick_target(candidates, load, exclude=taken, preferred_zone=zone_of(snapshot.agents[agent_id]))
        if target is None:
            # no fitting agent is free: the replica serving nothing goes if serving ones (or ones this plan adds
            # before it, in order: a failed add stops the rest of the router's changes) serve the router
            if living or changes:
                load.add(agent_id, -1)
                changes.append(
                    Change(ChangeKind.REMOVE_ROUTER, ResourceType.ROUTER, router.id, agent_id, None,
                           f"HA replica on {down[agent_id][0]} L3 agent {snapshot.agents[agent_id].host}; no "
                           f"fitting agent is free to replace it, {len(living) + len(changes)} live replica(s) "
                           "remain")
                )
            continue
        taken.add(target.id)
        zones_used.add(zone_of(target))
        load.add(target.id)
        load.add(agent_id, -1)
        changes.append(
            Change(ChangeKind.REPLACE_HA_REPLICA, ResourceType.ROUTER, router.id, agent_id, target.id,
                   f"HA replica on {down[agent_id][0]} L3 agent {snapshot.agents[agent_id].host} "
                   f"({down[agent_id][1]}); {target.host} is the least loaded fitting agent")
        )
    replicas = len(staying) + sum(1 for c in changes if c.action is ChangeKind.REPLACE_HA_REPLICA)
    wanted = min(policy.ha_replicas, replicas + len([a for a in candidates if a.id not in taken]))
    while replicas < wanted:
        target = pick_target(candidates, load, exclude=taken, avoid_zones=zones_used)
        if target is None:
            break
        taken.add(target.id)
        zones_used.add(zone_of(target))
        load.add(target.id)
        replicas += 1
        why = "HA router hosted by no L3 agent" if not hosts else (
            f"HA router on {replicas - 1} of its {policy.ha_replicas} replicas")
        changes.append(
            Change(ChangeKind.SCHEDULE_ROUTER, ResourceType.ROUTER, router.id, None, target.id,
                   f"{why}; {target.host} is the least loaded fitting agent")
        )
    return changes
