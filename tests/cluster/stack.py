"""One cluster under test: the emulated cloud, its server, and the rpcdaemon replicas pointed at it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from replicas import Replica

from rpcdaemon.emulator.cloud import Cloud
from rpcdaemon.emulator.server import EmulatorServer


@dataclass
class Stack:
    cloud: Cloud
    server: EmulatorServer
    folder: Path
    coordination_url: str
    replicas: list[Replica]

    def add(self, name: str) -> Replica:
        replica = Replica(name, self.folder, self.server.url, self.coordination_url).start()
        self.replicas.append(replica)
        return replica

    def writes(self) -> list[dict[str, object]]:
        """Scheduling calls (POST/DELETE of bindings) in the emulator's call log, oldest first."""
        return [c for c in self.cloud.call_log() if c["method"] in ("POST", "DELETE")
                and str(c["pattern"]).endswith(("l3-routers", "l3-routers/{id}", "dhcp-networks",
                                                "dhcp-networks/{id}"))]


MakeStack = Callable[..., Stack]
