"""The fault injector: at random (seeded) moments, it breaks the API, makes it lie, kills and flaps agents (a whole
zone at times, compute nodes often), races rpcdaemon for a router, deletes and creates resources as tenants do,
jumps rpcdaemon's clock, restarts the bus, floods it with notifications, and swarms the status port with idle
clients; when told to stop, it undoes what must not outlive the run.

Agent deaths respect what rpcdaemon is built for: at most a minority of each group the disruption guard counts
(managed agents of one type in one zone; compute-node `dvr` agents apart) is down at a time, except for a deliberate
"majority kill" (more than half of a group, at least 3, at one instant) or a zone dying whole, during which the
guard must hold every action in that zone, and a small zone's hinted resources must wait. Compute nodes die in any
number: rpcdaemon must neither touch nor count them.

Lies are well-formed answers with wrong facts (a list with no rows, short of some rows, or an older answer
replayed): unlike garbage, nothing in the answer says it is wrong. A lie is of a LIST only: showing one resource
tells the truth, as a server behind a load balancer with one stale replica would. Everything it does is counted
by kind.
"""

from __future__ import annotations

import functools
import heapq
import json
import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from rpcdaemon.emulator.bus import notification_body
from rpcdaemon.emulator.cloud import DHCP, L3, Cloud
from rpcdaemon.model import DRAIN_MARK
from testkit.chaos.clock import JumpClock
from testkit.chaos.config import ChaosConfig
from testkit.chaos.fleet import Fleet
from testkit.chaos.history import AgentHistory
from testkit.chaos.relay import OFF, FaultyRelay
from testkit.chaos.swarm import Swarm

TICK_S = 0.2
READS = ["GET /v2.0/agents", "GET /v2.0/agents/{id}/dhcp-networks", "GET /v2.0/agents/{id}/l3-routers",
         "GET /v2.0/networks", "GET /v2.0/subnets", "GET /v2.0/routers"]
WRITES = ["POST /v2.0/agents/{id}/dhcp-networks", "DELETE /v2.0/agents/{id}/dhcp-networks/{id}",
          "POST /v2.0/agents/{id}/l3-routers", "DELETE /v2.0/agents/{id}/l3-routers/{id}"]
GARBAGE = ["{not json", "", "null", "[]", "<html><body>502 Bad Gateway</body></html>", '{"agents": "all"}',
           '{"routers": {"id": "r"}}', '{"networks": 42}', '{"subnets": 3}', '{"NeutronError": null}',
           "\x00\x01\x02"]
"""Malformed answers (never a well-formed lie such as an empty list: that is not bad data, it is a wrong fact)."""
ROW_GARBAGE = {"GET /v2.0/agents": '{"agents": [{"id": 5, "alive": "yes"}]}',
               "GET /v2.0/agents/{id}/dhcp-networks": '{"networks": [null]}',
               "GET /v2.0/agents/{id}/l3-routers": '{"routers": [{"id": 7}]}',
               "GET /v2.0/networks": '{"networks": [{"id": null}]}', "GET /v2.0/routers": '{"routers": [null]}'}
"""A well-formed list with one malformed row, per read: the whole read must fail (a row dropped would make the rest
look complete: an agent empty, every network deleted, every agent forgotten)."""
RESOURCE_LISTS = ["GET /v2.0/networks", "GET /v2.0/routers", "GET /v2.0/subnets", "GET /v2.0/ports",
                  "GET /v2.0/routers/{id}/l3-agents"]
"""Lists a lie may strike: the resources, and what day-2 moves decide on (ports: verification; ha_state: drain,
rebalance)."""
BINDING_LISTS = ["GET /v2.0/agents/{id}/dhcp-networks", "GET /v2.0/agents/{id}/l3-routers"]
BURST_EVENTS = ("router.update.end", "network.update.end", "subnet.update.end", "port.update.end")


@dataclass(frozen=True)
class DownEvent:
    agent_id: str
    agent_type: str
    zone: str
    at: float
    kind: str
    hosted: frozenset[str]
    """What the agent hosted when its heartbeats stopped."""


