"""Proof that a move serves (issue 12, part 4): the rules of core/verify.py through make_plan.

A landing is verified when a port of the resource on the agent's host is ACTIVE; unverified past verify_timeout_s
(seen unwired by two reads of its own ports in two passes), then planned again onto another agent and never back to
the one that failed it, at most verify_attempts times; a router with no port at all is verified as such; while the
ports are not read nothing is decided. A host is read whole only when at least half of what it holds awaits proof.
"""

from __future__ import annotations

from dataclasses import replace

from builders import NOW, agent, networks, observed, routers, snapshot

from rpcdaemon.core.actions import ChangeKind, ResourceType
from rpcdaemon.core.plan import CoreState, make_plan, remember_landings
from rpcdaemon.core.policy import Policy
from rpcdaemon.core.verify import wants_ports
from rpcdaemon.model import DHCP_AGENT, AgentId, Port, PortRead, Snapshot

P = Policy(dead_after_s=300, hold_down_s=60, verify_timeout_s=60, verify_attempts=2)
ROUTER = ResourceType.ROUTER


def landed(snap: Snapshot, *items: tuple[ResourceType, str, str], at: float = NOW) -> CoreState:
    state = observed(snap, P, at)
    return remember_landings(state, [(t, r, AgentId(a)) for t, r, a in items], at)


def ports(hosts: set[str], *rows: Port, devices: set[str] | None = None,
          networks: set[str] | None = None) -> PortRead:
    return PortRead(frozenset(hosts), frozenset(devices or ()), rows, frozenset(networks or ()))


def qr(router: str, host: str, status: str = "ACTIVE") -> Port:
    return Port(router, "net", "network:router_interface", host, status)


def cloud() -> Snapshot:
    return snapshot([agent("a0"), agent("a1"), agent("a2")], routers("r"), l3={"a1": {"r"}})


def test_an_active_port_on_the_host_verifies_with_the_time_it_took() -> None:
    snap = cloud()
    state = landed(snap, (ROUTER, "r", "a1"))
    assert wants_ports(snap, state.landings, NOW + 3, P).hosts == {"a1"}
    seen = replace(snap, ports=ports({"a1"}, qr("r", "a1")))
    plan, after = make_plan(seen, state, NOW + 3, P)
    assert [(landing.resource_id, round(s)) for landing, s in plan.verified] == [("r", 3)]
    assert not after.landings and not plan.changes


def test_a_port_still_on_the_old_host_or_down_is_no_proof() -> None:
    snap = cloud()
    state = landed(snap, (ROUTER, "r", "a1"))
    for read in (ports({"a1"}, qr("r", "a0")), ports({"a1"}, qr("r", "a1", "DOWN"))):
        plan, after = make_plan(replace(snap, ports=read), state, NOW + 30, P)
        assert not plan.verified and not plan.unverified and after.landings


def test_unverified_after_the_timeout_moves_to_another_agent_never_back() -> None:
    snap = cloud()
    state = landed(snap, (ROUTER, "r", "a1"))
    # past the timeout, with no port on a1: first all ports of the router are read (it has some, on a0)
    plan, state2 = make_plan(replace(snap, ports=ports({"a1"}, qr("r", "a0", "DOWN"))), state, NOW + 61, P)
    assert not plan.unverified and state2.landings
    assert wants_ports(snap, state.landings, NOW + 61, P).devices == {"r"}
    read = ports({"a1"}, qr("r", "a0", "DOWN"), devices={"r"})
    plan, state = make_plan(replace(snap, ports=read), state, NOW + 61, P)
    assert not plan.unverified and state.landings  # doubted: one answer's omission moves nothing
    plan, after = make_plan(replace(snap, ports=read), state, NOW + 66, P)
    assert [landing.agent_id for landing in plan.unverified] == ["a1"]
    assert [(c.action, c.from_agent, c.to_agent) for c in plan.changes] == [(ChangeKind.MOVE_ROUTER, "a1", "a0")]
    assert "unverified" in plan.changes[0].reason
    assert (("r", AgentId("a1")) in after.refusals) and after.verify_failures == {"r": 1}


def test_a_router_without_any_port_has_nothing_to_wire() -> None:
    """Decided on the second read of its own ports: one empty answer (a lie by omission) forgets nothing."""
    snap = cloud()
    state = landed(snap, (ROUTER, "r", "a1"))
    plan, state = make_plan(replace(snap, ports=ports({"a1"}, devices={"r"})), state, NOW + 61, P)
    assert not plan.verified and not plan.unverified and state.landings
    plan, _ = make_plan(replace(snap, ports=ports({"a1"}, devices={"r"})), state, NOW + 66, P)
    assert [landing.resource_id for landing, _ in plan.verified] == ["r"] and not plan.changes


