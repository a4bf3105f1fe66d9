"""BusWatch's table of heard hosts stays bounded: hosts unheard for 10 dead periods are forgotten (unless the API
still lists them), and the table never holds more than its cap (the least recently heard go first)."""

from __future__ import annotations

from clocks import FakeClock
from rpcdaemon.adapters.bus.envelope import BusMessage
from rpcdaemon.adapters.bus.watch import BusWatch
from rpcdaemon.model import DHCP_AGENT, L3_AGENT, Agent, AgentId, Snapshot

DEAD = 10.0


def beat(host: str, agent_type: str = L3_AGENT) -> BusMessage:
    return BusMessage("heartbeat", "q-reports-plugin", host=host, agent_type=agent_type)


def snapshot(*hosts: str) -> Snapshot:
    return Snapshot(agents={AgentId(h): Agent(AgentId(h), L3_AGENT, h) for h in hosts})


def watching(clock: FakeClock, **kw: int) -> BusWatch:
    watch = BusWatch(clock, lambda: None, **kw)
    watch.connected()
    clock.now += DEAD  # listened to for a whole dead period: bus silence is evidence
    return watch


def test_a_host_unheard_for_ten_dead_periods_is_forgotten() -> None:
    clock = FakeClock()
    watch = watching(clock)
    watch.on_message(beat("gone-1"))
    watch.on_message(beat("gone-2", DHCP_AGENT))
    clock.now += 9 * DEAD
    watch.on_message(beat("net-1"))
    watch.heard_for(snapshot("net-1"), DEAD)
    assert watch.hosts_heard == 3  # 9 dead periods: still remembered
    clock.now += 1.5 * DEAD
    heard = watch.heard_for(snapshot("net-1"), DEAD)
    assert watch.hosts_heard == 1
    assert heard == {AgentId("net-1"): clock.now - 1.5 * DEAD}


def test_an_agent_the_api_still_lists_is_never_forgotten() -> None:
    """Forgetting it would turn a silent agent from "suspect" (bus silent, API alive) into "alive"."""
    clock = FakeClock()
    watch = watching(clock)
    watch.on_message(beat("net-1"))
    heard_at = clock.now
    clock.now += 100 * DEAD
    assert watch.heard_for(snapshot("net-1"), DEAD) == {AgentId("net-1"): heard_at}
    assert watch.hosts_heard == 1


def test_the_forget_horizon_follows_the_dead_period_in_use() -> None:
    clock = FakeClock()
    watch = watching(clock)
    watch.on_message(beat("gone-1"))
    clock.now += 11 * DEAD
    watch.heard_for(snapshot(), 2 * DEAD)  # agent_down_time doubled by a reload: 11 < 20 periods of the old one
    assert watch.hosts_heard == 1
    clock.now += 10 * DEAD
    watch.heard_for(snapshot(), 2 * DEAD)
    assert watch.hosts_heard == 0


def test_the_table_is_capped_and_the_least_recently_heard_go_first() -> None:
    clock = FakeClock()
    watch = watching(clock, max_hosts=3)
    for host in ("h1", "h2", "h3"):
        watch.on_message(beat(host))
        clock.now += 1
    watch.on_message(beat("h1"))  # heard again: now the most recent
    clock.now += 1
    watch.on_message(beat("h4"))
    watch.on_message(beat("h5"))
    assert watch.hosts_heard == 3
    heard = watch.heard_for(snapshot("h1", "h2", "h3", "h4", "h5"), DEAD)
    assert heard is not None
    assert set(heard) == {"h1", "h4", "h5"}


def test_a_flood_of_invented_hosts_stays_within_the_cap() -> None:
    clock = FakeClock()
    watch = watching(clock, max_hosts=1000)
    for i in range(5000):
        watch.on_message(beat(f"spoof-{i}"))
    assert watch.hosts_heard == 1000
    assert watch.next_expiry(DEAD) == clock.now + DEAD


def test_a_start_event_wakes_nothing_its_end_does() -> None:
    """Found by B10 on a real Neutron: network.create.start woke a pass with nothing to do, whose floor then
    delayed the pass the subnet.create.end needed (a new network on all DHCP agents in 0.79 s instead of ~0.1 s)."""
    wakes: list[int] = []
    watch = BusWatch(FakeClock(), lambda: wakes.append(1))
    watch.on_message(BusMessage("notification", "notifications.info", event_type="network.create.start"))
    assert wakes == []
    watch.on_message(BusMessage("notification", "notifications.info", event_type="network.create.end",
                                resource_type="network", resource_id="n1", revision_number=1))
    assert wakes == [1]
