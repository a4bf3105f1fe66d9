"""The emulator's fault injection that chaos runs add: garbage answers, and a call log that can be drained."""

from __future__ import annotations

import pytest
import requests

from rpcdaemon.emulator.cloud import Cloud
from rpcdaemon.emulator.server import serve


def test_garbage_body_is_answered_once_and_does_nothing() -> None:
    cloud = Cloud.build(dhcp_agents=1, l3_agents=1, networks=1, routers=1, seed=1)
    with serve(cloud) as server:
        cloud.add_fault("GET", "GET /v2.0/agents", body="{not json", count=1)
        first = requests.get(f"{server.url}/v2.0/agents", timeout=5)
        second = requests.get(f"{server.url}/v2.0/agents", timeout=5)
        router = next(iter(cloud.routers))
        agent = next(a for a, routers in cloud.l3.items() if router in routers)
        cloud.add_fault("DELETE", "/v2.0/agents/{id}/l3-routers/{id}", status=204, body="")
        deleted = requests.delete(f"{server.url}/v2.0/agents/{agent}/l3-routers/{router}", timeout=5)
    assert (first.status_code, first.text) == (200, "{not json")
    assert second.status_code == 200
    assert len(second.json()["agents"]) == 2
    assert deleted.status_code == 204
    assert router in cloud.l3[agent]  # answered, not done


def test_fault_body_must_be_text() -> None:
    cloud = Cloud()
    with pytest.raises(ValueError, match="body"):
        cloud.add_fault("GET", "*", body=b"x")  # type: ignore[arg-type]


def test_drain_calls_returns_each_call_once() -> None:
    cloud = Cloud.build(dhcp_agents=1, l3_agents=1, networks=0, routers=0, seed=1)
    with serve(cloud) as server:
        requests.get(f"{server.url}/v2.0/agents", timeout=5)
        requests.get(f"{server.url}/v2.0/routers", timeout=5)
        drained = cloud.drain_calls()
        again = cloud.drain_calls()
        requests.get(f"{server.url}/v2.0/networks", timeout=5)
        last = cloud.drain_calls()
    assert [(c.method, c.pattern, c.status) for c in drained] == [("GET", "/v2.0/agents", 200),
                                                                   ("GET", "/v2.0/routers", 200)]
    assert again == []
    assert [c.pattern for c in last] == ["/v2.0/networks"]
    assert cloud.stats()["calls"]["GET /v2.0/agents"] == 1  # the counts stay
