"""The lease state machine of adapters/coordination.py (Cluster: renew, fail, drop, take the lock), driven tick by
tick through its `connect=` seam with a fake tooz backend and a fake clock.

Why: the end-to-end tests on a real etcd and ZooKeeper (tests/cluster) show that replicas elect one leader and
survive a backend outage, but they cannot time a failure to the tick: a renewal that raises, one that returns
after the lease would have run out, a lock the backend handed to another member meanwhile. Here each of those is
placed exactly, and what matters is checked: a replica acts only inside the window that follows the start of its
last renewal, never while another member holds the lock, and a session not renewed for a whole lease is thrown
away. No real backend and no sleep: a renewal that hangs runs in a thread held by an Event (waited for with a
deadline); the only real time spent is the 0.2 s lease that stop() waits for such a renewal.

The fake backend keeps what a real one keeps per session (a session is one driver: a lock, a group entry) and
expires a session only when the test says so. Its locks answer as tooz's do: a ZooKeeper lock says whether it is
`is_still_owner()`, an etcd lock has a `_lease` whose `ttl()` is -1 once expired.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

import pytest
from tooz import coordination as tooz_coordination

from clocks import FakeClock
from rpcdaemon.adapters.coordination import Cluster
from rpcdaemon.core.leadership import LeaseTiming, Role

LEASE = LeaseTiming(10.0)  # acting window 8 s, renewals every 0.5 s
TICK = LEASE.tick_s
WINDOW = LEASE.act_window_s
GROUP = "g"
LOCK = b"g-leader"


class BackendDown(ConnectionError):
    pass


class Done:
    """What a tooz call returns: the answer (or the error) comes with get()."""

    def __init__(self, value: Any = None, error: Exception | None = None) -> None:
        self._value = value
        self._error = error

    def get(self) -> Any:
        if self._error is not None:
            raise self._error
        return self._value


class FakeBackend:
    """Groups and locks shared by the fake drivers of every member, as a coordination service holds them."""

    def __init__(self, clock: FakeClock, style: str = "zookeeper") -> None:
        self.clock = clock
        self.style = style
        self.groups: dict[bytes, dict[bytes, dict[str, Any]]] = {}
        self.owners: dict[tuple[bytes, bytes], FakeDriver] = {}
        """The session that wrote each group entry (it goes with that session)."""
        self.locks: dict[bytes, FakeDriver] = {}
        self.down: set[str] = set()
        """Members cut off from the backend: every call of theirs raises."""
        self.failing: dict[str, set[str]] = {}
        """Calls that raise for one member (e.g. {"m1": {"get_members_with_capabilities"}})."""
        self.during_heartbeat: dict[str, Callable[[], None]] = {}
        """Run inside a member's heartbeat: a slow renewal advances the clock there, or lets the world move on."""
        self.during_start: dict[str, Callable[[], None]] = {}
        """Run inside the start of a member's session (a new session that is slow to open)."""
        self.sessions: list[FakeDriver] = []
        self.calls: list[tuple[str, str, int]] = []
        """(member, call, session number) of every call that reached the backend."""

    def connect(self, _url: str, member: bytes) -> tooz_coordination.CoordinationDriver:
        driver = FakeDriver(self, member.decode(), len(self.sessions))
        self.sessions.append(driver)
        return driver  # type: ignore[return-value]

    def holder(self) -> str | None:
        driver = self.locks.get(LOCK)
        return driver.member if driver is not None else None

    def expire_session(self, session: FakeDriver) -> None:
        """What `session` held goes: its lock and its group entry."""
        for name, holder in list(self.locks.items()):
            if holder is session:
                del self.locks[name]
        for (group, member), owner in list(self.owners.items()):
            if owner is session:
                del self.owners[group, member]
                self.groups[group].pop(member, None)

    def expire(self, member: str) -> None:
        """The backend expires every session of `member` (a long pause, a partition); the client library carries
        on with a new session of its own, as kazoo and tooz's etcd driver do, so calls still succeed."""
        for holder in list(self.locks.values()):
            if holder.member == member:
                self.expire_session(holder)
        for session in self.sessions_of(member):
            self.expire_session(session)

    def sessions_of(self, member: str) -> list[FakeDriver]:
        return [s for s in self.sessions if s.member == member]


