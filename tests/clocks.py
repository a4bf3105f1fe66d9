"""One fake clock for the tests: time that moves only when the test (or the code under test, through an injected
sleep) moves it.

Why: rpcdaemon takes its clocks as arguments (agent liveness, hold-downs, the bus watch, coordination leases, the
executor's retries and fence), so "75 seconds later" happens at once, no test sleeps, and no result depends on
how fast the machine is. Read it by calling it, as time.monotonic; `now` is a plain attribute a test may also set.
"""

from __future__ import annotations


class FakeClock:
    def __init__(self, start: float = 1_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds

    def sleep(self, seconds: float) -> None:
        """As an injected `sleep`: the time passes at once, nothing waits."""
        self.advance(seconds)
