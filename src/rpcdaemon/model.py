"""What rpcdaemon knows about a cloud at one instant: frozen values, no behaviour.

Everything the planner decides is a function of a `Snapshot` (read from the Neutron API by the shell) and of the
liveness verdicts derived from it; keeping these plain and immutable is what lets the core be tested without a
cloud and lets a pass be replayed from its inputs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import NewType

AgentId = NewType("AgentId", str)
NetworkId = NewType("NetworkId", str)
RouterId = NewType("RouterId", str)

DHCP_AGENT = "DHCP agent"
L3_AGENT = "L3 agent"
DRAIN_MARK = "rpcdaemon:draining"
"""An agent whose Neutron `description` starts with this is being drained (`rpcdaemon drain HOST` writes it,
`rpcdaemon undrain HOST` clears it): the intent lives in Neutron's database, so whichever replica leads carries it
out, and a leader that fails over carries on where the last one stopped."""


class AgentMode(StrEnum):
    """An L3 agent's `configurations.agent_mode`."""

    LEGACY = "legacy"
    DVR = "dvr"
    DVR_SNAT = "dvr_snat"
    DVR_NO_EXTERNAL = "dvr_no_external"

    @classmethod
    def parse(cls, value: object) -> AgentMode:
        """Neutron's default mode is legacy; an unknown mode is treated as `dvr` (never touched)."""
        if value is None or value == "":
            return cls.LEGACY
        for mode in cls:
            if mode.value == value:
                return mode
        return cls.DVR


SNAT_MODES = frozenset({AgentMode.LEGACY, AgentMode.DVR_SNAT})
"""L3 agent modes rpcdaemon manages: the others (dvr, dvr_no_external) are compute-node agents, left alone."""


class BusKind(StrEnum):
    """What a message on Neutron's bus is (the bus decoder's `BusMessage.kind`, the metrics' `kind` label): here,
    below every adapter, so the bus adapter and the metrics name the same values."""

    HEARTBEAT = "heartbeat"
    """An agent's report_state RPC call."""
    NOTIFICATION = "notification"
    RPC = "rpc"
    """Any other RPC call (counted as `other` in the metrics)."""
    OTHER = "other"


class MalformedKind(StrEnum):
    """Why a message on the bus was refused (the bus decoder's `Malformed.kind`, the metrics' `kind` label)."""

    NOT_JSON = "not_json"
    BAD_ENVELOPE = "bad_envelope"
    MISSING_FIELDS = "missing_fields"
    TOO_LARGE = "too_large"


class PassOutcome(StrEnum):
    """How a pass ended (the pass report, the metrics' `outcome` label, /status): every change done, some not done,
    or the cloud could not be read."""

    OK = "ok"
    PARTIAL = "partial"
    ERROR = "error"


@dataclass(frozen=True, slots=True)
class Agent:
    """One row of GET /v2.0/agents, reduced to what rpcdaemon decides on.

    `heartbeat` is the agent's heartbeat_timestamp as Neutron reports it: an opaque token whose *changes* rpcdaemon
    observes with its own clock; its value is never compared with rpcdaemon's time.
    """

    id: AgentId
    agent_type: str
    host: str
    availability_zone: str | None = None
    admin_state_up: bool = True
    alive: bool = True
    heartbeat: str | None = None
    started_at: str | None = None
    agent_mode: AgentMode = AgentMode.LEGACY
    draining: bool = False
    """Its description carries DRAIN_MARK: an operator asked for it to be emptied (core/drain.py)."""

    @property
    def is_dhcp(self) -> bool:
        return self.agent_type == DHCP_AGENT

    @property
    def is_l3(self) -> bool:
        return self.agent_type == L3_AGENT

    @property
    def is_managed(self) -> bool:
        """Can rpcdaemon evacuate this agent or choose it? DHCP agents, and L3 agents in a mode that hosts
        routers (legacy, dvr_snat); `dvr` and `dvr_no_external` agents run on compute nodes and are left alone."""
        return self.is_dhcp or (self.is_l3 and self.agent_mode in SNAT_MODES)