class FakeLease:
    def __init__(self, lock: FakeLock) -> None:
        self._lock = lock

    def ttl(self) -> int:
        self._lock.driver.call("lease.ttl")
        return int(LEASE.lease_s) if self._lock.held() else -1


class FakeLock:
    def __init__(self, driver: FakeDriver, name: bytes) -> None:
        self.driver = driver
        self.name = name
        if driver.backend.style == "etcd":  # tooz's etcd lock has a lease once it tried to acquire
            self._lease: FakeLease | None = None

    def held(self) -> bool:
        return self.driver.backend.locks.get(self.name) is self.driver

    @property
    def acquired(self) -> bool:
        return self.held()

    def acquire(self, blocking: bool = True) -> bool:
        assert blocking is False, "the renewal thread must never block on the lock"
        self.driver.call("lock.acquire")
        if self.driver.backend.style == "etcd":
            self._lease = FakeLease(self)
        if self.name in self.driver.backend.locks:
            return self.held()
        self.driver.backend.locks[self.name] = self.driver
        return True

    def release(self) -> bool:
        self.driver.call("lock.release")
        if not self.held():
            return False
        del self.driver.backend.locks[self.name]
        return True

    def __getattr__(self, name: str) -> Any:
        if name == "is_still_owner" and self.driver.backend.style == "zookeeper":
            def is_still_owner() -> bool:  # tooz's ZooKeeper lock: a lost connection answers False, not an error
                if self.driver.member in self.driver.backend.down:
                    return False
                self.driver.call("lock.is_still_owner")
                return self.held()
            return is_still_owner
        raise AttributeError(name)


class FakeDriver:
    """One session of one member."""

    def __init__(self, backend: FakeBackend, member: str, number: int) -> None:
        self.backend = backend
        self.member = member
        self.number = number
        self.started = False
        self.stopped = False

    def call(self, name: str) -> None:
        if self.member in self.backend.down:
            raise BackendDown(f"{self.member} cannot reach the backend ({name})")
        if name in self.backend.failing.get(self.member, set()):
            raise BackendDown(f"{name} failed")
        assert not self.stopped, f"{name} on a stopped session"
        self.backend.calls.append((self.member, name, self.number))

    def start(self, start_heart: bool = False) -> None:
        assert start_heart is False, "renewals are the Cluster's own thread's"
        self.call("start")
        hook = self.backend.during_start.get(self.member)
        if hook is not None:
            hook()
        self.started = True

    def stop(self) -> None:
        self.call("stop")
        self.stopped = True
        self.backend.expire_session(self)

    def heartbeat(self) -> float:
        self.call("heartbeat")
        hook = self.backend.during_heartbeat.get(self.member)
        if hook is not None:
            hook()
        self.call("heartbeat-answer")  # a renewal whose answer cannot come back fails too
        return LEASE.lease_s

    def create_group(self, group: bytes) -> Done:
        self.call("create_group")
        if group in self.backend.groups:
            return Done(error=tooz_coordination.GroupAlreadyExist(group))
        self.backend.groups[group] = {}
        return Done()

    def join_group(self, group: bytes, capabilities: dict[str, Any]) -> Done:
        self.call("join_group")
        members = self.backend.groups[group]
        if self.member.encode() in members:
            return Done(error=tooz_coordination.MemberAlreadyExist(group, self.member))
        members[self.member.encode()] = dict(capabilities)
        self.backend.owners[group, self.member.encode()] = self
        return Done()

    def update_capabilities(self, group: bytes, capabilities: dict[str, Any]) -> Done:
        self.call("update_capabilities")
        self.backend.groups[group][self.member.encode()] = dict(capabilities)
        self.backend.owners[group, self.member.encode()] = self
        return Done()

    def leave_group(self, group: bytes) -> Done:
        self.call("leave_group")
        self.backend.groups[group].pop(self.member.encode(), None)
        self.backend.owners.pop((group, self.member.encode()), None)
        return Done()

    def get_members_with_capabilities(self, group: bytes) -> Done:
        self.call("get_members_with_capabilities")
        return Done({m: dict(c) for m, c in self.backend.groups[group].items()})

    def get_lock(self, name: bytes) -> FakeLock:
        return FakeLock(self, name)


