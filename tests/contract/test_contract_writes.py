"""The writes rpcdaemon makes (a network or a router put on or taken off an agent), asked of the emulator and of the
real Neutron alike: every answer's status and NeutronError type, and what rpcdaemon's classification (answers.py)
makes of it, through its own client's apply_call too.

The cases are the answers rpcdaemon tells apart: done (201/204), already so (409 NetworkHostedByDHCPAgent,
NetworkNotHostedByDhcpAgent, 404 RouterNotFound on a remove), conflict (409 RouterHostedByL3Agent,
RouterL3AgentMismatch) and failed (404 AgentNotFound, InvalidDHCPAgent, InvalidL3Agent, NetworkNotFound,
RouterNotFound on an add).
"""

from __future__ import annotations

from contract.backends import UNKNOWN, Answer, Backend
from rpcdaemon.adapters.neutron.answers import Outcome, classify
from rpcdaemon.adapters.neutron.client import NeutronClient
from rpcdaemon.core.actions import Call, Op, ResourceType
from rpcdaemon.model import AgentId


def answered(answer: Answer, op: Op) -> tuple[int, str | None, Outcome]:
    """(status, NeutronError type or None, rpcdaemon's outcome) of a scheduling call's answer."""
    if 200 <= answer.status < 300:
        assert answer.body is None  # Neutron answers `null`
        return answer.status, None, classify(op, answer.status, None, "").outcome
    status, kind = answer.error
    return status, kind, classify(op, status, kind, "").outcome


def test_network_add_and_remove_answers(backend: Backend) -> None:
    net = backend.network("sched", "10.78.1.0/24")
    (host,) = backend.network_hosts(net)
    other = next(a for a in backend.dhcp if a != host)
    add, remove = Op.ADD, Op.REMOVE
    assert answered(backend.add(other, "network", net), add) == (201, None, Outcome.DONE)
    assert backend.network_hosts(net) == {host, other}
    assert answered(backend.add(other, "network", net), add) == (409, "NetworkHostedByDHCPAgent", Outcome.ALREADY)
    assert answered(backend.remove(other, "network", net), remove) == (204, None, Outcome.DONE)
    assert backend.network_hosts(net) == {host}
    assert answered(backend.remove(other, "network", net), remove) == (
        409, "NetworkNotHostedByDhcpAgent", Outcome.ALREADY)
    # a network that does not exist: not hosted (remove), not found (add)
    assert answered(backend.remove(other, "network", UNKNOWN), remove) == (
        409, "NetworkNotHostedByDhcpAgent", Outcome.ALREADY)
    assert answered(backend.add(other, "network", UNKNOWN), add) == (404, "NetworkNotFound", Outcome.FAILED)
    # an unknown agent; an agent of another kind (an L3 agent, an Open vSwitch agent)
    assert answered(backend.add(UNKNOWN, "network", net), add) == (404, "AgentNotFound", Outcome.FAILED)
    assert answered(backend.remove(UNKNOWN, "network", net), remove) == (404, "AgentNotFound", Outcome.FAILED)
    assert answered(backend.add(backend.l3[0], "network", net), add) == (404, "InvalidDHCPAgent", Outcome.FAILED)
    assert answered(backend.add(backend.ovs[0], "network", net), add) == (404, "InvalidDHCPAgent", Outcome.FAILED)
    # a network without a subnet can be hosted all the same
    bare = backend.network("bare", cidr=None)
    assert answered(backend.add(other, "network", bare), add) == (201, None, Outcome.DONE)
    assert answered(backend.remove(other, "network", bare), remove) == (204, None, Outcome.DONE)
    assert backend.network_hosts(net) == {host}


def test_an_admin_down_dhcp_agent_refuses_a_network_but_lets_one_go(backend: Backend) -> None:
    net = backend.network("admin", "10.78.2.0/24")
    (host,) = backend.network_hosts(net)
    other = next(a for a in backend.dhcp if a != host)
    backend.set_admin_state(other, False)
    assert backend.get(f"/agents/{other}", {"fields": ["admin_state_up"]}) == {"agent": {"admin_state_up": False}}
    assert answered(backend.add(other, "network", net), Op.ADD) == (404, "InvalidDHCPAgent", Outcome.FAILED)
    backend.set_admin_state(host, False)
    assert answered(backend.remove(host, "network", net), Op.REMOVE) == (204, None, Outcome.DONE)
    assert backend.network_hosts(net) == set()


