"""A real ZooKeeper (Debian's zookeeper package) on 127.0.0.1, started by the tests and stopped by PID.

Standalone, on a free port, data under a temporary folder, a short tick so that sessions as short as the tests'
lease are allowed.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from etcd import free_port

SERVER = "/usr/share/zookeeper/bin/zkServer.sh"


class ZooKeeper:
    def __init__(self) -> None:
        if not os.path.exists(SERVER):
            raise RuntimeError(f"{SERVER} not found: ./dev test installs Debian's zookeeper package")
        self.base = Path(tempfile.mkdtemp(prefix="rpcd-zk-"))
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        (self.base / "data").mkdir()
        (self.base / "zoo.cfg").write_text(
            f"tickTime=500\ndataDir={self.base / 'data'}\nclientPort={self.port}\nclientPortAddress=127.0.0.1\n"
            "admin.enableServer=false\nminSessionTimeout=1000\nmaxSessionTimeout=60000\n"
            "4lw.commands.whitelist=ruok\n"
        )

    @property
    def url(self) -> str:
        return f"zookeeper://127.0.0.1:{self.port}"

    def start(self) -> ZooKeeper:
        log = open(self.base / "server.log", "ab")  # noqa: SIM115 - the process owns it
        self.proc = subprocess.Popen([SERVER, "start-foreground", str(self.base / "zoo.cfg")], stdout=log,
                                     stderr=subprocess.STDOUT, start_new_session=True,
                                     env={**os.environ, "ZOO_LOG_DIR": str(self.base)})
        end = time.monotonic() + 60
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise RuntimeError(f"zookeeper exited {self.proc.returncode}: {self.log()}")
            if self.ok():
                return self
            time.sleep(0.1)
        raise RuntimeError(f"zookeeper not up within 60 s: {self.log()}")

    def ok(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                s.sendall(b"ruok")
                return s.recv(4) == b"imok"
        except OSError:
            return False

    def log(self) -> str:
        with contextlib.suppress(OSError):
            return (self.base / "server.log").read_text(errors="replace")[-3000:]
        return ""

    def stop(self) -> None:
        if self.proc is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
        shutil.rmtree(self.base, ignore_errors=True)