@dataclass(order=True)
class _Scheduled:
    at: float
    seq: int
    action: Callable[[], None] = field(compare=False)
    kind: str = field(compare=False, default="")


class ChaosMonkey:
    def __init__(self, cloud: Cloud, history: AgentHistory, relay: FaultyRelay, clock: JumpClock,
                 config: ChaosConfig, faults: Counter[str], fleet: Fleet | None = None,
                 status_port: int | None = None) -> None:
        self.cloud = cloud
        self.fleet = fleet
        self.status_port = status_port
        self.swarm: Swarm | None = None
        self.swarms: list[dict[str, int]] = []
        """Each finished swarm's figures (connected, failed, closed_by_server)."""
        self.bursts: list[tuple[float, int]] = []
        """(start, notifications) of each burst."""
        self.churned = 0
        self.history = history
        self.relay = relay
        self.clock = clock
        self.config = config
        self.faults = faults
        self.downs: list[DownEvent] = []
        self.on_jump: Callable[[float, float], None] | None = None
        """Told (real time, seconds) of each jump of rpcdaemon's clock."""
        self.races = 0
        self._rng = random.Random(config.seed)
        self._lock = threading.Lock()
        self._scheduled: list[_Scheduled] = []
        self._seq = 0
        self._kill_queue: list[str] = []
        self._majority_until = 0.0
        self._last_jump = -1e9
        self._latency_until: float | None = None
        self._revision = 100_000
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="chaos-monkey", daemon=True)

    # --- life cycle ---------------------------------------------------------------------------------------------

    def start(self) -> ChaosMonkey:
        self.relay.rates = self.config.bus
        self._thread.start()
        return self

    def stop_faults(self) -> None:
        """No new fault; API faults, latency, bus faults and outages end; flapping and majority-killed agents come
        back. Agents killed for good stay dead: the end state rpcdaemon must converge on."""
        self._stop.set()
        self._thread.join(10)
        self.end_swarm()
        self.cloud.clear_faults()
        self.cloud.latency_s = 0.0
        self.relay.rates = OFF
        self.relay.end_outage()
        with self._lock:
            pending, self._scheduled = self._scheduled, []
        for item in sorted(pending):
            if item.kind in ("revive-flap", "revive-majority", "revive-zone", "undrain", "uninert"):
                item.action()

    def parting_kills(self) -> list[str]:
        """The last fault: one more agent of each type dies as the faults stop (within the minority budget), so the
        convergence that follows includes a real detection and repair; half a dead period before the L3 one, every
        compute node of its zone dies, for good: they are no reason to hold its evacuation."""
        now = time.monotonic()
        victims = []
        for agent_type in (L3, DHCP):
            candidates = sorted(a.agent_id for a in self.history.agents()
                                if a.agent_type == agent_type and not a.compute and self._can_kill(a.agent_id)
                                and self._hosted(a.agent_id, agent_type))
            if candidates:
                victims.append(self._rng.choice(candidates))
        l3_zones = {info.zone for v in victims if (info := self.history.info(v)) is not None and info.agent_type == L3}
        computes = [a.agent_id for a in self.history.agents()
                    if a.compute and a.zone in l3_zones and not self.history.is_down(a.agent_id, now)]
        for agent_id in computes:
            self._down(agent_id, "agent_kill_final_compute")
        if computes:  # the pace of this last fault, not a wait for rpcdaemon: the compute nodes die first
            time.sleep(self.config.agent_down_time_s / 2)
        for agent_id in victims:
            self._down(agent_id, "agent_kill_final")
        return victims

    # --- the loop ---------------------------------------------------------------------------------------------

    def _run(self) -> None:
        rates = self.config.rates
        actions: list[tuple[float, Callable[[], None]]] = [
            (rates.agent_kill, self.kill_one), (rates.agent_flap, self.flap_one),
            (rates.majority_kill, self.majority_kill), (rates.api_error, self.api_error),
            (rates.api_timeout, self.api_timeout), (rates.api_reset, self.api_reset),
            (rates.api_garbage, self.api_garbage), (rates.latency_spike, self.latency_spike),
            (rates.race_409, self.race), (rates.clock_jump, self.clock_jump),
            (rates.broker_restart, self.broker_restart), (rates.bus_garbage, self.bus_garbage),
            (rates.list_lie, self.list_lie), (rates.agents_lie, self.agents_lie),
            (rates.binding_lie, self.binding_lie), (rates.agent_row_malformed, self.agent_row_malformed),
            (rates.zone_death, self.zone_death), (rates.dvr_kill, self.dvr_kill),
            (rates.client_swarm, self.client_swarm), (rates.notification_burst, self.notification_burst),
            (rates.churn, self.churn), (rates.drain, self.drain_one), (rates.inert, self.inert_one),
        ]
        # every fault of the menu strikes at least once, at a seeded moment of the run's first 70% (a zone death in
        # the first half: a majority kill or a clock jump blocks it for a while, and while it is overdue neither
        # strikes at random, or a 75 s run could end without one: CI once failed on that)
        start = time.monotonic()
        owed: dict[Callable[[], None], float] = {}
        if self.config.every_fault_once:
            owed = {action: start + self._rng.uniform(0.05, 0.5 if action == self.zone_death else 0.7)
                    * self.config.duration_s for per_minute, action in actions if per_minute > 0}
        blockers = (self.majority_kill, self.clock_jump)
        while not self._stop.wait(TICK_S):
            self._run_due(time.monotonic())
            if self.swarm is not None and not self.swarm.running:
                self.end_swarm()
            with self._lock:
                queued, self._kill_queue = self._kill_queue, []
            for agent_id in queued:
                if self._can_kill(agent_id):
                    self._down(agent_id, "agent_kill_mid_evacuation")
                    self._schedule(self._rng.uniform(2.5, 6.0) * self.config.agent_down_time_s,
                                   functools.partial(self._up, agent_id), "revive")
            now = time.monotonic()
            zone_death_overdue = owed.get(self.zone_death, now + 1) <= now
            for per_minute, action in actions:
                strike = self._rng.random() < per_minute / 60.0 * TICK_S
                if zone_death_overdue and action in blockers:
                    continue
                if strike or owed.get(action, now + 1) <= now:
                    before = sum(self.faults.values())
                    action()
                    if sum(self.faults.values()) > before:
                        owed.pop(action, None)
                    elif action in owed and not strike:
                        owed[action] = now + 2.0  # it could not strike now (e.g. a zone is down): later

    def _schedule(self, after_s: float, action: Callable[[], None], kind: str) -> None:
        with self._lock:
            self._seq += 1
            heapq.heappush(self._scheduled, _Scheduled(time.monotonic() + after_s, self._seq, action, kind))

    def _run_due(self, now: float) -> None:
        while True:
            with self._lock:
                if not self._scheduled or self._scheduled[0].at > now:
                    return
                item = heapq.heappop(self._scheduled)
            item.action()

    # --- agents -----------------------------------------------------------------------------------------------

    def _group(self, group: tuple[str, str, bool]) -> list[str]:
        return [a.agent_id for a in self.history.agents() if a.group == group]

    def _down_now(self, agent_ids: list[str]) -> int:
        now = time.monotonic()
        return sum(1 for a in agent_ids if self.history.is_down(a, now))

    def _can_kill(self, agent_id: str) -> bool:
        """Killing it keeps its type's dead in its zone a minority, and it is up."""
        info = self.history.info(agent_id)
        if info is None or self.history.is_down(agent_id, time.monotonic()):
            return False
        group = self._group(info.group)
        return self._down_now(group) + 1 <= (len(group) - 1) // 2

    def _hosted(self, agent_id: str, agent_type: str) -> frozenset[str]:
        with self.cloud.lock:
            table = self.cloud.l3 if agent_type == L3 else self.cloud.dhcp
            return frozenset(table.get(agent_id, ()))

    def _down(self, agent_id: str, kind: str) -> None:
        info = self.history.info(agent_id)
        assert info is not None
        with self.cloud.lock:
            hosted = self._hosted(agent_id, info.agent_type)
            self.cloud.set_agent_down(agent_id)
            at = self.cloud.agents[agent_id].down_at or time.monotonic()
            self.history.went_down(agent_id, at)
        self.downs.append(DownEvent(agent_id, info.agent_type, info.zone, at, kind, hosted))
        self.faults[kind] += 1

    def _up(self, agent_id: str) -> None:
        with self.cloud.lock:
            self.cloud.set_agent_up(agent_id)
            self.history.came_up(agent_id, self.cloud.agents[agent_id].up_since)

    def _pick_killable(self) -> str | None:
        candidates = [a.agent_id for a in self.history.agents() if self._can_kill(a.agent_id)]
        return self._rng.choice(sorted(candidates)) if candidates else None

    def kill_one(self) -> None:
        """Dead for 2.5 to 6 dead periods, then back (or dead for good if the faults stop first)."""
        agent_id = self._pick_killable()
        if agent_id is None:
            return
        self._down(agent_id, "agent_kill")
        self._schedule(self._rng.uniform(2.5, 6.0) * self.config.agent_down_time_s, lambda: self._up(agent_id),
                       "revive")

    def _pick_managed(self) -> str | None:
        """A live agent rpcdaemon manages (not a compute node), not already drained or inert."""
        now = time.monotonic()
        with self.cloud.lock:
            candidates = [a.agent_id for a in self.history.agents()
                          if not a.compute and not self.history.is_down(a.agent_id, now)
                          and a.agent_id in self.cloud.agents and not self.cloud.agents[a.agent_id].inert
                          and not (self.cloud.agents[a.agent_id].description or "")]
        return self._rng.choice(sorted(candidates)) if candidates else None

    def drain_one(self) -> None:
        """An operator's `rpcdaemon drain`: the mark in the agent's description; `undrain` (mark cleared, admin up)
        3 to 8 dead periods later, or when the faults stop."""
        agent_id = self._pick_managed()
        if agent_id is None:
            return
        self.cloud.update_agent(agent_id, description=f"{DRAIN_MARK} since chaos")
        self.faults["drain"] += 1

        def undrain() -> None:
            self.cloud.update_agent(agent_id, admin_state_up=True, description="")

        self._schedule(self._rng.uniform(3.0, 8.0) * self.config.agent_down_time_s, undrain, "undrain")

    def inert_one(self) -> None:
        """An agent that takes what it is given and wires nothing, for 3 to 8 dead periods."""
        agent_id = self._pick_managed()
        if agent_id is None:
            return
        self.cloud.set_inert(agent_id, True)
        self.faults["inert"] += 1

        def wake() -> None:
            self.cloud.set_inert(agent_id, False)

        self._schedule(self._rng.uniform(3.0, 8.0) * self.config.agent_down_time_s, wake, "uninert")

    def flap_one(self) -> None:
        """Heartbeats pause for less than a dead period: this must cause nothing at all."""
        agent_id = self._pick_killable()
        if agent_id is None:
            return
        self._down(agent_id, "agent_flap")
        self._schedule(self._rng.uniform(0.2, 0.7) * self.config.agent_down_time_s, lambda: self._up(agent_id),
                       "revive-flap")

    def majority_kill(self) -> None:
        """More than half of one type in one zone (and at least 3) at one instant: nothing there may be evacuated."""
        now = time.monotonic()
        if now < self._majority_until or now - self._last_jump < 3 * self.config.agent_down_time_s:
            return
        groups = sorted({a.group for a in self.history.agents() if not a.compute})
        idle = [g for g in groups if self._down_now(self._group(g)) == 0]
        if not idle:
            return
        group = self._group(self._rng.choice(idle))
        size = max(3, len(group) // 2 + 1)
        if size > len(group):
            return
        victims = self._rng.sample(sorted(group), size)
        for agent_id in victims:
            self._down(agent_id, "agent_majority_kill")
        hold = self._rng.uniform(2.0, 3.0) * self.config.agent_down_time_s
        self._majority_until = now + hold + 3 * self.config.agent_down_time_s
        for agent_id in victims:
            self._schedule(hold, functools.partial(self._up, agent_id), "revive-majority")

    def tap(self, routing_key: str, body: str) -> None:
        """Sees every bus message before the relay's faults: a resource just added to an agent while another agent
        is dead means an evacuation runs; sometimes its target dies at once."""
        if routing_key != "notifications.info" or self._stop.is_set():
            return
        try:
            message = json.loads(json.loads(body)["oslo.message"])
            event, agent_id = message["event_type"], message["payload"]["agent"]["id"]
        except (ValueError, KeyError, TypeError):
            return
        if event not in ("l3_agent.router.add", "dhcp_agent.network.add"):
            return
        now = time.monotonic()
        evacuating = any(self.history.api_dead(a.agent_id, now) for a in self.history.agents())
        with self._lock:
            if evacuating and self._rng.random() < self.config.rates.kill_mid_evacuation:
                self._kill_queue.append(agent_id)

    def zone_death(self) -> None:
        """Every agent of one zone (network and compute nodes) stops at one instant, for 2-3 dead periods: its
        hinted resources must wait (not move to another zone), and a big zone's guard must hold."""
        now = time.monotonic()
        if now < self._majority_until or now - self._last_jump < 3 * self.config.agent_down_time_s or not self.fleet:
            return
        zones = self.fleet.zones
        small = self.fleet.small_zone
        zone = small if small is not None and self._rng.random() < 0.5 else self._rng.choice(zones)
        victims = sorted(a.agent_id for a in self.history.agents()
                         if a.zone == zone and not self.history.is_down(a.agent_id, now))
        if not victims:
            return
        for agent_id in victims:
            self._down(agent_id, "agent_zone_death")
        self.faults["zone_death"] += 1
        hold = self._rng.uniform(2.0, 3.0) * self.config.agent_down_time_s
        self._majority_until = now + hold + 3 * self.config.agent_down_time_s
        for agent_id in victims:
            self._schedule(hold, functools.partial(self._up, agent_id), "revive-zone")

    def dvr_kill(self) -> None:
        """Compute nodes die: one to all the dvr agents of a zone, for 1-4 dead periods (or for good if the faults
        stop first). rpcdaemon must not touch them, nor count them with the network nodes."""
        now = time.monotonic()
        by_zone: dict[str, list[str]] = {}
        for a in self.history.agents():
            if a.compute and not self.history.is_down(a.agent_id, now):
                by_zone.setdefault(a.zone, []).append(a.agent_id)
        if not by_zone:
            return
        up = sorted(by_zone[self._rng.choice(sorted(by_zone))])
        for agent_id in self._rng.sample(up, self._rng.randint(1, len(up))):
            self._down(agent_id, "agent_compute_kill")
            self._schedule(self._rng.uniform(1.0, 4.0) * self.config.agent_down_time_s,
                           functools.partial(self._up, agent_id), "revive")

    # --- tenants ----------------------------------------------------------------------------------------------

    def churn(self) -> None:
        """A tenant deletes a network or a router and creates another: a new network gets a DHCP subnet (Neutron
        schedules it on one agent: in its hinted zone when it has hints, as an AZ-aware scheduler does), a new
        router is hosted nowhere until rpcdaemon schedules it."""
        fleet = self.fleet
        if fleet is None:
            return
        now = time.monotonic()
        hints = [self._rng.choice(fleet.zones)] if self._rng.random() < self.config.hinted_share else []
        if self._rng.random() < 0.5:
            with self.cloud.lock:
                victims = sorted(self.cloud.networks)
            if victims:
                self.cloud.delete_network(self._rng.choice(victims))
            if hints:  # one DHCP subnet, scheduled in its zone
                new = self.cloud.add_network(name=f"churn{self.churned}", availability_zone_hints=hints)
                live = sorted(a.agent_id for a in self.history.agents() if a.agent_type == DHCP
                              and a.zone in hints and not self.history.is_down(a.agent_id, now))
                if live:
                    self.cloud.bind_network(self._rng.choice(live), new)
            else:  # Neutron schedules it on one live agent when its DHCP subnet is created
                new = self.cloud.create_network(name=f"churn{self.churned}")["id"]
                self.cloud.create_subnet(new)
            fleet.hints[new] = frozenset(hints)
            self.faults["tenant_network_churn"] += 1
        else:
            with self.cloud.lock:
                victims = sorted(r for r, row in self.cloud.routers.items() if not row["ha"])
            if victims:
                self.cloud.delete_router(self._rng.choice(victims))
            new = self.cloud.create_router(name=f"churn{self.churned}", availability_zone_hints=hints)["id"]
            fleet.hints[new] = frozenset(hints)
            self.faults["tenant_router_churn"] += 1
        self.churned += 1

    # --- the status port and the bus --------------------------------------------------------------------------

    def client_swarm(self) -> None:
        """Idle and slow clients fill rpcdaemon's status port for 15-30 s, from another process."""
        if self.status_port is None or self.swarm is not None:
            return
        self.swarm = Swarm("127.0.0.1", self.status_port, self.config.swarm_idle, self.config.swarm_slow,
                           self._rng.uniform(15.0, 30.0)).start()
        self.faults["status_client_swarm"] += 1

    def end_swarm(self) -> None:
        swarm, self.swarm = self.swarm, None
        if swarm is not None:
            swarm.stop()
            self.swarms.append(swarm.figures)

    def notification_burst(self) -> None:
        """Hundreds of fresh notifications (increasing revision numbers, real resources) in about a second."""
        with self.cloud.lock:
            resources = [("router", r) for r in self.cloud.routers] + [("network", n) for n in self.cloud.networks]
        if not resources:
            return
        count = self._rng.randint(100, 400)
        picks = [self._rng.choice(resources) for _ in range(count)]
        events = [self._rng.choice(BURST_EVENTS) for _ in range(count)]
        first = self._revision
        self._revision += count
        self.bursts.append((time.monotonic(), count))
        self.faults["bus_notification_burst"] += 1
        self.faults["bus_notifications_in_bursts"] += count

        def send() -> None:
            for i, ((kind, resource_id), event) in enumerate(zip(picks, events, strict=True)):
                if self._stop.is_set():
                    return
                key = event.split(".", 1)[0]
                row = {"id": resource_id, "revision_number": first + i}
                payload = {key: row if key == kind else {**row, f"{kind}_id": resource_id}}
                self.relay.publish("notifications.info", notification_body(event, payload))
                time.sleep(1.0 / count)  # the burst's pace: `count` messages in about a second

        threading.Thread(target=send, name="chaos-burst", daemon=True).start()

    # --- the API ----------------------------------------------------------------------------------------------

    def _pattern(self, patterns: list[str]) -> str:
        return self._rng.choice([*patterns, "*"])

    def api_error(self) -> None:
        self.cloud.add_fault("*", self._pattern(READS + WRITES), status=self._rng.choice([500, 502, 503, 504]),
                             count=self._rng.randint(1, 4))
        self.faults["api_5xx"] += 1

    def api_timeout(self) -> None:
        """Slower than rpcdaemon's timeout; a write still happens on the server after the client gave up."""
        self.cloud.add_fault("*", self._pattern(READS + WRITES), delay_s=self.config.api_timeout_s + 0.3,
                             count=self._rng.randint(1, 2))
        self.faults["api_timeout"] += 1

    def api_reset(self) -> None:
        self.cloud.add_fault("*", self._pattern(READS + WRITES), reset=True, count=self._rng.randint(1, 3))
        self.faults["api_connection_reset"] += 1

    def api_garbage(self) -> None:
        pattern = self._rng.choice(READS)
        body = self._rng.choice(GARBAGE)
        if pattern in ROW_GARBAGE and self._rng.random() < 0.5:
            body = ROW_GARBAGE[pattern]
        self.cloud.add_fault("GET", pattern, body=body, count=self._rng.randint(1, 2))
        self.faults["api_garbage_answer"] += 1

    def list_lie(self) -> None:
        """GET /networks, /routers, /subnets, /ports or /routers/{id}/l3-agents answers 200 with no rows, without a
        random share of its rows, or with an older answer replayed (resources created since are missing)."""
        lie = self._rng.choice(["empty", "drop", "stale"])
        self.cloud.add_fault("GET", self._rng.choice(RESOURCE_LISTS), lie=lie, share=self._rng.uniform(0.05, 0.6),
                             age_s=self._rng.uniform(2.0, 20.0), count=self._rng.randint(1, 2))
        self.faults[f"api_lie_list_{lie}"] += 1

    def agents_lie(self) -> None:
        """GET /agents answers without one to three of its rows."""
        with self.cloud.lock:
            total = len(self.cloud.agents)
        share = self._rng.randint(1, 3) / max(total, 1)
        self.cloud.add_fault("GET", "GET /v2.0/agents", lie="drop", share=share)
        self.faults["api_lie_agents_missing_rows"] += 1

    def binding_lie(self) -> None:
        """One agent's binding list answers empty (or an older answer)."""
        lie = "empty" if self._rng.random() < 0.7 else "stale"
        self.cloud.add_fault("GET", self._rng.choice(BINDING_LISTS), lie=lie, age_s=self._rng.uniform(2.0, 20.0))
        self.faults[f"api_lie_bindings_{lie}"] += 1

    def agent_row_malformed(self) -> None:
        self.cloud.add_fault("GET", "GET /v2.0/agents", lie="malformed")
        self.faults["api_agent_row_malformed"] += 1

    def latency_spike(self) -> None:
        if self._latency_until is not None:
            return
        self.cloud.latency_s = self._rng.uniform(0.05, 0.5)
        self._latency_until = time.monotonic()
        self.faults["api_latency_spike"] += 1

        def end() -> None:
            self.cloud.latency_s = 0.0
            self._latency_until = None

        self._schedule(self._rng.uniform(2.0, 8.0), end, "latency-end")

    def race(self) -> None:
        """Another actor moves a router at the moment rpcdaemon adds it: rpcdaemon's add meets a 409."""
        now = time.monotonic()
        with self.cloud.lock:
            legacy = [r for r, row in self.cloud.routers.items() if not row["ha"]]
            hosts = {r: [a for a, routers in self.cloud.l3.items() if r in routers] for r in legacy}
        # Neutron never hosts a legacy router on a compute node's dvr agent (DVRL3CannotAssignToDvrAgent): the
        # racing actor picks a network node, as a real one (an operator, Neutron's own failover) would
        l3 = [a for a in self.history.agents() if a.agent_type == L3 and not a.compute]
        healthy = sorted(a.agent_id for a in l3 if not self.history.is_down(a.agent_id, now))
        on_down = sorted(r for r in legacy if any(self.history.is_down(a, now) for a in hosts[r]))
        if not healthy or not legacy:
            return
        router = self._rng.choice(on_down or sorted(legacy))
        self.cloud.add_race_on_next_add_router(router, self._rng.choice(healthy))
        self.races += 1
        self.faults["api_409_race"] += 1

    # --- rpcdaemon's clock and the bus ------------------------------------------------------------------------

    def clock_jump(self) -> None:
        now = time.monotonic()
        if now < self._majority_until:
            return
        down_time = self.config.agent_down_time_s
        if self.config.clock_jumps_back and self._rng.random() < 0.3:
            seconds = -self._rng.uniform(0.3, 1.0) * down_time
            self.faults["clock_jump_back"] += 1
        else:
            seconds = self._rng.uniform(1.5, 4.0) * down_time
            self.faults["clock_jump_forward"] += 1
        if self.on_jump is not None:
            self.on_jump(now, seconds)
        self.clock.jump(seconds)
        self._last_jump = now

    def broker_restart(self) -> None:
        self.relay.outage(self._rng.uniform(0.5, 2.5) * self.config.agent_down_time_s)

    def bus_garbage(self) -> None:
        self.relay.inject_garbage(self._rng.choice(["q-reports-plugin", "notifications.info"]))


__all__ = ["DHCP", "L3", "ChaosMonkey", "DownEvent"]
