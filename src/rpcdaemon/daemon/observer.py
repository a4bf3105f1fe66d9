"""The one way to watch the loop from outside: each plan before it is carried out, each change's result, each
pass's report.

The demo narrates through it, the chaos rig judges through it, the benchmarks time through it; the daemon itself
needs none. Subclass `Observer` and override what you need: the base does nothing. Calls come from the loop's
thread (results from the executor's workers, one at a time per resource): keep them short and never raise.
"""

from __future__ import annotations

from rpcdaemon.core.plan import Plan
from rpcdaemon.daemon.executor import ChangeResult
from rpcdaemon.daemon.report import PassReport
from rpcdaemon.model import Snapshot


class Observer:
    def on_plan(self, plan: Plan, snapshot: Snapshot) -> None:
        """A plan about to be carried out (only on the replica that acts)."""

    def on_result(self, result: ChangeResult) -> None:
        """One change done, failed, refused or skipped."""

    def on_pass(self, report: PassReport) -> None:
        """A pass ended (also one that could not read the cloud)."""


NOBODY = Observer()
"""The observer of a daemon nobody watches."""