class Replica:
    """One Cluster on the fake backend, with the roles it reported."""

    def __init__(self, backend: FakeBackend, member: str, timing: LeaseTiming = LEASE) -> None:
        self.roles: list[Role] = []
        self.cluster = Cluster("zookeeper://fake:2181", GROUP, member, timing, on_role=self.roles.append,
                               connect=backend.connect, clock=backend.clock, wall_clock=backend.clock)

    def tick(self) -> None:
        self.cluster.tick()

    @property
    def role(self) -> Role:
        return self.cluster.role

    def acts(self) -> bool:
        return self.cluster.may_act()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(params=["zookeeper", "etcd"])
def backend(request: pytest.FixtureRequest, clock: FakeClock) -> FakeBackend:
    return FakeBackend(clock, request.param)


def leader(backend: FakeBackend, member: str = "m1") -> Replica:
    replica = Replica(backend, member)
    replica.tick()
    assert replica.role is Role.LEADER
    assert replica.acts()
    return replica


def test_the_first_member_leads_and_the_next_stays_standby(backend: FakeBackend, clock: FakeClock) -> None:
    m1 = leader(backend)
    m2 = Replica(backend, "m2")
    for _ in range(40):  # 20 s: many whole leases, the lock stays where it is
        m2.tick()
        m1.tick()
        assert m2.role is Role.STANDBY
        assert not m2.acts()
        assert m1.acts()
        clock.advance(TICK)
    assert m1.roles == [Role.STANDBY, Role.LEADER]
    assert m2.roles == [Role.STANDBY]
    for view in (m1.cluster.view(), m2.cluster.view()):
        assert view["leader"] == "m1"
        assert [(m["id"], m["role"]) for m in view["members"]] == [("m1", "leader"), ("m2", "standby")]
    assert backend.holder() == "m1"


def test_a_lock_held_by_another_member_is_never_taken(backend: FakeBackend) -> None:
    """The lock is held by a session m2 knows nothing of (another replica, or a leader of an older deployment)."""
    other = FakeDriver(backend, "other", -1)
    backend.locks[LOCK] = other
    m2 = Replica(backend, "m2")
    for _ in range(5):
        m2.tick()
        assert m2.role is Role.STANDBY
        assert not m2.acts()
    assert backend.holder() == "other"
    assert m2.cluster.view()["leader"] is None  # nobody in the group claims it


def test_a_leader_whose_lock_another_member_took_stops_and_joins_again_as_standby(
        backend: FakeBackend, clock: FakeClock, caplog: pytest.LogCaptureFixture) -> None:
    m1 = leader(backend)
    m2 = Replica(backend, "m2")
    m2.tick()
    backend.expire("m1")  # m1's session expired on the backend (a long pause, a partition) ...
    clock.advance(TICK)
    m2.tick()  # ... and m2 took the lock at its next renewal
    assert m2.role is Role.LEADER
    assert m2.acts()
    with caplog.at_level(logging.INFO, logger="rpcdaemon.coordination"):
        m1.tick()
    assert m1.role is Role.STANDBY
    assert not m1.acts()
    assert "the leader lock was lost" in caplog.text
    old, new = backend.sessions_of("m1")
    assert old.stopped
    assert ("m1", "lock.release", old.number) not in backend.calls  # nothing of the old session is released
    assert ("m1", "leave_group", old.number) not in backend.calls
    assert new.started
    assert m1.roles == [Role.STANDBY, Role.LEADER, Role.DISCONNECTED, Role.STANDBY]
    assert backend.holder() == "m2"
    assert m1.cluster.view()["leader"] == "m2"
    assert m2.cluster.view()["leader"] == "m2"


