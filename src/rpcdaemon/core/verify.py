"""Proof that a move serves: a resource rpcdaemon put on an agent counts as "verified" once that agent has wired it.

Neutron answers an add with 201 in about 10 ms whether or not the agent then serves the resource (neutron-ha-tool's
--wait-for-router waits for the router's ports to go ACTIVE for that reason). rpcdaemon remembers each landing
(resource, agent, since when) and checks it pass by pass, from the ports the agent's host has bound:
  - a router: one of its ports bound to that host is ACTIVE (an interface of a legacy router, the HA port of an HA
    replica, its gateway); a router with no port at all has nothing to wire and is verified as such;
  - a DHCP network: its DHCP port on that host is ACTIVE.
The reads stay cheap whatever the number of landings: the router ports and the DHCP ports of the hosts concerned
(one call per pass), plus, only for what is about to be called unverified, a second read of its own ports (a router
without any has nothing to wire; and one list that lies by omission must not be enough to move anything).
Within verify_timeout_s: "verified", with the time it took. Beyond it: "unverified": the resource is planned again
onto the next best agent (add first where that is possible), never back onto the one that failed it (remembered as a
refusal for UNVERIFIED_MEMORY_S), at most verify_attempts times; after that it is left where it is, with a note.
Unknown is not failure: while the ports cannot be read, nothing is decided.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from rpcdaemon.core.actions import Change, ChangeKind, ResourceType
from rpcdaemon.core.l3 import fits
from rpcdaemon.core.placement import Eligibility, Load, pick_target, restrict_to_zones
from rpcdaemon.core.policy import Policy
from rpcdaemon.core.safety import zone_of
from rpcdaemon.model import AgentId, NetworkId, Port, RouterId, Snapshot

UNVERIFIED_MEMORY_S = 3600.0
"""An agent that took a resource and never wired it is not offered that resource again for this long."""
ROUTER_OWNERS = ("network:router_interface", "network:router_ha_interface", "network:ha_router_replicated_interface",
                 "network:router_gateway", "network:router_centralized_snat")
DHCP_OWNER = "network:dhcp"


@dataclass(frozen=True, slots=True)
class Landing:
    resource_type: ResourceType
    resource_id: str
    agent_id: AgentId
    since: float

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
    snapshot_agents_hosts: Mapping[AgentId, str],
    landings: Mapping[tuple[ResourceType, str, AgentId], Landing],
    now: float,
    policy: Policy,
) -> PortWants:
    """The ports to read before the next plan, from what awaits proof (the shell asks before it plans)."""
    if policy.verify_timeout_s <= 0 or not landings:
        return PortWants()
    hosts = frozenset(snapshot_agents_hosts[a.agent_id] for a in landings.values()
                      if a.agent_id in snapshot_agents_hosts)
    due = [a for a in landings.values() if now - a.since >= policy.verify_timeout_s]
    devices = frozenset(a.resource_id for a in due if a.resource_type is ResourceType.ROUTER)
    networks = frozenset(a.resource_id for a in due if a.resource_type is ResourceType.NETWORK)
    return PortWants(hosts, devices, networks)


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
        if agent.host not in read.hosts:
            pending[key] = landing
            continue
        proof = _wired(landing, agent.host, read.ports)
        if proof:
            verified.append((landing, now - landing.since))
        elif now - landing.since < policy.verify_timeout_s:
            pending[key] = landing
        elif landing.resource_type is ResourceType.ROUTER:
            if landing.resource_id not in read.devices:
                pending[key] = landing  # read all its ports first: a router without any has nothing to wire
            elif not any(p.device_id == landing.resource_id for p in read.ports):
                verified.append((landing, now - landing.since))
            else:
                unverified.append(landing)
        elif landing.resource_id not in read.networks:
            pending[key] = landing  # read its DHCP ports on their own first
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
