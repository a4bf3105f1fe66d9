"""Draining: an operator empties a node for maintenance with the least disruption (`rpcdaemon drain HOST`).

The CLI writes the drain mark into the Neutron description of the host's agents (model.DRAIN_MARK): the intent lives
in Neutron's database, and whichever rpcdaemon replica leads carries it out, pass after pass, level-triggered
like everything else (one actor, always; a failover of the leader carries on). An agent marked for
ADMIN_DOWN_CONFIRM_S (one lying row starts nothing) is given nothing new (liveness.is_target) and emptied:
  - an HA router: a replica is added elsewhere first; the one on the drained agent is removed only once the router
    has its replicas elsewhere and each of them reports ha_state active or standby (read in `wants_ha_states`), so
    the router never lacks a ready replica;
  - a legacy (or distributed SNAT) router: remove, then add (Neutron refuses a second L3 agent): an outage of
    seconds; all of them in one pass, spread by load, one router at a time per target agent (a lane per target:
    B8 found one move per target per pass emptying 200 routers in 67 passes, 3.2 x a serial drain's time);
  - a DHCP network: handed over (core/handover.py) when the others would be below the target count: added
    elsewhere, and removed from the drained agent once the new agent has wired it.
When the agent hosts nothing it is set admin down (DISABLE_AGENT) so that Neutron's own schedulers put nothing new
there; `rpcdaemon undrain HOST` clears the mark and sets it up again. Guards: a drain never runs in a disrupted zone,
and never empties more than max_dead_fraction of a zone's agents of one type at once (a mass of drain marks is a
mistake or a lie, not maintenance): the rest wait, with a note.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass

from rpcdaemon.core.actions import Change, ChangeKind, ResourceType
from rpcdaemon.core.handover import Handover, Key, start
from rpcdaemon.core.l3 import fits
from rpcdaemon.core.liveness import AgentLiveness, Verdict, drain_confirmed
from rpcdaemon.core.placement import Eligibility, Load, pick_target, restrict_to_zones
from rpcdaemon.core.policy import Policy
from rpcdaemon.core.rebalance import READY
from rpcdaemon.core.safety import ZoneHealth, zone_of
from rpcdaemon.model import Agent, AgentId, RouterId, Snapshot


@dataclass(frozen=True, slots=True)
class Drain:
    changes: tuple[Change, ...] = ()
    wants_ha_states: frozenset[RouterId] = frozenset()
    notes: tuple[str, ...] = ()
    draining: frozenset[AgentId] = frozenset()
    """The agents being drained this plan (confirmed, admitted by the guards)."""
    handovers: tuple[Handover, ...] = ()
    """DHCP networks handed over this plan (their add is in `changes`)."""


def draining_agents(
    snapshot: Snapshot,
    verdicts: Mapping[AgentId, AgentLiveness],
    zones: Mapping[tuple[str, str], ZoneHealth],
    policy: Policy,
) -> tuple[list[Agent], list[str]]:
    """The live managed agents whose drain may proceed, and notes on those held back."""
    marked = [a for a in sorted(snapshot.agents.values(), key=lambda a: a.id)
              if a.is_managed and a.id in verdicts and drain_confirmed(a, verdicts[a.id])]
    admitted: list[Agent] = []
    notes: list[str] = []
    for (agent_type, zone), health in sorted(zones.items()):
        group = [a for a in marked if a.agent_type == agent_type and zone_of(a) == zone]
        if not group:
            continue
        if health.disrupted:
            notes.append(f"drain of {len(group)} {agent_type}(s) in zone {zone} held: the zone is disrupted")
            continue
        most = max(1, int(health.total * policy.max_dead_fraction))
        busy = [a for a in group if a.admin_state_up or _hosts(snapshot, a)]
        if len(busy) > most:
            notes.append(f"drain held: {len(busy)} of {health.total} {agent_type}s in zone {zone} are marked for "
                         f"draining, more than max_dead_fraction allows at once ({most}); undrain some")
            continue
        admitted += [a for a in group if verdicts[a.id].verdict is Verdict.ALIVE]
    return admitted, notes


def plan_drain(
    snapshot: Snapshot,
    verdicts: Mapping[AgentId, AgentLiveness],
    zones: Mapping[tuple[str, str], ZoneHealth],
    policy: Policy,
    eligible: Eligibility,
    busy: Collection[str],
    handovers: Collection[Handover] = (),
    pending: Collection[Key] = frozenset(),
    now: float = 0.0,
) -> Drain:
    """`busy`: resources the repair part of the plan already changes this pass (left to it); `handovers`: those in
    flight; `pending`: landings awaiting proof (a binding not yet wired does not serve)."""
    agents, notes = draining_agents(snapshot, verdicts, zones, policy)
    if not agents:
        return Drain(notes=tuple(notes))
    changes: list[Change] = []
    wants: set[RouterId] = set()
    l3_load = Load.of_routers(snapshot)
    dhcp_load = Load.of_networks(snapshot)
    started: list[Handover] = []
    for agent in agents:
        planned: list[Change] = []
        if agent.is_l3 and policy.manage_l3 and snapshot.l3_bindings is not None:
            planned, wanted = _drain_l3(snapshot, agent, policy, eligible, busy, l3_load)
            wants |= wanted
        elif agent.is_dhcp and policy.manage_dhcp and snapshot.dhcp_bindings is not None:
            planned, new = _drain_dhcp(snapshot, agent, policy, eligible, busy, dhcp_load, handovers, pending, now)
            started += new
        changes += planned
        if not _hosts(snapshot, agent) and agent.admin_state_up:
            changes.append(Change(ChangeKind.DISABLE_AGENT, ResourceType.AGENT, agent.id, agent.id, None,
                                  f"drained: {agent.agent_type} {agent.host} hosts nothing; set admin down so that "
                                  "nothing new is scheduled there"))
    return Drain(tuple(changes), frozenset(wants), tuple(notes), frozenset(a.id for a in agents), tuple(started))


def _names(snapshot: Snapshot, agents: Collection[AgentId]) -> str:
    return ", ".join(sorted(snapshot.agents[a].host for a in agents))


def _hosts(snapshot: Snapshot, agent: Agent) -> bool:
    if agent.is_l3:
        return bool((snapshot.l3_bindings or {}).get(agent.id))
    return bool((snapshot.dhcp_bindings or {}).get(agent.id))


def _drain_l3(
    snapshot: Snapshot, agent: Agent, policy: Policy, eligible: Eligibility, busy: Collection[str],
    load: Load,
) -> tuple[list[Change], set[RouterId]]:
    hosting = snapshot.l3_agents_of_router()
    targets = [a for a in snapshot.agents_of(agent.agent_type) if a.is_managed and a.id in eligible.targets]
    changes: list[Change] = []
    wants: set[RouterId] = set()
    for router_id in sorted((snapshot.l3_bindings or {}).get(agent.id, ())):
        router = snapshot.routers.get(router_id)
        if router is None or router_id in busy:
            continue
        candidates = [a for a in restrict_to_zones([t for t in targets if fits(router, t)],
                                                   router.availability_zone_hints)
                      if a.id not in eligible.excluded_for(router_id)]
        others = hosting.get(router_id, set()) - {agent.id}
        if router.ha:
            serving = {a for a in others if a in eligible.targets}
            wanted = min(policy.ha_replicas, len(serving) + len([a for a in candidates if a.id not in others]))
            if wanted == 0:
                continue
            if len(serving) >= wanted:
                states = snapshot.ha_states.get(router_id)
                if states is None:
                    wants.add(router_id)
                elif all(states.get(a) in READY for a in serving):
                    load.add(agent.id, -1)
                    changes.append(Change(
                        ChangeKind.REMOVE_ROUTER, ResourceType.ROUTER, router_id, agent.id, None,
                        f"draining {agent.host}: the router's replicas on {_names(snapshot, serving)} are ready"))
                continue
            target = pick_target(candidates, load, exclude=set(others), preferred_zone=zone_of(agent))
            if target is not None:
                load.add(target.id)
                changes.append(Change(
                    ChangeKind.SCHEDULE_ROUTER, ResourceType.ROUTER, router_id, None, target.id,
                    f"draining {agent.host}: a replica on {target.host} first (the least loaded fitting agent); "
                    f"the one on {agent.host} goes once it is ready"))
            continue
        target = pick_target(candidates, load, exclude=set(others), preferred_zone=zone_of(agent))
        if target is None:
            continue
        load.add(target.id)
        load.add(agent.id, -1)
        changes.append(Change(
            ChangeKind.MOVE_ROUTER, ResourceType.ROUTER, router_id, agent.id, target.id,
            f"draining {agent.host}: a legacy router moves (remove, then add: down for seconds) to {target.host}, "
            "the least loaded fitting agent", lane=f"drain to {target.id}"))
    return changes, wants


def _drain_dhcp(
    snapshot: Snapshot, agent: Agent, policy: Policy, eligible: Eligibility, busy: Collection[str], load: Load,
    handovers: Collection[Handover], pending: Collection[Key], now: float,
) -> tuple[list[Change], list[Handover]]:
    hosting = snapshot.dhcp_agents_of_network()
    targets = [a for a in snapshot.agents_of(agent.agent_type) if a.id in eligible.targets]
    changes: list[Change] = []
    started: list[Handover] = []
    for net_id in sorted((snapshot.dhcp_bindings or {}).get(agent.id, ())):
        network = snapshot.networks.get(net_id)
        if network is None or net_id in busy:
            continue
        others = hosting.get(net_id, set()) - {agent.id}
        coming = {h.to_agent for h in handovers if h.network == net_id and h.from_agent == agent.id}
        serving = {a for a in others if a in eligible.targets and a not in coming
                   and (ResourceType.NETWORK, net_id, a) not in pending}
        candidates = [a for a in restrict_to_zones(targets, network.availability_zone_hints)
                      if a.id not in others and a.id not in eligible.excluded_for(net_id)]
        wanted = 1 if policy.dhcp_agents_per_network is None else policy.dhcp_agents_per_network
        wanted = min(wanted, len(serving) + len(coming) + len(candidates))
        if wanted == 0:
            continue
        if len(serving) >= wanted:
            load.add(agent.id, -1)
            changes.append(Change(
                ChangeKind.REMOVE_NETWORK, ResourceType.NETWORK, net_id, agent.id, None,
                f"draining {agent.host}: the network is served by {_names(snapshot, serving)}"))
            continue
        if coming:
            continue  # handed over already: its removal comes once the new agent serves it
        target = pick_target(candidates, load, exclude=set())
        if target is None:
            continue
        load.add(target.id)
        change, handover = start(net_id, agent.id, target.id, now, f"draining {agent.host}", snapshot)
        changes.append(change)
        started.append(handover)
    return changes, started
