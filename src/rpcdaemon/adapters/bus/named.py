"""Resources named by bus notifications, waiting for the next pass to read them one by one.

A notification only says WHICH network or router changed; the pass reads that one (a few small calls) instead of
the whole cloud, which is what keeps the steady state cheap on Neutron (core/cache.py). The set is bounded: past
`limit` names the next pass does a full read instead, which is cheaper than hundreds of single reads and loses
nothing. A duplicate or stale notification costs one targeted read at most, never a wrong action.
"""

from __future__ import annotations

import threading

from rpcdaemon.adapters.bus.envelope import BusMessage
from rpcdaemon.model import BusKind

KINDS = ("network", "router")


class NamedResources:
    def __init__(self, limit: int = 200) -> None:
        self._limit = limit
        self._lock = threading.Lock()
        self._names: set[tuple[str, str]] = set()
        self._overflow = False

    def note(self, message: BusMessage) -> None:
        if message.kind != BusKind.NOTIFICATION or message.resource_type not in KINDS or not message.resource_id:
            return
        with self._lock:
            if len(self._names) >= self._limit:
                self._overflow = True
                return
            self._names.add((message.resource_type, message.resource_id))

    def add(self, kind: str, resource_id: str) -> None:
        """A resource rpcdaemon itself wants re-read (a change of its that did not complete)."""
        with self._lock:
            self._names.add((kind, resource_id))

    def take(self) -> tuple[set[tuple[str, str]], bool]:
        """(the names noted since the last take, whether some were dropped: then a full read is due)."""
        with self._lock:
            names, overflow = self._names, self._overflow
            self._names, self._overflow = set(), False
        return names, overflow
