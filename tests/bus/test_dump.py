"""`rpcdaemon dump` against a real broker: readable lines, filters, JSON, and the context's token redacted."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from agents import TOKEN, Publisher, heartbeat, notification
from rabbit import Rabbit

DUMP = [sys.executable, "-m", "rpcdaemon.cli.main", "dump"]


def run_dump(rabbit: Rabbit, *args: str, publish: list[tuple[str, str]], url: bool = True) -> str:
    """`rpcdaemon dump ARGS` (with `--url` of the broker unless `url` is False: the config's rpchost then) until it
    exits, publishing `publish` on the broker's plain port meanwhile; what it printed."""
    proc = subprocess.Popen([*DUMP, *(["--url", rabbit.url] if url else []), *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    pub = Publisher(rabbit.url)
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()  # "# dumping ..." once its queue is bound
        assert line.startswith("# dumping"), line + proc.stderr.read()
        deadline = time.monotonic() + 30
        while proc.poll() is None and time.monotonic() < deadline:
            for body, key in publish:
                pub.publish(body, key)
            time.sleep(0.2)
        out, err = proc.communicate(timeout=30)
    finally:
        pub.close()
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert TOKEN not in out + err
    return out


def test_dump_shows_heartbeats_readably(rabbit: Rabbit) -> None:
    out = run_dump(rabbit, "--count", "2", "--key", "q-reports-plugin",
                   publish=[(heartbeat("net-7", "DHCP agent"), "q-reports-plugin")])
    lines = out.strip().splitlines()
    assert len(lines) == 2
    assert all("q-reports-plugin report_state host=net-7 DHCP agent" in line for line in lines)


def test_dump_filters_and_json(rabbit: Rabbit) -> None:
    out = run_dump(rabbit, "--count", "1", "--match", "host=net-2*", "--json",
                   publish=[(heartbeat("net-1", "L3 agent"), "q-reports-plugin"),
                            (heartbeat("net-22", "L3 agent"), "q-reports-plugin"),
                            (notification("network.create.end", {"network": {"id": "n"}}), "notifications.info")])
    record = json.loads(out)
    assert record["host"] == "net-22"
    assert record["kind"] == "heartbeat"
    assert record["context"]["auth_token"] == "***"


def test_dump_reports_bad_arguments(tmp_path: Path) -> None:
    bad = subprocess.run([*DUMP, "--url", "amqp://127.0.0.1:9//", "--match", "nonsense"], capture_output=True,
                         text=True, timeout=60, check=False)
    assert bad.returncode == 2
    assert "FIELD=GLOB" in bad.stderr
    unreachable = subprocess.run([*DUMP, "--url", "127.0.0.1:9"], capture_output=True, text=True, timeout=60,
                                 check=False)
    assert unreachable.returncode == 1
    assert "cannot reach the broker" in unreachable.stderr
    assert "Traceback" not in unreachable.stderr
