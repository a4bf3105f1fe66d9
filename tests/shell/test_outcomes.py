"""A change's outcome and a bus message's kind are StrEnums whose values are the strings rpcdaemon always wrote:
audit lines, metrics labels and /status read the same as before the enums; and an add the agent refused is told
by the structured fields of its result, not by the text of its detail."""

from __future__ import annotations

import json
from pathlib import Path

from rpcdaemon.adapters.audit import AuditLog, AuditRecord
from rpcdaemon.adapters.status.metrics import ACTION_OUTCOMES, BUS_KINDS, Metrics
from rpcdaemon.core.actions import Call, Change, ChangeKind, ChangeOutcome, Op, ResourceType
from rpcdaemon.daemon.executor import ChangeResult
from rpcdaemon.daemon.reconciler import _refused_add
from rpcdaemon.model import AgentId, BusKind

A, B = AgentId("a"), AgentId("b")


def test_the_values_are_the_strings_of_before_in_their_order() -> None:
    assert list(ACTION_OUTCOMES) == ["done", "already", "conflict", "failed", "skipped", "fenced", "planned"]
    assert list(BUS_KINDS) == ["heartbeat", "notification", "other"]
    assert {kind.value for kind in BusKind} == {"heartbeat", "notification", "rpc", "other"}
    assert [o for o in ChangeOutcome if o.ok] == ["done", "already", "planned"]


def test_an_audit_line_is_the_same_as_with_a_plain_string(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    log = AuditLog(str(path))
    record = AuditRecord("t", "move_router", "router", "r1", A, B, None, None, "why", ChangeOutcome.FENCED, "d",
                         0.1, False)
    log.record(record)
    log.close()
    plain = {**record.as_dict(), "outcome": "fenced"}
    assert path.read_text() == json.dumps(plain, sort_keys=True) + "\n"
    assert '"outcome": "fenced"' in path.read_text()


def test_metrics_labels_are_the_plain_values() -> None:
    metrics = Metrics()
    metrics.actions.labels(ChangeKind.MOVE_ROUTER.value, ChangeOutcome.FENCED).inc()
    text = metrics.render().decode()
    assert 'rpcdaemon_actions_total{action="move_router",outcome="fenced"} 1.0' in text
    assert 'rpcdaemon_actions_total{action="add_network",outcome="planned"} 0.0' in text
    assert 'rpcdaemon_bus_messages_total{kind="heartbeat"} 0.0' in text
    assert "ChangeOutcome" not in text and "BusKind" not in text


def result(action: ChangeKind, outcome: ChangeOutcome, call: Call | None, error_type: str | None,
           detail: str = "") -> ChangeResult:
    change = Change(action, ResourceType.ROUTER, "r1", A, B, "test")
    return ChangeResult(change, outcome, detail, 0.0, 1, failed_call=call, error_type=error_type)


def test_a_refused_add_is_told_by_the_failed_call_and_its_error_type() -> None:
    add, remove = Call(Op.ADD, ResourceType.ROUTER, "r1", B), Call(Op.REMOVE, ResourceType.ROUTER, "r1", A)
    assert _refused_add(result(ChangeKind.MOVE_ROUTER, ChangeOutcome.FAILED, add, "InvalidL3Agent"))
    assert _refused_add(result(ChangeKind.SCHEDULE_ROUTER, ChangeOutcome.CONFLICT, add, "RouterL3AgentMismatch"))
    # the remove of a move failed: that says nothing of the agent the router was to go to
    assert not _refused_add(result(ChangeKind.MOVE_ROUTER, ChangeOutcome.FAILED, remove, "AgentNotFound"))
    # a race, a transient failure, a fence: not a refusal
    assert not _refused_add(result(ChangeKind.SCHEDULE_ROUTER, ChangeOutcome.CONFLICT, add, "RouterHostedByL3Agent"))
    assert not _refused_add(result(ChangeKind.SCHEDULE_ROUTER, ChangeOutcome.FAILED, add, "ConnectionError"))
    assert not _refused_add(result(ChangeKind.MOVE_ROUTER, ChangeOutcome.FENCED, None, None))
    # a message that merely quotes a refusal's name is not one
    assert not _refused_add(result(ChangeKind.SCHEDULE_ROUTER, ChangeOutcome.FAILED, add, "BadRequest",
                                   "add router r1 on agent b: HTTP 400 BadRequest not an InvalidL3Agent"))


def test_a_zone_that_leaves_the_read_leaves_the_disruption_gauge() -> None:
    """Found in review: a zone whose agents were all deleted kept its last value (1: an alert that never ends)."""
    metrics = Metrics()
    metrics.observe_zones([("L3 agent", "az-1", True), ("L3 agent", "az-2", False)])
    text = metrics.render().decode()
    assert 'rpcdaemon_zone_disrupted{agent_type="L3 agent",zone="az-1"} 1.0' in text
    metrics.observe_zones([("L3 agent", "az-2", False)])
    text = metrics.render().decode()
    assert 'zone="az-1"' not in text
    assert 'rpcdaemon_zone_disrupted{agent_type="L3 agent",zone="az-2"} 0.0' in text
