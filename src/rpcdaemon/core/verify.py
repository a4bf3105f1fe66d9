"""Proof that a move serves: a resource rpcdaemon put on an agent counts as "verified" once that agent has wired it.

Neutron answers an add with 201 in about 10 ms whether or not the agent then serves the resource (neutron-ha-tool's
--wait-for-router waits for the router's ports to go ACTIVE for that reason). rpcdaemon remembers each landing
(resource, agent, since when) and checks it pass by pass, from the ports the agent's host has bound:
  - a router: one of its ports bound to that host is ACTIVE (an interface of a legacy router, the HA port of an HA
    replica, its gateway); a router with no port at all has nothing to wire and is verified as such;
  - a DHCP network: its DHCP port on that host is ACTIVE.
The reads stay cheap whatever the number of landings and whatever a host holds. Per host, one of two reads, by
the share of what it holds that awaits proof:
  - the host's router and DHCP ports in one call, when what awaits proof there is at least half of what the host
    hosts (after an evacuation onto it: a thousand landings, one call);
  - else the landings' own ports (a router's ports by device_id, a network's DHCP ports by network_id, 40 per call):
    one router moved onto a host with 10,000 DHCP networks reads a few rows, not 10,000 (Neutron pays for each row).
Overdue landings are always read by their own ports too. An overdue landing is decided only when two passes in a
row, each with its own ports read, found it unwired: then it is unverified (or, for a router that has no port at
all, verified: nothing to wire). One answer that lies by omission must not be enough to move or to forget anything.
Within verify_timeout_s: "verified", with the time it took. Beyond it: "unverified": the resource is planned again
onto the next best agent (add first where that is possible), never back onto the one that failed it (remembered as a
refusal for UNVERIFIED_MEMORY_S), at most verify_attempts times; after that it is left where it is, with a note.
Unknown is not failure: while the ports cannot be read, nothing is decided.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace

from rpcdaemon.core.actions import Change, ChangeKind, ResourceType
from rpcdaemon.core.l3 import fits
from rpcdaemon.core.placement import (
    Eligibility,
    Load,
    known_networks,
    known_routers,
    pick_target,
    restrict_to_zones,
)
from rpcdaemon.core.policy import Policy
from rpcdaemon.core.safety import zone_of
from rpcdaemon.model import AgentId, NetworkId, Port, RouterId, Snapshot

UNVERIFIED_MEMORY_S = 3600.0
"""An agent that took a resource and never wired it is not offered that resource again for this long."""
ROUTER_OWNERS = ("network:router_interface", "network:router_ha_interface", "network:ha_router_replicated_interface",
                 "network:router_gateway", "network:router_centralized_snat")
DHCP_OWNER = "network:dhcp"
HOST_READ_SHARE = 0.5
"""A host's ports are read whole when at least this share of what it holds awaits proof; else by what awaits (0:
always whole, as before 2026-11-30; bench/b9_verify.py's baseline)."""


@dataclass(frozen=True, slots=True)
class Landing:
    resource_type: ResourceType
    resource_id: str
    agent_id: AgentId
    since: float
    doubted: bool = False
    """Overdue and seen unwired by a read of its own ports once: the next such read calls it unverified."""

    @property
    def key(self) -> tuple[ResourceType, str, AgentId]:
        return (self.resource_type, self.resource_id, self.agent_id)


@dataclass(frozen=True, slots=True)
class PortWants:
    """What the shell reads before a plan: the router and DHCP ports bound to `hosts`, all ports of `devices`
    (routers), the DHCP ports of `networks`."""

    hosts: frozenset[str] = frozenset()
    devices: frozenset[str] = frozenset()
    networks: frozenset[str] = frozenset()

    def __bool__(self) -> bool:
        return bool(self.hosts or self.devices or self.networks)


@dataclass(frozen=True, slots=True)
class Verification:
    verified: tuple[tuple[Landing, float], ...] = ()
    """Each landing proven this plan, with the seconds it took."""
    unverified: tuple[Landing, ...] = ()
    pending: Mapping[tuple[ResourceType, str, AgentId], Landing] | None = None
    """What still waits for proof (None: as before)."""
    changes: tuple[Change, ...] = ()
    """The unverified resources, planned again."""
    notes: tuple[str, ...] = ()


