"""procstat: the CPU of a process tree as B10 reads it for uWSGI's master and workers (no Neutron needed).

B10's figures are differences of this total: a worker's time must count while it lives and still count once it
exited and was reaped (uWSGI respawns workers), or a window would show the API cheaper than it was.
"""

from __future__ import annotations

import subprocess
import sys

from procstat import children, read_stat, tree_cpu_s

BURN_S = 0.3
# A parent that starts one child burning BURN_S of CPU, prints the child's PID, and waits on stdin; with "reap" it
# waits for the child first (its time moves into the parent's cutime), else it leaves the child blocked on stdin.
PARENT = f"""
import subprocess, sys
child = subprocess.Popen([sys.executable, "-c", '''
import sys, time
while time.process_time() < {BURN_S}:
    pass
print("burned", flush=True)
sys.stdin.read()
'''], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
print(child.pid, flush=True)
child.stdout.readline()
if sys.argv[1] == "reap":
    child.stdin.close()
    child.wait()
print("ready", flush=True)
sys.stdin.read()
child.kill()
"""


def run_parent(mode: str) -> tuple[subprocess.Popen[str], int]:
    parent = subprocess.Popen([sys.executable, "-c", PARENT, mode], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              text=True)
    assert parent.stdout is not None
    child = int(parent.stdout.readline())
    assert parent.stdout.readline().strip() == "ready"
    return parent, child


def finish(parent: subprocess.Popen[str]) -> None:
    assert parent.stdin is not None
    parent.stdin.close()
    parent.wait(timeout=30)


def test_a_live_child_counts_in_its_parents_tree() -> None:
    parent, child = run_parent("live")
    try:
        assert children(parent.pid) == [child]
        stat = read_stat(child)
        assert stat is not None and stat.ppid == parent.pid and stat.own_s >= BURN_S - 0.02
        assert tree_cpu_s(parent.pid) >= BURN_S - 0.02
    finally:
        finish(parent)


def test_a_reaped_child_still_counts_in_its_parents_tree() -> None:
    parent, child = run_parent("reap")
    try:
        assert read_stat(child) is None and children(parent.pid) == []
        top = read_stat(parent.pid)
        assert top is not None and top.reaped_s >= BURN_S - 0.02
        assert tree_cpu_s(parent.pid) >= BURN_S - 0.02
    finally:
        finish(parent)


def test_a_process_that_is_gone_has_no_stat() -> None:
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                          check=True)
    assert read_stat(int(done.stdout)) is None
