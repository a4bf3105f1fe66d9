"""Carries out a plan: bounded concurrency across resources, strict order within one.

Changes to different resources run in parallel (Neutron's own failover moves one router after the other, which is
why it takes minutes); changes to one resource run one after the other, and a failure stops the rest for that
resource (a DHCP binding on a dead agent is never removed when the addition before it failed). Transient failures
(5xx, timeouts, resets) are retried with exponential backoff; "already so" answers count as success; a conflict
(someone else moved the router) is left for the next pass, which re-reads the truth.

Stopping (SIGTERM) lets every change in flight finish, so a router is never left between its remove and its add
by rpcdaemon's own shutdown; no new change starts.

The fence is different: a replica whose acting window has closed (its lease may already be another replica's) must
send nothing more, since Neutron's API has no fencing token and the new leader acts on the same resources. So
`may_act` is asked before EVERY API call: before a change starts, before each retry, and before the second call of
a legacy move or an HA replica replacement. A change cut part-way ends "fenced", audited, with a detail naming the
calls sent and the one not sent. A legacy move cut after its remove leaves the router hosted nowhere; that is the
state the acting replica's next pass repairs (the core plans SCHEDULE_ROUTER for a router hosted nowhere), and it is
safer than two leaders adding the same router to different agents.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from rpcdaemon.adapters.audit import AuditLog, AuditRecord
from rpcdaemon.adapters.neutron.client import CallResult, Outcome
from rpcdaemon.core.actions import Call, Change, ChangeKind, ChangeOutcome, group_by_key
from rpcdaemon.model import AgentId

LOG = logging.getLogger(__name__)
NOT_ACTING = "this replica is no longer the acting one"


@dataclass(frozen=True, slots=True)
class ChangeResult:
    change: Change
    outcome: ChangeOutcome
    """done, already, conflict, failed, skipped (not started: an earlier change of the resource did not succeed,
    rpcdaemon is stopping, or this replica may not act), fenced (cut part-way because this replica's acting window
    closed: some calls were sent, the rest not; the detail says which), or planned (dry run)."""
    detail: str
    duration_s: float
    attempts: int
    failed_call: Call | None = None
    """The call Neutron answered with a failure or a conflict (the change ended there), else None."""
    error_type: str | None = None
    """The NeutronError type of that answer (InvalidL3Agent...), when it had one: the reconciler tells an agent's
    refusal by it, not by the text of the detail."""
    finished_at: float | None = None
    """When its last call was answered, by the executor's clock (Executor.now): when a landing starts to await
    proof."""

    @property
    def ok(self) -> bool:
        return self.outcome.ok


class Executor:
    def __init__(
        self,
        apply_call: Callable[[Call], CallResult],
        audit: AuditLog,
        *,
        max_concurrency: int = 16,
        retries: int = 3,
        backoff_s: float = 0.2,
        dry_run: bool = False,
        member: str | None = None,
        on_result: Callable[[ChangeResult], None] | None = None,
        may_act: Callable[[], bool] = lambda: True,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.apply_call = apply_call
        self.audit = audit
        self._max_concurrency = max(1, max_concurrency)
        self._retries = max(0, retries)
        self._backoff_s = backoff_s
        self.dry_run = dry_run
        self._member = member
        self.member = member
        self._on_result = on_result
        self.may_act = may_act
        """Asked before every API call: False (this replica lost the right to act) sends nothing more."""
        self._sleep = sleep
        self._clock = clock
        self._rng = random.Random()

    def now(self) -> float:
        """The executor's clock (results' finished_at are by it)."""
        return self._clock()

    def reconfigure(self, *, max_concurrency: int, retries: int, dry_run: bool) -> None:
        """A reload: applies from the next plan on (a plan in flight keeps what it started with)."""
        self._max_concurrency = max(1, max_concurrency)
        self._retries = max(0, retries)
        self.dry_run = dry_run

    def run(
        self,
        changes: Sequence[Change],
        hosts: Mapping[AgentId, str] | None = None,
        stop: threading.Event | None = None,
    ) -> list[ChangeResult]:
        """Apply the changes; returns one result per change, in plan order."""
        if not changes:
            return []
        groups = list(group_by_key(changes).values())
        stop = stop or threading.Event()
        hosts = hosts or {}
        workers = min(self._max_concurrency, len(groups))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="apply") as pool:
            per_key = list(pool.map(lambda group: self._run_key(group, hosts, stop), groups))
        by_change = {id(r.change): r for results in per_key for r in results}
        return [by_change[id(c)] for c in changes]

    def _run_key(self, group: list[Change], hosts: Mapping[AgentId, str], stop: threading.Event) -> list[ChangeResult]:
        results: list[ChangeResult] = []
        blocked: str | None = None
        for change in group:
            if blocked is None and stop.is_set():
                blocked = "rpcdaemon is stopping"
            if blocked is not None:
                results.append(ChangeResult(change, ChangeOutcome.SKIPPED, blocked, 0.0, 0))
                continue
            result = self._run_change(change)
            results.append(result)
            if result.outcome is ChangeOutcome.SKIPPED:  # fenced before its first call: nothing sent, nothing to audit
                blocked = result.detail
                continue
            self._report(result, hosts)
            if not result.ok and change.lane is None:
                blocked = f"an earlier change of this {change.resource_type.value} ended {result.outcome}"
        return results

    def _run_change(self, change: Change) -> ChangeResult:
        if not self.may_act():
            return ChangeResult(change, ChangeOutcome.SKIPPED, NOT_ACTING, 0.0, 0)
        if self.dry_run:
            return ChangeResult(change, ChangeOutcome.PLANNED, "dry run: nothing done", 0.0, 0)
        started = self._clock()
        attempts = 0
        outcomes: list[Outcome] = []
        calls = change.calls()
        for index, call in enumerate(calls):
            if index > 0 and not self.may_act():
                return ChangeResult(change, ChangeOutcome.FENCED, _cut_between(change, calls[:index], calls[index:]),
                                    self._clock() - started, attempts)
            result, tries = self._run_call(call)
            attempts += tries
            if result is None:  # the window closed between two attempts of this call
                return ChangeResult(change, ChangeOutcome.FENCED, _cut_in_retry(change, calls, index, tries),
                                    self._clock() - started, attempts)
            outcomes.append(result.outcome)
            if not result.outcome.ok:
                detail = f"{call.describe()}: HTTP {result.status} {result.error_type or ''} {result.message}".strip()
                outcome = ChangeOutcome.CONFLICT if result.outcome is Outcome.CONFLICT else ChangeOutcome.FAILED
                return ChangeResult(change, outcome, detail, self._clock() - started, attempts,
                                    failed_call=call, error_type=result.error_type)
        outcome = ChangeOutcome.ALREADY if all(o is Outcome.ALREADY for o in outcomes) else ChangeOutcome.DONE
        finished = self._clock()
        return ChangeResult(change, outcome, "", finished - started, attempts, finished_at=finished)

    def _run_call(self, call: Call) -> tuple[CallResult | None, int]:
        """The call's answer and how many times it was sent; None when the acting window closed before a retry
        (the caller has asked may_act just before the first attempt)."""
        attempt = 0
        while True:
            attempt += 1
            result = self.apply_call(call)
            if result.outcome is not Outcome.TRANSIENT or attempt > self._retries:
                return result, attempt
            delay = self._backoff_s * (2 ** (attempt - 1)) * (0.5 + self._rng.random())
            LOG.info("%s: transient failure (%s %s), retry %d in %.2fs", call.describe(), result.status,
                     result.error_type or result.message, attempt, delay)
            self._sleep(delay)
            if not self.may_act():
                return None, attempt

    def _report(self, result: ChangeResult, hosts: Mapping[AgentId, str]) -> None:
        change = result.change
        self.audit.record(
            AuditRecord(
                time=AuditLog.now(),
                action=change.action.value,
                resource_type=change.resource_type.value,
                resource_id=change.resource_id,
                from_agent=change.from_agent,
                to_agent=change.to_agent,
                from_host=hosts.get(change.from_agent) if change.from_agent else None,
                to_host=hosts.get(change.to_agent) if change.to_agent else None,
                reason=change.reason,
                outcome=result.outcome,
                detail=result.detail,
                duration_s=round(result.duration_s, 4),
                dry_run=self.dry_run,
                member=self._member,
            )
        )
        if self._on_result is not None:
            self._on_result(result)


def _cut_in_retry(change: Change, calls: tuple[Call, ...], index: int, tries: int) -> str:
    """Why a change was cut while one of its calls was being retried (what was sent, what was not)."""
    call = calls[index]
    done = "".join(f"{c.describe()} done; " for c in calls[:index])
    rest = "".join(f"; {c.describe()} not sent" for c in calls[index + 1:])
    return (f"fenced before retry {tries} of {call.describe()} ({done}{tries} attempt(s) with a transient "
            f"failure){rest}: {NOT_ACTING}{_consequence(change)}")


def _cut_between(change: Change, sent: tuple[Call, ...], unsent: tuple[Call, ...]) -> str:
    """Why a change was cut between two of its calls."""
    return (f"fenced after {'; '.join(c.describe() for c in sent)}: {'; '.join(c.describe() for c in unsent)} "
            f"not sent: {NOT_ACTING}{_consequence(change)}")


def _consequence(change: Change) -> str:
    """What the cut may leave behind, and who repairs it (a call cut in its retries may have taken effect)."""
    if change.action is ChangeKind.MOVE_ROUTER:
        return "; the router may be hosted nowhere until the acting replica's next pass schedules it"
    if change.action is ChangeKind.REPLACE_HA_REPLICA:
        return "; the dead replica's binding stays until the acting replica's next pass removes it"
    return ""
