"""A real etcd cluster (Debian's etcd-server) on 127.0.0.1, started by the tests and stopped by PID.

Three members on free ports, data under a temporary folder. A member can be stopped and started again with its
data (a controller losing its etcd), so the tests can take quorum away and give it back.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import urllib.request
from pathlib import Path

from servers import Proc, free_port, spawn, tail, wait_for

ETCD = shutil.which("etcd") or "/usr/bin/etcd"


class EtcdCluster:
    def __init__(self, size: int = 3) -> None:
        if not os.path.exists(ETCD):
            raise RuntimeError(f"{ETCD} not found: ./dev test installs Debian's etcd-server package")
        self.base = Path(tempfile.mkdtemp(prefix="rpcd-etcd-"))
        self.names = [f"m{i}" for i in range(size)]
        self.client_ports = {n: free_port() for n in self.names}
        self.peer_ports = {n: free_port() for n in self.names}
        self.procs: dict[str, Proc] = {}
        self.token = f"rpcd-{os.getpid()}"

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.client_ports[name]}"

    def tooz_url(self, name: str) -> str:
        return f"etcd3+http://127.0.0.1:{self.client_ports[name]}"

    def start_member(self, name: str) -> None:
        initial = ",".join(f"{n}=http://127.0.0.1:{self.peer_ports[n]}" for n in self.names)
        self.procs[name] = spawn(
            f"etcd {name}",
            [ETCD, "--name", name, "--data-dir", str(self.base / name),
             "--listen-client-urls", self.url(name), "--advertise-client-urls", self.url(name),
             "--listen-peer-urls", f"http://127.0.0.1:{self.peer_ports[name]}",
             "--initial-advertise-peer-urls", f"http://127.0.0.1:{self.peer_ports[name]}",
             "--initial-cluster", initial, "--initial-cluster-token", self.token,
             "--initial-cluster-state", "new", "--listen-metrics-urls", "",
             "--heartbeat-interval", "100", "--election-timeout", "1000"],
            self.base / f"{name}.log",
        )

    def start(self) -> EtcdCluster:
        """Every member, healthy; members that did not come up are stopped (their logs kept) before the error."""
        for name in self.names:
            self.start_member(name)
        try:
            self.wait_healthy(self.names)
        except BaseException:
            for name in self.names:
                self.stop_member(name)
            raise
        return self

    def healthy(self, name: str) -> bool:
        """The member answers and the cluster has a leader (a linearizable read through this member succeeds)."""
        try:
            req = urllib.request.Request(self.url(name) + "/v3/kv/range", data=json.dumps({"key": "Zm9v"}).encode(),
                                         method="POST")
            with urllib.request.urlopen(req, timeout=1) as answer:
                return bool(answer.status == 200)
        except OSError:
            return False

    def wait_healthy(self, names: list[str], deadline_s: float = 60) -> None:
        """Every member of `names` healthy; one that exits meanwhile fails at once, with its log."""
        procs = [self.procs[n] for n in names if n in self.procs]
        wait_for(lambda: all(self.healthy(n) for n in names), deadline_s, f"etcd members {names} healthy", procs,
                 interval_s=0.1)

    def log(self, name: str) -> str:
        return tail(self.base / f"{name}.log")

    def stop_member(self, name: str) -> None:
        proc = self.procs.pop(name, None)
        if proc is not None:
            proc.kill()

    def start_gateway(self) -> str:
        """`etcd gateway`: a TCP proxy over every member, as a controller runs beside rpcdaemon (tooz's etcd3gw
        driver takes one endpoint; through the gateway a stopped member is passed over)."""
        port = free_port()
        endpoints = ",".join(f"127.0.0.1:{self.client_ports[n]}" for n in self.names)
        self.procs[f"gateway-{port}"] = spawn(
            f"etcd gateway {port}",
            [ETCD, "gateway", "start", "--endpoints", endpoints, "--listen-addr", f"127.0.0.1:{port}",
             "--retry-delay", "1s"],
            self.base / f"gateway-{port}.log",
        )
        return f"etcd3+http://127.0.0.1:{port}"

    def restart_member(self, name: str) -> None:
        self.start_member(name)

    def stop(self) -> None:
        for name in list(self.procs):
            self.stop_member(name)
        shutil.rmtree(self.base, ignore_errors=True)
