"""NeutronClient through its seam: a fake connection (the NeutronConnection Protocol) and an injected sleep and
jitter, so a read retry's backoff is checked exactly, and no real time passes (time.sleep fails the test)."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any

import pytest
import requests

from rpcdaemon.adapters.neutron.client import READ_BACKOFF_S, NeutronClient, NeutronReadError, Outcome
from rpcdaemon.core.actions import Call, Op, ResourceType
from rpcdaemon.model import AgentId

AGENT = {"id": "a1", "agent_type": "L3 agent", "host": "h1", "alive": True, "admin_state_up": True,
         "heartbeat_timestamp": "2026-01-01 00:00:00"}
Answer = tuple[int, Any] | Exception
"""What the fake proxy answers to one request: (status, JSON body), or an exception raised instead."""


def response(status: int, body: Any) -> requests.Response:
    answer = requests.Response()
    answer.status_code = status
    answer._content = json.dumps(body).encode()
    return answer


class FakeProxy:
    """The network proxy: answers each request with the next of its answers, and records what was sent."""

    def __init__(self, *answers: Answer) -> None:
        self.answers = list(answers)
        self.sent: list[tuple[str, str, dict[str, str]]] = []

    def _answer(self, method: str, url: str, headers: dict[str, str]) -> requests.Response:
        self.sent.append((method, url, headers))
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return response(*answer)

    def get(self, url: str, /, *, headers: dict[str, str], params: Mapping[str, Any]) -> requests.Response:
        return self._answer("GET", url, headers)

    def post(self, url: str, /, *, headers: dict[str, str], json: Mapping[str, Any]) -> requests.Response:
        return self._answer("POST", url, headers)

    def delete(self, url: str, /, *, headers: dict[str, str]) -> requests.Response:
        return self._answer("DELETE", url, headers)


class FakeConnection:
    def __init__(self, proxy: FakeProxy) -> None:
        self.proxy = proxy
        self.built = 0

    @property
    def network(self) -> FakeProxy:
        self.built += 1
        return self.proxy


class Sleeps:
    def __init__(self) -> None:
        self.delays: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


@pytest.fixture(autouse=True)
def no_real_sleep(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(_s: float) -> None:
        raise AssertionError("real time.sleep called")

    monkeypatch.setattr(time, "sleep", refuse)


def client(proxy: FakeProxy, sleeps: Sleeps, jitter: float = 0.5, **kw: Any) -> NeutronClient:
    return NeutronClient(FakeConnection(proxy), read_concurrency=1, sleep=sleeps, jitter=lambda: jitter, **kw)


def test_a_read_that_fails_then_answers_waits_the_backoff_through_the_injected_sleep() -> None:
    proxy = FakeProxy((503, {}), requests.ConnectionError("reset"), (200, {"agents": [AGENT]}))
    sleeps = Sleeps()
    agents = client(proxy, sleeps, read_retries=2).fetch_agents()
    assert list(agents) == [AgentId("a1")]
    assert [m for m, _, _ in proxy.sent] == ["GET", "GET", "GET"]
    # backoff * 2**attempt * (0.5 + jitter), jitter 0.5
    assert sleeps.delays == pytest.approx([READ_BACKOFF_S, READ_BACKOFF_S * 2])


def test_the_jitter_scales_each_wait() -> None:
    draws = iter([0.0, 0.75])
    proxy = FakeProxy((500, {}), (502, {}), (200, {"agents": []}))
    sleeps = Sleeps()
    NeutronClient(FakeConnection(proxy), read_retries=2, sleep=sleeps, jitter=lambda: next(draws)).fetch_agents()
    assert sleeps.delays == pytest.approx([READ_BACKOFF_S * 0.5, READ_BACKOFF_S * 2 * 1.25])


def test_a_read_that_keeps_failing_fails_after_its_retries() -> None:
    proxy = FakeProxy(*[(503, {"NeutronError": {"type": "X", "message": "busy"}})] * 3)
    sleeps = Sleeps()
    with pytest.raises(NeutronReadError, match="HTTP 503 busy"):
        client(proxy, sleeps, read_retries=2).fetch_agents()
    assert len(proxy.sent) == 3 and len(sleeps.delays) == 2 and not proxy.answers


def test_a_read_that_cannot_connect_fails_after_its_retries() -> None:
    proxy = FakeProxy(*[requests.ConnectionError("refused")] * 2)
    sleeps = Sleeps()
    with pytest.raises(NeutronReadError, match="ConnectionError: refused"):
        client(proxy, sleeps, read_retries=1).fetch_agents()
    assert len(proxy.sent) == 2 and len(sleeps.delays) == 1


def test_without_retries_a_read_is_sent_once_and_never_waits() -> None:
    proxy = FakeProxy((503, {}))
    sleeps = Sleeps()
    with pytest.raises(NeutronReadError):
        client(proxy, sleeps, read_retries=0).fetch_agents()
    assert len(proxy.sent) == 1 and sleeps.delays == []


def test_a_read_that_is_not_transient_is_not_retried() -> None:
    proxy = FakeProxy((404, {}))
    sleeps = Sleeps()
    with pytest.raises(NeutronReadError, match="HTTP 404"):
        client(proxy, sleeps, read_retries=2).fetch_agents()
    assert len(proxy.sent) == 1 and sleeps.delays == []


def test_the_observer_sees_every_attempt_and_the_member_header_is_sent() -> None:
    proxy = FakeProxy((503, {}), requests.ConnectionError("reset"), (200, {"agents": []}))
    seen: list[tuple[str, int | None]] = []
    neutron = client(proxy, Sleeps(), read_retries=2, member="m1",
                     observer=lambda method, status, _s: seen.append((method, status)))
    neutron.fetch_agents()
    assert seen == [("GET", 503), ("GET", None), ("GET", 200)]
    assert all(headers == {"X-Rpcdaemon-Member": "m1"} for _, _, headers in proxy.sent)


def test_the_proxy_is_built_once() -> None:
    proxy = FakeProxy((200, {"agents": []}), (200, {"agents": []}))
    conn = FakeConnection(proxy)
    neutron = NeutronClient(conn, sleep=Sleeps())
    neutron.fetch_agents()
    neutron.fetch_agents()
    assert conn.built == 1


def test_a_write_is_classified_and_not_retried_by_the_client() -> None:
    """The executor retries writes (with its own backoff); the client sends each once."""
    add = Call(Op.ADD, ResourceType.ROUTER, "r1", AgentId("a1"))
    remove = Call(Op.REMOVE, ResourceType.NETWORK, "n1", AgentId("a1"))
    proxy = FakeProxy((503, {}), requests.ConnectionError("reset"),
                      (404, {"NeutronError": {"type": "InvalidL3Agent", "message": "no"}}), (204, None))
    sleeps = Sleeps()
    neutron = client(proxy, sleeps)
    assert neutron.apply_call(add).outcome is Outcome.TRANSIENT
    reset = neutron.apply_call(add)
    assert (reset.outcome, reset.status, reset.error_type) == (Outcome.TRANSIENT, None, "ConnectionError")
    refused = neutron.apply_call(add)
    assert (refused.outcome, refused.error_type, refused.message) == (Outcome.FAILED, "InvalidL3Agent", "no")
    assert neutron.apply_call(remove).outcome is Outcome.DONE
    assert [(m, url) for m, url, _ in proxy.sent] == [("POST", "/agents/a1/l3-routers")] * 3 + [
        ("DELETE", "/agents/a1/dhcp-networks/n1")]
    assert sleeps.delays == []
