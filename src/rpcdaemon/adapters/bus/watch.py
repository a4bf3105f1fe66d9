"""What the bus tells the daemon: when each agent was last heard, and which resources just changed.

Heartbeats are timed with rpcdaemon's own clock (the agent's `time` field is never trusted). Notifications only
say WHICH resource to look at: each one wakes the daemon for a pass that re-reads the truth from the API, so a
duplicate costs nothing, a lost one is repaired by the periodic resync, and one with a revision_number lower than
already seen for its resource is stale: counted and dropped. Bus heartbeats count as a liveness signal only once
the bus has been listened to for a whole dead period: before that, silence on it is not evidence.

The table of heard hosts is bounded: anyone on the bus can invent host names, and agents are deleted and renamed
over the years. A host unheard for FORGET_AFTER_DEAD_PERIODS dead periods is forgotten unless the API still lists
an agent of it (forgetting such an agent would turn "bus silent, API alive" from suspect into alive), and the table
never holds more than MAX_HOSTS entries: beyond that the least recently heard goes first.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter, OrderedDict
from collections.abc import Callable, Mapping

from rpcdaemon.adapters.bus.envelope import BusMessage
from rpcdaemon.core.cadence import bus_is_evidence, next_silence
from rpcdaemon.model import AgentId, BusKind, Snapshot

LOG = logging.getLogger("rpcdaemon.bus")
MAX_REVISIONS = 100_000
MAX_HOSTS = 100_000
FORGET_AFTER_DEAD_PERIODS = 10
RELEVANT_PREFIXES = ("network.", "subnet.", "router.", "agent.", "dhcp_agent.", "l3_agent.")


class BusWatch:
    def __init__(self, clock: Callable[[], float], wake: Callable[[], None], max_hosts: int = MAX_HOSTS) -> None:
        self._clock = clock
        self._wake = wake
        self._lock = threading.Lock()
        self._heard: OrderedDict[tuple[str, str], float] = OrderedDict()
        """(host, agent_type) -> when last heard, least recently heard first."""
        self._max_hosts = max(1, max_hosts)
        self._pruned_at: float | None = None
        self._revisions: OrderedDict[tuple[str, str], int] = OrderedDict()
        self.counts: Counter[str] = Counter()
        self.listening_since: float | None = None

    def connected(self) -> None:
        """(Re)connected: messages sent while away are lost, so resync now; bus silence is evidence again only
        after a whole dead period of listening."""
        with self._lock:
            self.listening_since = self._clock()
            self._heard.clear()
        self._wake()

    def disconnected(self) -> None:
        with self._lock:
            self.listening_since = None

    def on_message(self, message: BusMessage) -> None:
        if message.kind == BusKind.HEARTBEAT and message.host and message.agent_type:
            key = (message.host, message.agent_type)
            with self._lock:
                self._heard[key] = self._clock()
                self._heard.move_to_end(key)
                while len(self._heard) > self._max_hosts:
                    self._heard.popitem(last=False)
            self.counts[BusKind.HEARTBEAT] += 1
            if message.start_flag:
                LOG.info("%s on %s (re)started", message.agent_type, message.host)
            return
        if message.kind != BusKind.NOTIFICATION or not message.event_type:
            self.counts[BusKind.OTHER] += 1
            return
        self.counts[BusKind.NOTIFICATION] += 1
        if not message.event_type.startswith(RELEVANT_PREFIXES) or message.event_type.endswith(".start"):
            return  # a *.start event announces a change not made yet: its *.end wakes the pass that matters
        if message.resource_type and message.resource_id and message.revision_number is not None:
            key = (message.resource_type, message.resource_id)
            with self._lock:
                last = self._revisions.get(key)
                if last is not None and message.revision_number < last:
                    self.counts["stale"] += 1
                    LOG.debug("stale %s for %s %s (revision %d < %d): dropped", message.event_type, *key,
                              message.revision_number, last)
                    return
                self._revisions[key] = message.revision_number
                self._revisions.move_to_end(key)
                while len(self._revisions) > MAX_REVISIONS:
                    self._revisions.popitem(last=False)
        LOG.debug("%s for %s %s: reconciling", message.event_type, message.resource_type, message.resource_id)
        self._wake()

    def heard_for(self, snapshot: Snapshot, dead_after_s: float) -> Mapping[AgentId, float] | None:
        """Last-heard times by agent id, or None while the bus cannot be trusted as a liveness signal."""
        with self._lock:
            self._prune(snapshot, dead_after_s)
            if not bus_is_evidence(self.listening_since, self._clock(), dead_after_s):
                return None
            # An agent never heard (its heartbeats do not reach this exchange) is judged on the API alone.
            return {
                agent.id: self._heard[(agent.host, agent.agent_type)]
                for agent in snapshot.agents.values()
                if (agent.host, agent.agent_type) in self._heard
            }

    def next_expiry(self, dead_after_s: float) -> float | None:
        """When the next heard agent falls silent for a whole dead period (to look at once, not at the next poll)."""
        now = self._clock()
        with self._lock:
            heard = list(self._heard.values())
        return next_silence(heard, now, dead_after_s)

    @property
    def hosts_heard(self) -> int:
        with self._lock:
            return len(self._heard)

    def _prune(self, snapshot: Snapshot, dead_after_s: float) -> None:
        """Forget hosts unheard for FORGET_AFTER_DEAD_PERIODS dead periods that the API no longer lists; a scan at
        most once per dead period (called with the lock held, from each pass)."""
        now = self._clock()
        if self._pruned_at is not None and 0 <= now - self._pruned_at < dead_after_s:
            return
        self._pruned_at = now
        horizon = now - FORGET_AFTER_DEAD_PERIODS * dead_after_s
        listed = {(agent.host, agent.agent_type) for agent in snapshot.agents.values()}
        for key in [k for k, t in self._heard.items() if t < horizon and k not in listed]:
            del self._heard[key]
