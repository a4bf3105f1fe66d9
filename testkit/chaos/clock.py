"""A monotonic clock whose reading can be jumped: what rpcdaemon sees after a suspend, a VM stall or an NTP step.

rpcdaemon takes its clock as a callable, so a chaos run hands it this one and moves it forward (or back) while the
rest of the world (the emulated cloud, the call log) keeps real time.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class JumpClock:
    def __init__(self, base: Callable[[], float] = time.monotonic, start: float | None = None) -> None:
        """`start`: what the clock reads now (None: the base's reading)."""
        self._base = base
        self._offset = 0.0 if start is None else start - base()
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self._base() + self._offset

    def jump(self, seconds: float) -> None:
        with self._lock:
            self._offset += seconds

    @property
    def offset(self) -> float:
        with self._lock:
            return self._offset
