"""The CI chaos run: about 75 s of random faults (API, bus, agents, rpcdaemon's clock), then the invariants.

The seed is random unless RPCDAEMON_CHAOS_SEED is set; it is printed, and in the failure message, so a failing run
can be replayed: RPCDAEMON_CHAOS_SEED=<seed> .venv/bin/python -m pytest tests/chaos -k chaos_run -s
(or bench/chaos.py --seed <seed> --duration 75). Run with -s to see the report.
"""

from __future__ import annotations

import os
import random
from dataclasses import replace

import pytest

from rpcdaemon.chaos.config import ChaosConfig
from rpcdaemon.chaos.run import run_chaos

FAULT_S = float(os.environ.get("RPCDAEMON_CHAOS_DURATION", "75"))


@pytest.mark.slow
@pytest.mark.timeout(FAULT_S + 240)
def test_chaos_run_keeps_every_invariant() -> None:
    seed = int(os.environ.get("RPCDAEMON_CHAOS_SEED") or random.SystemRandom().randrange(1, 2**31))
    print(f"\nchaos seed {seed}")
    report = run_chaos(replace(ChaosConfig(), seed=seed, duration_s=FAULT_S), say=print)
    text = report.render()
    print(text)
    assert report.violations == [], f"replay with RPCDAEMON_CHAOS_SEED={seed}\n{text}"
    # the run did what it claims: faults of every family struck, agents died and were repaired
    kinds = set(report.faults)
    assert {"agent_kill", "api_5xx", "bus_drop"} <= kinds, kinds
    assert report.converged_s is not None
    assert report.total_changes > 0