def test_a_leader_whose_lock_expired_while_nobody_took_it_leads_again_from_a_new_session(
        backend: FakeBackend, clock: FakeClock) -> None:
    m1 = leader(backend)
    backend.expire("m1")
    clock.advance(TICK)
    m1.tick()
    assert m1.role is Role.LEADER
    assert m1.acts()
    old, new = backend.sessions_of("m1")
    assert old.stopped
    assert backend.locks[LOCK] is new
    assert backend.groups[GROUP.encode()][b"m1"]["leader_since"] == clock()  # a new claim: the newest wins


def test_a_lost_renewal_ends_the_acting_window_then_the_session(backend: FakeBackend, clock: FakeClock,
                                                                caplog: pytest.LogCaptureFixture) -> None:
    """Every renewal raises from t0 on (the heartbeat cannot reach the backend): the leader acts until 8 s after
    the start of its last renewal that succeeded, keeps its role until the lease is over, then throws the session
    away without trying to release anything."""
    m1 = leader(backend)
    renewed = clock()
    backend.down.add("m1")
    acted: list[tuple[float, bool, Role]] = []
    with caplog.at_level(logging.ERROR, logger="rpcdaemon.coordination"):
        while clock() - renewed < LEASE.lease_s + 2 * TICK:
            clock.advance(TICK)
            m1.tick()
            acted.append((clock() - renewed, m1.acts(), m1.role))
    for since, acts, role in acted:
        assert acts == (since < WINDOW), since
        assert role is (Role.LEADER if since < LEASE.lease_s else Role.DISCONNECTED), since
    assert m1.roles == [Role.STANDBY, Role.LEADER, Role.DISCONNECTED]
    unreachable = [r for r in caplog.records if "coordination backend unreachable" in r.getMessage()]
    assert len(unreachable) == 1  # said once, not every tick
    assert "the leader stops acting before its lease can end" in unreachable[0].getMessage()
    assert "BackendDown" in str(m1.cluster.view()["error"])
    assert any("no renewal for a whole lease" in r.getMessage() for r in caplog.records)
    session = backend.sessions_of("m1")[0]
    assert not session.stopped  # stop() could not reach the backend either: the backend expires it
    assert not [c for c in backend.calls if c[1] in ("lock.release", "leave_group")]


def test_after_a_lost_lease_a_new_session_waits_for_the_old_lock_to_expire(backend: FakeBackend, clock: FakeClock,
                                                                           caplog: pytest.LogCaptureFixture) -> None:
    m1 = leader(backend)
    backend.down.add("m1")
    for _ in range(int(LEASE.lease_s / TICK) + 1):
        clock.advance(TICK)
        m1.tick()
    assert m1.role is Role.DISCONNECTED
    backend.down.discard("m1")  # the backend is reachable again, and still holds the old session's lock
    clock.advance(TICK)
    with caplog.at_level(logging.WARNING, logger="rpcdaemon.coordination"):
        m1.tick()
    assert "coordination backend reachable again" in caplog.text
    assert m1.cluster.view()["error"] is None
    sessions = backend.sessions_of("m1")
    old, new = sessions[0], sessions[-1]  # (and one that failed to start for each tick while cut off)
    assert backend.locks[LOCK] is old
    assert m1.role is Role.STANDBY  # its new session does not hold the old session's lock
    assert not m1.acts()
    backend.expire_session(old)  # the backend expires the old session at last
    clock.advance(TICK)
    m1.tick()
    assert backend.locks[LOCK] is new
    assert m1.role is Role.LEADER
    assert m1.acts()


@pytest.mark.parametrize("failing", ["heartbeat-answer", "get_members_with_capabilities"])
def test_a_renewal_counts_only_when_it_completes(backend: FakeBackend, clock: FakeClock, failing: str) -> None:
    """The heartbeat went out (the backend may have extended the lease) but the renewal failed further on: the
    window still counts from the last renewal that completed."""
    m1 = leader(backend)
    renewed = clock()
    backend.failing["m1"] = {failing}
    clock.advance(WINDOW - TICK)
    m1.tick()
    assert m1.acts()
    clock.advance(TICK)
    m1.tick()
    assert clock() - renewed == WINDOW
    assert not m1.acts()
    assert m1.role is Role.LEADER
    backend.failing.clear()
    clock.advance(TICK)
    m1.tick()
    assert m1.acts()


