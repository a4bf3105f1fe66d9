"""Whatever the API answers, reading it never raises anything but NeutronReadError, and planning on what was read
never raises: bad data is dropped or refused, never acted on."""

from __future__ import annotations

import json
from typing import Any

import requests
from hypothesis import given, settings
from hypothesis import strategies as st

from rpcdaemon.adapters.neutron.client import NeutronClient, NeutronReadError
from rpcdaemon.core.liveness import state_from_api
from rpcdaemon.core.plan import CoreState, make_plan
from rpcdaemon.core.policy import Policy

SCALARS = st.none() | st.booleans() | st.integers(-3, 3) | st.text(max_size=6) | st.sampled_from(
    ["L3 agent", "DHCP agent", "legacy", "dvr", "dvr_snat", "a1", "a2", "n1", "r1", "nova"])
VALUES = st.recursive(SCALARS, lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=8), c, max_size=3),
                      max_leaves=8)
AGENT_ROW = st.fixed_dictionaries({}, optional={
    "id": st.sampled_from(["a1", "a2", "a3"]) | VALUES,
    "agent_type": st.sampled_from(["L3 agent", "DHCP agent"]) | VALUES,
    "host": st.sampled_from(["h1", "h2"]) | VALUES, "alive": VALUES, "admin_state_up": VALUES,
    "availability_zone": VALUES, "heartbeat_timestamp": VALUES, "started_at": VALUES,
    "configurations": st.fixed_dictionaries({"agent_mode": VALUES}) | VALUES})
ROW = st.fixed_dictionaries({}, optional={
    "id": st.sampled_from(["n1", "r1", "n2"]) | VALUES, "network_id": st.sampled_from(["n1", "n2"]) | VALUES,
    "ha": VALUES, "distributed": VALUES, "availability_zone_hints": VALUES})


def body(key: str, rows: st.SearchStrategy[Any]) -> st.SearchStrategy[tuple[int, Any]]:
    good = st.builds(lambda r: {key: r}, st.lists(rows, max_size=4))
    return st.tuples(st.sampled_from([200, 200, 200, 500, 404]), good | VALUES)


class FakeProxy:
    """openstacksdk's network proxy, answering from a table drawn by Hypothesis."""

    def __init__(self, answers: dict[str, tuple[int, Any]]) -> None:
        self.answers = answers

    def get(self, path: str, headers: dict[str, str] | None = None, **_: Any) -> requests.Response:
        kind = path.rsplit("/", 1)[-1]
        status, payload = self.answers.get(kind, (200, {kind: []}))
        response = requests.Response()
        response.status_code = status
        response._content = json.dumps(payload).encode()
        return response

    def post(self, path: str, **_: Any) -> requests.Response:
        raise AssertionError("reading sends no POST")

    def delete(self, path: str, **_: Any) -> requests.Response:
        raise AssertionError("reading sends no DELETE")


class FakeConn:
    """A connection as the client sees it (rpcdaemon.adapters.neutron.connection.NeutronConnection)."""

    def __init__(self, proxy: FakeProxy) -> None:
        self.proxy = proxy

    @property
    def network(self) -> FakeProxy:
        return self.proxy


@settings(max_examples=300, deadline=None)
@given(agents=body("agents", AGENT_ROW), dhcp=body("networks", ROW), l3=body("routers", ROW),
       subnets=body("subnets", ROW), networks=body("networks", ROW), routers=body("routers", ROW))
def test_garbage_answers_never_escape(agents: Any, dhcp: Any, l3: Any, subnets: Any, networks: Any,
                                      routers: Any) -> None:
    answers = {"agents": agents, "dhcp-networks": dhcp, "l3-routers": l3, "subnets": subnets,
               "networks": networks, "routers": routers}
    client = NeutronClient(FakeConn(FakeProxy(answers)), read_concurrency=1)
    try:
        snapshot = client.fetch_snapshot()
    except NeutronReadError:
        return
    policy = Policy()
    plan, _ = make_plan(snapshot, CoreState(liveness=state_from_api(snapshot.agents, 1000.0, policy)), 1000.0,
                        policy)
    for change in plan.changes:
        for call in change.calls():
            assert call.agent_id in snapshot.agents and isinstance(call.resource_id, str)
