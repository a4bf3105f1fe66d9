"""What a pass leaves exposed, as numbers an alert rule can compare with zero.

Why a function of its own: the metrics adapter only sets gauges, and an alert such as "routers on dead agents for
5 minutes" must not depend on how the planner words its notes. The numbers are read from one snapshot and its
verdicts, before any change of the pass is carried out: a pass that evacuates a dead agent shows it once, and the
next pass (which reads the cloud again) shows zero; a dry run, the disruption guard or the budget keeps them above
zero, which is what the alerts are for (etc/prometheus/rpcdaemon-alerts.yml).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from rpcdaemon.core.liveness import AgentLiveness, Verdict, out_of_service
from rpcdaemon.core.placement import restrict_to_zones
from rpcdaemon.core.policy import Policy
from rpcdaemon.model import DHCP_AGENT, AgentId, Snapshot


@dataclass(frozen=True, slots=True)
class Exposure:
    routers_on_dead_agents: int = 0
    """Routers with a binding on an L3 agent judged dead (an HA router counts once, however many dead hosts)."""
    networks_on_dead_agents: int = 0
    """Networks with a binding on a DHCP agent judged dead (counted once)."""
    dhcp_networks_below_target: int = 0
    """DHCP networks served by fewer live DHCP agents than they should be (see `exposure`)."""


def exposure(snapshot: Snapshot, verdicts: Mapping[AgentId, AgentLiveness], policy: Policy) -> Exposure:
    """Dead means the verdict DEAD (an agent merely suspect or admin down does not count as dead). A DHCP network
    (one with DHCP enabled, listed in the snapshot) is below target when the agents serving it (bound, known, not
    out of service) are fewer than `policy.dhcp_agents_per_network`; with None (all of them) when some live DHCP
    agent (verdict ALIVE, in service, in the network's hinted zones when it has hints) does not serve it.
    Bindings the snapshot does not hold (a plugin not enabled) count as none."""
    dead = {a for a, v in verdicts.items() if v.verdict is Verdict.DEAD}
    routers = {r for a, rs in (snapshot.l3_bindings or {}).items() if a in dead for r in rs}
    networks = {n for a, ns in (snapshot.dhcp_bindings or {}).items() if a in dead for n in ns}
    return Exposure(len(routers), len(networks), _dhcp_below_target(snapshot, verdicts, policy))


def _dhcp_below_target(snapshot: Snapshot, verdicts: Mapping[AgentId, AgentLiveness], policy: Policy) -> int:
    if snapshot.dhcp_bindings is None:
        return 0
    down = out_of_service(snapshot.agents, verdicts, policy)
    live = [a for a in snapshot.agents_of(DHCP_AGENT)
            if a.id not in down and a.id in verdicts and verdicts[a.id].verdict is Verdict.ALIVE]
    hosting = snapshot.dhcp_agents_of_network()
    short = 0
    for net_id, network in snapshot.networks.items():
        if not network.dhcp:
            continue
        serving = {a for a in hosting.get(net_id, set()) if a in snapshot.agents and a not in down}
        if policy.dhcp_agents_per_network is None:
            wanted = {a.id for a in restrict_to_zones(live, network.availability_zone_hints)}
            short += not wanted <= serving
        else:
            short += len(serving) < policy.dhcp_agents_per_network
    return short
