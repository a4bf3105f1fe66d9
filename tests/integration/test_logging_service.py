"""The daemon's log on a real host (issue 13): JSON lines from the running command, and a log file that logrotate
moves away (no copytruncate) or that a reload (SIGHUP) re-opens."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
from pathlib import Path

from test_cli import RPCDAEMON, write_config

from polling import poll
from rpcdaemon.emulator.cloud import Cloud
from rpcdaemon.emulator.server import serve

SECRET = "S3cretBusPass"


def json_messages(path: Path) -> list[str]:
    """The messages of a log file's JSON lines (its text lines skipped)."""
    lines = path.read_text().splitlines() if path.exists() else []
    return [json.loads(line)["message"] for line in lines if line.startswith("{")]


def test_a_foreground_daemon_logs_json_lines_with_secrets_redacted(tmp_path: Path) -> None:
    cloud = Cloud.build(l3_agents=2, routers=1, dhcp_agents=1, networks=1, agent_down_time=2, seed=3)
    with serve(cloud) as server:
        conf = write_config(tmp_path / "c.conf", server.url,
                            f"log_format = json\nrpchost = amqp://guest:{SECRET}@127.0.0.1:9//")
        proc = subprocess.Popen([*RPCDAEMON, "-d", "-c", str(conf)], stderr=subprocess.PIPE, text=True)
        try:
            assert proc.stderr is not None
            seen: list[dict[str, str]] = []
            for line in proc.stderr:
                seen.append(json.loads(line))
                assert SECRET not in line
                if "rpcdaemon running" in seen[-1]["message"]:
                    break
            assert seen and set(seen[-1]) == {"time", "level", "logger", "message"}
            assert (seen[-1]["level"], seen[-1]["logger"]) == ("INFO", "rpcdaemon")
            proc.send_signal(signal.SIGTERM)
            _out, rest = proc.communicate(timeout=60)
            assert proc.returncode == 0
            for line in rest.splitlines():
                json.loads(line)
                assert SECRET not in line
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def test_a_moved_log_file_is_created_anew_and_a_reload_reopens_it(tmp_path: Path) -> None:
    """Text lines until the reload; the reload re-opens the log with the new config's log_format (json)."""
    pidfile, log = tmp_path / "rpcdaemon.pid", tmp_path / "rpcdaemon.log"
    cloud = Cloud.build(l3_agents=2, routers=1, dhcp_agents=1, networks=1, agent_down_time=2, seed=4)
    with serve(cloud) as server:
        extra = f"pidfile = {pidfile}\nlogfile = {log}\nloglevel = DEBUG"
        conf = write_config(tmp_path / "c.conf", server.url, extra)
        try:
            result = subprocess.run([*RPCDAEMON, "-c", str(conf)], capture_output=True, text=True, timeout=60,
                                    check=False)
            assert result.returncode == 0, result.stderr
            pid = int(pidfile.read_text())
            poll(lambda: log.exists() and "rpcdaemon running" in log.read_text(), 30, "the daemon logging")
            os.rename(log, tmp_path / "rpcdaemon.log.1")  # logrotate, without copytruncate and without a signal
            poll(lambda: log.exists() and log.read_text() != "", 30, "the next lines in a new file (one per pass)")
            assert "rpcdaemon running" in (tmp_path / "rpcdaemon.log.1").read_text()
            write_config(conf, server.url, extra + "\nlog_format = json")
            os.kill(pid, signal.SIGHUP)
            poll(lambda: any(m.startswith("config reloaded from") for m in json_messages(log)), 30,
                 "the reload logged as JSON")
            os.kill(pid, signal.SIGTERM)
            poll(lambda: not pidfile.exists(), 60, "the daemon stopped")
        finally:
            with contextlib.suppress(OSError, ValueError):
                os.kill(int(pidfile.read_text()), signal.SIGKILL)
