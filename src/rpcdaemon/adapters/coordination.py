"""Replicas of rpcdaemon coordinated through tooz: one leader acts, the others are hot standbys.

Why a leader and not work partitioned over the members: the safety rules are global. The disruption guard counts
the dead agents of a zone, the evacuation budget counts evacuations per minute, and placement spreads load over all
agents; replicas each owning a share of the resources would each see a part, could each spend the whole budget,
and could each pick the same least-loaded agent. One pass over a large cloud costs well under a second of CPU
(bench B2), so one actor is enough. The standbys keep reading and planning without acting, so their liveness
observations are warm: a takeover acts at once, with no new warm-up, and never judges an agent dead from a view
that has not watched it for a whole dead period.

How: a thread renews the membership (and, on the leader, the lock) every tick; a standby tries to take the lock
every tick. Whether this replica may act is decided by the pure rules of core/leadership.py from the time its
last renewal started: a leader cut off from the backend stops acting before its lease can run out and the lock
pass to another replica. After a whole lease without renewal the session is thrown away and built anew, since
the backend may have expired everything it held. Leaving cleanly releases the lock at once.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

from tooz import coordination as tooz_coordination
from tooz import locking

from rpcdaemon.config.coordination_url import CoordinationUrlError, tooz_url
from rpcdaemon.core.leadership import LeaseTiming, Role, elected_leader, lease_lost, may_act
from rpcdaemon.redaction import redact_text

LOG = logging.getLogger("rpcdaemon.coordination")

LEADER_LOCK = "leader"


class Coordination(Protocol):
    member: str

    @property
    def role(self) -> Role: ...

    def may_act(self) -> bool: ...

    def view(self) -> dict[str, Any]: ...

    def start(self) -> None: ...

    def stop(self) -> None: ...


class Standalone:
    """No coordination configured: the only instance, always acting."""

    def __init__(self, member: str) -> None:
        self.member = member

    @property
    def role(self) -> Role:
        return Role.STANDALONE

    def may_act(self) -> bool:
        return True

    def view(self) -> dict[str, Any]:
        return {"backend": None, "group": None, "role": Role.STANDALONE.value, "acting": True, "leader": self.member,
                "members": [{"id": self.member, "role": Role.STANDALONE.value}]}

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass


Connect = Callable[[str, bytes], tooz_coordination.CoordinationDriver]


def connect_tooz(url: str, member: bytes) -> tooz_coordination.CoordinationDriver:
    return tooz_coordination.get_coordinator(
        url, member, characteristics=[tooz_coordination.Characteristics.DISTRIBUTED_ACROSS_PROCESSES])


class Cluster:
    """Membership and leadership in one group of a tooz backend, renewed by a thread of its own."""

    def __init__(
        self,
        url: str,
        group: str,
        member: str,
        timing: LeaseTiming,
        on_role: Callable[[Role], None] | None = None,
        status_url: str | None = None,
        connect: Connect = connect_tooz,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.member = member
        self.group = group
        self.timing = timing
        self._url = tooz_url(url, timing)
        self._backend = url.split("://", 1)[0]
        self._on_role = on_role
        self._status_url = status_url
        self._connect = connect
        self._clock = clock
        self._wall = wall_clock
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._driver: tooz_coordination.CoordinationDriver | None = None
        self._leader_lock: locking.Lock | None = None
        self._role = Role.DISCONNECTED
        self._renewed_at: float | None = None
        self._leader_since: float | None = None
        self._members: dict[str, dict[str, Any]] = {}
        self._last_error: str | None = None
        try:  # load the driver now (nothing is contacted yet): a backend that cannot be used is refused at start
            self._fresh: tooz_coordination.CoordinationDriver | None = connect(self._url, member.encode())
        except Exception as exc:
            raise CoordinationUrlError(
                f"backend {self._backend!r} cannot be used: {redact_text(f'{type(exc).__name__}: {exc}')}"
            ) from None

    # --- what the daemon asks -------------------------------------------------------------------------------

    @property
    def role(self) -> Role:
        with self._lock:
            return self._role

    def may_act(self) -> bool:
        with self._lock:
            return not self._stop.is_set() and may_act(self._role, self._clock(), self._renewed_at, self.timing)

    def view(self) -> dict[str, Any]:
        """Members and leader as the backend last said, and this replica's own role (for /status)."""
        with self._lock:
            members = dict(self._members)
            role = self._role
            error = self._last_error
        leader = elected_leader(members) if role is not Role.DISCONNECTED else None
        return {
            "backend": self._backend,
            "group": self.group,
            "role": role.value,
            "acting": self.may_act(),
            "leader": leader,
            "members": [{"id": m, "role": caps.get("role", "unknown"), "status_url": caps.get("status_url")}
                        for m, caps in sorted(members.items())],
            "error": error,
        }

    # --- the renewal thread ---------------------------------------------------------------------------------

    def start(self) -> None:
        self.tick()  # join (or learn that the backend is unreachable) before the first pass
        self._thread = threading.Thread(target=self._run, name="coordination", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Leave cleanly: release the lock and the membership at once, so a standby takes over now."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(self.timing.lease_s)
        with self._lock:
            was_leader = self._role is Role.LEADER
            self._set_role(Role.DISCONNECTED)
        self._drop(release=True)
        if was_leader:
            LOG.info("left the group %s and handed leadership over", self.group)

    def _run(self) -> None:
        while not self._stop.wait(self.timing.tick_s):
            try:
                self.tick()
            except Exception:  # the renewal thread must outlive any surprise; the next tick starts over
                LOG.exception("coordination tick failed unexpectedly")

    def tick(self) -> None:
        started = self._clock()
        try:
            members = self._renew()
        except Exception as exc:
            if not self._stop.is_set():
                self._failed(exc)
                return
        if self._stop.is_set():
            # stop() did not wait for this renewal (a backend slow to answer): leave what it joined or took now,
            # or the lock would stay with a session nobody renews for a whole lease
            with self._lock:
                self._set_role(Role.DISCONNECTED)
            self._drop(release=True)
            return
        with self._lock:
            self._renewed_at = started
            self._members = members
            if self._last_error is not None:
                LOG.warning("coordination backend reachable again; role %s", self._role.value)
                self._last_error = None

    def _renew(self) -> dict[str, dict[str, Any]]:
        if self._driver is None:
            self._join()
        driver = self._driver
        assert driver is not None
        driver.heartbeat()
        if self.role is Role.LEADER and not self._still_holds_lock():
            LOG.error("the leader lock was lost (its lease ran out): no longer acting")
            self._drop(release=False)
            self._join()
            driver = self._driver
            assert driver is not None
        with self._lock:
            if self._role is Role.DISCONNECTED:
                self._set_role(Role.STANDBY)
        if self.role is not Role.LEADER and not self._stop.is_set():
            assert self._leader_lock is not None
            if self._leader_lock.acquire(blocking=False):
                self._leader_since = self._wall()
                with self._lock:
                    if not self._stop.is_set():  # else the tick leaves at once (see tick)
                        self._set_role(Role.LEADER)
        raw = driver.get_members_with_capabilities(self.group.encode()).get()
        members = {_text(m): _caps(c) for m, c in raw.items()}
        mine = self._capabilities(self.role)
        if members.get(self.member) != mine:  # our entry expired under us, or does not say our role yet
            if self.member not in members:
                LOG.warning("membership in %s was lost; joining again", self.group)
            self._publish(driver, mine)
            members[self.member] = mine
        return members

    def _join(self) -> None:
        driver, self._fresh = self._fresh or self._connect(self._url, self.member.encode()), None
        driver.start(start_heart=False)
        self._driver = driver
        with contextlib.suppress(tooz_coordination.GroupAlreadyExist):
            driver.create_group(self.group.encode()).get()
        self._join_group(driver, Role.STANDBY)
        self._leader_lock = driver.get_lock(f"{self.group}-{LEADER_LOCK}".encode())
        LOG.info("joined coordination group %s as %s", self.group, self.member)

    def _join_group(self, driver: tooz_coordination.CoordinationDriver, role: Role) -> None:
        self._publish(driver, self._capabilities(role))

    def _publish(self, driver: tooz_coordination.CoordinationDriver, capabilities: dict[str, Any]) -> None:
        """Our entry in the group says `capabilities` (join, or update; leave and join where the backend cannot
        update: the file driver)."""
        group = self.group.encode()
        try:
            driver.join_group(group, capabilities).get()
            return
        except tooz_coordination.MemberAlreadyExist:
            pass
        try:
            driver.update_capabilities(group, capabilities).get()
        except NotImplementedError:
            driver.leave_group(group).get()
            driver.join_group(group, capabilities).get()

    def _capabilities(self, role: Role) -> dict[str, Any]:
        caps: dict[str, Any] = {"role": role.value, "status_url": self._status_url}
        if role is Role.LEADER:
            caps["leader_since"] = self._leader_since
        return caps

    def _still_holds_lock(self) -> bool:
        """etcd: the lock's lease is still running (tooz renews it without looking at the answer); ZooKeeper: the
        lock's node is still ours (a new session after an expired one holds nothing); file: held while we live."""
        lease = getattr(self._leader_lock, "_lease", None)
        if lease is not None:
            return int(lease.ttl()) > 0
        still_owner = getattr(self._leader_lock, "is_still_owner", None)
        return bool(still_owner()) if callable(still_owner) else True

    def _failed(self, exc: Exception) -> None:
        message = redact_text(f"{type(exc).__name__}: {exc}")
        with self._lock:
            first = self._last_error is None
            self._last_error = message
            lost = lease_lost(self._clock(), self._renewed_at, self.timing)
            acting = self._role is Role.LEADER
        if first:
            LOG.error("coordination backend unreachable (%s)%s", message,
                      "; the leader stops acting before its lease can end" if acting else "")
        if not lost:
            return
        with self._lock:
            self._set_role(Role.DISCONNECTED)
        if self._driver is not None:
            LOG.error("no renewal for a whole lease (%.0fs): starting a new session", self.timing.lease_s)
            self._drop(release=False)

    def _drop(self, release: bool) -> None:
        """Forget the session (the backend expires or already expired what it held); release it when we can."""
        driver, lock = self._driver, self._leader_lock
        self._driver, self._leader_lock = None, None
        with self._lock:
            if self._role is Role.LEADER:
                self._set_role(Role.DISCONNECTED)
        if driver is None:
            return
        if release:
            for step in (lambda: lock is not None and getattr(lock, "acquired", True) and lock.release(),
                         lambda: driver.leave_group(self.group.encode()).get()):
                try:
                    step()
                except Exception as exc:
                    LOG.debug("leaving: %s", redact_text(str(exc)))
        try:
            driver.stop()
        except Exception as exc:
            LOG.debug("closing the coordination session: %s", redact_text(str(exc)))

    def _set_role(self, role: Role) -> None:
        """Under self._lock."""
        if role is self._role:
            return
        before, self._role = self._role, role
        level = logging.WARNING if Role.LEADER in (before, role) else logging.INFO
        LOG.log(level, "coordination role %s -> %s (group %s)", before.value, role.value, self.group)
        if self._on_role is not None:
            self._on_role(role)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _caps(value: Any) -> dict[str, Any]:
    if isinstance(value, bytes):
        value = json.loads(value) if value else {}
    return value if isinstance(value, dict) else {}
