"""rpcdaemon as a service: SIGTERM drains, SIGHUP reloads (or keeps the old config), the pidfile is honoured, and a
detached start reports its errors to the command the operator ran."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
from pathlib import Path

from test_cli import RPCDAEMON, write_config

from polling import poll
from rpcdaemon.emulator.cloud import Cloud
from rpcdaemon.emulator.server import serve
from rpcdaemon.model import L3_AGENT


def test_sigterm_mid_evacuation_leaves_no_router_hosted_nowhere(tmp_path: Path) -> None:
    cloud = Cloud.build(l3_agents=3, routers=0, dhcp_agents=1, networks=0, agent_down_time=2, seed=4)
    victim = next(a for a in cloud.agents.values() if a.agent_type == L3_AGENT)
    for _ in range(80):
        cloud.bind_router(victim.id, cloud.add_router())
    with serve(cloud) as server:
        conf = write_config(tmp_path / "c.conf", server.url, "max_concurrency = 4\n")
        proc = subprocess.Popen([*RPCDAEMON, "-d", "-c", str(conf)], stderr=subprocess.PIPE, text=True)
        try:
            poll(lambda: cloud.stats()["calls"].get("GET /v2.0/agents", 0) >= 2, 30, "daemon polling")
            cloud.latency_s = 0.05  # slow API: the evacuation takes seconds
            cloud.set_agent_down(victim.id)
            poll(lambda: cloud.stats()["calls"].get("DELETE /v2.0/agents/{id}/l3-routers/{id}", 0) >= 8, 60,
                 "evacuation under way")
            proc.send_signal(signal.SIGTERM)
            _, err = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
        assert proc.returncode == 0, err
        bindings = cloud.stats()["bindings"]["l3"]
        assert all(bindings.values()), "a router was left hosted nowhere"
        moved = [r for r, agents in bindings.items() if victim.id not in agents]
        assert 0 < len(moved) < 80  # it stopped part-way, after finishing the moves in flight
        assert "finishing the changes in flight" in err


def test_sighup_with_a_broken_config_keeps_the_old_one(tmp_path: Path) -> None:
    cloud = Cloud.build(l3_agents=2, routers=2, dhcp_agents=1, networks=1, agent_down_time=2, seed=6)
    with serve(cloud) as server:
        conf = write_config(tmp_path / "c.conf", server.url)
        proc = subprocess.Popen([*RPCDAEMON, "-d", "-c", str(conf)], stderr=subprocess.PIPE, text=True)
        try:
            poll(lambda: cloud.stats()["calls"].get("GET /v2.0/agents", 0) >= 2, 30, "daemon polling")
            conf.write_text("[Daemon]\ncheck_interval = never\n")
            proc.send_signal(signal.SIGHUP)
            before = cloud.stats()["calls"]["GET /v2.0/agents"]
            poll(lambda: cloud.stats()["calls"]["GET /v2.0/agents"] >= before + 3, 30, "still polling after HUP")
            assert proc.poll() is None
            proc.send_signal(signal.SIGTERM)
            _, err = proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
        assert proc.returncode == 0
        assert "config reload refused" in err
        assert "check_interval" in err


def test_pidfile_held_by_a_live_process_refuses_to_start(tmp_path: Path) -> None:
    pidfile = tmp_path / "rpcdaemon.pid"
    pidfile.write_text(f"{os.getpid()}\n")
    conf = write_config(tmp_path / "c.conf", "http://127.0.0.1:9", f"pidfile = {pidfile}\nlogfile = {tmp_path}/log\n")
    result = subprocess.run([*RPCDAEMON, "-c", str(conf)], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 1
    assert "already running" in result.stderr
    assert str(os.getpid()) in result.stderr


def test_stale_pidfile_is_replaced_and_the_daemon_detaches(tmp_path: Path) -> None:
    pidfile = tmp_path / "rpcdaemon.pid"
    pidfile.write_text("999999\n")  # no such process
    log = tmp_path / "rpcdaemon.log"
    cloud = Cloud.build(l3_agents=2, routers=2, dhcp_agents=1, networks=1, agent_down_time=2, seed=8)
    with serve(cloud) as server:
        conf = write_config(tmp_path / "c.conf", server.url, f"pidfile = {pidfile}\nlogfile = {log}\n")
        try:
            result = subprocess.run([*RPCDAEMON, "-c", str(conf)], capture_output=True, text=True, timeout=60,
                                    check=False)
            assert result.returncode == 0, result.stderr  # the parent returns once the child detached
            poll(lambda: pidfile.exists() and pidfile.read_text().strip() not in ("", "999999"), 30,
                 "pidfile rewritten")
            pid = int(pidfile.read_text())
            poll(lambda: log.exists() and "rpcdaemon running" in log.read_text(), 30, "logging to the logfile")
            os.kill(pid, signal.SIGTERM)
            poll(lambda: not pidfile.exists(), 30, "pidfile removed at exit")
            poll(lambda: not _alive(pid), 10, "daemon exited on SIGTERM")
        finally:
            _kill_from(pidfile)


def _detached_config(tmp_path: Path, endpoint: str, pidfile: Path, status: str = "127.0.0.1:0") -> Path:
    conf = tmp_path / "detached.conf"
    conf.write_text(
        "[Daemon]\nplugins = L3Agent DHCPAgent\n"
        f"neutron_endpoint = {endpoint}\ncheck_interval = 0.5\nagent_down_time = 2\nhold_down = 5\n"
        f"status_listen = {status}\npidfile = {pidfile}\nlogfile = {tmp_path / 'rpcdaemon.log'}\n"
        "[L3Agent]\ntimeout = 5\n[DHCPAgent]\ntimeout = 5\n"
    )
    return conf


def test_a_symlink_pidfile_is_refused_and_nothing_is_written_through_it(tmp_path: Path) -> None:
    target = tmp_path / "precious"
    target.write_text("keep me\n")
    link = tmp_path / "rpcdaemon.pid"
    link.symlink_to(target)
    conf = _detached_config(tmp_path, "http://127.0.0.1:9", link)
    try:
        result = subprocess.run([*RPCDAEMON, "-c", str(conf)], capture_output=True, text=True, timeout=60,
                                check=False)
        assert result.returncode != 0
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, result.stderr
        assert "symbolic link" in lines[0], result.stderr
        assert target.read_text() == "keep me\n"
        assert link.is_symlink()
    finally:
        _kill_from(target)


def test_two_daemons_started_at_once_exactly_one_runs(tmp_path: Path) -> None:
    pidfile = tmp_path / "rpcdaemon.pid"
    cloud = Cloud.build(l3_agents=2, routers=2, dhcp_agents=1, networks=1, agent_down_time=2, seed=9)
    with serve(cloud) as server:
        conf = _detached_config(tmp_path, server.url, pidfile)
        try:
            procs = [subprocess.Popen([*RPCDAEMON, "-c", str(conf)], stderr=subprocess.PIPE, text=True)
                     for _ in range(2)]
            errs = [p.communicate(timeout=60)[1] for p in procs]
            codes = [p.returncode for p in procs]
            assert sorted(codes) == [0, 1], errs
            loser = errs[codes.index(1)]
            assert "already running" in loser, loser
            pid = int(pidfile.read_text())
            assert _alive(pid)
            os.kill(pid, signal.SIGTERM)
            poll(lambda: not _alive(pid), 30, "the daemon exited on SIGTERM")
            assert not pidfile.exists()
        finally:
            _kill_from(pidfile)


def test_a_taken_status_port_fails_the_start_with_the_message_and_no_pidfile(tmp_path: Path) -> None:
    pidfile = tmp_path / "rpcdaemon.pid"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        conf = _detached_config(tmp_path, "http://127.0.0.1:9", pidfile, status=f"127.0.0.1:{port}")
        try:
            result = subprocess.run([*RPCDAEMON, "-c", str(conf)], capture_output=True, text=True, timeout=60,
                                    check=False)
            assert result.returncode == 1, result.stderr
            assert f"cannot serve status on 127.0.0.1:{port}" in result.stderr
            assert len(result.stderr.strip().splitlines()) == 1, result.stderr
            assert not pidfile.exists()
            assert f"cannot serve status on 127.0.0.1:{port}" in (tmp_path / "rpcdaemon.log").read_text()
        finally:
            _kill_from(pidfile)


def test_a_log_file_that_cannot_be_opened_fails_the_start(tmp_path: Path) -> None:
    pidfile = tmp_path / "rpcdaemon.pid"
    conf = _detached_config(tmp_path, "http://127.0.0.1:9", pidfile)
    (tmp_path / "not-a-dir").write_text("")
    conf.write_text(conf.read_text().replace(str(tmp_path / "rpcdaemon.log"), str(tmp_path / "not-a-dir" / "log")))
    try:
        result = subprocess.run([*RPCDAEMON, "-c", str(conf)], capture_output=True, text=True, timeout=60,
                                check=False)
        assert result.returncode == 1, result.stderr
        assert "cannot open the log file" in result.stderr
        assert "Traceback" not in result.stderr
        assert not pidfile.exists()
    finally:
        _kill_from(pidfile)


def test_a_good_start_returns_once_the_daemon_is_ready(tmp_path: Path) -> None:
    """When the command returns 0 the pidfile names the live daemon and the status port answers: no waiting."""
    pidfile = tmp_path / "rpcdaemon.pid"
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    cloud = Cloud.build(l3_agents=2, routers=2, dhcp_agents=1, networks=1, agent_down_time=2, seed=10)
    with serve(cloud) as server:
        conf = _detached_config(tmp_path, server.url, pidfile, status=f"127.0.0.1:{port}")
        try:
            result = subprocess.run([*RPCDAEMON, "-c", str(conf)], capture_output=True, text=True, timeout=60,
                                    check=False)
            assert result.returncode == 0, result.stderr
            assert result.stderr == ""
            pid = int(pidfile.read_text())
            assert _alive(pid)
            socket.create_connection(("127.0.0.1", port), timeout=5).close()
            os.kill(pid, signal.SIGTERM)
            poll(lambda: not _alive(pid), 30, "the daemon exited on SIGTERM")
            assert not pidfile.exists()
        finally:
            _kill_from(pidfile)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _kill_from(pidfile: Path) -> None:
    """Whatever happened, leave no detached daemon behind."""
    try:
        pid = int(pidfile.read_text().strip())
    except (OSError, ValueError):
        return
    if pid != 999999 and _alive(pid):
        os.kill(pid, signal.SIGKILL)
