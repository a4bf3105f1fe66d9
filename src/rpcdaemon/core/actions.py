"""What rpcdaemon may do to a cloud: changes to agent bindings, each carrying its reason.

A `Change` is what an operator reads (move router R from A to B, because A is dead); its `calls()` are the API
calls that carry it out, in the order that is safe: a legacy router is removed before it is added (Neutron refuses
the add while the old binding exists), an HA replica is added before the dead one is removed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from enum import StrEnum

from rpcdaemon.model import AgentId, NetworkId, RouterId, Snapshot


class ResourceType(StrEnum):
    NETWORK = "network"
    ROUTER = "router"
    AGENT = "agent"
    """Only for DISABLE_AGENT: the agent itself is changed (admin_state_up false)."""


class Op(StrEnum):
    ADD = "add"
    REMOVE = "remove"
    DISABLE = "disable"
    """PUT /agents/{id} admin_state_up false: the end of a drain, so that Neutron schedules nothing new there."""


class ChangeKind(StrEnum):
    ADD_NETWORK = "add_network"
    REMOVE_NETWORK = "remove_network"
    MOVE_ROUTER = "move_router"
    SCHEDULE_ROUTER = "schedule_router"
    REPLACE_HA_REPLICA = "replace_ha_replica"
    REMOVE_ROUTER = "remove_router"
    SHIFT_HA_REPLICA = "shift_ha_replica"
    """Rebalancing or draining: a *standby* replica of an HA router goes from a live agent to another (add, then
    remove): the active replica is never moved, so the router does not stop forwarding."""
    SHIFT_NETWORK = "shift_network"
    """Rebalancing or draining: a DHCP network goes from a live agent to another (add, then remove)."""
    DISABLE_AGENT = "disable_agent"
    """A drained agent hosts nothing any more: set it admin down, so that Neutron schedules nothing new there."""


class ChangeOutcome(StrEnum):
    """How one change ended: in the audit trail, the metrics' `outcome` label and /status, by these values."""

    DONE = "done"
    ALREADY = "already"
    """Every call found the binding already as wanted."""
    CONFLICT = "conflict"
    """Someone else changed the resource (a 409): left for the next pass, which re-reads the truth."""
    FAILED = "failed"
    SKIPPED = "skipped"
    """Not started: an earlier change of the resource did not succeed, rpcdaemon is stopping, or this replica may
    not act."""
    FENCED = "fenced"
    """Cut part-way because this replica's acting window closed: some calls were sent, the rest not."""
    PLANNED = "planned"
    """A dry run: nothing done."""

    @property
    def ok(self) -> bool:
        return self in _OK_OUTCOMES


_OK_OUTCOMES = frozenset({ChangeOutcome.DONE, ChangeOutcome.ALREADY, ChangeOutcome.PLANNED})


@dataclass(frozen=True, slots=True)
class Call:
    """One scheduling API call: add or remove a binding between a resource and an agent."""

    op: Op
    resource_type: ResourceType
    resource_id: str
    agent_id: AgentId

    def describe(self) -> str:
        return f"{self.op.value} {self.resource_type.value} {self.resource_id} on agent {self.agent_id}"


@dataclass(frozen=True, slots=True)
class Change:
    action: ChangeKind
    resource_type: ResourceType
    resource_id: str
    from_agent: AgentId | None
    to_agent: AgentId | None
    reason: str
    lane: str | None = None
    """Changes in one lane are applied one after the other, whatever their resource (a drain's legacy moves to one
    target agent: one router at a time per target); None: the resource's own lane."""

    @property
    def key(self) -> tuple[ResourceType | str, str]:
        """Changes with one key are applied one after the other; different keys may run concurrently."""
        if self.lane is not None:
            return ("lane", self.lane)
        return (self.resource_type, self.resource_id)

    def calls(self) -> tuple[Call, ...]:
        def call(op: Op, agent: AgentId | None) -> Call:
            assert agent is not None, f"{self.action.value} needs an agent for {op.value}"
            return Call(op, self.resource_type, self.resource_id, agent)

        if self.action is ChangeKind.MOVE_ROUTER:
            return (call(Op.REMOVE, self.from_agent), call(Op.ADD, self.to_agent))
        if self.action in (ChangeKind.REPLACE_HA_REPLICA, ChangeKind.SHIFT_HA_REPLICA, ChangeKind.SHIFT_NETWORK):
            return (call(Op.ADD, self.to_agent), call(Op.REMOVE, self.from_agent))
        if self.action is ChangeKind.DISABLE_AGENT:
            return (call(Op.DISABLE, self.from_agent),)
        if self.action in (ChangeKind.ADD_NETWORK, ChangeKind.SCHEDULE_ROUTER):
            return (call(Op.ADD, self.to_agent),)
        return (call(Op.REMOVE, self.from_agent),)

    def as_dict(self) -> dict[str, str | None]:
        return {
            "action": self.action.value,
            "resource_type": self.resource_type.value,
            "resource_id": self.resource_id,
            "from_agent": self.from_agent,
            "to_agent": self.to_agent,
            "reason": self.reason,
        }


def group_by_key(changes: Iterable[Change]) -> dict[tuple[ResourceType | str, str], list[Change]]:
    """Changes per resource (or lane), in plan order (insertion order of the dict is the order of first
    appearance)."""
    groups: dict[tuple[ResourceType | str, str], list[Change]] = {}
    for change in changes:
        groups.setdefault(change.key, []).append(change)
    return groups


def apply_calls(snapshot: Snapshot, calls: Iterable[Call]) -> Snapshot:
    """The snapshot as it would be after these calls all succeeded (for tests, dry runs and progress)."""
    dhcp: dict[AgentId, set[str]] = {a: set(n) for a, n in (snapshot.dhcp_bindings or {}).items()}
    l3: dict[AgentId, set[str]] = {a: set(r) for a, r in (snapshot.l3_bindings or {}).items()}
    for c in calls:
        if c.resource_type is ResourceType.AGENT:
            continue
        bound = (dhcp if c.resource_type is ResourceType.NETWORK else l3).setdefault(c.agent_id, set())
        if c.op is Op.ADD:
            bound.add(c.resource_id)
        else:
            bound.discard(c.resource_id)
    return replace(
        snapshot,
        dhcp_bindings=(
            {a: frozenset(NetworkId(n) for n in v) for a, v in dhcp.items()}
            if snapshot.dhcp_bindings is not None
            else None
        ),
        l3_bindings=(
            {a: frozenset(RouterId(r) for r in v) for a, v in l3.items()} if snapshot.l3_bindings is not None else None
        ),
    )


def apply_changes(snapshot: Snapshot, changes: Iterable[Change]) -> Snapshot:
    return apply_calls(snapshot, (c for change in changes for c in change.calls()))
