"""Faults injected into the emulated Neutron: errors, delays, resets, garbage, well-formed lies, and races.

Why it exists: rpcdaemon must survive a Neutron (and a network to it) that fails in every way a real one can, and
the tests and chaos runs must make it fail on demand, call by call, from Python or over the control API: an error
status, a delay, a connection reset without an answer, a garbled body, or a well-formed lie. A lie is always of a
LIST (an answer empty, short of some rows, replayed from an older answer, or with one malformed agent row), since
those are what rpcdaemon trusts to decide; showing one resource (GET /v2.0/networks/{id}) tells the truth. A race
makes the next add of a router meet the state another actor has just left (scheduling.py plays it).

`Faults` is a part of `Cloud` (cloud.py), sharing its lock. The HTTP server (server.py) takes the fault matching
each call, sleeps its delay outside the lock, and asks for the lie it tells; the true answers of lists are kept
here (answer_history_s) so that a "stale" lie can replay one.
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass
from typing import Any

LIST_KEYS = {
    "/v2.0/agents": "agents",
    "/v2.0/networks": "networks",
    "/v2.0/subnets": "subnets",
    "/v2.0/routers": "routers",
    "/v2.0/ports": "ports",
    "/v2.0/agents/{id}/dhcp-networks": "networks",
    "/v2.0/agents/{id}/l3-routers": "routers",
    "/v2.0/networks/{id}/dhcp-agents": "agents",
    "/v2.0/routers/{id}/l3-agents": "agents",
}
"""The list endpoints (path pattern -> the key of the rows): the only answers a lie can change, and the ones the
cost model charges per row."""
LIES = ("empty", "drop", "stale", "malformed")
"""empty: no rows; drop: a share of the rows left out; stale: an older answer to the same request replayed;
malformed: one agent row without `alive` or `heartbeat_timestamp`, or with a wrong type (agents lists only)."""

Answers = dict[tuple[Any, ...], list[tuple[float, dict[str, Any]]]]
"""request -> [(time.monotonic() when answered, the true answer)], oldest first"""


@dataclass
class Fault:
    """The next `count` calls matching method and path pattern are answered with a fault."""

    method: str
    pattern: str
    status: int | None = None
    delay_s: float = 0.0
    count: int = 1
    reset: bool = False
    body: str | None = None
    """Answer this raw text (status `status`, default 200) instead of the real answer: garbage for the client."""
    lie: str | None = None
    """One of LIES: the real answer of a list, changed into a well-formed lie."""
    share: float = 0.5
    """lie "drop": the share of the rows left out (at least one when there is any)."""
    age_s: float = 10.0
    """lie "stale": replay the newest answer at least this old (the oldest kept when none is)."""

    def matches(self, method: str, pattern: str) -> bool:
        if self.lie is not None and (method != "GET" or pattern not in LIST_KEYS):
            return False
        return self.method in ("*", method) and self.pattern in ("*", pattern)


def split_pattern(method: str, pattern: str) -> tuple[str, str]:
    """("POST", "POST /v2.0/agents/{id}/l3-routers") or ("POST", "/v2.0/agents/{id}/l3-routers") ->
    ("POST", "/v2.0/agents/{id}/l3-routers"); "*" stays "*"."""
    method = method.upper()
    head, sep, tail = pattern.partition(" ")
    if sep:
        head = head.upper()
        if method not in ("*", head):
            raise ValueError(f"fault method {method} does not match pattern {pattern!r}")
        return head, tail.strip()
    return method, pattern


class Faults:
    """The faults and races waiting for their calls, and the true list answers kept for stale lies."""

    def __init__(self, lock: threading.RLock, seed: int | None) -> None:
        self._lock = lock
        self._faults: list[Fault] = []
        self._races: dict[str, str] = {}
        self._lie_rng = random.Random((seed or 0) + 7919)
        self.answers: Answers = {}

    def add(self, method: str, pattern: str, status: int | None = None, delay_s: float = 0.0, count: int = 1,
            reset: bool = False, body: str | None = None, lie: str | None = None, share: float = 0.5,
            age_s: float = 10.0) -> None:
        """The next `count` API calls matching `method` ("*": any) and `pattern` ("GET /v2.0/agents",
        "/v2.0/agents/{id}/l3-routers" or "*") sleep `delay_s`, then either close the connection without an
        answer (reset) or answer `status` with an InjectedFault NeutronError (status None: answer normally), or,
        with `body`, answer that raw text (status `status`, default 200) without doing anything: a garbled or
        lying server; or, with `lie` (see LIES), answer the real answer of a list changed into a well-formed lie
        (only list calls match such a fault: "*" means every list). Faults are consumed in the order they were
        added."""
        if not isinstance(method, str) or not isinstance(pattern, str) or not pattern:
            raise ValueError("method and pattern must be non-empty strings")
        if status is not None and (isinstance(status, bool) or not isinstance(status, int)
                                   or not 100 <= status <= 599):
            raise ValueError("status must be an HTTP status code or None")
        if isinstance(delay_s, bool) or not isinstance(delay_s, int | float) or delay_s < 0:
            raise ValueError("delay_s must be a number >= 0")
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise ValueError("count must be an integer >= 1")
        if not isinstance(reset, bool):
            raise ValueError("reset must be true or false")
        if body is not None and not isinstance(body, str):
            raise ValueError("body must be a string or None")
        if lie is not None:
            if lie not in LIES:
                raise ValueError(f"lie must be one of {', '.join(LIES)}")
            if body is not None or reset or status is not None:
                raise ValueError("a lie is a real answer changed: not with body, reset or status")
        if isinstance(share, bool) or not isinstance(share, int | float) or not 0 <= share <= 1:
            raise ValueError("share must be a number from 0 to 1")
        if isinstance(age_s, bool) or not isinstance(age_s, int | float) or not age_s >= 0:
            raise ValueError("age_s must be a number >= 0")
        fault_method, fault_pattern = split_pattern(method, pattern)
        if lie is not None and (fault_method not in ("*", "GET")
                                or fault_pattern not in ("*", *LIST_KEYS)):
            raise ValueError(f"a lie is of a list: {method} {pattern} is not one")
        with self._lock:
            self._faults.append(Fault(fault_method, fault_pattern, status, float(delay_s), count, reset, body,
                                      lie, float(share), float(age_s)))

    def clear(self) -> None:
        """Forget every fault and race not yet played."""
        with self._lock:
            self._faults.clear()
            self._races.clear()

    def take(self, method: str, pattern: str) -> Fault | None:
        """The first fault matching this call, consumed; `pattern` with or without the method in front."""
        _, path = split_pattern("*", pattern)
        with self._lock:
            for fault in self._faults:
                if fault.matches(method, path):
                    fault.count -= 1
                    if fault.count <= 0:
                        self._faults.remove(fault)
                    return fault
            return None

    # --- races -----------------------------------------------------------------------------------------------

    def add_race(self, router_id: str, agent_id: str) -> None:
        """Before the next add of this router, another actor puts it on `agent_id`."""
        with self._lock:
            self._races[router_id] = agent_id

    def take_race(self, router_id: str) -> str | None:
        """The agent another actor puts this router on before this call (None: no race), consumed."""
        with self._lock:
            return self._races.pop(router_id, None)

    def drop_race(self, router_id: str) -> None:
        """The router is gone: so is its race."""
        with self._lock:
            self._races.pop(router_id, None)

    # --- lies ------------------------------------------------------------------------------------------------

    def lie_about(self, fault: Fault, pattern: str, request: tuple[Any, ...], answer: dict[str, Any],
                  ) -> dict[str, Any] | None:
        """The answer `fault` turns this real list answer into (None: this lie cannot be told here, e.g. nothing
        old enough to replay: the truth is answered)."""
        key = LIST_KEYS[pattern]
        rows = answer.get(key)
        if not isinstance(rows, list):
            return None
        lied = {k: v for k, v in answer.items() if not k.endswith("_links")}  # a lie has no next page either
        with self._lock:
            rng = self._lie_rng
            if fault.lie == "empty":
                lied[key] = []
            elif fault.lie == "drop":
                if not rows:
                    return None
                dropped = max(1, round(len(rows) * fault.share))
                gone = set(rng.sample(range(len(rows)), min(dropped, len(rows))))
                lied[key] = [r for i, r in enumerate(rows) if i not in gone]
            elif fault.lie == "stale":
                old = self._old_answer(request, fault.age_s)
                if old is None:
                    return None
                lied = {k: v for k, v in old.items() if not k.endswith("_links")}
            elif fault.lie == "malformed":
                candidates = [i for i, r in enumerate(rows) if isinstance(r, dict) and "alive" in r]
                if not candidates:
                    return None
                i = rng.choice(candidates)
                row = dict(rows[i])
                field_name = rng.choice(["alive", "heartbeat_timestamp"])
                if rng.random() < 0.5:
                    row.pop(field_name, None)
                else:
                    row[field_name] = rng.choice(["yes", 1, None, [], {"v": True}])
                lied[key] = [*rows[:i], row, *rows[i + 1:]]
        return lied

    def remember_answer(self, request: tuple[Any, ...], answer: dict[str, Any], history_s: float) -> None:
        """Keep a true list answer for `history_s` seconds (at most one per request kind per second; 0: none)."""
        if history_s <= 0:
            return
        now = time.monotonic()
        with self._lock:
            kept = self.answers.setdefault(request, [])
            if kept and now - kept[-1][0] < 1.0:
                return
            kept.append((now, answer))
            while kept and now - kept[0][0] > history_s:
                del kept[0]

    def _old_answer(self, request: tuple[Any, ...], age_s: float) -> dict[str, Any] | None:
        kept = self.answers.get(request) or []
        now = time.monotonic()
        old = [answer for at, answer in kept if now - at >= age_s]
        if old:
            return old[-1]
        return kept[0][1] if kept and now - kept[0][0] >= 0.5 else None
