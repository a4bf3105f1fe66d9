"""`rpcdaemon dump` on the broker a real Neutron uses: the agents' heartbeats, readable, their token never shown.

The bus tests publish hand-made envelopes; here the envelopes come from oslo.messaging itself (the fake agents'
report_state calls), so a change in the real wire format would show.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from testbed import TOKEN, Testbed

pytestmark = [pytest.mark.neutron, pytest.mark.timeout(900)]


def dump(bed: Testbed, *args: str) -> str:
    assert bed.rabbit is not None
    result = subprocess.run([sys.executable, "-m", "rpcdaemon.cli.main", "dump", "--url", bed.rabbit.url,
                             "--key", "q-reports-plugin", *args], capture_output=True, text=True, timeout=90,
                            check=False)
    assert result.returncode == 0, result.stderr
    assert TOKEN not in result.stdout + result.stderr
    return result.stdout


def test_dump_shows_the_real_heartbeats_with_the_token_redacted(testbed: Testbed) -> None:
    lines = dump(testbed, "--count", "6").strip().splitlines()
    assert len(lines) == 6
    assert all("q-reports-plugin report_state host=net-" in line for line in lines), lines
    records = [json.loads(line) for line in dump(testbed, "--count", "3", "--json").strip().splitlines()]
    assert len(records) == 3
    for record in records:
        assert record["kind"] == "heartbeat" and record["host"].startswith("net-")
        assert record["context"]["auth_token"] == "***"
