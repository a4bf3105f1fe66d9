"""The contract suite's two backends: the emulated Neutron and the real Neutron 29 of tests/neutron, asked the same
questions through one `backend` fixture.

Why: rpcdaemon is tested mostly against the emulator, which is worth only as much as it answers like Neutron. Each
contract test runs once per backend; a difference shows as one test failing for one backend (an emulator that
cannot match is marked xfail(strict=True) in the test, with the reason, for the maintainer to fix the emulator).

Both backends have the testbed's shape: hosts net-1..net-3, each with a DHCP, an L3 (legacy) and an Open vSwitch
agent, all alive. The emulator is a fresh Cloud per test, on a fake clock (liveness moves only when a test moves
it); the real Neutron is the ONE session testbed (tests/conftest.py), shared with tests/neutron, whose tests rely on
a steady cloud: a contract test creates its own networks and routers, and the fixture deletes them, puts every
agent it disabled back up, and checks that every agent's bindings are as they were before the test.

Nothing here sleeps to wait: a wait polls with a deadline.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests

from clocks import FakeClock
from rpcdaemon.emulator.cloud import DHCP, L3, OVS, Cloud
from rpcdaemon.emulator.server import serve

DOWN_TIME = 10.0  # the testbed's agent_down_time
UNKNOWN = "0b5e3c52-0000-4000-8000-000000000000"  # a well-formed id that names nothing
HOSTS = ("net-1", "net-2", "net-3")


@dataclass
class Answer:
    status: int
    body: Any

    @property
    def error(self) -> tuple[int, str | None]:
        """(status, NeutronError type); the body must have Neutron's error shape."""
        assert isinstance(self.body, dict) and set(self.body) == {"NeutronError"}, self.body
        assert set(self.body["NeutronError"]) >= {"type", "message"}, self.body
        return self.status, self.body["NeutronError"]["type"]


@dataclass
class Backend:
    """One Neutron to ask: its URL (no /v2.0), its agents by kind, and what a test created (undone at the end)."""

    name: str
    url: str
    dhcp: list[str]
    l3: list[str]
    ovs: list[str]
    stop_beating: Callable[[str], None]
    """The agent's heartbeats stop, and the call returns once the API shows it alive=false."""
    resume_all: Callable[[], None]
    """Every stopped agent beats again, and is alive again in the API."""
    networks: list[str] = field(default_factory=list)
    routers: list[str] = field(default_factory=list)
    disabled: set[str] = field(default_factory=set)
    request: pytest.FixtureRequest | None = None

    def emulator_differs(self, reason: str) -> None:
        """On the emulator, this test is expected to fail (strictly: once the emulator is fixed, the xfail must go):
        `reason` says what Neutron does that the emulator does not."""
        if self.name == "emulator":
            assert self.request is not None
            self.request.applymarker(pytest.mark.xfail(strict=True, reason=f"emulator differs: {reason}"))

    # --- the API, raw ---
    def call(self, method: str, path: str, body: Any = None, params: Any = None) -> Answer:
        response = requests.request(method, f"{self.url}/v2.0{path}", json=body, params=params, timeout=60,
                                    headers={"Accept": "application/json"})
        text = response.text.strip()
        return Answer(response.status_code, response.json() if text else None)

    def get(self, path: str, params: Any = None) -> Any:
        answer = self.call("GET", path, params=params)
        assert answer.status == 200, (path, answer)
        return answer.body

    def add(self, agent: str, kind: str, resource: str) -> Answer:
        collection, key = ("dhcp-networks", "network_id") if kind == "network" else ("l3-routers", "router_id")
        return self.call("POST", f"/agents/{agent}/{collection}", {key: resource})

    def remove(self, agent: str, kind: str, resource: str) -> Answer:
        collection = "dhcp-networks" if kind == "network" else "l3-routers"
        return self.call("DELETE", f"/agents/{agent}/{collection}/{resource}")

    # --- resources this test owns ---
    def network(self, name: str, cidr: str | None = "10.77.0.0/24", dhcp: bool = True) -> str:
        """A network, with one subnet (DHCP enabled or not) unless cidr is None; deleted after the test."""
        net = self.call("POST", "/networks", {"network": {"name": f"contract-{name}"}})
        assert net.status == 201, net
        net_id: str = net.body["network"]["id"]
        self.networks.append(net_id)
        if cidr is not None:
            subnet = self.call("POST", "/subnets", {"subnet": {
                "network_id": net_id, "ip_version": 4, "cidr": cidr, "enable_dhcp": dhcp, "name": name}})
            assert subnet.status == 201, subnet
        return net_id

    def router(self, name: str, **attrs: Any) -> str:
        """A router (ha=, distributed=: admin-only attributes, and every call here is admin); deleted after."""
        router = self.call("POST", "/routers", {"router": {"name": f"contract-{name}", **attrs}})
        assert router.status == 201, router
        router_id: str = router.body["router"]["id"]
        self.routers.append(router_id)
        return router_id

    def set_admin_state(self, agent: str, up: bool) -> None:
        if not up:
            self.disabled.add(agent)
        answer = self.call("PUT", f"/agents/{agent}", {"agent": {"admin_state_up": up}})
        assert answer.status == 200, answer
        if up:
            self.disabled.discard(agent)

    def network_hosts(self, net: str) -> set[str]:
        return {a["id"] for a in self.get(f"/networks/{net}/dhcp-agents")["agents"]}

    def router_hosts(self, router: str) -> set[str]:
        return {a["id"] for a in self.get(f"/routers/{router}/l3-agents")["agents"]}

    def bindings(self) -> dict[str, set[str]]:
        """Every DHCP and L3 agent's bindings (ids)."""
        table = {a: {n["id"] for n in self.get(f"/agents/{a}/dhcp-networks")["networks"]} for a in self.dhcp}
        table.update({a: {r["id"] for r in self.get(f"/agents/{a}/l3-routers")["routers"]} for a in self.l3})
        return table

    def undo(self) -> None:
        """Agents back up, then this test's routers and networks deleted (Neutron drops their bindings)."""
        self.resume_all()
        for agent in sorted(self.disabled):
            self.set_admin_state(agent, True)
        for router in self.routers:
            assert self.call("DELETE", f"/routers/{router}").status in (204, 404)
        for net in self.networks:
            assert self.call("DELETE", f"/networks/{net}").status in (204, 404)
        self.routers, self.networks = [], []