def record_landings(
    landings: Mapping[tuple[ResourceType, str, AgentId], Landing],
    added: Iterable[tuple[ResourceType, str, AgentId]],
    now: float,
) -> dict[tuple[ResourceType, str, AgentId], Landing]:
    """The adds Neutron accepted this pass join the landings awaiting proof (a second landing of one resource on one
    agent restarts its clock)."""
    result = dict(landings)
    for resource_type, resource_id, agent_id in added:
        if resource_type is not ResourceType.AGENT:
            landing = Landing(resource_type, resource_id, agent_id, now)
            result[landing.key] = landing
    return result


def wants_ports(
    snapshot: Snapshot,
    landings: Mapping[tuple[ResourceType, str, AgentId], Landing],
    now: float,
    policy: Policy,
) -> PortWants:
    """The ports to read before the next plan, from what awaits proof (the shell asks before it plans): per host the
    cheaper read (see the module's docstring), and the own ports of every overdue landing."""
    if policy.verify_timeout_s <= 0 or not landings:
        return PortWants()
    host_of = {a.id: a.host for a in snapshot.agents.values()}
    awaiting: dict[str, list[Landing]] = {}
    for landing in landings.values():
        if landing.agent_id in host_of:
            awaiting.setdefault(host_of[landing.agent_id], []).append(landing)
    hosted = _hosted_per_host(snapshot)
    hosts = frozenset(h for h, waiting in awaiting.items() if len(waiting) >= HOST_READ_SHARE * hosted.get(h, 0))
    own = [landing for h, waiting in awaiting.items() if h not in hosts for landing in waiting]
    own += [a for a in landings.values() if now - a.since >= policy.verify_timeout_s]
    devices = frozenset(a.resource_id for a in own if a.resource_type is ResourceType.ROUTER)
    networks = frozenset(a.resource_id for a in own if a.resource_type is ResourceType.NETWORK)
    return PortWants(hosts, devices, networks)


def _hosted_per_host(snapshot: Snapshot) -> dict[str, int]:
    """Listed routers and networks bound to each host's agents: the rows a read of the host's ports would bring."""
    counts: dict[str, int] = {}
    for table, known in ((snapshot.l3_bindings, known_routers), (snapshot.dhcp_bindings, known_networks)):
        for agent_id, hosted in (table or {}).items():
            agent = snapshot.agents.get(agent_id)
            if agent is not None:
                counts[agent.host] = counts.get(agent.host, 0) + len(known(snapshot, hosted))
    return counts


def verify(
    snapshot: Snapshot,
    landings: Mapping[tuple[ResourceType, str, AgentId], Landing],
    failures: Mapping[str, int],
    now: float,
    policy: Policy,
    eligible: Eligibility,
) -> Verification:
    """Judge every landing against the ports read for this plan; plan the unverified ones again."""
    if not landings:
        return Verification()
    if policy.verify_timeout_s <= 0:
        return Verification(pending={})
    read = snapshot.ports
    if read is None:
        return Verification()
    hosting_l3 = snapshot.l3_agents_of_router()
    hosting_dhcp = snapshot.dhcp_agents_of_network()
    verified: list[tuple[Landing, float]] = []
    unverified: list[Landing] = []
    pending: dict[tuple[ResourceType, str, AgentId], Landing] = {}
    for key, landing in landings.items():
        agent = snapshot.agents.get(landing.agent_id)
        if agent is None or not _still_bound(landing, hosting_l3, hosting_dhcp, snapshot):
            continue  # superseded: the binding is gone (moved on, deleted, evacuated)
        own_read = landing.resource_id in (read.devices if landing.resource_type is ResourceType.ROUTER
                                           else read.networks)
        if agent.host not in read.hosts and not own_read:
            pending[key] = landing
            continue
        if _wired(landing, agent.host, read.ports):
            verified.append((landing, now - landing.since))
        elif now - landing.since < policy.verify_timeout_s or not own_read:
            pending[key] = landing  # in time; or overdue, and its own ports are read next (core/verify.py)
        elif not landing.doubted:
            pending[key] = replace(landing, doubted=True)  # once more: one answer's omission decides nothing
        elif (landing.resource_type is ResourceType.ROUTER
              and not any(p.device_id == landing.resource_id for p in read.ports)):
            verified.append((landing, now - landing.since))  # a router without any port has nothing to wire
        else:
            unverified.append(landing)
    changes, notes = _again(snapshot, unverified, failures, policy, eligible)
    return Verification(tuple(verified), tuple(unverified), pending, tuple(changes), tuple(notes))


