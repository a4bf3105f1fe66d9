"""The knobs of a chaos run: the cloud's size, rpcdaemon's timings, and how often each fault strikes.

One frozen value, so a run is described completely by (config, seed) and a failing one can be replayed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from rpcdaemon.chaos.relay import BusFaultRates


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


@dataclass(frozen=True)
class ChaosConfig:
    seed: int = 1
    duration_s: float = 90.0
    """How long faults are injected; then they stop and convergence is awaited."""
    zones: int = 2
    agents_per_zone: int = 5
    """Of each type (DHCP and L3)."""
    networks: int = 40
    routers: int = 40
    ha_routers: int = 6
    dhcp_per_network: int = 2
    ha_replicas: int = 3
    agent_down_time_s: float = 4.0
    check_interval_s: float = 1.0
    hold_down_s: float = 5.0
    api_timeout_s: float = 2.0
    max_evacuations_per_minute: int = 30
    clock_jumps_back: bool = True
    """Also jump rpcdaemon's clock backwards (a monotonic clock never should; a wall clock in a VM might)."""
    convergence_deadline_s: float = 60.0
    """After the faults stop, on top of agent_down_time + hold_down."""
    tolerated: tuple[str, ...] = ()
    """Violations starting with one of these (e.g. "hold-down") are a known defect: reported apart, not failing
    the run. Empty: every violation fails it."""
    tracemalloc: bool = False
    """Also measure Python heap with tracemalloc (slower)."""
    rates: FaultRates = field(default_factory=FaultRates)
    bus: BusFaultRates = field(default_factory=lambda: BusFaultRates(drop=0.05, duplicate=0.05, delay=0.1,
                                                                      corrupt=0.02))
