"""A faulty bus between the emulated cloud's publisher and rpcdaemon: drops, duplicates, delays (so reorders),
corrupts, and goes away entirely (a broker restart).

Why: rpcdaemon must never act on what the bus says alone, and must survive whatever the bus delivers. The relay sits
on the in-memory bus seam (Daemon.in_memory_bus), so these faults cost no broker and stay reproducible by seed.
"""

from __future__ import annotations

import heapq
import json
import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

Publish = Callable[[str, str], None]


@dataclass(frozen=True)
class BusFaultRates:
    """Per-message probabilities."""

    drop: float = 0.0
    duplicate: float = 0.0
    delay: float = 0.0
    """Held back for up to `max_delay_s`: later messages overtake it."""
    corrupt: float = 0.0
    max_delay_s: float = 1.5


OFF = BusFaultRates()


def malformed_body(rng: random.Random) -> tuple[str, str]:
    """(kind, body): one of the ways a bus message can be broken."""
    kind = rng.choice(["not-json", "truncated", "bad-envelope", "inner-not-json", "wrong-types", "empty", "huge",
                       "array"])
    heartbeat = {"method": "report_state", "args": {"agent_state": {"agent_state": {
        "host": "net-1", "agent_type": "L3 agent"}}}}
    if kind == "not-json":
        return kind, "".join(chr(rng.randrange(1, 0x2FF)) for _ in range(rng.randrange(1, 80)))
    if kind == "truncated":
        whole = json.dumps({"oslo.version": "2.0", "oslo.message": json.dumps(heartbeat)})
        return kind, whole[: rng.randrange(1, len(whole) - 1)]
    if kind == "bad-envelope":
        return kind, json.dumps({"oslo.version": "2.0", "oslo.message": 5})
    if kind == "inner-not-json":
        return kind, json.dumps({"oslo.version": "2.0", "oslo.message": "{not json"})
    if kind == "wrong-types":
        bad = {"method": "report_state", "args": {"agent_state": {"agent_state": {"host": 12, "agent_type": []}}}}
        return kind, json.dumps({"oslo.version": "2.0", "oslo.message": json.dumps(bad)})
    if kind == "empty":
        return kind, ""
    if kind == "huge":
        return kind, json.dumps({"oslo.version": "2.0", "oslo.message": "x" * (1024 * 1024 + 10)})
    return kind, json.dumps([1, 2, 3])


class FaultyRelay:
    """publish(routing_key, body) in; deliver(routing_key, body) out, with faults, from one delivery thread."""

    def __init__(self, deliver: Publish, seed: int, faults: Counter[str],
                 on_down: Callable[[], None] | None = None, on_up: Callable[[], None] | None = None,
                 tap: Publish | None = None) -> None:
        self._deliver = deliver
        self._rng = random.Random(seed)
        self.faults = faults
        """Counts faults by kind (shared with the rest of the chaos run)."""
        self.rates = OFF
        self._on_down = on_down
        self._on_up = on_up
        self.tap = tap
        """Sees every message before the faults (the chaos monkey watches evacuations with it)."""
        self._lock = threading.Condition()
        self._queue: list[tuple[float, int, str, str]] = []
        self._seq = 0
        self._outage_until: float | None = None
        self._stopped = False
        self.delivered = 0
        self._thread = threading.Thread(target=self._run, name="chaos-bus", daemon=True)

    def start(self) -> FaultyRelay:
        self._thread.start()
        return self

    def stop(self) -> None:
        with self._lock:
            self._stopped = True
            self._lock.notify_all()
        self._thread.join(5)

    def publish(self, routing_key: str, body: str) -> None:
        if self.tap is not None:
            self.tap(routing_key, body)
        now = time.monotonic()
        with self._lock:
            if self._outage_until is not None:
                self.faults["bus_lost_in_outage"] += 1
                return
            rates = self.rates
            roll = self._rng.random
            if roll() < rates.drop:
                self.faults["bus_drop"] += 1
                return
            if roll() < rates.corrupt:
                kind, body = malformed_body(self._rng)
                self.faults[f"bus_malformed_{kind}"] += 1
            due = now
            if roll() < rates.delay:
                due = now + self._rng.uniform(0.05, rates.max_delay_s)
                self.faults["bus_delay"] += 1
            self._push(due, routing_key, body)
            if roll() < rates.duplicate:
                self.faults["bus_duplicate"] += 1
                self._push(now + self._rng.uniform(0.0, rates.max_delay_s), routing_key, body)

    def inject_garbage(self, routing_key: str) -> None:
        """A malformed message that nobody sent."""
        with self._lock:
            if self._outage_until is not None:
                return
            kind, body = malformed_body(self._rng)
            self.faults[f"bus_malformed_{kind}"] += 1
            self._push(time.monotonic(), routing_key, body)

    def outage(self, seconds: float) -> None:
        """The broker goes away for `seconds`: everything published meanwhile is lost, and what was queued too;
        rpcdaemon's listener sees the disconnection and, later, the reconnection."""
        with self._lock:
            if self._outage_until is not None or self._stopped:
                return
            self.faults["bus_broker_restart"] += 1
            self._outage_until = time.monotonic() + seconds
            self.faults["bus_lost_in_outage"] += len(self._queue)
            self._queue.clear()
            self._lock.notify_all()
        if self._on_down is not None:
            self._on_down()

    def end_outage(self) -> None:
        with self._lock:
            if self._outage_until is None:
                return
            self._outage_until = None
        if self._on_up is not None:
            self._on_up()

    @property
    def in_outage(self) -> bool:
        with self._lock:
            return self._outage_until is not None

    def _push(self, due: float, routing_key: str, body: str) -> None:
        self._seq += 1
        heapq.heappush(self._queue, (due, self._seq, routing_key, body))
        self._lock.notify_all()

    def _run(self) -> None:
        while True:
            with self._lock:
                while not self._stopped:
                    now = time.monotonic()
                    if self._outage_until is not None and now >= self._outage_until:
                        break
                    if self._queue and self._queue[0][0] <= now:
                        break
                    waits = [t - now for t in (self._outage_until,) if t is not None]
                    if self._queue:
                        waits.append(self._queue[0][0] - now)
                    self._lock.wait(min(waits) if waits else None)
                if self._stopped:
                    return
                item = None
                if self._outage_until is None or time.monotonic() < self._outage_until:
                    item = heapq.heappop(self._queue)
            if item is None:
                self.end_outage()
                continue
            _, _, routing_key, body = item
            try:
                self._deliver(routing_key, body)
            except Exception:  # rpcdaemon's bus entry point must not raise: count it, the run reports it
                self.faults["bus_delivery_raised"] += 1
            self.delivered += 1
