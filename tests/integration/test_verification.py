"""Proof that a moved router or network serves, through the daemon's shell and the emulated Neutron's ports
(issue 12, part 4): ports go ACTIVE some time after binding on a working agent; an inert agent takes a router and
never wires it, and rpcdaemon then moves it on to another agent, never back."""

from __future__ import annotations

from emulated import MakeEnv

from rpcdaemon.model import L3_AGENT


def test_a_move_is_verified_by_its_ports_and_an_inert_agent_is_found_out(make_env: MakeEnv) -> None:
    env = make_env(l3_agents=3, routers=6, dhcp_agents=1, networks=6)
    env.converge()
    a0, a1, a2 = (a["id"] for a in sorted(env.agents(L3_AGENT), key=lambda a: a["host"]))
    env.cloud.set_inert(a1)
    env.kill(a0)
    env.converge()
    to_a1 = {r.resource_id for r in env.audit.recent() if r.action == "move_router" and r.to_agent == a1}
    to_a2 = {r.resource_id for r in env.audit.recent() if r.action == "move_router" and r.to_agent == a2}
    assert to_a1 and to_a2  # the evacuation spread a0's routers over both
    verified = {r.resource_id for r in env.audit.recent() if r.action == "verify" and r.outcome == "done"}
    assert verified == to_a2  # a2 wired what it took within a pass or two; a1 wired nothing
    env.advance(70)  # past verify_timeout (60 s)
    unverified = [r for r in env.audit.recent() if r.action == "verify" and r.outcome == "failed"]
    assert {r.resource_id for r in unverified} == to_a1 and {r.to_agent for r in unverified} == {a1}
    moved_on = [r for r in env.audit.recent() if r.action == "move_router" and r.from_agent == a1]
    assert {r.resource_id for r in moved_on} == to_a1
    assert all(r.to_agent == a2 and "unverified" in r.reason for r in moved_on)  # never back to a1, nor a0 (dead)
    env.advance(20)
    assert all(env.bindings("l3")[r] == [a2] for r in to_a1)
    verified = {r.resource_id for r in env.audit.recent() if r.action == "verify" and r.outcome == "done"}
    assert verified == to_a1 | to_a2
