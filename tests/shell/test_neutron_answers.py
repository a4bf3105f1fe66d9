"""Classification of Neutron's answers, and tolerance of odd agent rows."""

from __future__ import annotations

from rpcdaemon.adapters.neutron.client import Outcome, classify, parse_agent
from rpcdaemon.core.actions import Op
from rpcdaemon.model import AgentMode


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
    row = {"id": "x", "agent_type": "L3 agent", "host": "h", "alive": True, "admin_state_up": True,
           "heartbeat_timestamp": "2026-01-01 00:00:00", "configurations": {"agent_mode": "dvr_snat"},
           "availability_zone": "az1"}
    agent = parse_agent(row)
    assert agent is not None
    assert agent.agent_mode is AgentMode.DVR_SNAT
    assert agent.availability_zone == "az1"
    assert parse_agent({"id": "x"}) is None
    odd = parse_agent({**row, "configurations": "?"})
    assert odd is not None
    assert odd.agent_mode is AgentMode.LEGACY


def test_an_agent_row_without_its_liveness_fields_is_malformed_not_dead() -> None:
    """Issue 11, 11(b): `alive` missing or of the wrong type was taken as "the API says dead"."""
    row = {"id": "x", "agent_type": "L3 agent", "host": "h", "alive": True, "admin_state_up": True,
           "heartbeat_timestamp": "2026-01-01 00:00:00"}
    for key, bad in (("alive", "yes"), ("alive", None), ("heartbeat_timestamp", 5), ("admin_state_up", "false")):
        assert parse_agent({**row, key: bad}) is None, (key, bad)
    for key in ("alive", "heartbeat_timestamp", "admin_state_up"):
        assert parse_agent({k: v for k, v in row.items() if k != key}) is None, key
