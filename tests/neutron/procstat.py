"""CPU seconds of a process tree from /proc, for what a benchmark costs the real Neutron's processes (B10).

A server's cost is the CPU its processes burn, not the wall time of its answers (they wait on the database and on
each other). /proc/PID/stat holds each process's user and system time over all its threads, in clock ticks; a
worker that exited and was reaped moves its time into its parent's cutime/cstime, so a tree's total, taken as the
parent's four fields plus its live children's own two, does not go backwards when uWSGI respawns a worker.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

TICK_S = 1.0 / os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Stat:
    pid: int
    ppid: int
    utime_s: float
    stime_s: float
    cutime_s: float
    cstime_s: float

    @property
    def own_s(self) -> float:
        return self.utime_s + self.stime_s

    @property
    def reaped_s(self) -> float:
        return self.cutime_s + self.cstime_s


def read_stat(pid: int) -> Stat | None:
    """The process's times, or None when it is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # the command name (field 2) is in parentheses and may hold spaces: split after its closing one
    fields = raw[raw.rindex(")") + 2:].split()
    # fields[0] is field 3 (state): ppid is field 4, utime..cstime are fields 14..17
    ppid = int(fields[1])
    utime, stime, cutime, cstime = (int(f) * TICK_S for f in fields[11:15])
    return Stat(pid, ppid, utime, stime, cutime, cstime)


def children(parent: int) -> list[int]:
    """The live direct children of `parent` (scanning /proc: /proc/PID/task/*/children needs a kernel option)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            stat = read_stat(int(entry))
            if stat is not None and stat.ppid == parent:
                found.append(stat.pid)
    return sorted(found)


def tree_cpu_s(root: int) -> float:
    """CPU seconds of `root`, its reaped children and its live direct children (uWSGI: master and workers)."""
    top = read_stat(root)
    if top is None:
        raise ProcessLookupError(root)
    total = top.own_s + top.reaped_s
    for pid in children(root):
        stat = read_stat(pid)
        if stat is not None:
            total += stat.own_s
    return total
