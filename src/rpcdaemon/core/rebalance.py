"""Rebalancing: load flows back, slowly, to agents that came back or joined; only while nothing needs repair.

Neutron never moves a router or a network back: an agent that returns from a failure, or a new one, hosts nothing
while its peers are full, and stays so (kolla-ansible's docs on adding hosts say so). rpcdaemon moves load from the
most to the least loaded agent of one type and zone until they differ by at most one, at most
`rebalance_moves_per_minute` moves in any minute, and only in a calm cloud:
  - the plan has nothing to repair (the caller plans rebalancing only then: it never fights a failover);
  - no managed agent is dead, suspect, going quiet, recovering (in hold-down) or being drained;
  - only agents that may receive work (liveness.is_target: alive, admin up, not drained, not in a disrupted zone)
    take part, as sources and as targets.
What moves, and how: a *standby* replica of an HA router (add on the light agent, then remove: the router keeps its
active replica throughout; a replica whose ha_state is not known is never taken, and the plan asks for it in
`wants_ha_states`; one seen active there is not asked about again for UNMOVABLE_S, one in another state it may not
take for UNSETTLED_S: a cloud whose heavy agent holds the active replicas costs no reads pass after pass), a DHCP
network (handed over, core/handover.py: added, and removed from the heavy agent once the light one serves it; one
round of handovers at a time; it matters only with a number in dhcp_agents_per_network), and with `[L3Agent] rebalance
= all` a legacy router (remove, then add: an outage of seconds, hence opt-in).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from rpcdaemon.core.actions import Change, ChangeKind, ResourceType
from rpcdaemon.core.handover import Handover, start
from rpcdaemon.core.liveness import AgentLiveness, Verdict
from rpcdaemon.core.placement import Eligibility, known_networks, known_routers, restrict_to_zones
from rpcdaemon.core.policy import Policy
from rpcdaemon.core.safety import zone_of
from rpcdaemon.model import Agent, AgentId, NetworkId, RouterId, Snapshot

WINDOW_S = 60.0
WANT_HA_STATES = 20
"""At most this many routers' ha_state asked for per plan: one GET each, so a rebalance stays cheap."""
UNMOVABLE_S = 600.0
"""An HA replica seen active is left out of the candidates, and its router's ha_state unasked for it, for this long;
one seen in another state that may not be taken (standby with no other replica active, unknown, fault) for
UNSETTLED_S: that passes with a failover."""
UNSETTLED_S = 60.0
READY = frozenset({"active", "standby"})
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Rebalance:
    changes: tuple[Change, ...] = ()
    wants_ha_states: frozenset[RouterId] = frozenset()
    handovers: tuple[Handover, ...] = ()
    unmovable: Mapping[tuple[RouterId, AgentId], float] = field(default_factory=dict)
    """HA replicas (router, agent) seen not movable, and for how long to leave them out (see UNMOVABLE_S)."""


def calm(snapshot: Snapshot, verdicts: Mapping[AgentId, AgentLiveness]) -> str | None:
    """None when no managed agent is dead, suspect, going quiet, recovering or draining; else why not calm."""
    for agent in sorted(snapshot.agents.values(), key=lambda a: a.id):
        verdict = verdicts.get(agent.id)
        if not agent.is_managed or verdict is None:
            continue
        if verdict.verdict is not Verdict.ALIVE or verdict.quiet:
            state = "going quiet" if verdict.verdict is Verdict.ALIVE else verdict.verdict.value
            return f"{agent.agent_type} {agent.host} is {state}"
        if agent.draining:
            return f"{agent.agent_type} {agent.host} is being drained"
    return None


def allowance(starts: Sequence[float], now: float, policy: Policy) -> int:
    """How many rebalancing moves may start now: the per-minute rate less those started in the last minute."""
    return max(0, policy.rebalance_moves_per_minute - sum(1 for t in starts if now - t < WINDOW_S))


def plan_rebalance(
    snapshot: Snapshot,
    verdicts: Mapping[AgentId, AgentLiveness],
    policy: Policy,
    eligible: Eligibility,
    budget: int,
    now: float = 0.0,
    handing_over: bool = False,
    unmovable: Collection[tuple[RouterId, AgentId]] = frozenset(),
) -> Rebalance:
    """Up to `budget` moves that bring each (agent type, zone) group of target agents to max - min <= 1;
    `handing_over`: DHCP handovers are in flight (no new DHCP round until they end); `unmovable`: HA replicas left
    out (seen not movable lately)."""
    if budget <= 0 or calm(snapshot, verdicts) is not None:
        return Rebalance()
    changes: list[Change] = []
    wants: set[RouterId] = set()
    seen: dict[tuple[RouterId, AgentId], float] = {}
    if policy.manage_l3 and policy.l3_rebalance != "off" and snapshot.l3_bindings is not None:
        for group in _groups(snapshot, eligible, "L3 agent"):
            found, wanted, stuck = _balance_l3(snapshot, group, policy, eligible, budget - len(changes), unmovable)
            changes += found
            wants |= wanted
            seen.update(stuck)
    handovers: list[Handover] = []
    if (policy.manage_dhcp and policy.dhcp_rebalance and policy.dhcp_agents_per_network is not None
            and snapshot.dhcp_bindings is not None and not handing_over):
        for group in _groups(snapshot, eligible, "DHCP agent"):
            for heavy, light, net_id, why in _balance_dhcp(snapshot, group, eligible, budget - len(changes)):
                change, handover = start(net_id, heavy, light, now, why, snapshot)
                changes.append(change)
                handovers.append(handover)
    return Rebalance(tuple(changes), frozenset(sorted(wants)[:WANT_HA_STATES]), tuple(handovers), seen)


