"""The CI chaos run: about 75 s of random faults (API errors and well-formed lies, bus faults and notification
bursts, agents, whole zones and compute nodes dying, tenants' churn, rpcdaemon's clock, idle clients on its status
port), then the invariants. Every fault of the menu strikes at least once.

The seed is random unless RPCDAEMON_CHAOS_SEED is set; it is printed, and in the failure message, so a failing run
can be replayed: RPCDAEMON_CHAOS_SEED=<seed> .venv/bin/python -m pytest tests/chaos -k chaos_run -s
(or bench/chaos.py --seed <seed> --duration 75). Run with -s to see the report.
"""

from __future__ import annotations

import os
import random
from dataclasses import replace

import pytest
from testkit.chaos.config import ChaosConfig
from testkit.chaos.run import run_chaos

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
    assert {"agent_kill", "api_5xx", "bus_drop", "zone_death", "agent_compute_kill", "status_client_swarm",
            "bus_notification_burst", "api_lie_agents_missing_rows", "agent_kill_final_compute"} <= kinds, kinds
    for family in ("api_lie_list_", "api_lie_bindings_", "tenant_"):
        assert any(k.startswith(family) for k in kinds), (family, kinds)
    assert sum(report.lies.values()) > 0
    assert report.bursts
    assert report.hinted > 0
    assert report.converged_s is not None
    assert report.total_changes > 0
