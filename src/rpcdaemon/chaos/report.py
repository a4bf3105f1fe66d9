"""The figures of a chaos run and their printout: faults by kind, violations, actions, convergence, memory."""

from __future__ import annotations

import statistics
from collections import Counter
from dataclasses import dataclass, field

from rpcdaemon.chaos.memory import MemoryFigures


@dataclass
class ChaosReport:
    seed: int
    fault_s: float
    faults: Counter[str] = field(default_factory=Counter)
    violations: list[str] = field(default_factory=list)
    known: list[str] = field(default_factory=list)
    """Violations of a known defect (ChaosConfig.tolerated): reported, not failing."""
    changes: Counter[str] = field(default_factory=Counter)
    """rpcdaemon's changes by "action outcome"."""
    calls: Counter[str] = field(default_factory=Counter)
    """rpcdaemon's scheduling calls by "METHOD pattern status"."""
    change_bound: int = 0
    resources_at_risk: int = 0
    repairs_s: list[float] = field(default_factory=list)
    """For each agent killed while hosting something (flaps aside): heartbeats stopped -> all it hosted served
    again."""
    unrepaired: int = 0
    """Kills whose agent came back (or the run ended) before the repair was complete: not timed."""
    converged_s: float | None = None
    """Faults stopped (and one last agent of each type killed) -> every state invariant holds (None: not within
    the deadline)."""
    final_problems: list[str] = field(default_factory=list)
    over_target_networks: int = 0
    passes: int = 0
    pass_errors: int = 0
    memory: MemoryFigures | None = None
    wall_s: float = 0.0

    @property
    def total_changes(self) -> int:
        return sum(self.changes.values())

    @property
    def ok(self) -> bool:
        return not self.violations

    def render(self) -> str:
        lines = [f"chaos run: seed {self.seed}, faults for {self.fault_s:.0f}s, {self.wall_s:.0f}s in all, "
                 f"{self.passes} passes ({self.pass_errors} could not read the cloud)"]
        lines.append(f"faults injected: {sum(self.faults.values())}")
        lines += [f"  {kind:<34} {n}" for kind, n in sorted(self.faults.items())]
        lines.append(f"actions: {self.total_changes} changes (bound {self.change_bound}: "
                     f"{self.resources_at_risk} resources hosted by agents that died)")
        lines += [f"  {kind:<34} {n}" for kind, n in sorted(self.changes.items())]
        lines.append(f"scheduling calls: {sum(self.calls.values())}")
        lines += [f"  {kind:<50} {n}" for kind, n in sorted(self.calls.items())]
        if self.repairs_s:
            lines.append(f"repairs during the faults: {len(self.repairs_s)} timed, median "
                         f"{statistics.median(self.repairs_s):.1f}s, max {max(self.repairs_s):.1f}s from the last "
                         f"heartbeat ({self.unrepaired} not timed: the agent came back first)")
        else:
            lines.append(f"repairs during the faults: none timed ({self.unrepaired} not timed)")
        conv = "NOT CONVERGED" if self.converged_s is None else f"{self.converged_s:.1f}s"
        lines.append(f"convergence after the faults stopped (and a last kill): {conv}; DHCP networks above target: "
                     f"{self.over_target_networks}")
        lines += [f"  not converged: {p}" for p in self.final_problems[:10]]
        if self.memory is not None:
            m = self.memory
            heap = "" if m.heap_first_mb is None else (
                f"; heap first third {m.heap_first_mb:.1f} MB, last third {m.heap_last_mb:.1f} MB, "
                f"peak {m.heap_peak_mb:.1f} MB")
            lines.append(f"memory: RSS first third {m.first_third_mb:.1f} MB, last third {m.last_third_mb:.1f} MB, "
                         f"peak {m.peak_rss_mb:.1f} MB ({m.samples} samples){heap}")
        if self.known:
            lines.append(f"known defects (tolerated): {len(self.known)}")
            lines += [f"  KNOWN: {v}" for v in self.known[:5]]
        lines.append(f"invariant violations: {len(self.violations)}")
        lines += [f"  VIOLATION: {v}" for v in self.violations[:30]]
        return "\n".join(lines)
