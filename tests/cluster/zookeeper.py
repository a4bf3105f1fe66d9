"""A real ZooKeeper (Debian's zookeeper package) on 127.0.0.1, started by the tests and stopped by PID.

Standalone, on a free port, data under a temporary folder, a short tick so that sessions as short as the tests'
lease are allowed.
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
from pathlib import Path

from servers import Proc, free_port, start, tail

SERVER = "/usr/share/zookeeper/bin/zkServer.sh"


class ZooKeeper:
    def __init__(self) -> None:
        if not os.path.exists(SERVER):
            raise RuntimeError(f"{SERVER} not found: ./dev test installs Debian's zookeeper package")
        self.base = Path(tempfile.mkdtemp(prefix="rpcd-zk-"))
        self.port = free_port()
        self.proc: Proc | None = None
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
        self.proc = start("zookeeper", [SERVER, "start-foreground", str(self.base / "zoo.cfg")],
                          self.base / "server.log", self.ok, 60, f"zookeeper answering imok on 127.0.0.1:{self.port}",
                          env={"ZOO_LOG_DIR": str(self.base)}, interval_s=0.1)
        return self

    def ok(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                s.sendall(b"ruok")
                return s.recv(4) == b"imok"
        except OSError:
            return False

    def log(self) -> str:
        return tail(self.base / "server.log")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc = None
        shutil.rmtree(self.base, ignore_errors=True)
