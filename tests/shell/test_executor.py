"""The executor: order within a resource, concurrency across resources, retries, drain on stop."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import pytest

from rpcdaemon.adapters.audit import AuditLog
from rpcdaemon.adapters.neutron.client import CallResult, Outcome
from rpcdaemon.core.actions import Call, Change, ChangeKind, Op, ResourceType
from rpcdaemon.daemon.executor import Executor
from rpcdaemon.model import AgentId

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


def test_a_failed_change_carries_the_call_that_failed_and_its_error_type() -> None:
    """The reconciler tells an agent's refusal by these fields, not by the detail's text."""
    rec = Recorder(lambda call, n: CallResult(Outcome.FAILED, 404, "InvalidL3Agent", "no")
                   if call.op is Op.ADD else CallResult(Outcome.DONE, 204))
    failed, done = executor(rec).run([move("r1"), remove_net("n1", A)])
    assert failed.outcome == "failed" and failed.failed_call == Call(Op.ADD, ResourceType.ROUTER, "r1", B)
    assert failed.error_type == "InvalidL3Agent"
    assert failed.detail == "add router r1 on agent b: HTTP 404 InvalidL3Agent no"
    assert done.outcome == "done" and done.failed_call is None and done.error_type is None


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


class FakeClock:
    """Time that moves only when the executor sleeps or a call takes long: no real time passes in these tests."""

    def __init__(self, now: float = 0.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def fenced_executor(rec: Recorder, clock: FakeClock, window_ends: float, **kw: object) -> tuple[Executor, AuditLog]:
    audit = AuditLog()
    ex = Executor(rec, audit, sleep=clock.sleep, clock=clock,  # type: ignore[arg-type]
                  may_act=lambda: clock() < window_ends, **kw)
    return ex, audit


def test_no_retry_is_sent_once_the_acting_window_closes() -> None:
    """The issue's case: a change started at 7.9 s of a 10 s lease (window closes at 8.0 s); every answer is a
    timeout that takes 3 s. Before the fix the retries went out at 10.9, 14.1, ... while may_act was False."""
    clock = FakeClock(7.9)
    sent_at: list[float] = []

    def answer(call: Call, n: int) -> CallResult:
        sent_at.append(clock())
        clock.now += 3.0  # the API answers after its timeout
        return CallResult(Outcome.TRANSIENT, None, None, "timed out")

    ex, audit = fenced_executor(Recorder(answer), clock, window_ends=8.0, retries=4)
    results = ex.run([add_net("n1", B)])
    assert sent_at == [7.9]
    assert results[0].outcome == "fenced"
    assert "before retry 1" in results[0].detail and "add network n1 on agent b" in results[0].detail
    assert [(r.outcome, r.resource_id) for r in audit.recent()] == [("fenced", "n1")]


def test_every_call_sent_while_acting_and_none_after() -> None:
    """Retries continue while the window is open, and the first one asked after it closed is not sent."""
    clock = FakeClock(0.0)
    sent_at: list[float] = []

    def answer(call: Call, n: int) -> CallResult:
        sent_at.append(clock())
        clock.now += 1.0
        return CallResult(Outcome.TRANSIENT, 503)

    ex, _ = fenced_executor(Recorder(answer), clock, window_ends=4.0, retries=10, backoff_s=0.5)
    results = ex.run([add_net("n1", B)])
    assert results[0].outcome == "fenced"
    assert len(sent_at) >= 2 and all(t < 4.0 for t in sent_at)
    assert results[0].attempts == len(sent_at)


def test_a_move_cut_after_its_remove_sends_no_add_and_says_so() -> None:
    clock = FakeClock(0.0)

    def answer(call: Call, n: int) -> CallResult:
        clock.now += 9.0  # the remove is slow: the window closes while it is in flight
        return CallResult(Outcome.DONE, 204)

    rec = Recorder(answer)
    ex, audit = fenced_executor(rec, clock, window_ends=8.0)
    results = ex.run([move("r1")])
    assert [c.op for c in rec.calls] == [Op.REMOVE]
    assert results[0].outcome == "fenced" and not results[0].ok
    detail = results[0].detail
    assert "after remove router r1 on agent a" in detail and "add router r1 on agent b" in detail
    assert "hosted nowhere" in detail
    assert [r.outcome for r in audit.recent()] == ["fenced"]


def test_an_ha_replacement_cut_after_its_add_keeps_the_old_replica() -> None:
    clock = FakeClock(0.0)

    def answer(call: Call, n: int) -> CallResult:
        clock.now += 9.0
        return CallResult(Outcome.DONE, 201)

    rec = Recorder(answer)
    ex, _ = fenced_executor(rec, clock, window_ends=8.0)
    change = Change(ChangeKind.REPLACE_HA_REPLICA, ResourceType.ROUTER, "r1", A, B, "test")
    results = ex.run([change])
    assert [c.op for c in rec.calls] == [Op.ADD]
    assert results[0].outcome == "fenced" and "after add router r1 on agent b" in results[0].detail


def test_a_change_not_started_when_not_acting_is_skipped_and_the_rest_of_its_resource_too() -> None:
    clock = FakeClock(9.0)
    rec = Recorder()
    ex, audit = fenced_executor(rec, clock, window_ends=8.0)
    results = ex.run([add_net("n1", B), remove_net("n1", A)])
    assert not rec.calls
    assert [r.outcome for r in results] == ["skipped", "skipped"]
    assert not audit.recent()


def test_a_fenced_change_stops_the_later_changes_of_its_resource() -> None:
    clock = FakeClock(0.0)
    acting = [True]

    def answer(call: Call, n: int) -> CallResult:
        acting[0] = False  # the window closes during the first call ...
        return CallResult(Outcome.DONE, 204)

    rec = Recorder(answer)
    ex = Executor(rec, AuditLog(), sleep=clock.sleep, clock=clock, may_act=lambda: acting[0])
    results = ex.run([move("r1"), Change(ChangeKind.REMOVE_ROUTER, ResourceType.ROUTER, "r1", C, None, "stale")])
    assert [c.op for c in rec.calls] == [Op.REMOVE]
    assert [r.outcome for r in results] == ["fenced", "skipped"]


def test_the_default_sleep_is_only_used_when_none_is_injected(monkeypatch: pytest.MonkeyPatch) -> None:
    """An injected sleep is the only one used (a test with a fake clock needs no real time)."""
    def no_real_sleep(_s: float) -> None:
        raise AssertionError("real time.sleep called")

    monkeypatch.setattr(time, "sleep", no_real_sleep)
    clock = FakeClock()
    rec = Recorder(lambda call, n: CallResult(Outcome.TRANSIENT, 503) if n <= 3 else CallResult(Outcome.DONE, 201))
    ex, _ = fenced_executor(rec, clock, window_ends=1e9, retries=3, backoff_s=10.0)
    assert ex.run([add_net("n1", B)])[0].outcome == "done"
    assert clock.now >= 10.0 * (0.5 + 1 + 2)  # the backoff went through the injected sleep


def test_a_lane_runs_its_changes_one_after_the_other_and_a_failure_stops_none_of_the_rest() -> None:
    """A drain's legacy moves to one target share a lane: never two of them in flight at once (one router at a time
    per target), lanes side by side, and one move that fails leaves the next router of the lane to go on."""
    in_flight: dict[str, int] = {}
    peak: dict[str, int] = {}
    lock = threading.Lock()

    def answer(call: Call, n: int) -> CallResult:
        lane = "to-b" if call.resource_id.startswith("b") else "to-c"
        with lock:
            in_flight[lane] = in_flight.get(lane, 0) + 1
            peak[lane] = max(peak.get(lane, 0), in_flight[lane])
        time.sleep(0.002)  # long enough for a second call of the lane to overlap, were it sent
        with lock:
            in_flight[lane] -= 1
        if call.resource_id == "b1" and call.op is Op.ADD:
            return CallResult(Outcome.FAILED, 404, "InvalidL3Agent")
        return CallResult(Outcome.DONE, 204)

    changes = [Change(ChangeKind.MOVE_ROUTER, ResourceType.ROUTER, f"{t}{i}", A, AgentId(t), "drain", lane=f"to-{t}")
               for t in ("b", "c") for i in range(4)]
    results = executor(Recorder(answer), max_concurrency=8).run(changes)
    assert peak == {"to-b": 1, "to-c": 1}
    assert [r.outcome for r in results] == ["done", "failed", "done", "done"] + ["done"] * 4
