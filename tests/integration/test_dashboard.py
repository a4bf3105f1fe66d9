"""The dashboard in real headless Chromium (Debian's package): dead agents marked, actions listed, no secrets;
with a status_token, the page itself loads without it and asks for it (or takes it from a #token= link).

Chromium runs with --dump-dom after a virtual-time budget, so the page's own JavaScript has fetched /status and
drawn it; a screenshot is kept in artifacts/ for a person to look at.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from emulated import DOWN_TIME

from clocks import FakeClock
from rpcdaemon.adapters.status.http import StatusServer
from rpcdaemon.config.settings import default_settings
from rpcdaemon.daemon.loop import Daemon, start_status_server
from rpcdaemon.emulator.cloud import Cloud
from rpcdaemon.emulator.server import serve
from rpcdaemon.model import L3_AGENT

TOKEN = "dash-t0ken-5ecret"
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--virtual-time-budget=4000", "--run-all-compositor-stages-before-draw"]


def chromium() -> str:
    path = shutil.which("chromium")
    if path is None:
        pytest.fail("chromium is not installed: ./dev test installs Debian's chromium package")
    return path


def browse(url: str, *extra: str) -> str:
    with tempfile.TemporaryDirectory() as profile:
        result = subprocess.run([chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *extra, url],
                                capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


@pytest.fixture
def dashboard() -> Iterator[tuple[StatusServer, Cloud, str]]:
    clock = FakeClock()
    cloud = Cloud.build(l3_agents=3, routers=6, dhcp_agents=2, networks=3, agent_down_time=DOWN_TIME, clock=clock,
                        seed=12)
    with serve(cloud) as emulator:
        settings = replace(default_settings(), neutron_endpoint=emulator.url, agent_down_time_s=DOWN_TIME,
                           status_listen=("127.0.0.1", 0), rpchost="amqp://rpc:hunter22@127.0.0.1//")
        daemon = Daemon(settings, clock=clock, member="dash-1")
        server = start_status_server(daemon)
        assert server is not None

        def step(seconds: float) -> None:
            while seconds > 0:
                clock.advance(5)
                daemon.run_once()
                seconds -= 5

        step(DOWN_TIME + 5)
        victim = next(a for a in cloud.stats()["agents"] if a["agent_type"] == L3_AGENT)
        cloud.set_agent_down(victim["id"])
        step(DOWN_TIME + 5)
        try:
            yield server, cloud, victim["host"]
        finally:
            server.stop()


def test_dashboard_marks_dead_agents_and_lists_actions(dashboard: tuple[StatusServer, Cloud, str]) -> None:
    server, _cloud, victim_host = dashboard
    dom = browse(server.url + "/", "--dump-dom")
    assert 'data-loaded="1"' in dom, dom[:500]
    assert 'data-verdict="dead"' in dom
    assert dom.count('class="agent dead"') == 1
    assert dom.count('class="action"') >= 2
    assert "move_router" in dom
    assert victim_host in dom
    assert "dash-1" in dom
    assert "hunter22" not in dom
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "dashboard.png"
    browse(server.url + "/", f"--screenshot={shot}", "--window-size=1280,900")
    assert shot.exists()
    assert shot.stat().st_size > 10_000


def status_document(member: str = "m") -> dict[str, Any]:
    return {"version": "x", "member": member, "role": "standalone", "dry_run": False, "last_pass": None,
            "warming_up": False, "members": [{"id": member, "role": "standalone"}], "notes": ["held"],
            "zones": [{"agent_type": "L3 agent", "zone": "nova", "total": 6, "dead": 4, "disrupted": True}],
            "agents": [], "recent_actions": []}


def test_dashboard_shows_the_disruption_banner() -> None:
    status = status_document()
    server = StatusServer("127.0.0.1", 0, lambda: status, lambda: b"", lambda: True).start()
    try:
        dom = browse(server.url + "/", "--dump-dom")
    finally:
        server.stop()
    assert 'id="banner" data-testid="disruption-banner" class="on"' in dom
    assert "DISRUPTION: evacuation held in L3 agent/nova (4 of 6 dead)" in dom


@pytest.fixture
def guarded() -> Iterator[StatusServer]:
    status = status_document("guarded-member")
    server = StatusServer("127.0.0.1", 0, lambda: status, lambda: b"", lambda: True, token=TOKEN).start()
    try:
        yield server
    finally:
        server.stop()


def test_dashboard_with_a_token_link_shows_data(guarded: StatusServer) -> None:
    dom = browse(guarded.url + f"/#token={TOKEN}", "--dump-dom")
    assert 'data-loaded="1"' in dom, dom[-1500:]  # /status answered: the page sent the token as a header
    assert "guarded-member" in dom
    assert "data-auth" not in dom
    assert '<form id="auth" hidden="">' in dom
    assert TOKEN not in dom


def test_dashboard_without_the_token_asks_for_it(guarded: StatusServer) -> None:
    dom = browse(guarded.url + "/", "--dump-dom")
    assert 'data-auth="needed"' in dom, dom[-1500:]
    assert "needs a token" in dom, dom[-1500:]
    assert 'data-loaded="1"' not in dom
    assert "guarded-member" not in dom
    assert '<form id="auth">' in dom  # shown
    dom = browse(guarded.url + "/#token=wrong", "--dump-dom")
    assert 'data-auth="refused"' in dom, dom[-1500:]
    assert "token was refused" in dom, dom[-1500:]
    assert 'data-loaded="1"' not in dom
