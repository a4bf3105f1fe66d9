"""rpcdaemon replicas as operators run them: one `rpcdaemon -d -c FILE` process each, read through /status.

Each replica gets its own config (same cloud, same coordination group, its own status port and audit log) and its
own process group, so SIGKILL takes it down as a dead controller would.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

from servers import free_port, spawn

RPCDAEMON = [sys.executable, "-m", "rpcdaemon.cli.main"]
LEASE_S = 3


class Replica:
    def __init__(self, name: str, folder: Path, endpoint: str, coordination_url: str, extra: str = "",
                 lease_s: float = LEASE_S) -> None:
        self.name = name
        self.port = free_port()
        self.conf = folder / f"{name}.conf"
        self.log_path = folder / f"{name}.log"
        self.conf.write_text(
            "[Daemon]\nplugins = L3Agent DHCPAgent\n"
            f"neutron_endpoint = {endpoint}\nagent_down_time = 3\ncheck_interval = 0.5\nhold_down = 5\n"
            f"max_concurrency = 2\nstatus_listen = 127.0.0.1:{self.port}\n"
            f"coordination_url = {coordination_url}\ncoordination_lease = {lease_s}\n"
            f"audit_log = {folder / (name + '.audit.jsonl')}\n{extra}\n"
        )
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Replica:
        self.proc = spawn(self.name, [*RPCDAEMON, "-d", "-c", str(self.conf)], self.log_path,
                          env={"RPCDAEMON_MEMBER": self.name}).popen
        return self

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def status(self) -> dict[str, Any] | None:
        """This replica's /status, or None while it does not answer."""
        if not self.running:
            return None
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/status", timeout=2) as answer:
                return dict(json.loads(answer.read()))
        except (OSError, ValueError):
            return None

    def signal(self, sig: signal.Signals) -> None:
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, sig)

    def kill(self) -> None:
        self.signal(signal.SIGKILL)
        if self.proc is not None:
            self.proc.wait(10)

    def terminate(self) -> int:
        self.signal(signal.SIGTERM)
        assert self.proc is not None
        return self.proc.wait(30)

    def log(self) -> str:
        with contextlib.suppress(OSError):
            return self.log_path.read_text(errors="replace")[-4000:]
        return ""

    def audit(self) -> list[dict[str, Any]]:
        path = self.conf.parent / f"{self.name}.audit.jsonl"
        with contextlib.suppress(OSError):
            return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        return []


def views(replicas: list[Replica]) -> dict[str, dict[str, Any]]:
    """The /status of every running replica that answers."""
    out = {}
    for replica in replicas:
        status = replica.status()
        if status is not None:
            out[replica.name] = status
    return out


def agreed_leader(replicas: list[Replica]) -> str | None:
    """The leader every running replica names, when they all answer, agree, and the leader acts; else None."""
    running = [r for r in replicas if r.running]
    seen = views(running)
    if len(seen) != len(running) or not seen:
        return None
    leaders = {s["leader"] for s in seen.values()}
    members = {tuple(sorted(m["id"] for m in s["members"])) for s in seen.values()}
    if len(leaders) != 1 or len(members) != 1 or None in leaders:
        return None
    leader = leaders.pop()
    if leader not in seen or not seen[leader]["acting"]:
        return None
    if sorted(members.pop()) != sorted(r.name for r in running):
        return None
    return str(leader)
