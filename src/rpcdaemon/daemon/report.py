"""A pass's report: what was read, planned and done, or why nothing could be (the error).

One plain value per pass: the loop publishes it to its observer, the status document and the metrics are made
from it, and tests and benchmarks read it instead of reaching into the reconciler.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from rpcdaemon.core.plan import Plan
from rpcdaemon.daemon.executor import ChangeResult
from rpcdaemon.model import PassOutcome, Snapshot


@dataclass(frozen=True, slots=True)
class PassReport:
    started_at: float
    """Wall-clock start (for display only)."""
    duration_s: float
    snapshot: Snapshot | None = None
    plan: Plan | None = None
    results: list[ChangeResult] = field(default_factory=list)
    error: str | None = None

    @property
    def outcome(self) -> PassOutcome:
        if self.error:
            return PassOutcome.ERROR
        if any(not r.ok for r in self.results):
            return PassOutcome.PARTIAL
        return PassOutcome.OK
