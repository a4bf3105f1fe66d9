"""When a list answer leaves things out: a lie is never a reason to remove anything.

One well-formed HTTP 200 `{"networks": []}` (a half-restored database behind a load balancer, a list cut short, a
wrong project) once removed every DHCP binding from every live agent. So a resource, or an agent, missing from a
list is only *vanished*; it is *gone* when a read of that one resource answers 404. Until then:
  - nothing is removed because of it;
  - when many vanish in one read (more than `MASS_VANISH_MIN` and more than `MASS_VANISH_FRACTION` of what the
    agents host), the read itself is taken for a lie: no single-resource reads are spent on it, the plugin's
    changes are held and an error is reported until a read looks whole again;
  - when a single-resource read shows that something the list left out exists, the list lied: the plugin's
    changes are held likewise;
  - an agent that vanished is remembered (its observation kept) until a read of it answers 404, and its type's
    changes are held meanwhile: a list that lost an agent makes its resources look unhosted.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from rpcdaemon.model import AgentId, NetworkId, RouterId, Snapshot

MASS_VANISH_MIN = 3
MASS_VANISH_FRACTION = 0.10
MAX_CONFIRMATIONS_PER_PASS = 100
"""Single-resource reads spent per pass on vanished resources (the rest wait for the next pass)."""


def is_mass_vanish(vanished: int, total: int) -> bool:
    return vanished > MASS_VANISH_MIN and vanished > MASS_VANISH_FRACTION * total


@dataclass(frozen=True, slots=True)
class Vanished:
    """What the lists of this read leave out."""

    networks: frozenset[NetworkId]
    """Networks some agent hosts (per the binding lists) that the network list does not hold."""
    hosted_networks: int
    routers: frozenset[RouterId]
    hosted_routers: int
    agents: frozenset[AgentId]
    """Agents observed before that the agents list does not hold (and no read has shown gone)."""
    known_agents: int

    @property
    def mass_networks(self) -> bool:
        return is_mass_vanish(len(self.networks), self.hosted_networks)

    @property
    def mass_routers(self) -> bool:
        return is_mass_vanish(len(self.routers), self.hosted_routers)

    @property
    def mass_agents(self) -> bool:
        return is_mass_vanish(len(self.agents), self.known_agents)


def find_vanished(snapshot: Snapshot, known_agents: Collection[AgentId]) -> Vanished:
    hosted_networks = {n for nets in (snapshot.dhcp_bindings or {}).values() for n in nets}
    hosted_routers = {r for routers in (snapshot.l3_bindings or {}).values() for r in routers}
    networks = hosted_networks - set(snapshot.networks) if snapshot.dhcp_bindings is not None else set()
    routers = hosted_routers - set(snapshot.routers) if snapshot.l3_bindings is not None else set()
    agents = set(known_agents) - set(snapshot.agents) - snapshot.confirmed.gone_agents
    return Vanished(
        frozenset(networks), len(hosted_networks), frozenset(routers), len(hosted_routers),
        frozenset(agents), len(set(known_agents) | set(snapshot.agents)),
    )


def to_confirm(vanished: Vanished) -> tuple[list[NetworkId], list[AgentId]]:
    """Which vanished networks and agents to read one by one: none when so many vanished that the list itself is
    the suspect (reading them would not make it trustworthy), and a bounded number per pass otherwise."""
    networks = [] if vanished.mass_networks else sorted(vanished.networks)[:MAX_CONFIRMATIONS_PER_PASS]
    agents = [] if vanished.mass_agents else sorted(vanished.agents)[:MAX_CONFIRMATIONS_PER_PASS]
    return networks, agents


@dataclass(frozen=True, slots=True)
class ReadTrust:
    """What a plan may do given what the lists left out."""

    removable_networks: frozenset[NetworkId]
    """Vanished networks whose bindings may be removed: each confirmed gone by a 404."""
    hold_dhcp: bool
    hold_l3: bool
    alarms: tuple[str, ...]
    """Errors: the read is not trusted (shown in /status, logged at ERROR)."""
    notes: tuple[str, ...]
    reread: bool = False
    """The lists left out what exists or what agents host: whatever else they hid is in the cached snapshot too,
    so read everything again soon (a lie must not be kept until the next periodic full read)."""


def assess_read(snapshot: Snapshot, vanished: Vanished, agent_types: dict[AgentId, str]) -> ReadTrust:
    """`agent_types`: the type of every agent known, including the vanished ones (from the last read of them)."""
    confirmed = snapshot.confirmed
    alarms: list[str] = []
    notes: list[str] = []
    hold_dhcp = hold_l3 = False

    lied_networks = vanished.networks & confirmed.present_networks
    if vanished.mass_networks:
        hold_dhcp = True
        alarms.append(f"UNTRUSTED READ: {len(vanished.networks)} of {vanished.hosted_networks} hosted networks "
                      "missing from the network list: holding every DHCP change")
    elif lied_networks:
        hold_dhcp = True
        alarms.append(f"UNTRUSTED READ: the network list left out {len(lied_networks)} network(s) that exist "
                      f"(e.g. {sorted(lied_networks)[0]}): holding every DHCP change")
    if vanished.mass_routers:
        hold_l3 = True
        alarms.append(f"UNTRUSTED READ: {len(vanished.routers)} of {vanished.hosted_routers} hosted routers "
                      "missing from the router list: holding every L3 change")

    lost = sorted(vanished.agents)
    if vanished.mass_agents:
        hold_dhcp = hold_l3 = True
        alarms.append(f"UNTRUSTED READ: {len(lost)} of {vanished.known_agents} known agents missing from the "
                      "agents list: holding every change")
    elif lost:
        types = {agent_types.get(a) for a in lost}
        hold_dhcp = hold_dhcp or "DHCP agent" in types
        hold_l3 = hold_l3 or "L3 agent" in types
        lied = [a for a in lost if a in confirmed.present_agents]
        kind = "left out although it exists" if lied else "missing from the agents list, not (yet) shown deleted"
        held = ", ".join(sorted(t for t in types if t))
        notes.append(f"agent(s) {', '.join(lost[:5])} {kind}: holding changes of {held}")

    removable = frozenset() if hold_dhcp else vanished.networks & confirmed.gone_networks
    waiting = vanished.networks - removable - lied_networks
    if waiting and not vanished.mass_networks:
        notes.append(f"{len(waiting)} network(s) missing from the network list but not (yet) shown deleted: "
                     "their bindings stay")
    reread = bool(alarms) or bool(lied_networks) or bool(vanished.routers)
    return ReadTrust(removable, hold_dhcp, hold_l3, tuple(alarms), tuple(notes), reread)