def test_router_add_and_remove_answers(backend: Backend) -> None:
    router = backend.router("sched")
    first, second, _third = backend.l3
    add, remove = Op.ADD, Op.REMOVE
    assert answered(backend.add(first, "router", router), add) == (201, None, Outcome.DONE)
    assert answered(backend.add(first, "router", router), add) == (201, None, Outcome.DONE)  # where it is: no-op
    # a legacy router hosted elsewhere: a conflict (rpcdaemon raced another actor)
    assert answered(backend.add(second, "router", router), add) == (409, "RouterHostedByL3Agent", Outcome.CONFLICT)
    assert backend.router_hosts(router) == {first}
    assert answered(backend.remove(second, "router", router), remove) == (204, None, Outcome.DONE)  # not there
    assert answered(backend.remove(first, "router", router), remove) == (204, None, Outcome.DONE)
    assert answered(backend.remove(first, "router", router), remove) == (204, None, Outcome.DONE)
    assert backend.router_hosts(router) == set()
    # a router that does not exist: gone (remove), not found (add)
    assert answered(backend.remove(first, "router", UNKNOWN), remove) == (404, "RouterNotFound", Outcome.ALREADY)
    assert answered(backend.add(first, "router", UNKNOWN), add) == (404, "RouterNotFound", Outcome.FAILED)
    # an unknown agent; an agent of another kind (a DHCP agent, an Open vSwitch agent)
    assert answered(backend.add(UNKNOWN, "router", router), add) == (404, "AgentNotFound", Outcome.FAILED)
    assert answered(backend.remove(UNKNOWN, "router", router), remove) == (404, "AgentNotFound", Outcome.FAILED)
    assert answered(backend.add(backend.dhcp[0], "router", router), add) == (404, "InvalidL3Agent", Outcome.FAILED)
    assert answered(backend.add(backend.ovs[0], "router", router), add) == (404, "InvalidL3Agent", Outcome.FAILED)
    # an admin-down L3 agent refuses it; hosted nowhere, it can then go to another agent
    backend.set_admin_state(second, False)
    assert answered(backend.add(second, "router", router), add) == (404, "InvalidL3Agent", Outcome.FAILED)
    assert answered(backend.add(_third, "router", router), add) == (201, None, Outcome.DONE)
    assert backend.router_hosts(router) == {_third}


def test_a_distributed_router_on_a_legacy_agent_is_a_mismatch(backend: Backend) -> None:
    router = backend.router("dvr", distributed=True)
    answer = backend.add(backend.l3[0], "router", router)
    assert answered(answer, Op.ADD) == (409, "RouterL3AgentMismatch", Outcome.CONFLICT)
    assert backend.router_hosts(router) == set()


def test_an_ha_router_can_be_on_several_agents(backend: Backend) -> None:
    router = backend.router("ha", ha=True)
    for agent in backend.l3:  # Neutron has put it on every L3 agent already (the emulator on none: see reads)
        assert answered(backend.remove(agent, "router", router), Op.REMOVE) == (204, None, Outcome.DONE)
    assert backend.router_hosts(router) == set()
    for agent in backend.l3[:2]:
        assert answered(backend.add(agent, "router", router), Op.ADD) == (201, None, Outcome.DONE)
    assert backend.router_hosts(router) == set(backend.l3[:2])
    assert answered(backend.remove(backend.l3[0], "router", router), Op.REMOVE) == (204, None, Outcome.DONE)
    assert backend.router_hosts(router) == {backend.l3[1]}


def test_rpcdaemons_client_classifies_the_same_answers(backend: Backend) -> None:
    net = backend.network("client", "10.78.3.0/24")
    (host,) = backend.network_hosts(net)
    other = next(a for a in backend.dhcp if a != host)
    router = backend.router("client")
    neutron = NeutronClient.connect(endpoint=backend.url, timeout_s=30)

    def apply(op: Op, kind: ResourceType, resource: str, agent: str) -> tuple[Outcome, int | None, str | None]:
        result = neutron.apply_call(Call(op, kind, resource, AgentId(agent)))
        return result.outcome, result.status, result.error_type

    net_, router_ = ResourceType.NETWORK, ResourceType.ROUTER
    assert apply(Op.ADD, net_, net, other) == (Outcome.DONE, 201, None)
    assert apply(Op.ADD, net_, net, other) == (Outcome.ALREADY, 409, "NetworkHostedByDHCPAgent")
    assert apply(Op.REMOVE, net_, net, other) == (Outcome.DONE, 204, None)
    assert apply(Op.REMOVE, net_, net, other) == (Outcome.ALREADY, 409, "NetworkNotHostedByDhcpAgent")
    assert apply(Op.ADD, net_, net, backend.l3[0]) == (Outcome.FAILED, 404, "InvalidDHCPAgent")
    assert apply(Op.ADD, router_, router, backend.l3[0]) == (Outcome.DONE, 201, None)
    assert apply(Op.ADD, router_, router, backend.l3[1]) == (Outcome.CONFLICT, 409, "RouterHostedByL3Agent")
    assert apply(Op.REMOVE, router_, router, backend.l3[0]) == (Outcome.DONE, 204, None)
    assert apply(Op.REMOVE, router_, UNKNOWN, backend.l3[0]) == (Outcome.ALREADY, 404, "RouterNotFound")
    assert apply(Op.ADD, router_, router, UNKNOWN) == (Outcome.FAILED, 404, "AgentNotFound")
    assert backend.network_hosts(net) == {host}
    assert backend.router_hosts(router) == set()
