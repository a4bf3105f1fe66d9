"""DHCPAgent planning: every DHCP network on the target number of live DHCP agents.

The original rpcdaemon put every DHCP network on every DHCP agent (`dhcp_agents_per_network = all`, still the
default); a number keeps that many. Bindings on agents that serve nothing (dead, or admin down where Neutron then
serves nothing: liveness.out_of_service) are removed only once the network is safe elsewhere: the removal comes
after the additions for the same network, and is not planned at all when the network would be left with no binding
on a serving agent. Bindings of deleted networks are removed wherever they are.
"""

from __future__ import annotations

from collections.abc import Mapping

from rpcdaemon.core.actions import Change, ChangeKind, ResourceType
from rpcdaemon.core.liveness import AgentLiveness, out_of_service
from rpcdaemon.core.placement import Eligibility, Load, pick_target, restrict_to_zones
from rpcdaemon.core.policy import Policy
from rpcdaemon.model import DHCP_AGENT, Agent, AgentId, Network, NetworkId, Snapshot


def plan_dhcp(
    snapshot: Snapshot,
    verdicts: Mapping[AgentId, AgentLiveness],
    evacuable: frozenset[AgentId],
    policy: Policy,
    eligible: Eligibility,
    removable: frozenset[NetworkId] = frozenset(),
) -> tuple[list[Change], list[str]]:
    """(changes, notes). `removable`: vanished networks confirmed deleted (see core/vanish.py): only their
    bindings are removed for being of a deleted network."""
    bindings = snapshot.dhcp_bindings or {}
    agents = snapshot.agents_of(DHCP_AGENT)
    targets = [a for a in agents if a.id in eligible.targets]
    load = Load.of_networks(snapshot)
    hosting = snapshot.dhcp_agents_of_network()
    down = out_of_service(snapshot.agents, verdicts, policy)

    changes: list[Change] = []
    for agent_id, nets in sorted(bindings.items()):
        for net_id in sorted(nets):
            if net_id not in snapshot.networks and net_id in removable:
                changes.append(
                    Change(ChangeKind.REMOVE_NETWORK, ResourceType.NETWORK, net_id, agent_id, None,
                           "network deleted (missing from the list, and its own read answered 404)")
                )
    waiting: list[NetworkId] = []
    for net_id in sorted(snapshot.networks):
        network = snapshot.networks[net_id]
        if network.dhcp:
            planned, waits = _plan_network(network, hosting.get(net_id, set()), snapshot, down, evacuable,
                                           targets, eligible, load, policy)
            changes += planned
            if waits:
                waiting.append(net_id)
    notes = []
    if waiting:
        notes.append(f"{len(waiting)} DHCP network(s) wait for a live DHCP agent in their hinted zones "
                     f"(e.g. {waiting[0]})")
    return changes, notes


def _plan_network(
    network: Network,
    hosts: set[AgentId],
    snapshot: Snapshot,
    down: Mapping[AgentId, tuple[str, str]],
    evacuable: frozenset[AgentId],
    targets: list[Agent],
    eligible: Eligibility,
    load: Load,
    policy: Policy,
) -> tuple[list[Change], bool]:
    """(changes, waits): a network goes only to targets in its hinted zones (as Neutron's AZ-aware scheduler
    does); when none is there it waits rather than spill into another zone."""
    known = {a for a in hosts if a in snapshot.agents}
    dead = {a for a in known if a in down}
    leaving = sorted(dead & evacuable)
    # Bindings that count: on serving agents, or on ones serving nothing but held by the disruption guard or the
    # budget.
    staying = known - set(leaving)
    living = known - dead

    candidates = restrict_to_zones(targets, network.availability_zone_hints)
    if policy.dhcp_agents_per_network is None:
        wanted = len(candidates) + len(staying - {a.id for a in candidates})
    else:
        wanted = policy.dhcp_agents_per_network

    changes: list[Change] = []
    added: set[AgentId] = set()
    why_short = _why(network.id, leaving, snapshot, down)
    refused = eligible.excluded_for(network.id)
    while len(staying) + len(added) < wanted:
        target = pick_target(candidates, load, exclude=known | added | refused)
        if target is None:
            break
        added.add(target.id)
        load.add(target.id)
        changes.append(
            Change(ChangeKind.ADD_NETWORK, ResourceType.NETWORK, network.id, None, target.id,
                   f"{why_short}; {target.host} is the least loaded live DHCP agent")
        )
    if living or added:
        for agent_id in leaving:
            load.add(agent_id, -1)
            changes.append(
                Change(ChangeKind.REMOVE_NETWORK, ResourceType.NETWORK, network.id, agent_id, None,
                       f"DHCP agent {snapshot.agents[agent_id].host} is {down[agent_id][0]}: {down[agent_id][1]}")
            )
    waits = bool(network.availability_zone_hints) and not candidates and (bool(leaving) or not living)
    return changes, waits


def _why(net_id: NetworkId, leaving: list[AgentId], snapshot: Snapshot,
         down: Mapping[AgentId, tuple[str, str]]) -> str:
    if leaving:
        hosts = ", ".join(snapshot.agents[a].host for a in leaving)
        states = " or ".join(sorted({down[a][0] for a in leaving}, reverse=True))
        return f"network served by {states} DHCP agent(s) {hosts}"
    return "network below its target number of live DHCP agents"