def test_a_renewal_that_returns_after_the_lease_would_have_run_out_does_not_let_the_leader_act(
        backend: FakeBackend, clock: FakeClock) -> None:
    m1 = leader(backend)
    clock.advance(TICK)
    backend.during_heartbeat["m1"] = lambda: clock.advance(LEASE.lease_s * 1.5)
    m1.tick()  # it succeeded, but it started 15 s ago: the lease it renewed may end any moment
    assert m1.role is Role.LEADER
    assert not m1.acts()
    del backend.during_heartbeat["m1"]
    clock.advance(TICK)
    m1.tick()  # a prompt renewal opens the window again
    assert m1.acts()


def test_a_slow_renewal_during_which_another_member_took_the_lock(backend: FakeBackend, clock: FakeClock) -> None:
    """The backend expired m1 while its renewal hung, and m2 took the lock: the two never act at once, and m1
    learns of it as soon as its renewal returns."""
    m1 = leader(backend)
    m2 = Replica(backend, "m2")
    m2.tick()
    clock.advance(TICK)
    renewed = clock()
    m1.tick()  # m1's last renewal that completes in time
    both: list[tuple[bool, bool]] = []

    def meanwhile() -> None:
        for _ in range(int(LEASE.lease_s * 1.5 / TICK)):
            clock.advance(TICK)
            if clock() - renewed >= LEASE.lease_s:  # the earliest the backend may expire m1: nothing reached it
                backend.expire("m1")
            m2.tick()
            both.append((m1.acts(), m2.acts()))

    backend.during_heartbeat["m1"] = meanwhile
    clock.advance(TICK)
    m1.tick()
    assert not any(a and b for a, b in both)
    assert any(b for _, b in both)
    assert m1.role is Role.STANDBY
    assert not m1.acts()
    assert m2.role is Role.LEADER
    assert m2.acts()


def test_a_slow_renewal_that_then_fails_throws_the_session_away(backend: FakeBackend, clock: FakeClock) -> None:
    m1 = leader(backend)

    def hangs_then_fails() -> None:
        clock.advance(LEASE.lease_s * 1.5)
        backend.down.add("m1")

    backend.during_heartbeat["m1"] = hangs_then_fails
    clock.advance(TICK)
    m1.tick()
    assert m1.role is Role.DISCONNECTED
    assert not m1.acts()
    backend.down.discard("m1")
    del backend.during_heartbeat["m1"]
    clock.advance(TICK)
    m1.tick()
    assert len(backend.sessions_of("m1")) == 2  # the old session was thrown away
    assert m1.role is Role.STANDBY  # the old session's lock is not expired yet


def test_a_standby_that_takes_the_lock_in_a_slow_renewal_acts_only_after_a_prompt_one(
        backend: FakeBackend, clock: FakeClock) -> None:
    m1 = leader(backend)
    m2 = Replica(backend, "m2")
    m2.tick()
    m1.cluster.stop()
    backend.during_heartbeat["m2"] = lambda: clock.advance(LEASE.lease_s * 1.5)
    clock.advance(TICK)
    m2.tick()
    assert m2.role is Role.LEADER
    assert not m2.acts()
    del backend.during_heartbeat["m2"]
    clock.advance(TICK)
    m2.tick()
    assert m2.acts()


