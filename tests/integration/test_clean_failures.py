"""Clean failures (issue 13, point 3): a way to Neutron that cannot work is one line naming what is wrong, in every
subcommand, exit 2 for the configuration and 1 for the cloud, before a detached daemon leaves a pidfile; a cloud
that is merely down is no reason to refuse a start (controllers restart in any order)."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pytest
from test_cli import RPCDAEMON
from test_service import _alive, _detached_config, _kill_from

from polling import poll
from rpcdaemon.emulator.cloud import Cloud
from rpcdaemon.emulator.server import serve


def run(args: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*RPCDAEMON, *args], capture_output=True, text=True, timeout=60, check=False,
                          env={**os.environ, **(env or {})})


def no_way_config(tmp_path: Path, way: str) -> Path:
    pidfile = tmp_path / "rpcdaemon.pid"
    conf = _detached_config(tmp_path, "http://127.0.0.1:9", pidfile)
    text = conf.read_text().replace("neutron_endpoint = http://127.0.0.1:9\n", way)
    conf.write_text(text)
    return conf


@pytest.mark.parametrize(("way", "expected"), [
    ("cloud = nosuchcloud\n", "[Daemon] cloud 'nosuchcloud': Cloud nosuchcloud was not found."),
    ("", "no way to Neutron is configured ([Daemon] cloud, neutron_endpoint, or a conffile's Keystone "
         "credentials)"),
])
def test_a_way_to_neutron_that_cannot_work_is_one_line_and_exit_2_everywhere(tmp_path: Path, way: str,
                                                                              expected: str) -> None:
    conf = no_way_config(tmp_path, way)
    env = {"OS_CLIENT_CONFIG_FILE": str(tmp_path / "no-clouds.yaml"), "OS_CLOUD": "", "OS_AUTH_URL": ""}
    env = {k: v for k, v in env.items() if v} | {"HOME": str(tmp_path)}  # no clouds.yaml, no OS_* anywhere
    clean = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
    for args in (["check-config", "-c", str(conf)], ["plan", "-c", str(conf)], ["-d", "-c", str(conf)],
                 ["-c", str(conf)]):
        result = subprocess.run([*RPCDAEMON, *args], capture_output=True, text=True, timeout=60, check=False,
                                env={**clean, **env})
        out = result.stdout + result.stderr
        assert result.returncode == 2, (args, out)
        assert expected in out, (args, out)
        assert "Traceback" not in out, (args, out)
        lines = [line for line in out.splitlines() if line.strip()]
        assert len(lines) == 1, (args, out)
        assert not (tmp_path / "rpcdaemon.pid").exists(), args


def test_credentials_without_the_admin_role_fail_the_start_with_one_line_and_no_pidfile(tmp_path: Path) -> None:
    cloud = Cloud.build(l3_agents=2, routers=2, dhcp_agents=1, networks=1, agent_down_time=2, seed=12)
    with serve(cloud) as server:
        pidfile = tmp_path / "rpcdaemon.pid"
        conf = _detached_config(tmp_path, server.url, pidfile)
        for args in (["-c", str(conf)], ["-d", "-c", str(conf)]):
            cloud.faults.add("GET", "/v2.0/agents", status=403)  # what Neutron answers a user without admin
            try:
                result = run(args)
                assert result.returncode == 1, result.stderr
                assert "lack the admin role" in result.stderr and "403" in result.stderr, result.stderr
                assert "Traceback" not in result.stderr
                assert len(result.stderr.strip().splitlines()) == 1, result.stderr
                assert not pidfile.exists()
            finally:
                _kill_from(pidfile)


def test_a_cloud_that_is_down_does_not_refuse_the_start(tmp_path: Path) -> None:
    pidfile = tmp_path / "rpcdaemon.pid"
    conf = _detached_config(tmp_path, "http://127.0.0.1:9", pidfile)  # nothing listens there
    try:
        result = run(["-c", str(conf)])
        assert result.returncode == 0, result.stderr
        pid = int(pidfile.read_text())
        assert _alive(pid)
        log = tmp_path / "rpcdaemon.log"
        poll(lambda: "starting anyway, every pass retries" in log.read_text(), 30, "the warning in the log")
        os.kill(pid, signal.SIGTERM)
        poll(lambda: not _alive(pid), 30, "the daemon exited on SIGTERM")
    finally:
        _kill_from(pidfile)


def test_check_config_online_reads_the_cloud_once_and_says_what_the_first_pass_would_do(tmp_path: Path) -> None:
    cloud = Cloud.build(l3_agents=3, routers=6, dhcp_agents=2, networks=3, dhcp_per_network=1, agent_down_time=2,
                        seed=13)
    conffile = tmp_path / "neutron.conf"
    conffile.write_text("[DEFAULT]\ncore_plugin = ml2\nallow_automatic_l3agent_failover = true\n"
                        "[database]\nconnection = mysql+pymysql://neutron:Pa55word@db/neutron\n")
    with serve(cloud) as server:
        conf = tmp_path / "rpcdaemon.conf"
        conf.write_text(f"[Daemon]\nneutron_endpoint = {server.url}\nagent_down_time = 2\ncheck_interval = 0.5\n"
                        f"[L3Agent]\nconffile = {conffile}\n[DHCPAgent]\nconffile = {conffile}\n")
        result = run(["check-config", "--online", "-c", str(conf)])
        out = result.stdout
        assert result.returncode == 0, out + result.stderr
        assert "a token was issued, the network endpoint answered, the admin role is effective" in out
        assert "3 L3 agent (legacy) alive" in out and "2 DHCP agent alive" in out
        assert "the first pass would make 3 change(s): 3 add_network" in out  # `all` DHCP agents: one more each
        assert "allow_automatic_l3agent_failover is true" in out
        assert "allow_automatic_dhcp_failover is unset (Neutron's default: true)" in out
        assert "Pa55word" not in out
        assert cloud.stats()["calls"].get("POST /v2.0/agents/{id}/dhcp-networks", 0) == 0  # it acted on nothing
        cloud.faults.add("GET", "/v2.0/agents", status=403)
        refused = run(["check-config", "--online", "-c", str(conf)])
        assert refused.returncode == 1 and "lack the admin role" in refused.stdout, refused.stdout
