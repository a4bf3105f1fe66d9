"""Waiting for something to become true, with a deadline (tests never sleep to wait)."""

from __future__ import annotations

import time
from collections.abc import Callable


def poll(condition: Callable[[], bool], deadline_s: float, what: str, interval_s: float = 0.05) -> None:
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if condition():
            return
        time.sleep(interval_s)
    raise AssertionError(f"not within {deadline_s}s: {what}")
