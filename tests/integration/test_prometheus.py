"""The alert rules (etc/prometheus/rpcdaemon-alerts.yml) against Debian's Prometheus and promtool.

Why a real Prometheus: a rule is only as good as its expression against the metrics as really scraped (names with
`_total`, label values with spaces, series present at zero), which neither promtool's syntax check nor a test of
the gauges alone can show. Prometheus runs on 127.0.0.1 with a temporary config and storage, scraping every second
the status port of a Daemon on the emulated cloud, with the rules' `for:` shortened; it is stopped by PID, also
when the test fails (tests/servers.py). The Daemon runs in dry_run, so a dead agent's routers stay where they are
and the alert can fire; its passes are stepped by the test on a fake clock, and every wait polls with a deadline.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import urllib.request
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from emulated import DOWN_TIME
from prometheus_client.parser import text_string_to_metric_families

from clocks import FakeClock
from rpcdaemon.config.settings import default_settings
from rpcdaemon.daemon.loop import Daemon, start_status_server
from rpcdaemon.emulator.cloud import Cloud
from rpcdaemon.emulator.server import serve
from rpcdaemon.model import L3_AGENT
from servers import Proc, free_port, start, wait_for

RULES = Path(__file__).resolve().parents[2] / "etc" / "prometheus" / "rpcdaemon-alerts.yml"
PROMETHEUS = "/usr/bin/prometheus"
PROMTOOL = "/usr/bin/promtool"
ALERT = "RpcdaemonRoutersOnDeadAgents"


def need(binary: str) -> str:
    if shutil.which(binary) is None:
        raise RuntimeError(f"{binary} not found: ./dev test installs Debian's prometheus package")
    return binary


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.loads(response.read())


def test_promtool_accepts_the_rules() -> None:
    result = subprocess.run([need(PROMTOOL), "check", "rules", str(RULES)], capture_output=True, text=True,
                            timeout=60, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


class Prometheus:
    def __init__(self, proc: Proc, url: str) -> None:
        self.proc, self.url = proc, url

    def alert_states(self, name: str) -> list[str]:
        alerts = get_json(self.url + "/api/v1/alerts")["data"]["alerts"]
        return [a["state"] for a in alerts if a["labels"]["alertname"] == name]


@pytest.fixture
def prometheus_for(tmp_path: Path) -> Iterator[Any]:
    procs: list[Proc] = []

    def launch(target: str) -> Prometheus:
        rules = tmp_path / "rules.yml"
        rules.write_text(re.sub(r"(?m)^(\s*)for: \S+$", r"\1for: 2s", RULES.read_text()))
        config = tmp_path / "prometheus.yml"
        config.write_text(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
            f"rule_files:\n  - {rules}\n"
            f"scrape_configs:\n  - job_name: rpcdaemon\n    static_configs:\n      - targets: ['{target}']\n"
        )
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        proc = start("prometheus", [need(PROMETHEUS), f"--config.file={config}",
                                    f"--storage.tsdb.path={tmp_path / 'data'}",
                                    f"--web.listen-address=127.0.0.1:{port}"],
                     tmp_path / "prometheus.log", lambda: get_json(url + "/api/v1/status/buildinfo"), 60,
                     "Prometheus to answer")
        procs.append(proc)
        return Prometheus(proc, url)

    try:
        yield launch
    finally:
        for proc in procs:
            proc.stop()


def test_routers_on_a_dead_agent_fire_the_alert_until_it_comes_back(prometheus_for: Any) -> None:
    clock = FakeClock()
    cloud = Cloud.build(l3_agents=3, routers=6, dhcp_agents=2, networks=2, agent_down_time=DOWN_TIME,
                        clock=clock, seed=9)
    with serve(cloud) as emulator:
        settings = replace(default_settings(), neutron_endpoint=emulator.url, agent_down_time_s=DOWN_TIME,
                           status_listen=("127.0.0.1", 0), dry_run=True)
        daemon = Daemon(settings, clock=clock, member="prom-test")
        server = start_status_server(daemon)
        assert server is not None
        try:
            def step(seconds: float = 5) -> None:
                while seconds > 1e-9:
                    clock.advance(min(5.0, seconds))
                    daemon.run_once()
                    seconds -= 5.0

            def on_dead() -> float:
                with urllib.request.urlopen(server.url + "/metrics", timeout=5) as response:
                    body = response.read().decode()
                family = next(f for f in text_string_to_metric_families(body)
                              if f.name == "rpcdaemon_resources_on_dead_agents")
                return sum(s.value for s in family.samples if s.labels["agent_type"] == L3_AGENT)

            step()
            step(DOWN_TIME + 1)  # observation has covered one dead period: liveness is trusted
            assert on_dead() == 0
            prom = prometheus_for(urlsplit(server.url).netloc)
            hosting = {a for hosts in cloud.stats()["bindings"]["l3"].values() for a in hosts}
            victim = next(a["id"] for a in cloud.stats()["agents"]
                          if a["agent_type"] == L3_AGENT and a["id"] in hosting)
            cloud.set_agent_down(victim)
            step(DOWN_TIME + 1)
            assert on_dead() > 0  # dry_run: the routers stay on the dead agent
            wait_for(lambda: "firing" in prom.alert_states(ALERT), 60, f"{ALERT} firing", (prom.proc,))

            cloud.set_agent_up(victim)
            wait_for(lambda: (step(), on_dead() == 0)[1], 30, "the agent no longer dead")
            wait_for(lambda: not prom.alert_states(ALERT), 60, f"{ALERT} resolved", (prom.proc,))
        finally:
            server.stop()
