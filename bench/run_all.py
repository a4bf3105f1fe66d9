"""Runs every benchmark in turn; each prints its own figures (and its baseline from the same run)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent

if __name__ == "__main__":
    for name in ("b1_evacuation.py", "b2_steady_state.py", "b3_event_latency.py", "b4_detection.py", "b5_race.py",
                 "b6_takeover.py"):
        subprocess.run([sys.executable, str(HERE / name)], check=True, cwd=HERE)
