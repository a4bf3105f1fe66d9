"""The knobs the core decides with, gathered in one frozen value derived from the settings.

Keeping them apart from `Settings` means the core never sees file paths, URLs or credentials: only numbers.
The daemon's Policy comes from `Settings.policy()` (config/settings.py). The defaults here serve the core's own
tests; those that are options (dead_after_s, hold_down_s, max_dead_fraction, max_evacuations_per_minute,
dhcp_agents_per_network, ha_replicas) restate the option table, which the core may not import, and
tests/shell/test_options.py holds them to it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Policy:
    dead_after_s: float = 75.0
    """An agent is dead when the API says so AND rpcdaemon saw no heartbeat change for this long."""
    hold_down_s: float = 60.0
    """An agent that came back is not a target until it has stayed up this long."""
    max_dead_fraction: float = 0.5
    """More than this fraction of one agent type in one zone dead at once is a disruption: evacuate nothing."""
    quiet_fraction: float = 0.75
    """An agent silent for this fraction of dead_after_s is going quiet: the disruption guard counts it with the
    dead (agents stopped together fall silent together, but their last heartbeats are spread over a report
    interval, so they turn dead one by one) and it is never given work. Neutron wants agent_down_time at least
    twice report_interval, so a heartbeating agent is never this silent."""
    disruption_min_dead: int = 3
    """...and only when at least this many are dead (a small zone losing 2 of 3 is still a node failure)."""
    disagreement_report_s: float = 10.0
    """Bus and API disagreeing for longer than this is reported (it always holds action)."""
    max_evacuations_per_minute: int = 10
    """How many agents may start being evacuated in any sliding minute."""
    dhcp_agents_per_network: int | None = None
    """How many live DHCP agents should serve each DHCP network; None means all of them."""
    ha_replicas: int = 3
    """Neutron's max_l3_agents_per_router: the most agents an HA router is put on."""
    services_on_admin_down: bool = False
    """Neutron's enable_services_on_agents_with_admin_state_down (neutron.conf [DEFAULT]). False (Neutron's
    default): Neutron gives an admin-down agent no routers or networks on its next sync, so what it hosts is dark
    and is evacuated like a dead agent's. True: an admin-down agent keeps serving what it hosts, and only
    receives nothing new."""
    l3_rebalance: str = "ha"
    """[L3Agent] rebalance: "off", "ha" (move standby HA replicas only: no outage) or "all" (legacy routers
    too: an outage of seconds each, so opt-in). Load flows back to agents that came back or joined."""
    dhcp_rebalance: bool = True
    """[DHCPAgent] rebalance: spread networks evenly (it matters only with a number in dhcp_agents_per_network)."""
    rebalance_moves_per_minute: int = 6
    """How many rebalancing moves may start in any sliding minute (both types together)."""
    verify_timeout_s: float = 60.0
    """A resource rpcdaemon put on an agent must be wired (a port ACTIVE on its host) within this long, or it is
    "unverified" and planned again elsewhere (core/verify.py). 0: no verification."""
    verify_attempts: int = 2
    """How many agents in a row may fail to wire one resource before rpcdaemon leaves it where it is."""
    manage_dhcp: bool = True
    manage_l3: bool = True
