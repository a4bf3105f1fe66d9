"""The chaos run's judges, end to end: with no fault rpcdaemon does nothing at all; a daemon sabotaged to remove a
router from a healthy agent, or to place a hinted network outside its zone, is caught; compute nodes dying with the
last network node are no reason to hold its evacuation. Short runs (seconds of faults)."""

from __future__ import annotations

import time
from dataclasses import replace

from testkit.chaos.config import ChaosConfig, FaultRates
from testkit.chaos.invariants import HINTS
from testkit.chaos.relay import OFF
from testkit.chaos.run import run_chaos

from rpcdaemon.core.actions import Change, ChangeKind, ResourceType
from rpcdaemon.daemon.loop import Daemon
from rpcdaemon.emulator.cloud import DHCP, L3, Cloud
from rpcdaemon.model import AgentId

QUIET = FaultRates(**{name: 0.0 for name in FaultRates.__dataclass_fields__})
SMALL = replace(ChaosConfig(), seed=5, duration_s=4.0, agents_per_zone=3, networks=8, routers=8, ha_routers=2,
                rates=QUIET, bus=OFF, agent_down_time_s=2.0, hold_down_s=2.0, convergence_deadline_s=4.0,
                dvr_per_zone=0)


def test_without_faults_nothing_is_done_but_the_last_kill_is_repaired() -> None:
    report = run_chaos(SMALL)
    assert report.violations == [], report.render()
    assert set(report.faults) == {"agent_kill_final"}
    assert report.converged_s is not None
    assert 0 < report.total_changes <= report.change_bound


def test_a_sabotaged_daemon_is_caught() -> None:
    def sabotage(daemon: Daemon, cloud: Cloud) -> None:
        original = daemon.executor.run

        def run(changes, hosts=None, stop=None):  # type: ignore[no-untyped-def]
            with cloud.lock:
                agent = sorted(a.id for a in cloud.agents.values() if a.agent_type == L3 and cloud.l3[a.id])[0]
                router = sorted(cloud.l3[agent])[0]
            extra = Change(ChangeKind.REMOVE_ROUTER, ResourceType.ROUTER, router, AgentId(agent), None, "sabotage")
            return original([*changes, extra], hosts, stop)

        daemon.executor.run = run  # type: ignore[method-assign]

    report = run_chaos(SMALL, setup=sabotage)
    assert any("the API showed alive (healthy;" in v for v in report.violations), report.render()


def test_a_hinted_network_placed_outside_its_zone_is_caught() -> None:
    def sabotage(daemon: Daemon, cloud: Cloud) -> None:
        original = daemon.executor.run

        def run(changes, hosts=None, stop=None):  # type: ignore[no-untyped-def]
            with cloud.lock:
                net = sorted(n for n, row in cloud.networks.items() if row["availability_zone_hints"])[0]
                zones = set(cloud.networks[net]["availability_zone_hints"])
                agent = sorted(a.id for a in cloud.agents.values()
                               if a.agent_type == DHCP and a.availability_zone not in zones)[0]
            extra = Change(ChangeKind.ADD_NETWORK, ResourceType.NETWORK, net, None, AgentId(agent), "sabotage")
            return original([*changes, extra], hosts, stop)

        daemon.executor.run = run  # type: ignore[method-assign]

    report = run_chaos(SMALL, setup=sabotage)
    assert report.by_kind()[HINTS] >= 1, report.render()


def test_compute_nodes_dying_with_the_last_network_node_do_not_hold_its_evacuation() -> None:
    report = run_chaos(replace(SMALL, dvr_per_zone=4))
    assert report.faults["agent_kill_final_compute"] >= 3, report.faults
    assert report.violations == [], report.render()


def test_the_pass_in_flight_at_convergence_is_not_a_change_after_it() -> None:
    """A change's result is counted after its calls and its audit record: the state can be converged while the
    converging pass still records its last change, which belongs to that pass (CI once failed on this race)."""
    def slow_audit(daemon: Daemon, cloud: Cloud) -> None:
        record = daemon.executor.audit.record

        def slow(entry):  # type: ignore[no-untyped-def]
            time.sleep(1.0)  # a slow disk under the audit log, not a wait for anything
            record(entry)

        daemon.executor.audit.record = slow  # type: ignore[method-assign]

    report = run_chaos(SMALL, setup=slow_audit)
    assert report.converged_s is not None, report.render()
    assert report.violations == [], report.render()
