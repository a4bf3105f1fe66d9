"""A real etcd cluster (Debian's etcd-server) on 127.0.0.1, started by the tests and stopped by PID.

Three members on free ports, data under a temporary folder. A member can be stopped and started again with its
data (a controller losing its etcd), so the tests can take quorum away and give it back.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

from bus.rabbit import free_port

ETCD = shutil.which("etcd") or "/usr/bin/etcd"


class EtcdCluster:
    def __init__(self, size: int = 3) -> None:
        if not os.path.exists(ETCD):
            raise RuntimeError(f"{ETCD} not found: ./dev test installs Debian's etcd-server package")
        self.base = Path(tempfile.mkdtemp(prefix="rpcd-etcd-"))
        self.names = [f"m{i}" for i in range(size)]
        self.client_ports = {n: free_port() for n in self.names}
        self.peer_ports = {n: free_port() for n in self.names}
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.token = f"rpcd-{os.getpid()}"

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.client_ports[name]}"

    def tooz_url(self, name: str) -> str:
        return f"etcd3+http://127.0.0.1:{self.client_ports[name]}"

    def start_member(self, name: str) -> None:
        initial = ",".join(f"{n}=http://127.0.0.1:{self.peer_ports[n]}" for n in self.names)
        log = open(self.base / f"{name}.log", "ab")  # noqa: SIM115 - the process owns it
        self.procs[name] = subprocess.Popen(
            [ETCD, "--name", name, "--data-dir", str(self.base / name),
             "--listen-client-urls", self.url(name), "--advertise-client-urls", self.url(name),
             "--listen-peer-urls", f"http://127.0.0.1:{self.peer_ports[name]}",
             "--initial-advertise-peer-urls", f"http://127.0.0.1:{self.peer_ports[name]}",
             "--initial-cluster", initial, "--initial-cluster-token", self.token,
             "--initial-cluster-state", "new", "--listen-metrics-urls", "",
             "--heartbeat-interval", "100", "--election-timeout", "1000"],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )

    def start(self) -> EtcdCluster:
        for name in self.names:
            self.start_member(name)
        self.wait_healthy(self.names)
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
        end = time.monotonic() + deadline_s
        while time.monotonic() < end:
            if all(self.healthy(n) for n in names):
                return
            for name in names:
                proc = self.procs.get(name)
                if proc is not None and proc.poll() is not None:
                    raise RuntimeError(f"etcd {name} exited {proc.returncode}:\n{self.log(name)}")
            time.sleep(0.1)
        raise RuntimeError(f"etcd members {names} not healthy within {deadline_s}s:\n"
                           + "\n".join(self.log(n) for n in names))

    def log(self, name: str) -> str:
        with contextlib.suppress(OSError):
            return (self.base / f"{name}.log").read_text(errors="replace")[-3000:]
        return ""

    def stop_member(self, name: str) -> None:
        proc = self.procs.pop(name, None)
        if proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)

    def start_gateway(self) -> str:
        """`etcd gateway`: a TCP proxy over every member, as a controller runs beside rpcdaemon (tooz's etcd3gw
        driver takes one endpoint; through the gateway a stopped member is passed over)."""
        port = free_port()
        endpoints = ",".join(f"127.0.0.1:{self.client_ports[n]}" for n in self.names)
        log = open(self.base / f"gateway-{port}.log", "ab")  # noqa: SIM115 - the process owns it
        self.procs[f"gateway-{port}"] = subprocess.Popen(
            [ETCD, "gateway", "start", "--endpoints", endpoints, "--listen-addr", f"127.0.0.1:{port}",
             "--retry-delay", "1s"],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        return f"etcd3+http://127.0.0.1:{port}"

    def restart_member(self, name: str) -> None:
        self.start_member(name)

    def stop(self) -> None:
        for name in list(self.procs):
            self.stop_member(name)
        shutil.rmtree(self.base, ignore_errors=True)