def _groups(snapshot: Snapshot, eligible: Eligibility, agent_type: str) -> list[list[Agent]]:
    by_zone: dict[str, list[Agent]] = {}
    for agent in snapshot.agents_of(agent_type):
        if agent.is_managed and agent.id in eligible.targets:
            by_zone.setdefault(zone_of(agent), []).append(agent)
    return [agents for _, agents in sorted(by_zone.items()) if len(agents) > 1]


def _balance_l3(
    snapshot: Snapshot, group: list[Agent], policy: Policy, eligible: Eligibility, budget: int,
    unmovable: Collection[tuple[RouterId, AgentId]],
) -> tuple[list[Change], set[RouterId], dict[tuple[RouterId, AgentId], float]]:
    """(moves, HA routers whose ha_state is wanted, HA replicas seen not movable with how long to leave them out)."""
    wants: set[RouterId] = set()
    stuck: dict[tuple[RouterId, AgentId], float] = {}

    def pick(heavy: Agent, light: Agent, router_id: str, bindings: Mapping[AgentId, set[str]]) -> Change | None:
        router = snapshot.routers.get(RouterId(router_id))
        if (router is None or router.distributed or light.id in eligible.excluded_for(router_id)
                or not restrict_to_zones([light], router.availability_zone_hints)):
            return None
        loads = f"{heavy.host} hosts {len(bindings[heavy.id])} routers, {light.host} {len(bindings[light.id])}"
        if router.ha:
            if (router.id, heavy.id) in unmovable:
                return None
            state = snapshot.ha_states.get(router.id, {}).get(heavy.id)
            if state is None:
                wants.add(router.id)
                return None
            if state != "standby" or not _ready_elsewhere(snapshot, router.id, heavy.id):
                stuck[(router.id, heavy.id)] = UNMOVABLE_S if state == "active" else UNSETTLED_S
                return None
            return Change(ChangeKind.SHIFT_HA_REPLICA, ResourceType.ROUTER, router_id, heavy.id, light.id,
                          f"rebalancing: {loads}; this replica is standby (the active one stays)")
        if policy.l3_rebalance == "all":
            return Change(ChangeKind.MOVE_ROUTER, ResourceType.ROUTER, router_id, heavy.id, light.id,
                          f"rebalancing (rebalance = all): {loads}; a legacy router is down for the seconds of its "
                          "move")
        return None

    table = snapshot.l3_bindings or {}
    moves = _balance(group, {a.id: known_routers(snapshot, table.get(a.id, ())) for a in group}, budget, pick)
    return [change for _, _, _, change in moves], wants, stuck


def _balance(
    group: list[Agent], bindings: dict[AgentId, set[str]], budget: int,
    pick: Callable[[Agent, Agent, str, Mapping[AgentId, set[str]]], T | None],
) -> list[tuple[AgentId, AgentId, str, T]]:
    """(heavy, light, resource, what `pick` made of it) for up to `budget` moves, each from the most loaded agent
    that has something `pick` accepts to the least loaded one, until max - min <= 1."""
    moves: list[tuple[AgentId, AgentId, str, T]] = []
    moved: set[str] = set()
    while len(moves) < budget:
        light = min(group, key=lambda a: (len(bindings[a.id]), a.id))
        found = None
        for heavy, resource_id in _offers(group, bindings, light, moved):
            made = pick(heavy, light, resource_id, bindings)
            if made is not None:
                found = (heavy.id, light.id, resource_id, made)
                break
        if found is None:
            break
        moved.add(found[2])
        bindings[found[0]].discard(found[2])
        bindings[found[1]].add(found[2])
        moves.append(found)
    return moves


def _offers(
    group: list[Agent], bindings: Mapping[AgentId, set[str]], light: Agent, moved: set[str]
) -> Iterator[tuple[Agent, str]]:
    """(source, resource) pairs that would narrow the spread, the most loaded sources first: every agent hosting at
    least two more than the least loaded one may give it what it does not host yet."""
    floor = len(bindings[light.id])
    for heavy in sorted(group, key=lambda a: (-len(bindings[a.id]), a.id)):
        if len(bindings[heavy.id]) - floor <= 1:
            return
        for resource_id in sorted(bindings[heavy.id] - bindings[light.id] - moved):
            yield heavy, resource_id


def _ready_elsewhere(snapshot: Snapshot, router_id: RouterId, leaving: AgentId) -> bool:
    """Another replica of the router is active: taking this standby one leaves the router forwarding."""
    states = snapshot.ha_states.get(router_id, {})
    return any(state == "active" for agent, state in states.items() if agent != leaving)


def _balance_dhcp(
    snapshot: Snapshot, group: list[Agent], eligible: Eligibility, budget: int
) -> list[tuple[AgentId, AgentId, str, str]]:
    """(heavy, light, network, why) for each network to hand over."""
    def pick(heavy: Agent, light: Agent, net_id: str, bindings: Mapping[AgentId, set[str]]) -> str | None:
        network = snapshot.networks.get(NetworkId(net_id))
        if (network is None or not network.dhcp or light.id in eligible.excluded_for(net_id)
                or not restrict_to_zones([light], network.availability_zone_hints)):
            return None
        return (f"rebalancing: {heavy.host} hosts {len(bindings[heavy.id])} networks, {light.host} "
                f"{len(bindings[light.id])}")

    table = snapshot.dhcp_bindings or {}
    return _balance(group, {a.id: known_networks(snapshot, table.get(a.id, ())) for a in group}, budget, pick)