@dataclass(frozen=True, slots=True)
class Network:
    """A network; `dhcp` is true when at least one of its subnets has enable_dhcp."""

    id: NetworkId
    dhcp: bool
    availability_zone_hints: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Router:
    id: RouterId
    ha: bool = False
    distributed: bool = False
    availability_zone_hints: tuple[str, ...] = ()

    @property
    def is_legacy(self) -> bool:
        """A legacy router lives on exactly one L3 agent; moving it is remove-then-add."""
        return not self.ha and not self.distributed


@dataclass(frozen=True, slots=True)
class Confirmations:
    """What single-resource reads (GET /networks/{id}, GET /agents/{id}) said of resources a list left out.

    A list answer alone never proves that something is gone: a half-restored database behind a load balancer,
    a list cut short or a wrong project all answer 200 with rows missing. `gone_*` answered 404 (really deleted);
    `present_*` answered 200 although the list left them out (the list lied)."""

    gone_networks: frozenset[NetworkId] = frozenset()
    present_networks: frozenset[NetworkId] = frozenset()
    gone_agents: frozenset[AgentId] = frozenset()
    present_agents: frozenset[AgentId] = frozenset()


@dataclass(frozen=True, slots=True)
class Port:
    """One row of GET /v2.0/ports, reduced to what proves that an agent serves a router or a network."""

    device_id: str
    network_id: str
    device_owner: str
    host: str
    """binding:host_id ("" when unbound)."""
    status: str
    """"ACTIVE" once the agent of its host has wired it; "DOWN" or "BUILD" before."""


@dataclass(frozen=True, slots=True)
class PortRead:
    """The ports read for verification (core/verify.py): the router ports and DHCP ports bound to `hosts` (one
    call per pass for the hosts where at least half of what they hold awaits proof), every port of the routers in
    `devices` and the DHCP ports of the networks in `networks` (what awaits proof elsewhere, whatever is overdue)."""

    hosts: frozenset[str] = frozenset()
    devices: frozenset[str] = frozenset()
    ports: tuple[Port, ...] = ()
    networks: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Snapshot:
    """One coherent read of the cloud.

    Bindings are read before the resource lists, so a binding whose network or router is missing from the lists
    belongs to a resource that was deleted (never to one created after the read).
    `dhcp_bindings`/`l3_bindings` are None when the plugin that needs them is not enabled.
    """

    agents: Mapping[AgentId, Agent]
    networks: Mapping[NetworkId, Network] = field(default_factory=dict)
    routers: Mapping[RouterId, Router] = field(default_factory=dict)
    dhcp_bindings: Mapping[AgentId, frozenset[NetworkId]] | None = None
    l3_bindings: Mapping[AgentId, frozenset[RouterId]] | None = None
    confirmed: Confirmations = field(default_factory=Confirmations)
    ha_states: Mapping[RouterId, Mapping[AgentId, str]] = field(default_factory=dict)
    """For the HA routers the last plan asked about (Plan.wants_ha_states): each replica's ha_state ("active",
    "standby", ...) from GET /routers/{id}/l3-agents. A router missing here is not known, never "standby"."""
    ports: PortRead | None = None
    """The ports core.verify.wants_ports asked for, read for this plan; None when none were read."""

    def agents_of(self, agent_type: str) -> list[Agent]:
        return sorted((a for a in self.agents.values() if a.agent_type == agent_type), key=lambda a: a.id)

    def dhcp_agents_of_network(self) -> dict[NetworkId, set[AgentId]]:
        """The inverse of `dhcp_bindings`: for each network, the agents hosting it."""
        result: dict[NetworkId, set[AgentId]] = {}
        for agent_id, nets in (self.dhcp_bindings or {}).items():
            for net in nets:
                result.setdefault(net, set()).add(agent_id)
        return result

    def l3_agents_of_router(self) -> dict[RouterId, set[AgentId]]:
        """The inverse of `l3_bindings`: for each router, the agents hosting it."""
        result: dict[RouterId, set[AgentId]] = {}
        for agent_id, routers in (self.l3_bindings or {}).items():
            for router in routers:
                result.setdefault(router, set()).add(agent_id)
        return result
