"""How a pass reads the cloud: in full every `resync_interval`, else the agents list plus what was named.

The rules of what to read are pure (core/cache.py: read_kind and the snapshot updates, core/vanish.py: what a
list left out); this module carries them out against the Neutron client and keeps the cached snapshot.
A full read is forced at start, after a bus reconnect (messages sent meanwhile are lost), when this replica starts
acting, when the bus and the API begin to disagree, when more resources were named than targeted reads are worth,
and after a reload. Between full reads, a pass costs one GET /agents, plus a few calls per named resource, plus one
call per agent that is to be evacuated (its bindings are re-read before anything is taken from it).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import replace

from rpcdaemon.adapters.bus.named import NamedResources
from rpcdaemon.adapters.neutron.client import NeutronClient
from rpcdaemon.core.actions import Call, ChangeOutcome, ResourceType
from rpcdaemon.core.cache import (
    ReadKind,
    read_kind,
    resync_period,
    with_agent_bindings,
    with_agents,
    with_network,
    with_own_calls,
    with_router,
)
from rpcdaemon.core.plan import CoreState
from rpcdaemon.core.policy import Policy
from rpcdaemon.core.vanish import find_vanished, to_confirm
from rpcdaemon.daemon.executor import ChangeResult
from rpcdaemon.model import AgentId, NetworkId, RouterId, Snapshot

LOG = logging.getLogger("rpcdaemon")
OK_OUTCOMES = (ChangeOutcome.DONE, ChangeOutcome.ALREADY)
ROW_COST_S = 0.002
"""API CPU per row of a list on a real Neutron 29 (bench B10: 1.1-2.6 ms for networks, subnets, routers, bindings)."""


def rows_of(snapshot: Snapshot) -> int:
    """The rows a full read returns: agents, networks, their DHCP subnets, routers, bindings."""
    return (len(snapshot.agents) + len(snapshot.networks) + sum(1 for n in snapshot.networks.values() if n.dhcp)
            + len(snapshot.routers) + sum(len(v) for v in (snapshot.dhcp_bindings or {}).values())
            + sum(len(v) for v in (snapshot.l3_bindings or {}).values()))


class CloudReader:
    def __init__(
        self, client: NeutronClient, policy: Policy, resync_s: float | None = 0.0, with_bus: bool = False,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.policy = policy
        self.resync_s = resync_s
        """0: every pass reads everything (the behaviour before the cache, kept for `plan` and direct use);
        None: the default period, which grows with the cost of a full read (core/cache.py: resync_period)."""
        self.with_bus = with_bus
        self._clock = clock
        self.last_full_read_s: float | None = None
        self.agents_read_at: float | None = None
        """When the last agents list arrived: liveness is judged as of then, not when the rest of the read ended
        (a slow full read must not let a hold-down end on time no agents list covered)."""
        self.named = NamedResources()
        self._cache: Snapshot | None = None
        self._last_full_at: float | None = None
        self._forced: set[str] = set()
        self._lock = threading.Lock()
        self.full_reads = 0
        self.last_kind: ReadKind | None = None

    def force_full(self, reason: str, now: float | None = None, unless_within_s: float = 0.0) -> None:
        """The next pass reads everything (unless a full read was made within `unless_within_s` of `now`)."""
        last = self._last_full_at
        if now is not None and last is not None and 0 <= now - last < unless_within_s:
            return
        with self._lock:
            self._forced.add(reason)

    def read(self, state: CoreState, now: float) -> Snapshot:
        names, overflow = self.named.take()
        with self._lock:
            forced = set(self._forced) | ({"more resources named than worth reading one by one"} if overflow else set())
            self._forced.clear()
        period = self.period()
        kind = read_kind(now, self._last_full_at, period, forced) if period > 0 else ReadKind.FULL
        try:
            if kind is ReadKind.FULL or self._cache is None:
                kind = ReadKind.FULL
                started = self._clock()
                listed = self.client.fetch_agents()
                self.agents_read_at = self._clock()
                snapshot = self.client.fetch_snapshot(dhcp=self.policy.manage_dhcp, l3=self.policy.manage_l3,
                                                      agents=listed)
                # what the read cost the API, at least: its duration, or its rows at what a row costs a real
                # Neutron (the duration alone shrinks on an API with more workers, the CPU does not)
                self.last_full_read_s = max(self._clock() - started, ROW_COST_S * rows_of(snapshot))
                if forced:
                    LOG.debug("full read: %s", "; ".join(sorted(forced)))
            else:
                snapshot = self._read_named(self._cache, names)
        except Exception:
            with self._lock:  # what was named or forced is not lost with a failed read
                self._forced |= forced
            for name in names:
                self.named.add(*name)
            raise
        networks, agents = to_confirm(find_vanished(snapshot, state.agent_types))
        if networks or agents:
            snapshot = replace(snapshot, confirmed=self.client.confirm(networks, agents))
            for network_id in snapshot.confirmed.present_networks:  # the list left it out: read it by name next
                self.named.add("network", network_id)
        self._cache = replace(snapshot, confirmed=type(snapshot.confirmed)())
        if kind is ReadKind.FULL:
            self._last_full_at = now
            self.full_reads += 1
        self.last_kind = kind
        return snapshot

    def _read_named(self, cached: Snapshot, names: Iterable[tuple[str, str]]) -> Snapshot:
        agents = self.client.fetch_agents()
        self.agents_read_at = self._clock()
        snapshot, unknown = with_agents(cached, agents)
        if unknown:
            dhcp = [a for a in unknown if snapshot.agents[a].is_dhcp and self.policy.manage_dhcp]
            l3 = [a for a in unknown if snapshot.agents[a].is_l3 and self.policy.manage_l3]
            snapshot = with_agent_bindings(snapshot, *self.client.fetch_bindings(dhcp, l3))
        for kind, resource_id in sorted(names):
            if kind == "network" and snapshot.dhcp_bindings is not None:
                snapshot = with_network(snapshot, self.client.fetch_network(NetworkId(resource_id)))
            elif kind == "router" and snapshot.l3_bindings is not None:
                snapshot = with_router(snapshot, self.client.fetch_router(RouterId(resource_id)))
        return snapshot

    def period(self) -> float:
        return resync_period(self.resync_s, self.with_bus, self.last_full_read_s)

    @property
    def cached(self) -> bool:
        """Was the last snapshot built from the cache (then whatever it takes from an agent is re-read first)?"""
        return self.last_kind is ReadKind.AGENTS

    def refresh_agents(self, snapshot: Snapshot, agent_ids: Iterable[AgentId]) -> Snapshot:
        """Re-read the bindings of the agents a plan takes from (the ones to be evacuated): one call each."""
        ids = sorted(set(agent_ids) & set(snapshot.agents))
        dhcp = [a for a in ids if snapshot.agents[a].is_dhcp and snapshot.dhcp_bindings is not None]
        l3 = [a for a in ids if snapshot.agents[a].is_l3 and snapshot.l3_bindings is not None]
        fresh = with_agent_bindings(snapshot, *self.client.fetch_bindings(dhcp, l3))
        if self._cache is not None:
            self._cache = with_agent_bindings(self._cache, *self.client_bindings_of(fresh, dhcp, l3))
        return fresh

    @staticmethod
    def client_bindings_of(
        snapshot: Snapshot, dhcp: list[AgentId], l3: list[AgentId]
    ) -> tuple[dict[AgentId, frozenset[NetworkId]], dict[AgentId, frozenset[RouterId]]]:
        return ({a: (snapshot.dhcp_bindings or {}).get(a, frozenset()) for a in dhcp},
                {a: (snapshot.l3_bindings or {}).get(a, frozenset()) for a in l3})

    def after_changes(self, results: Iterable[ChangeResult]) -> None:
        """Apply what Neutron accepted to the cache; re-read at the next pass what did not complete."""
        accepted: list[Call] = []
        for result in results:
            if result.outcome in OK_OUTCOMES:
                accepted.extend(result.change.calls())
            elif result.outcome is not ChangeOutcome.PLANNED and result.change.resource_type is not ResourceType.AGENT:
                self.named.add(result.change.resource_type.value, result.change.resource_id)
        if accepted and self._cache is not None:
            self._cache = with_own_calls(self._cache, accepted)
