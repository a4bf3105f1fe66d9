"""Never an action from bad data: a daemon fed malformed bus messages or garbage API answers changes nothing,
and still repairs a real death correctly through the same garbage."""

from __future__ import annotations

import random

import pytest
from chaos_rig import MakeRig, Rig
from testkit.chaos.relay import malformed_body

from rpcdaemon.emulator.cloud import L3

READS = ["GET /v2.0/agents", "GET /v2.0/agents/{id}/dhcp-networks", "GET /v2.0/agents/{id}/l3-routers",
         "GET /v2.0/networks", "GET /v2.0/subnets", "GET /v2.0/routers"]
ANSWER_GARBAGE = ["{not json", "", "null", "[]", "<html>502</html>", "\x00\xff", '{"agents": "x"}',
                  '{"routers": {"id": "r"}}', '{"subnets": 3}', '{"networks": 42}', '{"NeutronError": null}']
"""Answers that are not a well-formed list at all."""
ROW_GARBAGE = ['{"agents": [null]}', '{"agents": [{"id": 5}]}', '{"routers": [null]}', '{"routers": [{"id": 7}]}',
               '{"networks": [null]}', '{"networks": [{"id": null}]}', '{"subnets": [["x"]]}']
"""A well-formed list with one malformed row (the only row)."""
GARBAGE = ANSWER_GARBAGE + ROW_GARBAGE


def converged(rig: Rig) -> Rig:
    for _ in range(5):
        if not rig.step().results:
            return rig
    raise AssertionError("the rig does not converge")


def test_malformed_bus_messages_cause_no_change(make_rig: MakeRig) -> None:
    rig = converged(make_rig(dhcp_agents=3, l3_agents=3, networks=6, routers=6))
    rng = random.Random(5)
    before = sum(s.value for m in rig.daemon.metrics.bus_malformed.collect() for s in m.samples
                 if s.name.endswith("_total"))
    reports = []
    for i in range(300):
        rig.publish(rng.choice(["q-reports-plugin", "notifications.info"]), malformed_body(rng)[1])
        if i % 30 == 0:
            reports.append(rig.step())
    after = sum(s.value for m in rig.daemon.metrics.bus_malformed.collect() for s in m.samples
                if s.name.endswith("_total"))
    assert after - before == 300
    assert rig.changes(reports) == []


def step_with_garbage(rig: Rig, pattern: str, bodies: list[str]) -> list[tuple[str, list[str]]]:
    """One pass per body, each with that garbage answered once on `pattern`; what each pass changed."""
    acted = []
    for body in bodies:
        rig.cloud.add_fault("GET", pattern, body=body, count=1)
        report = rig.step()
        if report.results:
            acted.append((body, [f"{r.change.action.value} {r.outcome}" for r in report.results]))
            converged(rig)
    return acted


@pytest.mark.parametrize("pattern", READS)
def test_malformed_api_answers_cause_no_change(make_rig: MakeRig, pattern: str) -> None:
    rig = converged(make_rig(dhcp_agents=3, l3_agents=3, networks=6, routers=6))
    assert step_with_garbage(rig, pattern, ANSWER_GARBAGE) == []


@pytest.mark.parametrize("pattern", READS)
def test_malformed_rows_cause_no_change(make_rig: MakeRig, pattern: str) -> None:
    rig = converged(make_rig(dhcp_agents=3, l3_agents=3, networks=6, routers=6))
    assert step_with_garbage(rig, pattern, ROW_GARBAGE) == []


def test_a_real_death_is_repaired_through_garbage_and_only_it(make_rig: MakeRig) -> None:
    rig = converged(make_rig(dhcp_agents=3, l3_agents=3, networks=6, routers=6, ha_routers=0))
    victim = sorted(a.id for a in rig.cloud.agents.values() if a.agent_type == L3)[0]
    hosted = set(rig.cloud.l3[victim])
    rig.cloud.set_agent_down(victim)
    rng = random.Random(9)
    results = []
    for i in range(40):
        rig.publish("q-reports-plugin", malformed_body(rng)[1])
        if i % 2:  # every other pass reads garbage (and so does nothing)
            rig.cloud.add_fault("GET", rng.choice(READS), body=rng.choice(ANSWER_GARBAGE), count=1)
        results += rig.step().results
        if not rig.cloud.l3[victim] and results:
            break
    assert not rig.cloud.l3[victim]
    moved = {r.change.resource_id for r in results if r.outcome == "done"}
    assert moved == hosted
    assert all(r.change.from_agent == victim for r in results)
