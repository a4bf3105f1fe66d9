"""One marker secret planted in every input; no output of rpcdaemon may show it.

The marker is the password of the Neutron endpoint, of the broker (both hosts of an oslo multi-host rpchost), of
the coordination backend and of a clouds.yaml cloud (and its auth_url); it is the status token; it is in a config
line above the first section header (a refused reload, check-config); it is in bus messages (the context's token,
JSON-encoded strings, header pairs) and in the API's error bodies. Outputs read: both daemons' logs (run as
processes against the emulator and a real RabbitMQ whose only user has the marker as password), /status,
/metrics, `rpcdaemon status`, `plan`, `check-config`, `dump` and `dump --json`, and the audit log.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from bus.agents import Publisher, context, heartbeat, notification
from bus.rabbit import Rabbit
from polling import poll
from rpcdaemon.adapters.neutron.client import NeutronClient, NeutronReadError
from rpcdaemon.cli.status import render
from rpcdaemon.config.settings import default_settings
from rpcdaemon.daemon.process import configure_logging
from rpcdaemon.emulator.bus import envelope
from rpcdaemon.emulator.cloud import Cloud
from rpcdaemon.emulator.server import serve
from servers import free_port

MARKER = "S3cr3tMarker"
RPCDAEMON = [sys.executable, "-m", "rpcdaemon.cli.main"]
ENV = {k: v for k, v in os.environ.items() if not k.startswith("OS_")} | {"PYTHONUNBUFFERED": "1"}


class MarkerRabbit(Rabbit):
    """The bus tests' RabbitMQ, whose only user is `marker` with the marker as password."""

    def __init__(self) -> None:
        super().__init__()
        with (self.base / "rabbitmq.conf").open("a") as conf:
            conf.write(f"default_user = marker\ndefault_pass = {MARKER}\n")

    @property
    def url(self) -> str:
        return f"amqp://marker:{MARKER}@127.0.0.1:{self.port}//"


@pytest.fixture(scope="module")
def broker() -> Iterator[MarkerRabbit]:
    rabbit = MarkerRabbit()
    rabbit.start()
    try:
        yield rabbit
    finally:
        rabbit.cleanup()


def run(*args: str, env: dict[str, str] | None = None) -> str:
    result = subprocess.run([*RPCDAEMON, *args], capture_output=True, text=True, timeout=60, check=False,
                            env=env or ENV)
    return f"exit {result.returncode}\n{result.stdout}{result.stderr}"


def closed_port() -> int:
    return free_port()  # bound and released: nothing listens there


def test_a_neutron_read_error_does_not_carry_the_endpoint_password(tmp_path: Path) -> None:
    """keystoneauth quotes the URL it could not reach, credentials included: the error went as it was to /status
    (last_pass.error), the log and `plan`."""
    endpoint = f"http://admin:NeutronPass@127.0.0.1:{closed_port()}"
    client = NeutronClient.connect(endpoint=endpoint, timeout_s=2)
    with pytest.raises(NeutronReadError) as info:
        client.fetch_snapshot(dhcp=True, l3=True)
    assert "NeutronPass" not in str(info.value)
    assert "admin:***@127.0.0.1" in str(info.value)
    conf = tmp_path / "rpcdaemon.conf"
    conf.write_text(f"[Daemon]\nneutron_endpoint = {endpoint}\n[L3Agent]\ntimeout = 2\n[DHCPAgent]\ntimeout = 2\n")
    out = run("plan", "-c", str(conf))
    assert out.startswith("exit 1")
    assert "cannot read Neutron" in out
    assert "NeutronPass" not in out


def test_every_log_line_is_redacted(capsys: pytest.CaptureFixture[str]) -> None:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        configure_logging(replace(default_settings(), loglevel="INFO"), foreground=True)
        logging.getLogger("rpcdaemon.test").warning("reached %s as %s", f"rabbit://u:a@h1,u:{MARKER}@h2/",
                                                    "host\x1b[2J")
        try:
            raise OSError(f"cannot reach http://admin:{MARKER}@h:9696: X-Auth-Token: {MARKER}")
        except OSError:
            logging.getLogger("rpcdaemon.test").exception("failed")
    finally:
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in handlers:
            root.addHandler(handler)
        root.setLevel(level)
    err = capsys.readouterr().err
    assert "reached rabbit://u:***@h1,u:***@h2/ as host\\x1b[2J" in err
    assert "Traceback" in err
    assert MARKER not in err
    assert "\x1b" not in err


