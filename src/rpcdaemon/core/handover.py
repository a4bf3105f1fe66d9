"""Handing a DHCP network from one live agent to another without a gap: add, wait for proof, then remove.

A rebalance or a drain moves a network off an agent that serves it. Adding the new binding and removing the old one
in one breath leaves the network without a working DHCP server until the new agent has wired it (its dnsmasq up,
its port ACTIVE): the chaos suite found a rebalance doing so while the network's other binding was on an agent
that never wired anything. So the move is a handover in two steps across passes: the add (step one, an ordinary
ADD_NETWORK, which verification then watches as a landing), and the removal from the old agent (step two) only once
that landing is proven (core/verify.py) or, with verification off, at the next pass. A landing found unverified
ends the handover: the old binding stays (verification moves the new one on). A handover whose add never shows up
is given up after HANDOVER_EXPIRY_S.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass

from rpcdaemon.core.actions import Change, ChangeKind, ResourceType
from rpcdaemon.model import AgentId, NetworkId, Snapshot

HANDOVER_EXPIRY_S = 300.0

Key = tuple[ResourceType, str, AgentId]


@dataclass(frozen=True, slots=True)
class Handover:
    network: str
    from_agent: AgentId
    to_agent: AgentId
    since: float
    why: str
    """What it is for: "rebalancing: ..." or "draining net-3"."""


def start(network: str, from_agent: AgentId, to_agent: AgentId, now: float, why: str,
          snapshot: Snapshot) -> tuple[Change, Handover]:
    """Step one: the add, and the handover that remembers whose binding goes once the new one serves."""
    source, target = snapshot.agents[from_agent].host, snapshot.agents[to_agent].host
    change = Change(ChangeKind.ADD_NETWORK, ResourceType.NETWORK, network, None, to_agent,
                    f"{why}: {target} first; off {source} once {target} serves it")
    return change, Handover(network, from_agent, to_agent, now, why)


def finish(
    snapshot: Snapshot,
    handovers: Mapping[tuple[str, AgentId], Handover],
    pending: Collection[Key],
    unverified: Collection[Key],
    now: float,
) -> tuple[list[Change], dict[tuple[str, AgentId], Handover]]:
    """Step two for each handover whose new binding is proven (or not watched: verification off, or the add found it
    already there); the others wait, or end (the network or the old binding gone, the new binding unverified, the
    add never seen for HANDOVER_EXPIRY_S)."""
    hosting = snapshot.dhcp_agents_of_network()
    changes: list[Change] = []
    waiting: dict[tuple[str, AgentId], Handover] = {}
    for key, handover in handovers.items():
        hosts = hosting.get(NetworkId(handover.network), set())
        landing = (ResourceType.NETWORK, handover.network, handover.to_agent)
        if NetworkId(handover.network) not in snapshot.networks or handover.from_agent not in hosts:
            continue
        if landing in unverified:
            continue
        if handover.to_agent not in hosts or landing in pending or now <= handover.since:
            if now - handover.since < HANDOVER_EXPIRY_S:
                waiting[key] = handover
            continue
        source = snapshot.agents.get(handover.from_agent)
        target = snapshot.agents.get(handover.to_agent)
        changes.append(Change(
            ChangeKind.REMOVE_NETWORK, ResourceType.NETWORK, handover.network, handover.from_agent, None,
            f"{handover.why}: {target.host if target else handover.to_agent} serves the network now; off "
            f"{source.host if source else handover.from_agent}"))
    return changes, waiting

