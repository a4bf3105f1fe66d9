"""The `rpcdaemon` command as an operator runs it: subprocesses, exit codes, messages, no tracebacks."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from clocks import FakeClock
from polling import poll
from rpcdaemon.emulator.cloud import Cloud
from rpcdaemon.emulator.server import serve
from rpcdaemon.model import L3_AGENT

RPCDAEMON = [sys.executable, "-m", "rpcdaemon.cli.main"]


def run(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*RPCDAEMON, *args], capture_output=True, text=True, timeout=timeout, check=False)


def write_config(path: Path, endpoint: str, extra: str = "") -> Path:
    path.write_text(
        "[Daemon]\nplugins = L3Agent DHCPAgent\n"
        f"neutron_endpoint = {endpoint}\ncheck_interval = 0.5\nagent_down_time = 2\nhold_down = 5\n"
        f"status_listen = 127.0.0.1:0\n{extra}\n"
        "[L3Agent]\ntimeout = 5\n[DHCPAgent]\ntimeout = 5\n"
    )
    return path


def test_check_config_missing_file(tmp_path: Path) -> None:
    result = run("check-config", "-c", str(tmp_path / "nope.conf"))
    assert result.returncode == 2
    assert "nope.conf" in result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr


def test_check_config_reports_every_problem_with_section_and_option(tmp_path: Path) -> None:
    conf = tmp_path / "bad.conf"
    conf.write_text("[Daemon]\nplugins = L3Agent DHCPagent\nchek_interval = 5\n[L3Agent]\ntimeout = soon\n")
    result = run("check-config", "-c", str(conf))
    assert result.returncode == 2
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 3, lines
    assert any("[Daemon] plugins" in line and "DHCPAgent" in line for line in lines)
    assert any("[Daemon]" in line and "check_interval" in line for line in lines)
    assert any("[L3Agent] timeout" in line for line in lines)
    assert all(line.startswith(str(conf)) for line in lines)


def test_check_config_accepts_a_valid_file(tmp_path: Path) -> None:
    conf = write_config(tmp_path / "ok.conf", "http://127.0.0.1:9")
    result = run("check-config", "-c", str(conf))
    assert result.returncode == 0, result.stdout + result.stderr


def test_daemon_with_bad_config_exits_2_without_traceback(tmp_path: Path) -> None:
    conf = tmp_path / "bad.conf"
    conf.write_text("[Daemon]\ncheck_interval = -1\n")
    result = run("-d", "-c", str(conf))
    assert result.returncode == 2
    assert "check_interval" in result.stderr
    assert "Traceback" not in result.stderr


def test_plan_json_lists_the_moves_without_acting(tmp_path: Path) -> None:
    clock = FakeClock()
    cloud = Cloud.build(l3_agents=3, routers=6, dhcp_agents=1, networks=0, agent_down_time=2, clock=clock, seed=3)
    with serve(cloud) as server:
        victim = next(a for a in cloud.stats()["agents"] if a["agent_type"] == L3_AGENT)
        cloud.set_agent_down(victim["id"])
        clock.advance(10)
        before = cloud.stats()["bindings"]
        result = run("plan", "-c", str(write_config(tmp_path / "c.conf", server.url)), "--json")
        assert result.returncode == 0, result.stderr
        plan = json.loads(result.stdout)
        moves = [c for c in plan if c["action"] == "move_router"]
        assert len(moves) == 2
        for change in plan:
            assert {"action", "resource_type", "resource_id", "from_agent", "to_agent", "reason"} <= set(change)
        assert all(m["from_agent"] == victim["id"] and m["to_agent"] != victim["id"] for m in moves)
        assert cloud.stats()["bindings"] == before
        assert not [k for k in cloud.stats()["calls"] if not k.startswith("GET")]
        text = run("plan", "-c", str(tmp_path / "c.conf"))
        assert "move_router" in text.stdout
        assert victim["host"] in text.stdout


def test_plan_against_an_unreachable_api_is_a_clear_error(tmp_path: Path) -> None:
    result = run("plan", "-c", str(write_config(tmp_path / "c.conf", "http://127.0.0.1:9")), timeout=120)
    assert result.returncode == 1
    assert "cannot read Neutron" in result.stderr
    assert "Traceback" not in result.stderr


def test_daemon_repairs_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    cloud = Cloud.build(l3_agents=3, routers=6, dhcp_agents=2, networks=3, agent_down_time=2, seed=5)
    audit = tmp_path / "audit.jsonl"
    with serve(cloud) as server:
        conf = write_config(tmp_path / "c.conf", server.url, f"audit_log = {audit}\n")
        proc = subprocess.Popen([*RPCDAEMON, "-d", "-c", str(conf)], stderr=subprocess.PIPE, text=True,
                                env={**os.environ, "PYTHONUNBUFFERED": "1"})
        try:
            dhcp = [a["id"] for a in cloud.stats()["agents"] if a["agent_type"] == "DHCP agent"]
            poll(lambda: all(sorted(v) == sorted(dhcp) for v in cloud.stats()["bindings"]["dhcp"].values()),
                 30, "every network on both DHCP agents")
            victim = next(a["id"] for a in cloud.stats()["agents"] if a["agent_type"] == L3_AGENT)
            cloud.set_agent_down(victim)
            poll(lambda: all(victim not in v and v for v in cloud.stats()["bindings"]["l3"].values()),
                 30, "routers moved off the dead agent")
            proc.send_signal(signal.SIGTERM)
            _, err = proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
        assert proc.returncode == 0, err
        assert "Traceback" not in err
        records = [json.loads(line) for line in audit.read_text().splitlines()]
        moves = [r for r in records if r["action"] == "move_router"]
        assert moves
        assert all(r["outcome"] == "done" and r["from_agent"] == victim for r in moves)
        assert all(r["reason"] for r in records)