# --- the marker in every input, every output read ---------------------------------------------------------------

TEXT_ERROR = f"upstream http://neutron:{MARKER}@10.0.0.9:9696 failed; token={MARKER}"
JSON_ERROR = json.dumps({"NeutronError": {
    "type": "DBConnectionError", "detail": "",
    "message": f"mysql+pymysql://neutron:{MARKER}@db/neutron refused; request {{\"password\": \"{MARKER}\"}}; "
               f"X-Auth-Token: {MARKER}",
}})


def bus_messages() -> list[tuple[str, str]]:
    nested = json.dumps({"_context_auth_token": MARKER, "password": MARKER,
                         "inner": json.dumps({"token": MARKER})})
    rpc = envelope({"method": "sync_routers", "version": "1.0",
                    "args": {"headers": [["X-Auth-Token", MARKER], ["Accept", "application/json"]],
                             "request": nested, "url": f"amqp://u:{MARKER}@h:5672/"},
                    **context(), "_context_auth_token": MARKER})
    note = notification("router.update.end", {"router": {"id": "r-1", "revision_number": 2}, "request": nested,
                                              "env": [["HTTP_X_AUTH_TOKEN", MARKER]]})
    return [(heartbeat("net-1", "L3 agent").replace(context()["_context_auth_token"], MARKER), "q-reports-plugin"),
            (note, "notifications.info"), (rpc, "q-l3-plugin"), (f"password={MARKER} not json", "q-plugin")]


class Daemon:
    def __init__(self, conf: Path, log: Path, env: dict[str, str] = ENV) -> None:
        self.log = log
        self._err = log.open("w")
        self.proc = subprocess.Popen([*RPCDAEMON, "-d", "-c", str(conf)], stderr=self._err, env=env)

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            self._err.close()


def get(url: str) -> tuple[dict[str, Any] | None, str]:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {MARKER}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        body = response.read().decode()
    return (json.loads(body) if url.endswith("/status") else None), body


