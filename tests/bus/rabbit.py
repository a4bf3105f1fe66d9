"""A real RabbitMQ (Debian's rabbitmq-server) on 127.0.0.1, started by the tests and stopped by PID.

It runs as a plain process in its own session, on free ports, with its data under a temporary folder; its Erlang
children die with the group, but its epmd does not (it daemonizes into a session of its own: twenty of them were
found left behind after a day of runs), so stop() also tells the epmd of this broker's port to exit. `restart()`
keeps ports and data: a broker restart as operators see it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from kombu import Connection

from servers import Proc, free_port, start

SERVER = "/usr/lib/rabbitmq/bin/rabbitmq-server"
EPMD = "epmd"


class Rabbit:
    def __init__(self, tls: tuple[str, str, str] | None = None) -> None:
        """`tls`: (CA, certificate, key) files: also listen for AMQP over TLS on 127.0.0.1:tls_port and
        127.0.0.2:tls_port2 (a second loopback address, which the certificate may leave out)."""
        if not os.path.exists(SERVER):
            raise RuntimeError(f"{SERVER} not found: ./dev test installs Debian's rabbitmq-server package")
        self.base = Path(tempfile.mkdtemp(prefix="rpcd-rabbit-"))
        self.port = free_port()
        self.dist_port = free_port()
        self.epmd_port = free_port()
        self.node = f"rpcd{os.getpid()}@localhost"
        self.proc: Proc | None = None
        conf = f"listeners.tcp.1 = 127.0.0.1:{self.port}\nloopback_users = none\n"
        self.tls_port = self.tls_port2 = 0
        if tls is not None:
            self.tls_port, self.tls_port2 = free_port(), free_port()
            ca, cert, key = tls
            conf += (f"listeners.ssl.1 = 127.0.0.1:{self.tls_port}\nlisteners.ssl.2 = 127.0.0.2:{self.tls_port2}\n"
                     f"ssl_options.cacertfile = {ca}\nssl_options.certfile = {cert}\nssl_options.keyfile = {key}\n"
                     "ssl_options.verify = verify_none\nssl_options.fail_if_no_peer_cert = false\n")
        (self.base / "rabbitmq.conf").write_text(conf)
        (self.base / "enabled_plugins").write_text("[].\n")

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}//"

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "HOME": str(self.base),
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "ERL_EPMD_ADDRESS": "127.0.0.1",
            "ERL_EPMD_PORT": str(self.epmd_port),
            "RABBITMQ_MNESIA_BASE": str(self.base / "mnesia"),
            "RABBITMQ_LOG_BASE": str(self.base / "log"),
            "RABBITMQ_CONFIG_FILE": str(self.base / "rabbitmq"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.base / "enabled_plugins"),
            "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": "-kernel inet_dist_use_interface {127,0,0,1}",
        }

    def start(self, timeout_s: float = 90.0) -> None:
        self.proc = start("rabbitmq-server", [SERVER], self.base / "server.out", self._accepts, timeout_s,
                          f"rabbitmq-server accepting AMQP connections on 127.0.0.1:{self.port}", env=self.env())

    def _accepts(self) -> bool:
        try:
            with Connection(self.url, connect_timeout=1) as conn:
                conn.ensure_connection(max_retries=1)
                return True
        except Exception:
            return False

    def stop(self) -> None:
        if self.proc is None:
            return
        self.proc.stop(30)  # the whole group
        self.proc = None
        if shutil.which(EPMD):  # this broker's epmd, by its port (a node still registered there refuses: none is)
            subprocess.run([EPMD, "-port", str(self.epmd_port), "-kill"], env=self.env(), capture_output=True,
                           timeout=10, check=False)

    def restart(self) -> None:
        self.stop()
        self.start()

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.base, ignore_errors=True)
