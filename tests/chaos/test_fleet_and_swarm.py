"""The chaos fleet starts converged, with the shape the faults need; a client swarm holds what it says it holds."""

from __future__ import annotations

import socket
import threading
import time
from collections import Counter

from testkit.chaos.config import ChaosConfig
from testkit.chaos.fleet import build_fleet
from testkit.chaos.history import AgentHistory
from testkit.chaos.invariants import Targets, state_problems
from testkit.chaos.swarm import HeldConnections, Swarm

from polling import poll
from rpcdaemon.emulator.cloud import DHCP, L3


def test_the_fleet_has_big_and_small_zones_compute_nodes_and_hinted_resources_in_their_zones() -> None:
    config = ChaosConfig(seed=3)
    fleet = build_fleet(config)
    cloud = fleet.cloud
    assert fleet.zones == ["az-1", "az-2", "az-3"]
    assert fleet.small_zone == "az-3"
    groups = Counter((a.agent_type, a.agent_mode, a.availability_zone) for a in cloud.agents.values())
    assert groups[(DHCP, None, "az-1")] == 5
    assert groups[(DHCP, None, "az-3")] == 2
    assert groups[(L3, "legacy", "az-1")] + groups[(L3, "dvr_snat", "az-1")] == 5
    assert groups[(L3, "dvr", "az-1")] == 4
    assert groups[(L3, "dvr", "az-3")] == 2
    assert groups[(L3, "dvr_snat", "az-2")] >= 2
    assert 0 < fleet.hinted() < len(fleet.hints) == config.networks + config.routers + config.ha_routers
    stats = cloud.stats()
    for resource, hints in fleet.hints.items():
        hosts = stats["bindings"]["dhcp"].get(resource) or stats["bindings"]["l3"].get(resource) or []
        assert hosts
        assert not hints or all(cloud.agents[a].availability_zone in hints for a in hosts)
        assert all(cloud.agents[a].agent_mode not in ("dvr", "dvr_no_external") for a in hosts)
    history = AgentHistory(config.agent_down_time_s, cloud.interval)
    for a in cloud.agents.values():
        history.add(a.id, a.agent_type, a.availability_zone or "", a.up_since, a.agent_mode)
    assert state_problems(cloud, history, Targets(config.dhcp_per_network, config.ha_replicas),
                          time.monotonic()) == []


def test_a_swarm_holds_idle_and_trickling_connections_then_lets_go() -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(128)
    accepted: list[socket.socket] = []

    def accept() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            accepted.append(conn)

    threading.Thread(target=accept, daemon=True).start()
    swarm = Swarm("127.0.0.1", listener.getsockname()[1], idle=20, slow=5, seconds=2.5).start()
    try:
        poll(lambda: len(accepted) == 25, 20, "25 connections")
        poll(lambda: not swarm.running, 30, "the swarm ends by itself")
    finally:
        swarm.stop()
        listener.close()
    assert swarm.figures == {"connected": 25, "failed": 0, "closed_by_server": 0}
    received = []
    for conn in accepted:
        conn.settimeout(5)
        chunks = []
        while chunk := conn.recv(4096):
            chunks.append(chunk)
        received.append(b"".join(chunks))
        conn.close()
    trickled = [r for r in received if r.startswith(b"GET /status HTTP/1.1\r\nX-Slow: x")]
    assert len(trickled) == 5
    assert all(r == b"" for r in received if r not in trickled)


def test_held_connections_counts_the_accepted_ends_on_a_port() -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    held = HeldConnections(listener.getsockname()[1])
    clients = [socket.create_connection(("127.0.0.1", held.port)) for _ in range(4)]
    try:
        assert held() == 0  # the listening socket, the clients' ends (other ports), the not yet accepted ones
        accepted = [listener.accept()[0] for _ in range(3)]
        assert held() == 3
        clients[0].close()  # the client leaves: the server holds its end until it closes it
        assert held() == 3
        for conn in accepted:
            conn.close()
        assert held() == 0
    finally:
        for conn in clients:
            conn.close()
        listener.close()
        held.close()
