"""Classification of Neutron's answers, and tolerance of odd agent rows."""

from __future__ import annotations

from rpcdaemon.core.actions import Op
from rpcdaemon.model import AgentMode
from rpcdaemon.shell.neutron import Outcome, classify, parse_agent


def test_classification_follows_neutron_29() -> None:
    assert classify(Op.ADD, 201, None, "").outcome is Outcome.DONE
    assert classify(Op.REMOVE, 204, None, "").outcome is Outcome.DONE
    assert classify(Op.ADD, 409, "NetworkHostedByDHCPAgent", "").outcome is Outcome.ALREADY
    assert classify(Op.REMOVE, 409, "NetworkNotHostedByDhcpAgent", "").outcome is Outcome.ALREADY
    assert classify(Op.ADD, 409, "RouterHostedByL3Agent", "").outcome is Outcome.CONFLICT
    assert classify(Op.ADD, 409, "DVRL3CannotAssignToDvrAgent", "").outcome is Outcome.CONFLICT
    assert classify(Op.ADD, 404, "InvalidL3Agent", "").outcome is Outcome.FAILED
    assert classify(Op.REMOVE, 404, "RouterNotFound", "").outcome is Outcome.ALREADY
    for status in (500, 502, 503, 504, 408, 429):
        assert classify(Op.ADD, status, None, "").outcome is Outcome.TRANSIENT


def test_agent_rows() -> None:
    agent = parse_agent({"id": "x", "agent_type": "L3 agent", "host": "h", "alive": True,
                         "configurations": {"agent_mode": "dvr_snat"}, "availability_zone": "az1"})
    assert agent is not None and agent.agent_mode is AgentMode.DVR_SNAT and agent.availability_zone == "az1"
    assert parse_agent({"id": "x"}) is None
    odd = parse_agent({"id": "x", "agent_type": "L3 agent", "host": "h", "alive": "yes", "configurations": "?"})
    assert odd is not None and odd.alive is False and odd.agent_mode is AgentMode.LEGACY
