"""Prometheus metrics, on a registry of rpcdaemon's own.

Every outcome series exists at zero from the start (controller-runtime's habit): an alert on
`increase(rpcdaemon_actions_total{outcome="failed"}[10m]) > 0` must see a zero before it sees a one, and a
dashboard must not show "no data" for a daemon that simply has not failed yet.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from rpcdaemon.core.actions import ChangeKind, ChangeOutcome
from rpcdaemon.core.exposure import exposure
from rpcdaemon.core.liveness import AgentLiveness, Verdict
from rpcdaemon.core.policy import Policy
from rpcdaemon.model import DHCP_AGENT, L3_AGENT, AgentId, BusKind, MalformedKind, PassOutcome, Snapshot

ACTION_OUTCOMES = tuple(ChangeOutcome)
API_METHODS = ("GET", "POST", "PUT", "DELETE")
API_RESULTS = ("2xx", "4xx", "5xx", "error")
PASS_OUTCOMES = tuple(PassOutcome)
BUS_KINDS = (BusKind.HEARTBEAT, BusKind.NOTIFICATION, BusKind.OTHER)
"""The kinds counted by name; any other (an RPC call other than report_state) is counted as `other`."""
MALFORMED_KINDS = tuple(MalformedKind)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.actions = Counter("rpcdaemon_actions", "Changes carried out, by action and outcome",
                               ["action", "outcome"], registry=r)
        self.api_requests = Counter("rpcdaemon_api_requests", "Neutron API requests, by method and result",
                                    ["method", "result"], registry=r)
        self.api_latency = Histogram("rpcdaemon_api_latency_seconds", "Neutron API request latency",
                                     ["method"], registry=r,
                                     buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
        self.passes = Counter("rpcdaemon_passes", "Reconcile passes, by outcome", ["outcome"], registry=r)
        self.pass_duration = Histogram("rpcdaemon_pass_duration_seconds", "Duration of a reconcile pass",
                                       registry=r, buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120))
        self.agents = Gauge("rpcdaemon_agents", "Agents by type and liveness verdict", ["agent_type", "state"],
                            registry=r)
        self.disrupted = Gauge("rpcdaemon_zone_disrupted",
                               "1 while a zone's agents of one type look dead en masse and evacuation is held",
                               ["agent_type", "zone"], registry=r)
        self.bus_messages = Counter("rpcdaemon_bus_messages", "Bus messages received, by kind", ["kind"], registry=r)
        self.bus_malformed = Counter("rpcdaemon_bus_malformed", "Bus messages refused as malformed, by kind",
                                     ["kind"], registry=r)
        self.passes_per_second = Gauge("rpcdaemon_passes_per_second",
                                       "Passes started per second over the last minute (wake-ups are coalesced)",
                                       registry=r)
        self.wakeups = Counter("rpcdaemon_wakeups", "Requests for a pass (bus events, role changes), coalesced",
                               registry=r)
        self.read_untrusted = Gauge("rpcdaemon_read_untrusted",
                                    "1 while the last read of the cloud looked like a lie and changes are held",
                                    registry=r)
        self.is_leader = Gauge("rpcdaemon_acting", "1 when this replica is allowed to act", registry=r)
        self.on_dead_agents = Gauge("rpcdaemon_resources_on_dead_agents",
                                    "Resources bound to agents judged dead, at the last read: routers for L3 agents, "
                                    "networks for DHCP agents", ["agent_type"], registry=r)
        self.dhcp_below_target = Gauge("rpcdaemon_dhcp_networks_below_target",
                                       "DHCP networks served by fewer live DHCP agents than they should be, at the "
                                       "last read", registry=r)
        self.verified = Counter("rpcdaemon_verified", "Moves proven wired by their new agent (a port ACTIVE on its "
                                "host), by resource type", ["resource_type"], registry=r)
        self.unverified = Counter("rpcdaemon_unverified", "Moves not wired within verify_timeout (planned again "
                                  "elsewhere), by resource type", ["resource_type"], registry=r)
        self.verify_seconds = Histogram("rpcdaemon_verify_seconds", "From a move to its proof", registry=r,
                                        buckets=(0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300))
        self.awaiting = Gauge("rpcdaemon_awaiting_verification", "Moves awaiting proof that they serve", registry=r)
        for resource_type in ("router", "network"):
            self.verified.labels(resource_type)
            self.unverified.labels(resource_type)
        for action in ChangeKind:
            for change_outcome in ACTION_OUTCOMES:
                self.actions.labels(action.value, change_outcome.value)
        for method in API_METHODS:
            self.api_latency.labels(method)
            for result in API_RESULTS:
                self.api_requests.labels(method, result)
        for outcome in PASS_OUTCOMES:
            self.passes.labels(outcome)
        for agent_type in (DHCP_AGENT, L3_AGENT):
            for verdict in Verdict:
                self.agents.labels(agent_type, verdict.value)
            self.on_dead_agents.labels(agent_type)
        for bus_kind in BUS_KINDS:
            self.bus_messages.labels(bus_kind.value)
        for kind in MALFORMED_KINDS:
            self.bus_malformed.labels(kind)

    def observe_api(self, method: str, status: int | None, seconds: float) -> None:
        result = "error" if status is None else f"{status // 100}xx" if 200 <= status < 600 else "error"
        if result == "3xx":
            result = "2xx"
        self.api_requests.labels(method, result).inc()
        self.api_latency.labels(method).observe(seconds)

    def observe_agents(self, counts: Iterable[tuple[str, str, int]]) -> None:
        for agent_type in (DHCP_AGENT, L3_AGENT):
            for verdict in Verdict:
                self.agents.labels(agent_type, verdict.value).set(0)
        for agent_type, state, count in counts:
            self.agents.labels(agent_type, state).set(count)

    def observe_zones(self, zones: Iterable[tuple[str, str, bool]]) -> None:
        """rpcdaemon_zone_disrupted for the zones of this pass's read only: a zone no agent is in any more (its
        agents deleted or renamed) leaves the series instead of keeping its last value, an alert forever."""
        self.disrupted.clear()
        for agent_type, zone, disrupted in zones:
            self.disrupted.labels(agent_type, zone).set(int(disrupted))

    def observe_exposure(self, snapshot: Snapshot, verdicts: Mapping[AgentId, AgentLiveness], policy: Policy) -> None:
        """The gauges behind the alert rules, from one pass's read and verdicts (core/exposure.py)."""
        exposed = exposure(snapshot, verdicts, policy)
        self.on_dead_agents.labels(L3_AGENT).set(exposed.routers_on_dead_agents)
        self.on_dead_agents.labels(DHCP_AGENT).set(exposed.networks_on_dead_agents)
        self.dhcp_below_target.set(exposed.dhcp_networks_below_target)

    def render(self) -> bytes:
        return generate_latest(self.registry)
