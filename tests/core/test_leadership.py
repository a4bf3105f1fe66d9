"""Who may act: the lease rules of a leader, and the leader every replica names from the same members."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from rpcdaemon.core.leadership import LeaseTiming, Role, elected_leader, lease_lost, may_act

TIMING = LeaseTiming(10.0)


def test_standalone_always_acts_and_standbys_never() -> None:
    assert may_act(Role.STANDALONE, 0.0, None, TIMING)
    for role in (Role.STANDBY, Role.DISCONNECTED):
        assert not may_act(role, 100.0, 100.0, TIMING)


def test_a_leader_acts_only_while_its_lease_surely_runs() -> None:
    assert may_act(Role.LEADER, 100.0, 100.0, TIMING)
    assert may_act(Role.LEADER, 107.9, 100.0, TIMING)
    assert not may_act(Role.LEADER, 108.0, 100.0, TIMING)  # before the backend could expire the lock (110)
    assert not may_act(Role.LEADER, 100.0, None, TIMING)
    assert not may_act(Role.LEADER, 99.0, 100.0, TIMING)  # a clock that went backwards proves nothing


@given(st.floats(2, 300), st.floats(0, 1000))
def test_acting_ends_before_the_lease_can_end(lease: float, elapsed: float) -> None:
    timing = LeaseTiming(lease)
    if may_act(Role.LEADER, elapsed, 0.0, timing):
        assert elapsed < lease
        assert not lease_lost(elapsed, 0.0, timing)
    assert timing.tick_s * 3 < timing.lease_s - timing.act_window_s  # several renewals fit in the margin
    assert timing.request_timeout_s <= max(1, lease / 4)


def test_lease_lost_after_a_whole_lease_without_renewal() -> None:
    assert not lease_lost(109.9, 100.0, TIMING)
    assert lease_lost(110.0, 100.0, TIMING)
    assert lease_lost(100.0, None, TIMING)


def test_every_replica_names_the_newest_claim() -> None:
    members = {
        "a": {"role": "leader", "leader_since": 100.0},  # dead, its entry not yet expired
        "b": {"role": "leader", "leader_since": 130.0},
        "c": {"role": "standby"},
        "d": None,
    }
    assert elected_leader(members) == "b"
    assert elected_leader(dict(reversed(list(members.items())))) == "b"
    assert elected_leader({"c": {"role": "standby"}}) is None
    assert elected_leader({}) is None
