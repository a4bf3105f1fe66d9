"""Chaos for replicas: a coordination backend that can be cut off from one replica, and the acting windows each
replica reports, sampled.

Why: a replica's right to act is a lease it renews; when renewals stop (its link to the backend is cut, a stall),
it must stop calling the scheduling API before the lease can pass to another replica, also in the middle of a
change (retries, the second call of a move). The judge (invariants.FenceJudge) compares the emulator's call log,
where every call names its replica (X-Rpcdaemon-Member), with the windows in which that replica said it might act.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, cast

from tooz import coordination as tooz_coordination

from rpcdaemon.adapters.coordination import Cluster, Coordination, connect_tooz
from rpcdaemon.config.settings import Settings
from rpcdaemon.core.leadership import LeaseTiming

CUT_METHODS = frozenset({"start", "heartbeat", "create_group", "join_group", "leave_group", "update_capabilities",
                         "get_members_with_capabilities"})
"""What a replica cut off from the backend cannot do (the lock it holds stays held: the file driver's does)."""


class BackendCut(ConnectionError):
    pass


class _CutDriver:
    """A tooz driver whose calls fail while its replica is cut off."""

    def __init__(self, driver: tooz_coordination.CoordinationDriver, member: str, backend: FaultyBackend) -> None:
        self._driver = driver
        self._member = member
        self._backend = backend

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._driver, name)
        if name not in CUT_METHODS or not callable(attr):
            return attr

        def guarded(*args: Any, **kwargs: Any) -> Any:
            if self._backend.is_cut(self._member):
                raise BackendCut(f"chaos: {self._member} is cut off from the coordination backend")
            return attr(*args, **kwargs)

        return guarded


class FaultyBackend:
    """Hands each replica a tooz driver that fails while that replica is cut off."""

    def __init__(self) -> None:
        self._cut: set[str] = set()
        self._lock = threading.Lock()

    def connect(self, url: str, member: bytes) -> tooz_coordination.CoordinationDriver:
        name = member.decode()
        return cast(tooz_coordination.CoordinationDriver, _CutDriver(connect_tooz(url, member), name, self))

    def cut_off(self, member: str) -> None:
        with self._lock:
            self._cut.add(member)

    def restore(self, member: str) -> None:
        with self._lock:
            self._cut.discard(member)

    def is_cut(self, member: str) -> bool:
        with self._lock:
            return member in self._cut

    def build_coordination(self, settings: Settings, member: str, wake: Callable[[], None]) -> Coordination:
        """compose.build_coordination with this backend's drivers (a replica of a chaos run or test)."""
        assert settings.coordination_url, "a cluster needs coordination_url"
        return Cluster(settings.coordination_url, settings.coordination_group, member,
                       LeaseTiming(settings.coordination_lease_s), on_role=lambda _role: wake(),
                       connect=self.connect)


class ActingWindows:
    """Samples each replica's may_act() every `period_s`: the windows in which it said it might act."""

    def __init__(self, period_s: float = 0.02) -> None:
        self._period = period_s
        self._watched: dict[str, Callable[[], bool]] = {}
        self._spans: dict[str, list[list[float]]] = {}
        self._open: dict[str, bool] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="chaos-acting-windows", daemon=True)

    def watch(self, member: str, may_act: Callable[[], bool]) -> None:
        with self._lock:
            self._watched[member] = may_act

    def start(self) -> ActingWindows:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def windows(self, member: str) -> list[tuple[float, float]]:
        """(start, end) of each window of `member` (an open one ends now)."""
        now = time.monotonic()
        with self._lock:
            spans = [list(s) for s in self._spans.get(member, [])]
            still = self._open.get(member, False)
        if spans and still:
            spans[-1][1] = now
        return [(s[0], s[1]) for s in spans]

    def _run(self) -> None:
        while not self._stop.wait(self._period):
            with self._lock:
                watched = list(self._watched.items())
            for member, may_act in watched:
                acting = may_act()
                now = time.monotonic()
                with self._lock:
                    spans = self._spans.setdefault(member, [])
                    if acting and not self._open.get(member, False):
                        spans.append([now - self._period, now])
                    elif acting:
                        spans[-1][1] = now
                    self._open[member] = acting


__all__ = ["ActingWindows", "BackendCut", "FaultyBackend"]
