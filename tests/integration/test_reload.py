"""SIGHUP applies every option that can be applied live, and says which ones need a restart (issue 11, item 8).

A reload used to log "config reloaded" and report the new values while a changed status_token, max_concurrency,
api_retries, timeouts, rpchost, audit_log and status_listen were silently ignored.
"""

from __future__ import annotations

import logging
import socket
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from rpcdaemon.config.load import load_settings
from rpcdaemon.daemon.loop import Daemon, start_status_server
from rpcdaemon.emulator.cloud import Cloud
from rpcdaemon.emulator.server import serve
from servers import free_port


def status(port: int, token: str) -> int:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/status", headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def config(path: Path, endpoint: str, port: int, token: str, **extra: str) -> str:
    lines = ["[Daemon]", "plugins = L3Agent DHCPAgent", f"neutron_endpoint = {endpoint}", "agent_down_time = 30",
             f"status_listen = 127.0.0.1:{port}", f"status_token = {token}"]
    lines += [f"{k} = {v}" for k, v in extra.items()]
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def test_a_reload_applies_what_it_can_and_warns_about_the_rest(tmp_path: Path,
                                                               caplog: pytest.LogCaptureFixture) -> None:
    cloud = Cloud.build(dhcp_agents=2, l3_agents=2, networks=2, routers=2, seed=8)
    with serve(cloud) as server:
        first, second = free_port(), free_port()
        path = config(tmp_path / "a.conf", server.url, first, "OldToken", max_concurrency="16", api_retries="3",
                      coordination_lease="10")
        daemon = Daemon(load_settings(path), member="reload")
        start_status_server(daemon)
        try:
            assert status(first, "OldToken") == 200
            audit = tmp_path / "audit.jsonl"
            path = config(tmp_path / "b.conf", server.url, second, "NewToken", max_concurrency="4",
                          api_retries="1", coordination_lease="20", audit_log=str(audit), dry_run="true")
            with caplog.at_level(logging.WARNING, logger="rpcdaemon"):
                assert daemon.reload(path)
            assert status(second, "NewToken") == 200
            assert status(second, "OldToken") == 401
            with pytest.raises(OSError):
                socket.create_connection(("127.0.0.1", first), timeout=2).close()
            assert (daemon.executor._max_concurrency, daemon.executor._retries, daemon.executor.dry_run) == (4, 1, True)
            assert daemon.audit is daemon.executor.audit
            assert str(daemon.audit._path) == str(audit)
            # the one that needs a restart is named, and the value in force is still reported
            assert any("coordination_lease" in r.getMessage() and "next start" in r.getMessage()
                       for r in caplog.records)
            assert daemon.settings.coordination_lease_s == 10.0
            assert daemon.settings.max_concurrency == 4
        finally:
            if daemon.status_server is not None:
                daemon.status_server.stop()
            daemon.audit.close()
