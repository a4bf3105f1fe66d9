"""Settings -> parts: the Neutron client, the coordination member, the status server (the core's policy:
Settings.policy()).

Everything the daemon is made of is built here from Settings, so that the loop only runs what it is given, and a
reload knows what a changed option rebuilds (the client, the bus, the status server) or refuses (RESTART_ONLY).
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from typing import Any

from rpcdaemon.adapters.coordination import Cluster, Coordination, Standalone
from rpcdaemon.adapters.neutron.client import NeutronClient
from rpcdaemon.adapters.neutron.connection import open_connection
from rpcdaemon.adapters.status.http import StatusServer
from rpcdaemon.config.settings import Settings
from rpcdaemon.config.status_port import server_context
from rpcdaemon.core.leadership import LeaseTiming

RESTART_ONLY = {
    "pidfile": "[Daemon] pidfile",
    "logfile": "[Daemon] logfile",
    "coordination_url": "[Daemon] coordination_url",
    "coordination_lease_s": "[Daemon] coordination_lease",
    "coordination_group": "[Daemon] coordination_group",
}
"""Options a running daemon cannot change (a reload warns and keeps the value in force)."""


def api_timeout(settings: Settings) -> float:
    timeouts = [p.timeout_s for name, p in (("L3Agent", settings.l3), ("DHCPAgent", settings.dhcp))
                if name in settings.plugins]
    return min(timeouts) if timeouts else settings.l3.timeout_s


def build_client(settings: Settings, member: str | None = None) -> NeutronClient:
    return NeutronClient.connect(
        cloud=settings.cloud,
        endpoint=settings.neutron_endpoint,
        timeout_s=api_timeout(settings),
        read_concurrency=min(settings.max_concurrency, 16),
        member=member,
        pool_size=settings.max_concurrency,
        credentials=settings.credentials,
    )


def check_way_to_neutron(settings: Settings) -> None:
    """Build the connection the daemon would use, without a request: NeutronConfigError when it cannot work at
    all (no such cloud, no credentials). check-config and `plan` ask before anything else."""
    open_connection(cloud=settings.cloud, endpoint=settings.neutron_endpoint, timeout_s=api_timeout(settings),
                    pool_size=1, credentials=settings.credentials)


def client_settings(settings: Settings) -> tuple[object, ...]:
    """What the Neutron client is built from: a reload that changes any of it builds a new client."""
    return (settings.cloud, settings.neutron_endpoint, settings.credentials, api_timeout(settings),
            min(settings.max_concurrency, 16))


def bus_settings(settings: Settings) -> tuple[object, ...]:
    """What the bus listeners are built from: a reload that changes any of it reconnects."""
    return (settings.rpchost, settings.rpc_ssl, settings.l3.queue_expire_s, settings.dhcp.queue_expire_s,
            "Dump" in settings.plugins, settings.dump.queue)


def default_member_id() -> str:
    """RPCDAEMON_MEMBER when set (a name that survives restarts), else host and pid: unique on one host too."""
    return os.environ.get("RPCDAEMON_MEMBER") or f"{socket.gethostname()}-{os.getpid()}"


def build_coordination(settings: Settings, member: str, wake: Callable[[], None]) -> Coordination:
    """A cluster member when coordination_url is set (a new role wakes a pass), else the only instance."""
    if not settings.coordination_url:
        return Standalone(member)
    host, port = settings.status_listen
    return Cluster(settings.coordination_url, settings.coordination_group, member,
                   LeaseTiming(settings.coordination_lease_s), on_role=lambda _role: wake(),
                   status_url=f"http://{host}:{port}/status" if host else None)


def build_status_server(settings: Settings, document: Callable[[], dict[str, Any]], metrics: Callable[[], bytes],
                        ready: Callable[[], bool]) -> StatusServer | None:
    """The status port, started, when [Daemon] status_listen is set."""
    host, port = settings.status_listen
    if not host:
        return None
    token = getattr(settings, "status_token", None) or None
    tls_files = getattr(settings, "status_tls", None)
    tls = server_context(*tls_files) if tls_files else None
    return StatusServer(host, port, document, metrics, ready, token, tls=tls).start()
