"""Idle and slow clients on rpcdaemon's status port, from a process of their own.

Why: the status server faces whoever can reach it, and a client that connects and says nothing (or one byte a
second of a request that never ends) costs the daemon a socket and, with a thread per connection, a thread, for as
long as the client likes. A few hundred of them must not stop the control loop: the status server may degrade, the
passes may not. The clients live in another process so that their own sockets do not count against the daemon's
file-descriptor limit, as in life.

`python -m testkit.chaos.swarm HOST PORT IDLE SLOW SECONDS` holds the connections for SECONDS (or until killed),
then prints one JSON line: how many connected, how many the server refused or closed.
"""

from __future__ import annotations

import contextlib
import json
import resource
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence

CONNECT_TIMEOUT_S = 3.0
CONNECTORS = 200
"""Connections are opened by this many threads at once, each retrying at once after a failure: a server with a
short listen queue drops SYNs from one fast client, and a swarm is patient."""


def hold(host: str, port: int, idle: int, slow: int, seconds: float,
         progress: Callable[[dict[str, int]], None] | None = None) -> dict[str, int]:
    """Open `idle` silent connections and `slow` ones that trickle a request, keep them `seconds`, close them;
    `progress` gets the figures every second."""
    with contextlib.suppress(ValueError, OSError):  # the parent may run under a low limit: these sockets are ours
        _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    end = time.monotonic() + seconds
    figures = {"connected": 0, "failed": 0, "closed_by_server": 0}
    quiet: list[socket.socket] = []
    trickling: list[socket.socket] = []
    lock = threading.Lock()
    wanted = iter(range(idle + slow))

    def connect() -> None:
        while time.monotonic() < end:
            with lock:
                i = next(wanted, None)
            if i is None:
                return
            while time.monotonic() < end:
                try:
                    conn = socket.create_connection((host, port), timeout=CONNECT_TIMEOUT_S)
                except OSError:
                    with lock:
                        figures["failed"] += 1
                    continue
                with lock:
                    figures["connected"] += 1
                    (quiet if i < idle else trickling).append(conn)
                if i >= idle:
                    with contextlib.suppress(OSError):
                        conn.sendall(b"GET /status HTTP/1.1\r\nX-Slow: ")
                break

    connectors = [threading.Thread(target=connect, daemon=True) for _ in range(CONNECTORS)]
    for thread in connectors:
        thread.start()
    while time.monotonic() < end:
        with lock:
            slow_now = list(trickling)
        for conn in slow_now:
            try:
                conn.sendall(b"x")
            except OSError:
                with lock:
                    figures["closed_by_server"] += 1
                    trickling.remove(conn)
        if progress is not None:
            with lock:
                progress(dict(figures))
        time.sleep(min(1.0, max(0.0, end - time.monotonic())))  # the trickle's pace: one byte a second
    for thread in connectors:
        thread.join(CONNECT_TIMEOUT_S + 1)
    with lock:
        held = quiet + trickling
    for conn in held:
        with contextlib.suppress(OSError):
            conn.close()
    return figures


class HeldConnections:
    """How many connections the process serving local TCP `port` holds on it (accepted and not yet closed), from
    the kernel's socket tables: what a server pays for its clients, whatever its threads are called. Only the
    server's accepted ends have that local port and an inode; the tables stay open, so that counting needs no new
    descriptor (a process that has none left is exactly when it matters)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self._tables = []
        for name in ("/proc/net/tcp", "/proc/net/tcp6"):
            with contextlib.suppress(OSError):
                self._tables.append(open(name, "rb"))  # noqa: SIM115 - kept open on purpose (see above)

    def __call__(self) -> int | None:
        if not self._tables:
            return None
        held = 0
        try:
            for table in self._tables:
                table.seek(0)
                for row in table.read().decode("ascii", "replace").splitlines()[1:]:
                    fields = row.split()
                    local, state, inode = fields[1], fields[3], fields[9]
                    # 01 established, 08 close-wait (the client left, the server has not closed yet)
                    if state in ("01", "08") and inode != "0" and int(local.rsplit(":", 1)[1], 16) == self.port:
                        held += 1
        except (OSError, ValueError, IndexError):
            return None
        return held

    def close(self) -> None:
        for table in self._tables:
            table.close()
        self._tables = []


class Swarm:
    """One swarm process: started, then stopped (killed by its pid) at the latest when the run ends."""

    def __init__(self, host: str, port: int, idle: int, slow: int, seconds: float) -> None:
        self._args = [host, str(port), str(idle), str(slow), f"{seconds:.1f}"]
        self._proc: subprocess.Popen[str] | None = None
        self.figures: dict[str, int] = {}

    def start(self) -> Swarm:
        self._proc = subprocess.Popen([sys.executable, "-m", "testkit.chaos.swarm", *self._args],
                                      stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        return self

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def stop(self) -> None:
        proc = self._proc
        if proc is None:
            return
        if proc.poll() is None:
            proc.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            out, _ = proc.communicate(timeout=10)
            with contextlib.suppress(ValueError):  # the last figures it printed (each second, and at the end)
                self.figures = json.loads(out.strip().splitlines()[-1]) if out.strip() else {}


def main(argv: Sequence[str]) -> int:
    host, port, idle, slow, seconds = argv
    def show(figures: dict[str, int]) -> None:
        print(json.dumps(figures), flush=True)

    show(hold(host, int(port), int(idle), int(slow), float(seconds), show))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
