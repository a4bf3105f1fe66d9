"""Liveness as both backends show it: an agent whose heartbeats stop turns alive=false (in its own row and in the
list, still parsed by rpcdaemon), and the scheduling API still accepts it (Neutron checks an agent's type and admin
state, never its liveness, on a manual add).

Timing is where the emulator cannot match: Neutron takes agent_down_time (10 s here) of real time to notice, the
emulator is on a fake clock moved past it at once; only what both show afterwards is compared.
"""

from __future__ import annotations

from contract.backends import Backend
from rpcdaemon.adapters.neutron.answers import parse_agent
from rpcdaemon.adapters.neutron.client import AGENT_FIELDS


def row(backend: Backend, agent: str) -> dict[str, object]:
    answer: dict[str, object] = backend.get(f"/agents/{agent}", {"fields": list(AGENT_FIELDS)})["agent"]
    return answer


def test_a_silent_agent_turns_dead_and_still_takes_a_network(backend: Backend) -> None:
    net = backend.network("dead", "10.79.1.0/24")
    (host,) = backend.network_hosts(net)
    victim = next(a for a in backend.dhcp if a != host)
    backend.stop_beating(victim)
    dead = row(backend, victim)
    assert dead["alive"] is False and dead["admin_state_up"] is True
    parsed = parse_agent(dead)
    assert parsed is not None and not parsed.alive and parsed.heartbeat == dead["heartbeat_timestamp"]
    listed = {r["id"]: r["alive"] for r in backend.get("/agents", {"fields": ["id", "alive"]})["agents"]}
    assert listed[victim] is False
    assert sum(1 for alive in listed.values() if alive is False) == 1
    assert backend.add(victim, "network", net).status == 201
    assert backend.network_hosts(net) == {host, victim}
    backend.resume_all()
    assert row(backend, victim)["alive"] is True