def test_the_window_closes_while_a_renewal_hangs(backend: FakeBackend, clock: FakeClock) -> None:
    """may_act() is asked by the daemon's threads while the renewal thread is stuck in a call: it must close on
    time without waiting for that call to return."""
    m1 = leader(backend)
    renewed = clock()
    entered, release = threading.Event(), threading.Event()

    def hang() -> None:
        entered.set()
        assert release.wait(10), "the test never let the renewal return"

    backend.during_heartbeat["m1"] = hang
    renewal = threading.Thread(target=m1.tick, name="test-renewal", daemon=True)
    renewal.start()
    try:
        assert entered.wait(10), "the renewal never reached the heartbeat"
        clock.advance(WINDOW - TICK)
        assert m1.acts()
        clock.now = renewed + WINDOW
        assert not m1.acts()
        clock.advance(LEASE.lease_s)
        assert not m1.acts()
        backend.down.add("m1")  # the call finally fails, long after the lease
    finally:
        release.set()
        renewal.join(10)
    assert not renewal.is_alive()
    assert m1.role is Role.DISCONNECTED
    assert not m1.acts()


def test_leaving_releases_the_lock_and_the_membership_at_once(backend: FakeBackend, clock: FakeClock) -> None:
    m1 = leader(backend)
    m2 = Replica(backend, "m2")
    m2.tick()
    m1.cluster.stop()
    assert m1.role is Role.DISCONNECTED
    assert not m1.acts()
    assert backend.holder() is None
    assert b"m1" not in backend.groups[GROUP.encode()]
    assert backend.sessions_of("m1")[0].stopped
    m2.tick()  # no lease to wait for
    assert m2.role is Role.LEADER
    assert m2.acts()


def test_a_standby_leaving_releases_nothing_it_does_not_hold(backend: FakeBackend) -> None:
    leader(backend)
    m2 = Replica(backend, "m2")
    m2.tick()
    m2.cluster.stop()
    assert backend.holder() == "m1"
    assert not [c for c in backend.calls if c[:2] == ("m2", "lock.release")]


def test_a_lost_membership_entry_is_published_again(backend: FakeBackend, clock: FakeClock,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    m1 = leader(backend)
    del backend.groups[GROUP.encode()][b"m1"]  # the membership expired, the lock did not
    clock.advance(TICK)
    with caplog.at_level(logging.WARNING, logger="rpcdaemon.coordination"):
        m1.tick()
    assert "membership in g was lost" in caplog.text
    assert backend.groups[GROUP.encode()][b"m1"]["role"] == "leader"
    assert m1.role is Role.LEADER
    assert m1.acts()


def test_a_backend_unreachable_from_the_start_never_lets_a_replica_act(backend: FakeBackend,
                                                                        clock: FakeClock) -> None:
    backend.down.add("m1")
    m1 = Replica(backend, "m1")
    for _ in range(3):
        m1.tick()
        assert m1.role is Role.DISCONNECTED
        assert not m1.acts()
        clock.advance(TICK)
    backend.down.discard("m1")
    m1.tick()
    assert m1.role is Role.LEADER
    assert m1.acts()


def test_a_renewal_in_flight_when_the_replica_stops_takes_nothing_after_it(clock: FakeClock) -> None:
    """stop() waits one lease for the renewal thread, then releases what the session holds. A renewal still
    opening a new session then (a backend slow to answer) must not join the group and take the lock afterwards:
    the lock would stay with a session nobody renews, for a whole lease, instead of passing to a standby at once,
    and the stopped replica would say it may act."""
    backend = FakeBackend(clock)
    backend.down.add("m1")
    m1 = Replica(backend, "m1", LeaseTiming(0.2))  # stop() waits 0.2 s (real time) for the renewal thread
    entered, release = threading.Event(), threading.Event()

    def slow_to_open() -> None:
        entered.set()
        assert release.wait(10), "the test never let the session open"

    m1.cluster.start()  # the backend is unreachable: the renewal thread tries a new session every tick
    backend.during_start["m1"] = slow_to_open
    backend.down.discard("m1")
    assert entered.wait(10), "the renewal thread never opened a session"
    m1.cluster.stop()
    release.set()
    thread = m1.cluster._thread
    assert thread is not None
    thread.join(10)
    assert not thread.is_alive()
    assert backend.holder() is None
    assert b"m1" not in backend.groups.get(GROUP.encode(), {})
    assert not m1.acts()