@contextmanager
def emulator() -> Iterator[Backend]:
    clock = FakeClock(time.time())  # a wall-clock time: the API shows timestamps
    cloud = Cloud(agent_down_time=DOWN_TIME, report_interval=2.0, clock=clock, seed=15)
    dhcp = [cloud.add_agent(DHCP, host) for host in HOSTS]
    l3 = [cloud.add_agent(L3, host, agent_mode="legacy") for host in HOSTS]
    ovs = [cloud.add_agent(OVS, host) for host in HOSTS]
    # the tier's steady cloud: 4 DHCP networks on one agent each, 3 routers per L3 agent
    for i in range(4):
        cloud.bind_network(dhcp[i % len(dhcp)], cloud.add_network(f"base-{i}"))
    for agent in l3:
        for i in range(3):
            cloud.bind_router(agent, cloud.add_router(f"base-{i}"))
    stopped: set[str] = set()

    def stop_beating(agent: str) -> None:
        cloud.set_agent_down(agent)
        stopped.add(agent)
        clock.advance(DOWN_TIME + 1)  # what Neutron takes agent_down_time to notice, at once

    def resume_all() -> None:
        for agent in stopped:
            cloud.set_agent_up(agent)
        stopped.clear()

    with serve(cloud) as server:
        yield Backend("emulator", server.url, dhcp, l3, ovs, stop_beating, resume_all)


@contextmanager
def neutron(request: pytest.FixtureRequest) -> Iterator[Backend]:
    from testbed import Testbed, wait_for  # noqa: PLC0415  (on the path from tests/conftest.py)

    bed: Testbed = request.getfixturevalue("testbed")
    agents = {a.id: a for a in bed.agents}

    def stop_beating(agent: str) -> None:
        agents[agent].pause()
        wait_for(lambda: bed.alive()[agent] is False, DOWN_TIME * 4, "the paused agent alive=false in the API")

    yield Backend("neutron", bed.api, [a.id for a in bed.agents_of("dhcp")], [a.id for a in bed.agents_of("l3")],
                  [a.id for a in bed.agents_of("ovs")], stop_beating, lambda: bed.resume_all(DOWN_TIME * 6))