def _still_bound(landing: Landing, hosting_l3: Mapping[RouterId, set[AgentId]],
                 hosting_dhcp: Mapping[NetworkId, set[AgentId]], snapshot: Snapshot) -> bool:
    if landing.resource_type is ResourceType.ROUTER:
        return landing.agent_id in hosting_l3.get(RouterId(landing.resource_id), set())
    network = snapshot.networks.get(NetworkId(landing.resource_id))
    return (network is not None and network.dhcp
            and landing.agent_id in hosting_dhcp.get(NetworkId(landing.resource_id), set()))


def _wired(landing: Landing, host: str, ports: Iterable[Port]) -> bool:
    if landing.resource_type is ResourceType.ROUTER:
        return any(p.device_id == landing.resource_id and p.host == host and p.status == "ACTIVE"
                   and p.device_owner in ROUTER_OWNERS for p in ports)
    return any(p.network_id == landing.resource_id and p.host == host and p.status == "ACTIVE"
               and p.device_owner == DHCP_OWNER for p in ports)


def _again(
    snapshot: Snapshot, unverified: list[Landing], failures: Mapping[str, int], policy: Policy,
    eligible: Eligibility,
) -> tuple[list[Change], list[str]]:
    """Each unverified resource onto the next best agent, never the one that failed it: a legacy router moves
    (remove, then add), an HA replica and a DHCP network are added elsewhere first."""
    changes: list[Change] = []
    notes: list[str] = []
    l3_load = Load.of_routers(snapshot)
    dhcp_load = Load.of_networks(snapshot)
    for landing in unverified:
        failed = snapshot.agents[landing.agent_id]
        tries = failures.get(landing.resource_id, 0) + 1
        kind = landing.resource_type.value
        if tries > policy.verify_attempts:
            notes.append(f"{kind} {landing.resource_id} unverified on {tries} agents in a row (the last "
                         f"{failed.host}): left where it is; see the agents' logs")
            continue
        excluded = eligible.excluded_for(landing.resource_id) | {landing.agent_id}
        why = (f"unverified: {failed.host} took the {kind} {policy.verify_timeout_s:.0f}s ago and has not wired "
               f"it (attempt {tries} of {policy.verify_attempts})")
        if landing.resource_type is ResourceType.ROUTER:
            router = snapshot.routers.get(RouterId(landing.resource_id))
            if router is None:
                continue
            hosts = snapshot.l3_agents_of_router().get(router.id, set())
            candidates = [a for a in restrict_to_zones(
                [a for a in snapshot.agents_of(failed.agent_type) if a.id in eligible.targets and fits(router, a)],
                router.availability_zone_hints) if a.id not in excluded and a.id not in hosts]
            target = pick_target(candidates, l3_load, exclude=set(), preferred_zone=zone_of(failed))
            action = ChangeKind.SHIFT_HA_REPLICA if router.ha else ChangeKind.MOVE_ROUTER
            load = l3_load
        else:
            network = snapshot.networks.get(NetworkId(landing.resource_id))
            if network is None:
                continue
            hosts = snapshot.dhcp_agents_of_network().get(network.id, set())
            candidates = [a for a in restrict_to_zones(
                [a for a in snapshot.agents_of(failed.agent_type) if a.id in eligible.targets],
                network.availability_zone_hints) if a.id not in excluded and a.id not in hosts]
            target = pick_target(candidates, dhcp_load, exclude=set())
            action = ChangeKind.SHIFT_NETWORK
            load = dhcp_load
        if target is None:
            notes.append(f"{kind} {landing.resource_id} unverified on {failed.host}; no other fitting agent to try")
            continue
        load.add(target.id)
        changes.append(Change(action, landing.resource_type, landing.resource_id, landing.agent_id, target.id,
                              f"{why}; {target.host} is the next best agent"))
    return changes, notes
