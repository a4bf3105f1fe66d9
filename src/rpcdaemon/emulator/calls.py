"""Call accounting: every API call the emulated Neutron answered, and what it answered.

Why it exists: it records what a real server cannot tell, and what the tests, benchmarks and chaos judges check
rpcdaemon against: how many calls of each kind it cost a Neutron server, how many rows its lists made the server
read, and, call by call, who made it (X-Rpcdaemon-Member), when it arrived and when it was answered, with which
status, whether it was answered with a lie, and for a scheduling call whether its resource existed when the
server took it (the ground truth, whatever any list said).

`CallLog` is a part of `Cloud` (cloud.py), sharing its lock; the HTTP server (server.py) counts each call once it
is answered. The log is bounded (CALL_LOG_MAX) and a long run drains it as it goes.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

CALL_LOG_MAX = 200_000


@dataclass(frozen=True)
class Call:
    at: float
    """time.monotonic() when the answer was decided"""
    method: str
    pattern: str
    ids: tuple[str, ...]
    status: int
    """0: the connection was reset without an answer"""
    member: str | None
    """X-Rpcdaemon-Member header: which rpcdaemon made the call"""
    received: float | None = None
    """time.monotonic() when the request arrived (before any latency or injected delay): a write is decided by
    its client before this, `at` can be long after"""
    rows: int | None = None
    """A list answered 200: how many rows it held."""
    lie: str | None = None
    """A list answered with a lie: which (see faults.LIES)."""
    resource: str | None = None
    """A scheduling call (add or remove a network or router): the resource's id."""
    exists: bool | None = None
    """A scheduling call: the resource existed when the server took the call (the ground truth, whatever any list
    said)."""
    removal: Any = None
    """A removal: ports.RemovalFacts as the server took it (served elsewhere, wired here, the agent draining, an HA
    router, its active replica): the ground truth the chaos judges hold it to."""

    def as_dict(self) -> dict[str, Any]:
        return {"at": self.at, "method": self.method, "pattern": self.pattern, "ids": list(self.ids),
                "status": self.status, "member": self.member, "received": self.received, "rows": self.rows,
                "lie": self.lie, "resource": self.resource, "exists": self.exists,
                "removal": None if self.removal is None else vars(self.removal)}


class CallLog:
    """Counts by "METHOD pattern", rows served by list calls, and the log of Call records."""

    def __init__(self, lock: threading.RLock) -> None:
        self._lock = lock
        self._calls: Counter[str] = Counter()
        self._rows: Counter[str] = Counter()
        self._log: list[Call] = []

    def count(self, method: str, pattern: str, ids: tuple[str, ...], status: int, member: str | None,
              received: float | None = None, rows: int | None = None, lie: str | None = None,
              resource: str | None = None, exists: bool | None = None,
              removal: Any = None) -> None:
        with self._lock:
            self._calls[f"{method} {pattern}"] += 1
            if rows is not None:
                self._rows[f"{method} {pattern}"] += rows
            self._log.append(Call(time.monotonic(), method, pattern, ids, status, member, received, rows, lie,
                                  resource, exists, removal))
            if len(self._log) > CALL_LOG_MAX:
                del self._log[: CALL_LOG_MAX // 2]

    def counts(self) -> dict[str, int]:
        """Calls since the last reset, by "METHOD pattern"."""
        with self._lock:
            return dict(self._calls)

    def rows_served(self) -> dict[str, int]:
        """Rows answered by list calls since the last reset, by "METHOD pattern"."""
        with self._lock:
            return dict(self._rows)

    def drain(self) -> list[Call]:
        """Every call logged since the last drain, oldest first, and forget them."""
        with self._lock:
            calls, self._log = self._log, []
            return calls

    def reset(self) -> None:
        with self._lock:
            self._calls.clear()
            self._rows.clear()
            self._log.clear()

    def as_dicts(self) -> list[dict[str, Any]]:
        """Every call logged, oldest first, as dicts (Call.as_dict)."""
        with self._lock:
            return [c.as_dict() for c in self._log]
