"""/status, /metrics, /healthz, /readyz and `rpcdaemon status` against a daemon repairing an emulated cloud."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
from emulated import DOWN_TIME
from prometheus_client.parser import text_string_to_metric_families

from clocks import FakeClock
from rpcdaemon.adapters.status.http import StatusServer
from rpcdaemon.cli.status import main as status_main
from rpcdaemon.config.settings import default_settings
from rpcdaemon.daemon.loop import Daemon, start_status_server
from rpcdaemon.emulator.cloud import Cloud
from rpcdaemon.emulator.server import serve
from rpcdaemon.model import L3_AGENT

SECRET = "s3cr3t-pa55"


def get(url: str, token: str | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


class Running:
    def __init__(self, daemon: Daemon, server: StatusServer, cloud: Cloud, clock: FakeClock) -> None:
        self.daemon, self.server, self.cloud, self.clock = daemon, server, cloud, clock

    def status(self) -> dict[str, Any]:
        code, body = get(self.server.url + "/status")
        assert code == 200
        result: dict[str, Any] = json.loads(body)
        return result

    def step(self, seconds: float = 5) -> None:
        """Let time pass with a pass every 5 s (as the daemon does)."""
        while seconds > 1e-9:
            self.clock.advance(min(5.0, seconds))
            self.daemon.run_once()
            seconds -= 5.0


@pytest.fixture
def running() -> Iterator[Running]:
    clock = FakeClock()
    cloud = Cloud.build(l3_agents=3, routers=6, dhcp_agents=2, networks=2, agent_down_time=DOWN_TIME,
                        clock=clock, seed=9)
    with serve(cloud) as emulator:
        settings = replace(default_settings(), neutron_endpoint=emulator.url, agent_down_time_s=DOWN_TIME,
                           status_listen=("127.0.0.1", 0), rpchost=f"amqp://rpc:{SECRET}@127.0.0.1:5672//")
        daemon = Daemon(settings, clock=clock, member="test-member")
        server = start_status_server(daemon)
        assert server is not None
        try:
            yield Running(daemon, server, cloud, clock)
        finally:
            server.stop()


def test_not_ready_until_the_first_pass(running: Running) -> None:
    assert get(running.server.url + "/healthz")[0] == 200
    assert get(running.server.url + "/readyz")[0] == 503
    running.step()
    assert get(running.server.url + "/readyz")[0] == 200


def test_status_during_an_evacuation(running: Running) -> None:
    running.step()
    status = running.status()
    assert status["warming_up"] is True
    assert status["member"] == "test-member"
    running.step(DOWN_TIME + 1)
    running.step()
    victim = next(a for a in running.cloud.stats()["agents"] if a["agent_type"] == L3_AGENT)
    running.cloud.set_agent_down(victim["id"])
    running.step(DOWN_TIME + 1)
    status = running.status()
    agents = {a["id"]: a for a in status["agents"]}
    assert agents[victim["id"]]["verdict"] == "dead"
    assert agents[victim["id"]]["api_alive"] is False
    assert agents[victim["id"]]["load"] == 0  # evacuated
    moves = [r for r in status["recent_actions"] if r["action"] == "move_router"]
    assert len(moves) == 2
    assert all(m["from_host"] == victim["host"] and m["outcome"] == "done" for m in moves)
    assert status["last_pass"]["outcome"] == "ok"
    assert status["disrupted"] is False
    assert status["zones"]
    l3_zone = next(z for z in status["zones"] if z["agent_type"] == L3_AGENT)
    assert (l3_zone["dead"], l3_zone["admin_down"]) == (1, 0)  # admin-down agents are counted apart (issue 12)
    assert {"version", "members", "plugins", "pending", "notes"} <= set(status)


def test_metrics_parse_and_count_actions(running: Running) -> None:
    code, body = get(running.server.url + "/metrics")
    assert code == 200
    families = {f.name: f for f in text_string_to_metric_families(body.decode())}
    failed = [s for s in families["rpcdaemon_actions"].samples
              if s.name == "rpcdaemon_actions_total" and s.labels["outcome"] == "failed"]
    assert failed
    assert all(s.value == 0 for s in failed)  # outcome series exist at zero from the start
    running.step()
    running.step(DOWN_TIME + 1)
    running.cloud.set_agent_down(running.cloud.stats()["agents"][0]["id"])
    running.step(DOWN_TIME + 1)
    families = {f.name: f for f in text_string_to_metric_families(get(running.server.url + "/metrics")[1].decode())}
    done = sum(s.value for s in families["rpcdaemon_actions"].samples
               if s.name == "rpcdaemon_actions_total" and s.labels["outcome"] == "done")
    assert done >= 1
    api = sum(s.value for s in families["rpcdaemon_api_requests"].samples if s.name == "rpcdaemon_api_requests_total")
    assert api > 0
    dead = [s for s in families["rpcdaemon_agents"].samples if s.labels["state"] == "dead"]
    assert sum(s.value for s in dead) == 1


def test_nothing_secret_is_served(running: Running) -> None:
    running.step()
    for path in ("/status", "/metrics", "/"):
        code, body = get(running.server.url + path)
        assert code == 200
        assert SECRET.encode() not in body, path


def test_bearer_token_protects_the_data_not_the_page_or_healthz() -> None:
    server = StatusServer("127.0.0.1", 0, lambda: {"ok": True}, lambda: b"", lambda: True, token="tok").start()
    try:
        assert get(server.url + "/healthz")[0] == 200
        code, page = get(server.url + "/")  # the dashboard page holds no data; it asks for the token itself
        assert code == 200
        assert b"Authorization" in page
        assert get(server.url + "/status")[0] == 401
        assert get(server.url + "/readyz")[0] == 401
        assert get(server.url + "/nonexistent")[0] == 401
        assert get(server.url + "/metrics", token="wrong")[0] == 401
        assert get(server.url + "/metrics", token="tok-and-more")[0] == 401
        assert get(server.url + "/status", token="tok")[0] == 200
    finally:
        server.stop()


def test_a_non_ascii_token_is_compared_as_sent() -> None:
    server = StatusServer("127.0.0.1", 0, lambda: {"ok": True}, lambda: b"", lambda: True, token="t\u00f6k").start()
    try:
        request = urllib.request.Request(server.url + "/status")
        request.add_unredirected_header("Authorization", "Bearer t\u00f6k".encode().decode("latin-1"))
        with urllib.request.urlopen(request, timeout=10) as response:  # the UTF-8 bytes a curl -H would send
            assert response.status == 200
        assert get(server.url + "/status", token="t\u00f6k".encode().decode("latin-1") + "x")[0] == 401
    finally:
        server.stop()


def test_status_command_renders_a_table(running: Running, capsys: pytest.CaptureFixture[str]) -> None:
    running.step()
    running.step(DOWN_TIME + 1)
    assert status_main(["--url", running.server.url]) == 0
    out = capsys.readouterr().out
    assert "test-member" in out
    assert "L3 agent" in out
    assert "alive" in out
    assert status_main(["--url", running.server.url, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["member"] == "test-member"
    assert status_main(["--url", "http://127.0.0.1:9"]) == 1
