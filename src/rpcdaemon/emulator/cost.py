"""The cost model: list answers as slow as a real Neutron server's.

Why it exists: what rpcdaemon costs a Neutron server is mostly the rows its lists make the server read, and how long
a full read takes decides how it must be paced; an emulator that answers a 1,000-network list in a millisecond
would hide both. So a list answer can take base + rows x row cost (Neutron 29 on 2 cores, one uWSGI worker,
measured about 1-2 ms per network row and 1 ms per router row), optionally through a bounded number of workers,
as a server with that many API worker processes. Off by default. The cost is slept outside the cloud's lock, by
the thread answering the call; the settings (row_cost_s, list_base_s, api_workers) are fields of `Cloud`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable


def check_cost(row_cost_s: float | None, list_base_s: float | None, api_workers: int | None) -> None:
    """ValueError unless each given setting is valid (None: not given)."""
    for name, value in (("row_cost_s", row_cost_s), ("list_base_s", list_base_s)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)
                                  or not value >= 0):
            raise ValueError(f"{name} must be a number >= 0")
    if api_workers is not None and (isinstance(api_workers, bool) or not isinstance(api_workers, int)
                                    or api_workers < 0):
        raise ValueError("api_workers must be an integer >= 0")


class ApiWorkers:
    """The server's API workers: at most `n` list answers pay their cost at once (0: no bound)."""

    def __init__(self) -> None:
        self._n = 0
        self._slots: threading.BoundedSemaphore | None = None

    def slots(self, n: int) -> threading.BoundedSemaphore | None:
        """The bound for `n` workers, made anew when n changed (the caller holds the cloud's lock)."""
        if n != self._n:
            self._n = n
            self._slots = threading.BoundedSemaphore(n) if n else None
        return self._slots


def pay(cost: float, slots: threading.BoundedSemaphore | None, sleep: Callable[[float], None]) -> None:
    """Sleep `cost` seconds, holding one of `slots` meanwhile when there is a bound."""
    if cost <= 0:
        return
    if slots is None:
        sleep(cost)
        return
    with slots:
        sleep(cost)
