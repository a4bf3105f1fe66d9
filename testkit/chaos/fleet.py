"""The cloud a chaos run starts from: zones of unequal size, network nodes and compute nodes, hinted resources.

Why this shape: the faults that hurt rpcdaemon most hide in the fleet's shape, not in its size. Big zones (5 DHCP
and 5 L3 agents, legacy and dvr_snat) let a majority die for the disruption guard to hold; a small zone (2 of each)
is below the guard's minimum of 3, so when it dies whole its hinted resources must wait, not fall back to other
zones; `dvr` L3 agents on compute nodes beside the network nodes must never be touched, nor counted by the guard
(a guard diluted by 10 healthy compute agents lets a real majority die unguarded). About a third of the networks and
routers carry availability_zone_hints. Everything starts converged: hinted resources inside their zones.

`Fleet.hints` remembers the hints of every resource ever created (a deleted one too), for the judges.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field

from rpcdaemon.emulator.cloud import DHCP, L3, Cloud
from testkit.chaos.config import ChaosConfig


@dataclass
class Fleet:
    cloud: Cloud
    zones: list[str]
    """Every zone; the small one (if any) last."""
    small_zone: str | None
    hints: dict[str, frozenset[str]] = field(default_factory=dict)
    """Resource id -> its availability_zone_hints (empty: none), for every network and router ever created."""

    def hinted(self) -> int:
        return sum(1 for h in self.hints.values() if h)


def build_fleet(config: ChaosConfig) -> Fleet:
    rng = random.Random(config.seed + 11)
    cloud = Cloud(agent_down_time=config.agent_down_time_s, clock=time.monotonic, seed=config.seed,
                  answer_history_s=30.0, row_cost_s=config.row_cost_s,
                  activation_delay_s=config.activation_delay_s)
    big = [f"az-{z + 1}" for z in range(config.zones)]
    small = f"az-{config.zones + 1}" if config.small_zone_agents > 0 else None
    zones = [*big, *([small] if small else [])]
    dhcp: dict[str, list[str]] = {z: [] for z in zones}
    l3: dict[str, list[str]] = {z: [] for z in zones}
    for zone in zones:
        size = config.agents_per_zone if zone != small else config.small_zone_agents
        compute = config.dvr_per_zone if zone != small else config.dvr_per_zone // 2
        for i in range(size):
            dhcp[zone].append(cloud.add_agent(DHCP, f"net-{zone}-{i + 1}", zone))
            mode = "dvr_snat" if i % 2 else "legacy"
            l3[zone].append(cloud.add_agent(L3, f"net-{zone}-{i + 1}", zone, agent_mode=mode))
        for i in range(compute):
            cloud.add_agent(L3, f"cmp-{zone}-{i + 1}", zone, agent_mode="dvr")
    fleet = Fleet(cloud, zones, small)

    def pick_hints() -> list[str]:
        if rng.random() >= config.hinted_share:
            return []
        if len(zones) > 1 and rng.random() < 0.25:
            return sorted(rng.sample(zones, 2))
        return [rng.choice(zones)]

    def pool(table: dict[str, list[str]], hints: list[str]) -> list[str]:
        return [a for z in (hints or zones) for a in table[z]]

    for n in range(config.networks):
        hints = pick_hints()
        net_id = cloud.add_network(name=f"net{n}", availability_zone_hints=hints)
        fleet.hints[net_id] = frozenset(hints)
        agents = pool(dhcp, hints)
        for k in range(min(config.dhcp_per_network, len(agents))):
            cloud.bind_network(agents[(n + k) % len(agents)], net_id)
    for n in range(config.routers):
        hints = pick_hints()
        router_id = cloud.add_router(name=f"router{n}", availability_zone_hints=hints)
        fleet.hints[router_id] = frozenset(hints)
        agents = pool(l3, hints)
        cloud.bind_router(agents[n % len(agents)], router_id)
    for n in range(config.ha_routers):
        hints = pick_hints()
        router_id = cloud.add_router(name=f"ha{n}", ha=True, availability_zone_hints=hints)
        fleet.hints[router_id] = frozenset(hints)
        agents = pool(l3, hints)
        for k in range(min(config.ha_replicas, len(agents))):
            cloud.bind_router(agents[(n + k) % len(agents)], router_id)
    return fleet


__all__ = ["DHCP", "L3", "Fleet", "build_fleet"]