def test_after_verify_attempts_failures_it_is_left_with_a_note() -> None:
    snap = cloud()
    state = replace(landed(snap, (ROUTER, "r", "a1")), verify_failures={"r": 2})
    read = ports({"a1"}, qr("r", "a0", "DOWN"), devices={"r"})
    _, state = make_plan(replace(snap, ports=read), state, NOW + 61, P)
    plan, _ = make_plan(replace(snap, ports=read), state, NOW + 66, P)
    assert not plan.changes and any("left where it is" in n for n in plan.notes)


def test_nothing_is_decided_while_the_ports_are_unread() -> None:
    snap = cloud()
    state = landed(snap, (ROUTER, "r", "a1"))
    plan, after = make_plan(snap, state, NOW + 600, P)
    assert not plan.unverified and not plan.changes and after.landings == state.landings


def test_a_landing_superseded_by_a_later_move_is_dropped() -> None:
    snap = cloud()
    state = landed(snap, (ROUTER, "r", "a2"))  # r was put on a2, then moved on to a1 by someone
    plan, after = make_plan(replace(snap, ports=ports({"a2"})), state, NOW + 61, P)
    assert not plan.unverified and not after.landings


def test_a_dhcp_port_verifies_a_network_and_a_missing_one_shifts_it() -> None:
    snap = snapshot([agent("d0", DHCP_AGENT), agent("d1", DHCP_AGENT)], networks=networks("n"), dhcp={"d0": {"n"}})
    policy = replace(P, dhcp_agents_per_network=1)
    state = remember_landings(observed(snap, policy), [(ResourceType.NETWORK, "n", AgentId("d0"))], NOW)
    good = ports({"d0"}, Port("dhcpX-n", "n", "network:dhcp", "d0", "ACTIVE"))
    assert make_plan(replace(snap, ports=good), state, NOW + 2, policy)[0].verified
    # past the timeout with no DHCP port seen: its own DHCP ports are read first (one list's omission is no proof)
    plan, _ = make_plan(replace(snap, ports=ports({"d0"})), state, NOW + 61, policy)
    assert not plan.changes and not plan.unverified
    assert wants_ports(snap, state.landings, NOW + 61, policy).networks == {"n"}
    seen = ports({"d0"}, Port("dhcpX-n", "n", "network:dhcp", "d0", "ACTIVE"), networks={"n"})
    assert make_plan(replace(snap, ports=seen), state, NOW + 61, policy)[0].verified  # the second read saw it
    _, state = make_plan(replace(snap, ports=ports({"d0"}, networks={"n"})), state, NOW + 61, policy)
    plan, _ = make_plan(replace(snap, ports=ports({"d0"}, networks={"n"})), state, NOW + 66, policy)
    assert [(c.action, c.from_agent, c.to_agent) for c in plan.changes] == [(ChangeKind.SHIFT_NETWORK, "d0", "d1")]


def test_a_host_that_holds_much_more_than_awaits_proof_is_read_by_what_awaits() -> None:
    """One router moved onto a host with 100 DHCP networks: its own ports are read (a few rows), not the host's (a
    hundred: a real Neutron pays about a millisecond of API CPU per row); an evacuation onto an empty host reads the
    host in one call, whatever the number of landings."""
    nets = {f"n{i}" for i in range(100)}
    busy = snapshot([agent("a0"), agent("h", DHCP_AGENT), replace(agent("l3-h"), host="h")], routers("r"),
                    networks(*nets), l3={"l3-h": {"r"}}, dhcp={"h": nets})
    state = landed(busy, (ROUTER, "r", "l3-h"))
    wanted = wants_ports(busy, state.landings, NOW + 3, P)
    assert (wanted.hosts, wanted.devices, wanted.networks) == (frozenset(), {"r"}, frozenset())
    plan, _ = make_plan(replace(busy, ports=ports(set(), qr("r", "h"), devices={"r"})), state, NOW + 3, P)
    assert [landing.resource_id for landing, _ in plan.verified] == ["r"]
    names = [f"r{i}" for i in range(200)]
    empty = snapshot([agent("a0"), agent("a1")], routers(*names), l3={"a1": set(names)})
    state = landed(empty, *[(ROUTER, r, "a1") for r in names])
    wanted = wants_ports(empty, state.landings, NOW + 3, P)
    assert (wanted.hosts, wanted.devices) == ({"a1"}, frozenset())


def test_one_lying_read_of_its_own_ports_calls_nothing_unverified() -> None:
    snap = cloud()
    state = landed(snap, (ROUTER, "r", "a1"))
    lie = ports(set(), qr("r", "a0", "DOWN"), devices={"r"})  # the ACTIVE port on a1 left out
    plan, state = make_plan(replace(snap, ports=lie), state, NOW + 61, P)
    assert not plan.unverified and not plan.changes
    truth = ports(set(), qr("r", "a0", "DOWN"), qr("r", "a1"), devices={"r"})
    plan, after = make_plan(replace(snap, ports=truth), state, NOW + 66, P)
    assert [landing.resource_id for landing, _ in plan.verified] == ["r"] and not after.landings
