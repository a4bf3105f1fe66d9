"""Fixtures of the cluster tests: a real etcd cluster (or a shared folder), an emulated cloud, replica processes."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from etcd import EtcdCluster
from replicas import Replica
from zookeeper import ZooKeeper

from rpcdaemon.emulator.cloud import Cloud
from rpcdaemon.emulator.server import EmulatorServer, serve


@pytest.fixture(scope="session")
def etcd_cluster() -> Iterator[EtcdCluster]:
    cluster = EtcdCluster(3).start()
    try:
        yield cluster
    finally:
        cluster.stop()


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


@pytest.fixture(scope="session")
def zookeeper() -> Iterator[ZooKeeper]:
    server = ZooKeeper().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(params=["etcd", "zookeeper", "file"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "file":
        return f"file://{tmp_path / 'coordination'}"
    if request.param == "zookeeper":
        server: ZooKeeper = request.getfixturevalue("zookeeper")
        return f"{server.url}/{tmp_path.name}"  # a namespace of its own for each test
    cluster: EtcdCluster = request.getfixturevalue("etcd_cluster")
    return cluster.start_gateway()


@pytest.fixture
def make_stack(tmp_path: Path) -> Iterator[MakeStack]:
    stacks: list[Stack] = []

    def make(coordination_url: str, replicas: int = 3, **build: object) -> Stack:
        build.setdefault("agent_down_time", 3)
        cloud = Cloud.build(seed=5, **build)  # type: ignore[arg-type]
        server = serve(cloud)
        stack = Stack(cloud, server, tmp_path, coordination_url, [])
        stacks.append(stack)
        for i in range(replicas):
            stack.add(f"r{i + 1}")
        return stack

    yield make
    for stack in stacks:
        for replica in stack.replicas:
            replica.kill()
        stack.server.stop()
