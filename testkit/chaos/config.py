"""The knobs of a chaos run: the cloud's size, rpcdaemon's timings, and how often each fault strikes.

One frozen value, so a run is described completely by (config, seed) and a failing one can be replayed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from testkit.chaos.relay import BusFaultRates


@dataclass(frozen=True)
class FaultRates:
    """Events per minute of fault-time (each a Poisson process), and the chance of a kill mid-evacuation."""

    agent_kill: float = 6.0
    agent_flap: float = 6.0
    majority_kill: float = 0.7
    api_error: float = 12.0
    api_timeout: float = 4.0
    api_reset: float = 8.0
    api_garbage: float = 4.0
    latency_spike: float = 3.0
    race_409: float = 6.0
    clock_jump: float = 2.0
    broker_restart: float = 1.0
    bus_garbage: float = 20.0
    kill_mid_evacuation: float = 0.2
    """Chance that an agent just given a resource while an evacuation runs is killed at once."""
    list_lie: float = 10.0
    """GET /networks, /routers or /subnets answers 200 with no rows, short of a random share of its rows, or an
    older answer replayed."""
    agents_lie: float = 3.0
    """GET /agents answers short of some rows."""
    binding_lie: float = 4.0
    """One agent's dhcp-networks or l3-routers list answers empty (or stale)."""
    agent_row_malformed: float = 2.0
    """One agents row without alive or heartbeat_timestamp, or of a wrong type."""
    zone_death: float = 0.8
    """Every agent of one zone (DHCP, L3, dvr) stops at one instant, for 2-3 dead periods."""
    dvr_kill: float = 4.0
    """Compute nodes die: one to all the dvr agents of a zone, for 1-4 dead periods."""
    client_swarm: float = 1.0
    """Hundreds of idle and slow clients on rpcdaemon's status port for 15-30 s (from another process)."""
    notification_burst: float = 2.0
    """Hundreds of notifications in about a second on the bus."""
    churn: float = 4.0
    """A tenant deletes a network or a router and creates another (sometimes hinted)."""
    drain: float = 1.5
    """An operator drains an agent (the drain mark in its description) and undrains it 3-8 dead periods later."""
    inert: float = 1.5
    """An agent takes routers and networks but wires none (its ports never go ACTIVE) for 3-8 dead periods."""


@dataclass(frozen=True)
class ChaosConfig:
    seed: int = 1
    duration_s: float = 90.0
    """How long faults are injected; then they stop and convergence is awaited."""
    zones: int = 2
    agents_per_zone: int = 5
    """Of each type (DHCP and L3) in each of the `zones` big zones, az-1..az-N."""
    small_zone_agents: int = 2
    """One more zone (az-N+1) with this many agents of each type (0: none): too small for the disruption guard
    (fewer than 3), so when it dies whole its hinted resources must wait, not move out."""
    dvr_per_zone: int = 4
    """L3 agents in `dvr` mode (compute nodes) in each big zone (half as many in the small one): never touched,
    never counted by the guard."""
    hinted_share: float = 0.3
    """Share of the networks and routers with availability_zone_hints (one zone, sometimes two)."""
    networks: int = 40
    routers: int = 40
    ha_routers: int = 6
    dhcp_per_network: int = 2
    ha_replicas: int = 3
    activation_delay_s: float = 0.3
    """The emulator's ports go ACTIVE this long after their binding on a working agent."""
    verify_timeout_s: float = 6.0
    """rpcdaemon's verify_timeout: short, so that a run sees moves found unverified and moved on."""
    agent_down_time_s: float = 4.0
    check_interval_s: float = 1.0
    hold_down_s: float = 5.0
    api_timeout_s: float = 2.0
    max_evacuations_per_minute: int = 30
    resync_interval_s: float | None = 15.0
    """rpcdaemon's full reads of the cloud (None: its default, 60 s without a broker URL); the convergence
    deadline grows by as much."""
    min_pass_interval_s: float | None = None
    """rpcdaemon's floor between pass starts (None: its default); the pass-rate judge allows at most
    2 s / this + 2 reads of the agents in any 2 s."""
    swarm_idle: int = 300
    """Idle connections of a client swarm on the status port (a bounded number)."""
    swarm_slow: int = 30
    """Slow clients of a swarm: each sends one byte of a never-ending request a second."""
    fd_headroom: int | None = 150
    """During the run, the process may open only this many file descriptors more than it holds at the start
    (RLIMIT_NOFILE, restored after): what a daemon under a low limit lives with. None: the limit is left alone."""
    swarm_connection_bound: int = 64
    """While a swarm lasts, the process may hold at most this many connections on its status port (the status
    server must bound them)."""
    row_cost_s: float = 0.0
    """The emulator's cost model: seconds per list row (0: off)."""
    clock_start: float | None = None
    """What rpcdaemon's clock reads when the run starts, far from the system's monotonic clock, so that a part of
    rpcdaemon timed by the system's clock instead of its own mixes two frames from the first pass (found: the
    cloud reader once was; a hold-down then ended 2.8 s early after a jump). None: by the seed, either 100.0 (far
    behind) or 10^9 (far ahead), each of which shows a different kind of mix."""
    clock_jumps_back: bool = True
    """Also jump rpcdaemon's clock backwards (a monotonic clock never should; a wall clock in a VM might)."""
    convergence_deadline_s: float = 60.0
    """After the faults stop, on top of agent_down_time + hold_down."""
    tolerated: tuple[str, ...] = ()
    """Violations starting with one of these (e.g. "hold-down") are a known defect: reported apart, not failing
    the run. Empty: every violation fails it."""
    tracemalloc: bool = False
    """Also measure Python heap with tracemalloc (slower)."""
    every_fault_once: bool = True
    """Each fault of the menu with a rate above 0 strikes at least once, at a seeded moment of the first 70% of
    the run (a short run still tries everything)."""
    rates: FaultRates = field(default_factory=FaultRates)
    bus: BusFaultRates = field(default_factory=lambda: BusFaultRates(drop=0.05, duplicate=0.05, delay=0.1,
                                                                      corrupt=0.02))
