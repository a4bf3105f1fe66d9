"""The figures of a chaos run and their printout: faults by kind, violations (counted by rule), actions,
convergence, what the API cost (rows read, lies told), pass pace, the status port under a swarm, memory."""

from __future__ import annotations

import statistics
from collections import Counter
from dataclasses import dataclass, field

from testkit.chaos.memory import MemoryFigures


@dataclass
class ChaosReport:
    seed: int
    fault_s: float
    faults: Counter[str] = field(default_factory=Counter)
    violations: list[str] = field(default_factory=list)
    kinds: list[str] = field(default_factory=list)
    """The rule each violation broke, in the same order (invariants.KINDS and run.py's own)."""
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
    rows_read: int = 0
    """Rows of every list rpcdaemon read (what its reads cost the server)."""
    lies: Counter[str] = field(default_factory=Counter)
    """Lies rpcdaemon was told, by "lie pattern"."""
    hinted: int = 0
    pace_peak: int = 0
    pace_window_s: float = 2.0
    pace_bound: int | None = None
    bursts: list[tuple[int, int]] = field(default_factory=list)
    """Per notification burst: (notifications, passes in the 3 s from its start)."""
    swarm_threads: list[int] = field(default_factory=list)
    """Per client swarm: the most threads above the level before it."""
    swarm_held: list[int] = field(default_factory=list)
    """Per client swarm: the most connections the process held on its status port at once."""
    swarms: list[dict[str, int]] = field(default_factory=list)
    fd_limit: int | None = None
    fds_peak: int = 0
    """The most file descriptors the process held at once (sampled)."""

    def add(self, kind: str, text: str) -> None:
        self.violations.append(text)
        self.kinds.append(kind)

    def tolerate(self, prefixes: tuple[str, ...]) -> None:
        """Violations starting with one of `prefixes` move to `known`."""
        if not prefixes:
            return
        kept = [(k, v) for k, v in zip(self.kinds, self.violations, strict=True) if not v.startswith(prefixes)]
        self.known = [v for v in self.violations if v.startswith(prefixes)]
        self.kinds = [k for k, _ in kept]
        self.violations = [v for _, v in kept]

    def by_kind(self) -> Counter[str]:
        return Counter(self.kinds)

    @property
    def total_changes(self) -> int:
        return sum(self.changes.values())

    @property
    def rows_per_minute(self) -> float:
        return self.rows_read / (self.wall_s / 60) if self.wall_s > 0 else 0.0

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
        lies = sum(self.lies.values())
        lines.append(f"API: {self.rows_read} rows read ({self.rows_per_minute:.0f} per minute); {lies} lies told "
                     f"to rpcdaemon; {self.hinted} resources with zone hints at the start")
        lines += [f"  lie {kind:<46} {n}" for kind, n in sorted(self.lies.items())]
        bound = "none" if self.pace_bound is None else str(self.pace_bound)
        lines.append(f"pace: at most {self.pace_peak} passes in {self.pace_window_s:g}s (bound {bound}); "
                     f"notification bursts (notifications, passes in the 3 s from its start): {self.bursts}")
        if self.swarms or self.swarm_threads:
            connected = [s.get("connected", 0) for s in self.swarms]
            lines.append(f"status port: {len(self.swarms)} client swarms (clients connected {connected}, "
                         f"connections held by rpcdaemon {self.swarm_held}, threads above the level before "
                         f"{self.swarm_threads}); file descriptors: at most {self.fds_peak} held, "
                         f"limit {self.fd_limit}")
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
        lines += [f"  {kind:<40} {n}" for kind, n in sorted(self.by_kind().items())]
        shown: Counter[str] = Counter()
        for kind, text in zip(self.kinds, self.violations, strict=True):  # the first few of each rule
            shown[kind] += 1
            if shown[kind] <= 4:
                lines.append(f"  VIOLATION [{kind}]: {text}")
        return "\n".join(lines)
