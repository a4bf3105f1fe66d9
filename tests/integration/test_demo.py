"""`rpcdaemon demo`, the README's first command: it must show both repairs and end by itself."""

from __future__ import annotations

import subprocess
import sys


def test_demo_shows_both_repairs() -> None:
    result = subprocess.run([sys.executable, "-m", "rpcdaemon.cli.main", "demo", "--duration", "14"],
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "KILLED L3 agent" in out
    assert "KILLED DHCP agent" in out
    assert "alive -> dead" in out
    assert "move_router" in out
    assert "remove_network" in out
    assert "REPAIRED: every router of L3 agent" in out
    assert "REPAIRED: every network of DHCP agent" in out
    assert "Traceback" not in result.stderr
