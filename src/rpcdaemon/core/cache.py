"""The cloud as last read in full, kept current by targeted reads: what makes a pass cost O(changes), not O(cloud).

A full read of a real Neutron with 1,000 networks costs its API about 8.65 s of CPU (every list builds every
object, `fields=` or not). Reading it every check_interval kept one API worker busy all the time. So the whole
cloud is read only every `resync_interval` (and at start, after a bus reconnect, on taking leadership, when the
bus and the API disagree); in between a pass reads the agents list (cheap), plus exactly what something named:
the resource of a notification, the bindings of a new agent or of one that is to be evacuated. Those answers
replace their part of this cached snapshot; rpcdaemon's own successful changes are applied to it too.

Everything here is pure: a snapshot in, a snapshot out.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import TypeVar

from rpcdaemon.core.actions import Call, apply_calls
from rpcdaemon.model import Agent, AgentId, Network, NetworkId, Router, RouterId, Snapshot

K = TypeVar("K", NetworkId, RouterId)
V = TypeVar("V", Network, Router)


class ReadKind(StrEnum):
    FULL = "full"
    """Every agent, binding, network and router."""
    AGENTS = "agents"
    """The agents list, plus targeted reads of what was named."""


RESYNC_WITH_BUS = (200.0, 300.0, 3600.0)
"""With a bus: 200 x the last full read's duration, within 300 s .. 1 h (the read costs the API at most ~0.5%)."""
RESYNC_WITHOUT_BUS = (40.0, 60.0, 900.0)
"""Without: 40 x, within 60 s .. 15 min (~2.5%: new networks wait for their copies until the next full read)."""


def resync_period(configured: float | None, with_bus: bool, last_full_read_s: float | None) -> float:
    """How long between full reads. A full read of a real Neutron costs its API about 10 ms of CPU per network and
    per binding (bench B10: 10.7 s at 1,000 networks on 3 DHCP agents and 600 routers), so a fixed period would
    cost a large cloud a whole API worker or leave a small one needlessly stale: by default the period grows with
    what the last full read took. Agent deaths never wait for it (the agents list is read every check_interval);
    it repairs what a lost notification or an out-of-band change hid."""
    if configured is not None:
        return configured
    factor, least, most = RESYNC_WITH_BUS if with_bus else RESYNC_WITHOUT_BUS
    return min(most, max(least, factor * (last_full_read_s or 0.0)))


def read_kind(now: float, last_full_at: float | None, resync_s: float, forced: Collection[str]) -> ReadKind:
    """A full read at start, when one is forced (a reason given), and every `resync_s`; else the agents list."""
    if last_full_at is None or forced or now - last_full_at >= resync_s or now < last_full_at:
        return ReadKind.FULL
    return ReadKind.AGENTS


def with_agents(cached: Snapshot, agents: Mapping[AgentId, Agent]) -> tuple[Snapshot, list[AgentId]]:
    """The cached snapshot with a fresh agents list; and the agents whose bindings it does not know (new ones).

    Bindings of agents missing from the fresh list are kept: a list that lost an agent proves nothing
    (core/vanish.py decides what that means)."""
    unknown: list[AgentId] = []
    for agent in agents.values():
        table = cached.dhcp_bindings if agent.is_dhcp else cached.l3_bindings if agent.is_l3 else None
        if table is not None and agent.id not in table:
            unknown.append(agent.id)
    return replace(cached, agents=dict(agents)), sorted(unknown)


def with_agent_bindings(
    cached: Snapshot, dhcp: Mapping[AgentId, frozenset[NetworkId]], l3: Mapping[AgentId, frozenset[RouterId]]
) -> Snapshot:
    """Replace the bindings of the agents read."""
    return replace(
        cached,
        dhcp_bindings={**cached.dhcp_bindings, **dhcp} if cached.dhcp_bindings is not None else None,
        l3_bindings={**cached.l3_bindings, **l3} if cached.l3_bindings is not None else None,
    )


@dataclass(frozen=True, slots=True)
class NetworkRead:
    """One network read on its own: None when it answered 404 (deleted), else itself and its DHCP agents."""

    network_id: NetworkId
    network: Network | None
    hosts: frozenset[AgentId] = frozenset()


@dataclass(frozen=True, slots=True)
class RouterRead:
    router_id: RouterId
    router: Router | None
    hosts: frozenset[AgentId] = frozenset()


def with_network(cached: Snapshot, read: NetworkRead) -> Snapshot:
    """The network as read now: in the list (or not, when deleted) and on exactly the agents that host it."""
    networks = _with_row(cached.networks, read.network_id, read.network)
    return replace(cached, networks=networks,
                   dhcp_bindings=_with_hosts(cached.dhcp_bindings, read.network_id, read.hosts))


def with_router(cached: Snapshot, read: RouterRead) -> Snapshot:
    routers = _with_row(cached.routers, read.router_id, read.router)
    return replace(cached, routers=routers, l3_bindings=_with_hosts(cached.l3_bindings, read.router_id, read.hosts))


def _with_row(rows: Mapping[K, V], key: K, row: V | None) -> dict[K, V]:
    updated = dict(rows)
    if row is None:
        updated.pop(key, None)
    else:
        updated[key] = row
    return updated


def _with_hosts(
    bindings: Mapping[AgentId, frozenset[K]] | None, key: K, hosts: frozenset[AgentId]
) -> dict[AgentId, frozenset[K]] | None:
    if bindings is None:
        return None
    return {agent: (ids | {key}) if agent in hosts else (ids - {key}) for agent, ids in bindings.items()}


def with_own_calls(cached: Snapshot, calls: Iterable[Call]) -> Snapshot:
    """rpcdaemon's own calls that Neutron accepted, applied to the cache (the next full read checks them)."""
    return apply_calls(cached, calls)