class Dump:
    """`rpcdaemon dump` as a process, reading until it has printed `count` messages."""

    def __init__(self, conf: Path, *args: str) -> None:
        self.proc = subprocess.Popen([*RPCDAEMON, "dump", "-c", str(conf), "--count", "4", *args],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
        assert self.proc.stderr is not None
        line = self.proc.stderr.readline()  # "# dumping ..." once its queue is bound
        assert line.startswith("# dumping"), line + self.proc.stderr.read()
        self.output = ""
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        out, err = self.proc.communicate(timeout=60)
        self.output = out + err

    def done(self) -> bool:
        return not self._reader.is_alive()


def test_a_planted_secret_reaches_no_output(tmp_path: Path, broker: MarkerRabbit) -> None:
    cloud = Cloud.build(dhcp_agents=2, l3_agents=2, networks=3, routers=2, agent_down_time=75, seed=11)
    cloud.add_fault("GET", "GET /v2.0/agents", status=400, body=TEXT_ERROR, count=4)
    cloud.add_fault("POST", "POST /v2.0/agents/{id}/dhcp-networks", status=400, body=JSON_ERROR, count=1)
    outputs: dict[str, str] = {}
    with serve(cloud) as server:
        emulator = server.url.removeprefix("http://")
        status_a, status_b = free_port(), free_port()
        audit = tmp_path / "audit.jsonl"
        rpchost = f"rabbit://marker:{MARKER}@127.0.0.1:{broker.port},marker:{MARKER}@127.0.0.1:{broker.port}/"
        common = "check_interval = 0.5\nagent_down_time = 2\nhold_down = 0\nloglevel = DEBUG\n"
        plugins = "[L3Agent]\ntimeout = 5\n[DHCPAgent]\ntimeout = 5\n"
        conf_a = tmp_path / "a.conf"
        conf_a.write_text(
            f"[Daemon]\nplugins = L3Agent DHCPAgent Dump\nrpchost = {rpchost}\n"
            f"neutron_endpoint = http://admin:{MARKER}@{emulator}\n{common}"
            f"status_listen = 127.0.0.1:{status_a}\nstatus_token = {MARKER}\naudit_log = {audit}\n"
            f"{plugins}[Dump]\nloglevel = DEBUG\n")
        clouds = tmp_path / "clouds.yaml"
        clouds.write_text(
            "clouds:\n  markercloud:\n    auth:\n"
            f"      auth_url: http://admin:{MARKER}@127.0.0.1:{closed_port()}/identity/v3\n"
            f"      username: admin\n      password: {MARKER}\n      project_name: admin\n"
            "      user_domain_name: Default\n      project_domain_name: Default\n    region_name: RegionOne\n")
        conf_b = tmp_path / "b.conf"
        conf_b.write_text(
            f"[Daemon]\ncloud = markercloud\ncoordination_url = etcd3+http://root:{MARKER}@127.0.0.1:{closed_port()}\n"
            f"{common}status_listen = 127.0.0.1:{status_b}\nstatus_token = {MARKER}\n{plugins}")
        env_b = ENV | {"OS_CLIENT_CONFIG_FILE": str(clouds)}

        a, b = Daemon(conf_a, tmp_path / "a.log"), Daemon(conf_b, tmp_path / "b.log", env_b)
        try:
            snapshots: list[str] = []

            def pass_error_shown() -> bool:
                try:
                    status, body = get(f"http://127.0.0.1:{status_a}/status")
                except OSError:
                    return False
                snapshots.append(body)
                return status is not None and bool((status["last_pass"] or {}).get("error"))

            poll(pass_error_shown, 30, "a failed read in A's /status")
            dumps = [Dump(conf_a, "--json"), Dump(conf_a)]
            publisher = Publisher(broker.url)
            try:
                def heard() -> bool:
                    for body, key in bus_messages():
                        publisher.publish(body, key)
                    return all(d.done() for d in dumps) and "q-l3-plugin sync_routers" in a.text()

                poll(heard, 30, "both dumps done, A's Dump plugin heard the messages", interval_s=0.2)
            finally:
                publisher.close()
            poll(lambda: '"outcome": "failed"' in (audit.read_text() if audit.exists() else ""), 30,
                 "the refused add in the audit log")
            dhcp = {x["id"] for x in cloud.stats()["agents"] if x["agent_type"] == "DHCP agent"}
            poll(lambda: all(set(v) == dhcp for v in cloud.stats()["bindings"]["dhcp"].values()), 30,
                 "every network on both DHCP agents")
            status, body = get(f"http://127.0.0.1:{status_a}/status")
            assert status is not None
            assert any(r["outcome"] == "failed" for r in status["recent_actions"])
            snapshots.append(body)
            outputs["A /status"] = "\n".join(snapshots)
            outputs["A /metrics"] = get(f"http://127.0.0.1:{status_a}/metrics")[1]
            url = f"http://127.0.0.1:{status_a}"
            outputs["status"] = run("status", "--url", url, "--token", MARKER)
            outputs["status --json"] = run("status", "--url", url, "--token", MARKER, "--json")
            outputs["dump --json"], outputs["dump"] = dumps[0].output, dumps[1].output

            poll(lambda: "coordination backend unreachable" in b.text() and "cannot read the cloud" in b.text(),
                 30, "B's errors")
            outputs["B /status"] = get(f"http://127.0.0.1:{status_b}/status")[1]

            conf_a.write_text(f"status_token = {MARKER}\n" + conf_a.read_text())
            a.proc.send_signal(signal.SIGHUP)
            poll(lambda: "config reload refused" in a.text(), 30, "the refused reload")
        finally:
            a.stop()
            b.stop()
        outputs["A log"], outputs["B log"], outputs["audit"] = a.text(), b.text(), audit.read_text()

        conf_a.write_text(conf_a.read_text().split("\n", 1)[1])  # valid again
        outputs["plan"] = run("plan", "-c", str(conf_a))
        outputs["plan --json"] = run("plan", "-c", str(conf_a), "--json")
        outputs["plan, clouds.yaml"] = run("plan", "-c", str(conf_b), env=env_b)

    outputs["check-config"] = run("check-config", "-c", str(conf_a)) + run("check-config", "-c", str(conf_b))
    neutron = tmp_path / "neutron.conf"
    neutron.write_text(f"connection = mysql+pymysql://neutron:{MARKER}@db/neutron\n[DEFAULT]\n")
    broken = tmp_path / "broken.conf"
    broken.write_text(f"status_token = {MARKER}\n[Daemon]\nneutron_endpoint = admin:{MARKER}@h:9696\n"
                      f"[L3Agent]\nconffile = {neutron}\n")
    outputs["check-config, broken"] = run("check-config", "-c", str(broken))
    broken.write_text(broken.read_text().split("\n", 1)[1])
    outputs["check-config, bad values"] = run("check-config", "-c", str(broken))
    outputs["start, broken"] = run("-d", "-c", str(broken))

    leaks = {name: [line for line in text.splitlines() if MARKER in line][:3]
             for name, text in outputs.items() if MARKER in text}
    assert not leaks, leaks
    # and each output did go through the paths that carry the marker (or this test would prove nothing)
    assert "***" in outputs["A log"]
    assert "cannot read the cloud" in outputs["A log"]
    assert "rpcdaemon.dump" in outputs["A log"]
    assert "config reload refused" in outputs["A log"]
    assert "line 1: not a valid ini file" in outputs["A log"]
    assert '"last_pass": {' in outputs["A /status"]
    assert "upstream http://neutron:***@" in outputs["A /status"]
    assert "mysql+pymysql://neutron:***@db" in outputs["audit"]
    assert '"auth_token": "***"' in outputs["dump --json"]
    assert '["X-Auth-Token", "***"]' in outputs["dump --json"]
    assert outputs["dump"].count("\n") >= 4
    assert "coordination backend unreachable" in outputs["B log"]
    assert "http://admin:***@" in outputs["B log"]
    assert outputs["plan"].startswith("exit 0")
    assert "cannot read Neutron" in outputs["plan, clouds.yaml"]
    assert "line 1: not a valid ini file" in outputs["check-config, broken"]
    assert "[L3Agent] conffile: cannot read neutron config" in outputs["check-config, bad values"]


def test_plan_shows_no_secret_from_an_api_error_body(tmp_path: Path) -> None:
    cloud = Cloud.build(dhcp_agents=1, l3_agents=1, networks=1, routers=1, seed=12)
    # twice: plan's probe (one GET /agents) answers the first, its read of the cloud the second
    cloud.add_fault("GET", "GET /v2.0/agents", status=400, body=JSON_ERROR, count=2)
    with serve(cloud) as server:
        conf = tmp_path / "rpcdaemon.conf"
        conf.write_text(f"[Daemon]\nneutron_endpoint = {server.url}\n")
        out = run("plan", "-c", str(conf))
    assert out.startswith("exit 1")
    assert "DBConnectionError" not in out
    assert "mysql+pymysql://neutron:" in out
    assert MARKER not in out


def test_the_status_table_escapes_and_redacts_what_the_cloud_said() -> None:
    status = {"version": "x", "member": "m", "role": "standalone", "members": [], "leader": "m", "acting": True,
              "last_pass": {"outcome": "error", "duration_s": 0.1,
                            "error": f"GET /agents: HTTP 400 http://admin:{MARKER}@h:9696"},
              "zones": [], "notes": [], "recent_actions": [],
              "agents": [{"agent_type": "L3 agent", "host": "net-1\x1b]0;pwned\x07\x1b[2J", "availability_zone": None,
                          "verdict": "alive", "admin_state_up": True, "api_alive": True, "load": 1, "reason": "ok"}]}
    table = render(status)
    assert MARKER not in table
    assert "\x1b" not in table
    assert "\x07" not in table
    assert "net-1\\x1b]0;pwned\\x07\\x1b[2J" in table
    assert "http://admin:***@h:9696" in table
