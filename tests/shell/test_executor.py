"""The executor: order within a resource, concurrency across resources, retries, drain on stop."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import pytest

from rpcdaemon.core.actions import Call, Change, ChangeKind, Op, ResourceType
from rpcdaemon.model import AgentId
from rpcdaemon.shell.audit import AuditLog
from rpcdaemon.shell.executor import Executor
from rpcdaemon.shell.neutron import CallResult, Outcome

A, B, C = AgentId("a"), AgentId("b"), AgentId("c")


def move(router: str) -> Change:
    return Change(ChangeKind.MOVE_ROUTER, ResourceType.ROUTER, router, A, B, "test")


def add_net(net: str, agent: AgentId) -> Change:
    return Change(ChangeKind.ADD_NETWORK, ResourceType.NETWORK, net, None, agent, "test")


def remove_net(net: str, agent: AgentId) -> Change:
    return Change(ChangeKind.REMOVE_NETWORK, ResourceType.NETWORK, net, agent, None, "test")


class Recorder:
    def __init__(self, answer: Callable[[Call, int], CallResult] | None = None) -> None:
        self.calls: list[Call] = []
        self.lock = threading.Lock()
        self.answer = answer or (lambda call, n: CallResult(Outcome.DONE, 201))

    def __call__(self, call: Call) -> CallResult:
        with self.lock:
            self.calls.append(call)
            n = sum(1 for c in self.calls if c == call)
        return self.answer(call, n)


def executor(rec: Recorder, **kw: object) -> Executor:
    return Executor(rec, AuditLog(), sleep=lambda s: None, **kw)  # type: ignore[arg-type]


def test_move_is_remove_then_add() -> None:
    rec = Recorder()
    results = executor(rec).run([move("r1")])
    assert [c.op for c in rec.calls] == [Op.REMOVE, Op.ADD]
    assert [c.agent_id for c in rec.calls] == [A, B]
    assert results[0].outcome == "done"


def test_failed_add_stops_the_removal_of_the_same_network() -> None:
    rec = Recorder(lambda call, n: CallResult(Outcome.FAILED, 404, "InvalidDHCPAgent")
                   if call.op is Op.ADD else CallResult(Outcome.DONE, 204))
    results = executor(rec).run([add_net("n1", B), remove_net("n1", A), add_net("n2", C)])
    assert [r.outcome for r in results] == ["failed", "skipped", "failed"]
    assert not [c for c in rec.calls if c.op is Op.REMOVE]


def test_transient_errors_are_retried_then_succeed() -> None:
    rec = Recorder(lambda call, n: CallResult(Outcome.TRANSIENT, 503) if n <= 2 else CallResult(Outcome.DONE, 201))
    results = executor(rec, retries=3).run([add_net("n1", B)])
    assert results[0].outcome == "done" and results[0].attempts == 3


def test_retries_are_bounded() -> None:
    rec = Recorder(lambda call, n: CallResult(Outcome.TRANSIENT, 500))
    results = executor(rec, retries=2).run([add_net("n1", B)])
    assert results[0].outcome == "failed" and len(rec.calls) == 3


def test_already_so_is_success_and_conflict_is_reported() -> None:
    rec = Recorder(lambda call, n: CallResult(Outcome.ALREADY, 409, "NetworkHostedByDHCPAgent")
                   if call.resource_type is ResourceType.NETWORK else CallResult(Outcome.CONFLICT, 409, "X"))
    results = executor(rec).run([add_net("n1", B), move("r1")])
    assert [r.outcome for r in results] == ["already", "conflict"]


def test_dry_run_calls_nothing_and_records_plans() -> None:
    rec = Recorder()
    audit = AuditLog()
    results = Executor(rec, audit, dry_run=True).run([move("r1"), add_net("n1", B)])
    assert not rec.calls
    assert [r.outcome for r in results] == ["planned", "planned"]
    assert [r.dry_run for r in audit.recent()] == [True, True]


def test_stop_finishes_the_change_in_flight_and_starts_no_other() -> None:
    stop = threading.Event()
    started = threading.Event()

    def answer(call: Call, n: int) -> CallResult:
        if call.op is Op.REMOVE:
            started.set()
            stop.set()  # SIGTERM arrives between the remove and the add of the move
        return CallResult(Outcome.DONE, 204)

    rec = Recorder(answer)
    changes = [move("r1"), Change(ChangeKind.REMOVE_ROUTER, ResourceType.ROUTER, "r1", C, None, "stale")]
    results = executor(rec, max_concurrency=1).run(changes, stop=stop)
    assert [c.op for c in rec.calls] == [Op.REMOVE, Op.ADD]  # the move was completed
    assert [r.outcome for r in results] == ["done", "skipped"]


def test_concurrency_across_resources_is_bounded() -> None:
    active = 0
    peak = 0
    lock = threading.Lock()
    gate = threading.Barrier(4, timeout=10)

    def answer(call: Call, n: int) -> CallResult:
        nonlocal active, peak
        with lock:
            active += 1
            peak = max(peak, active)
        if call.op is Op.REMOVE:
            gate.wait()  # the first four removes must be in flight together
        with lock:
            active -= 1
        return CallResult(Outcome.DONE, 204)

    results = executor(Recorder(answer), max_concurrency=4).run([move(f"r{i}") for i in range(8)])
    assert all(r.outcome == "done" for r in results)
    assert peak == 4


def test_each_plugin_logs_its_changes_on_its_own_logger(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    executor(Recorder()).run([move("r1"), add_net("n1", B)])
    names = {r.name for r in caplog.records if r.name.startswith("rpcdaemon.audit")}
    assert names == {"rpcdaemon.audit.L3Agent", "rpcdaemon.audit.DHCPAgent"}
