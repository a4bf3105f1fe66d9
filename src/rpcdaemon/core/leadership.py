"""Who may act in a cluster of replicas, as small pure rules over what the coordination backend last said.

rpcdaemon replicas elect one leader that acts; the others are hot standbys that read and plan but never act. The
leader holds a lock whose lease the backend expires when it is not renewed; a replica may act only while it is
sure its lease is still running, judged by its own monotonic clock from the moment it last *started* a renewal
that succeeded (the lease was extended no earlier than that). It stops a safety margin before the backend could
hand the lock to another replica, so two replicas never act at once, even when the leader is cut off from the
backend and cannot learn that it lost.

Which member leads is published in the members' capabilities; after a failover the dead leader's entry can linger
until its membership lease expires, so the newest claim wins. Every replica applies the same rule to the same
backend data, so all of them name the same leader.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    STANDALONE = "standalone"
    """No coordination configured: a single instance that always acts."""
    LEADER = "leader"
    STANDBY = "standby"
    DISCONNECTED = "disconnected"
    """Cannot reach the coordination backend: never acts."""


@dataclass(frozen=True, slots=True)
class LeaseTiming:
    lease_s: float
    """How long the backend keeps a lock or a membership without renewal."""

    @property
    def tick_s(self) -> float:
        """How often a replica renews (and a standby tries the lock): often enough to renew several times per
        lease and to take over soon after the lease of a dead leader ends."""
        return min(0.5, self.lease_s / 20)

    @property
    def act_window_s(self) -> float:
        """How long after the start of its last successful renewal a leader may still act: the lease less a margin
        for clock rate differences and for a change already under way to finish."""
        return self.lease_s * 0.8

    @property
    def request_timeout_s(self) -> int:
        """A backend request that hangs longer than this is a failure, so that a hung call cannot outlive the
        window in which its answer would still matter."""
        return max(1, int(self.lease_s / 4))


def may_act(role: Role, now: float, renewed_at: float | None, timing: LeaseTiming) -> bool:
    """A standalone instance always acts; a leader only while its lease surely runs."""
    if role is Role.STANDALONE:
        return True
    if role is not Role.LEADER or renewed_at is None:
        return False
    return 0 <= now - renewed_at < timing.act_window_s


def lease_lost(now: float, renewed_at: float | None, timing: LeaseTiming) -> bool:
    """Past the whole lease since the last successful renewal, the backend may have expired our lock and
    membership: whatever we held must be taken again from scratch."""
    return renewed_at is None or not 0 <= now - renewed_at < timing.lease_s


def elected_leader(members: Mapping[str, Mapping[str, object] | None]) -> str | None:
    """The member that claims leadership most recently (ties broken by id), or None when nobody claims it."""
    claims: list[tuple[float, str]] = []
    for member, capabilities in members.items():
        if not capabilities or capabilities.get("role") != Role.LEADER.value:
            continue
        since = capabilities.get("leader_since")
        claims.append((float(since) if isinstance(since, (int, float)) else 0.0, member))
    return max(claims)[1] if claims else None
