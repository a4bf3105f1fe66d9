"""The servers the tests start themselves (RabbitMQ, etcd, ZooKeeper, MariaDB, Neutron, fake agents, rpcdaemon):
free ports on 127.0.0.1, each a plain process in its own session, waited for until it answers, stopped by PID.

Why one way: a server is stopped through its process group, so its children (RabbitMQ's epmd, uWSGI's workers)
go with it, also when a test failed; the wait polls with a deadline (tests never sleep to wait) and fails at once,
with the end of the server's log, when the process died instead of answering, so a server that cannot start costs
seconds, not the whole deadline. `start` stops a server that did not come up before it raises, so a failed start
leaves nothing running.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on (bound, then released for the server to take)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def tail(path: Path, chars: int = 3000) -> str:
    """The end of a log, for an error message."""
    try:
        return path.read_text(errors="replace")[-chars:]
    except OSError:
        return "(no log)"


@dataclass
class Proc:
    """A process started by `spawn`: the leader of its own process group, its output appended to `log`."""

    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def signal(self, sig: int) -> None:
        """`sig` to the whole process group (nothing when the group is gone)."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, sig)

    def stop(self, timeout_s: float = 20) -> None:
        """SIGTERM (after SIGCONT: a paused process cannot handle it), SIGKILL after `timeout_s`, then SIGKILL to
        whatever of the group survived its leader."""
        self.signal(signal.SIGCONT)
        self.signal(signal.SIGTERM)
        try:
            self.popen.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.signal(signal.SIGKILL)
            self.popen.wait(timeout=10)
        self.signal(signal.SIGKILL)

    def kill(self) -> None:
        """SIGKILL to the group at once, as a machine losing power, and the leader reaped."""
        self.signal(signal.SIGKILL)
        self.popen.wait(timeout=10)


def spawn(name: str, cmd: Sequence[str], log: Path, env: dict[str, str] | None = None) -> Proc:
    """`cmd` in a session of its own, stdin closed, stdout and stderr appended to `log`, environment `env` over
    this process's."""
    with open(log, "ab") as out:  # the child has its own descriptor: ours is closed at once
        popen = subprocess.Popen(list(cmd), stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                 env={**os.environ, **(env or {})}, start_new_session=True)
    return Proc(name, popen, log)


def wait_for(condition: Callable[[], object], deadline_s: float, what: str, procs: Sequence[Proc] = (),
             interval_s: float = 0.2, error: type[Exception] = RuntimeError) -> None:
    """Poll until `condition()` is true, for at most `deadline_s`. A process of `procs` that exits fails at once,
    with the end of its log; a condition that raises counts as not yet (a server still starting refuses
    connections), and the last such error is shown if the deadline passes. Raises `error`."""
    end = time.monotonic() + deadline_s
    last: Exception | None = None
    while time.monotonic() < end:
        for proc in procs:
            if not proc.alive():
                raise error(f"{proc.name} exited ({proc.popen.returncode}) while waiting for {what}; end of "
                            f"{proc.log}:\n{tail(proc.log)}")
        try:
            if condition():
                return
        except Exception as exc:
            last = exc
        time.sleep(interval_s)
    raised = f" (the last check raised {type(last).__name__}: {last})" if last is not None else ""
    logs = "".join(f"\n--- {p.log}:\n{tail(p.log, 1500)}" for p in procs)
    raise error(f"not within {deadline_s}s: {what}{raised}{logs}")


def start(name: str, cmd: Sequence[str], log: Path, answers: Callable[[], object], deadline_s: float, what: str,
          env: dict[str, str] | None = None, interval_s: float = 0.2,
          error: type[Exception] = RuntimeError) -> Proc:
    """`spawn` a server and `wait_for` it to answer; one that died or did not answer in time is killed (its whole
    group) before `error` is raised."""
    proc = spawn(name, cmd, log, env)
    try:
        wait_for(answers, deadline_s, what, (proc,), interval_s, error)
    except BaseException:
        proc.kill()
        raise
    return proc
