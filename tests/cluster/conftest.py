"""Fixtures of the cluster tests: a real etcd cluster (or a shared folder), an emulated cloud, replica processes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from etcd import EtcdCluster
from stack import MakeStack, Stack
from zookeeper import ZooKeeper

from rpcdaemon.emulator.cloud import Cloud
from rpcdaemon.emulator.server import serve


@pytest.fixture(scope="session")
def etcd_cluster() -> Iterator[EtcdCluster]:
    cluster = EtcdCluster(3).start()
    try:
        yield cluster
    finally:
        cluster.stop()


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
