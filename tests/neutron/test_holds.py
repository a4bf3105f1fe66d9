"""When rpcdaemon must NOT act on a real Neutron: a flapping agent, and every L3 agent silent at once.

Acting there would be worse than the failure: moving routers off an agent that only paused tears down traffic that
was flowing, and evacuating onto agents that are all just as silent is a storm against a broken control plane.
"""

from __future__ import annotations

import time

import pytest
from testbed import Rpcdaemon, Testbed

from polling import poll

pytestmark = [pytest.mark.neutron, pytest.mark.timeout(900)]
Cloud = tuple[Testbed, Rpcdaemon]
PAUSE_S = 4.0  # well under agent_down_time (10 s), even with a 2 s heartbeat period on top


def bindings(bed: Testbed) -> dict[str, set[str]]:
    return {a.id: bed.routers_on(a.id) for a in bed.agents_of("l3")}


def heard_again(rpcd: Rpcdaemon, agent: str) -> bool:
    return any(a["id"] == agent and a["silent_s"] < 2.5 for a in rpcd.status()["agents"])


def test_a_flapping_agent_causes_no_action(cloud: Cloud) -> None:
    bed, rpcd = cloud
    victim = bed.agents_of("l3")[0]
    before = bindings(bed)
    done_before = len(rpcd.actions())
    for _ in range(3):
        victim.pause()
        time.sleep(PAUSE_S)  # the stimulus itself (a pause of a known length), not a wait for a condition
        victim.resume()
        poll(lambda: heard_again(rpcd, victim.id), 30, "the agent heard again", interval_s=0.2)
    passes = rpcd.status()["passes"]
    poll(lambda: rpcd.status()["passes"] >= passes + 2, 30, "two more passes", interval_s=0.2)
    assert rpcd.actions()[done_before:] == []
    assert bindings(bed) == before


def test_every_l3_agent_silent_at_once_is_a_disruption_not_an_evacuation(cloud: Cloud) -> None:
    bed, rpcd = cloud
    l3 = bed.agents_of("l3")
    assert len(l3) >= 3
    before = bindings(bed)
    done_before = len(rpcd.actions())
    for agent in l3:
        agent.pause()

    def disrupted() -> bool:
        alive = bed.alive()
        return not any(alive[a.id] for a in l3) and rpcd.status()["disrupted"]

    poll(disrupted, 60, "every L3 agent dead in the API and the zone disrupted in rpcdaemon's /status",
         interval_s=0.5)
    passes = rpcd.status()["passes"]
    poll(lambda: rpcd.status()["passes"] >= passes + 3, 30, "three more passes", interval_s=0.2)
    status = rpcd.status()
    assert status["disrupted"] is True
    acted = [f"{r['action']} {r['resource_id']} {r['from_host']}->{r['to_host']} at {r['time']}"
             for r in rpcd.actions()[done_before:] if r["resource_type"] == "router"]
    # Heartbeats stop at one instant but their last ones are spread over a report interval: the agent whose last
    # beat came first is judged dead first, while the others still look alive. Acting then is the failure.
    assert acted == [], f"routers moved while every L3 agent was going silent: {acted}"
    assert bindings(bed) == before
    errors = [line for line in rpcd.log.read_text().splitlines() if " ERROR " in line and "DISRUPTED" in line]
    assert errors, "no ERROR line about the disruption"
