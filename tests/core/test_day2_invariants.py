"""Properties of drains, rebalancing and verification over random clouds (Hypothesis): whatever the marks, the
replicas' ha_state and the landings awaiting proof, a plan never takes the last live binding of a network or an HA
router, leaves every legacy router that was served hosted, never takes the active replica of an HA router from a
live agent nobody is draining, and never gives work to an agent being drained."""

from __future__ import annotations

from dataclasses import replace

from builders import NOW, clouds, observed
from hypothesis import given, settings
from hypothesis import strategies as st

from rpcdaemon.core.actions import ChangeKind, ResourceType, apply_changes
from rpcdaemon.core.plan import make_plan, remember_landings
from rpcdaemon.core.policy import Policy
from rpcdaemon.model import AgentId, Port, PortRead, RouterId, Snapshot

POLICIES = st.builds(
    Policy,
    dhcp_agents_per_network=st.sampled_from([None, 1, 2]),
    l3_rebalance=st.sampled_from(["off", "ha", "all"]),
    rebalance_moves_per_minute=st.sampled_from([1, 6, 100]),
    max_evacuations_per_minute=st.just(1000),
    ha_replicas=st.sampled_from([2, 3]),
    verify_timeout_s=st.sampled_from([0.0, 60.0]),
)
EXAMPLES = settings(max_examples=300, deadline=None)


@st.composite
def day2_clouds(draw: st.DrawFn) -> Snapshot:
    """A random cloud with drain marks on some agents, ha_state known for some HA routers' replicas, and the
    ports of some hosts read (active or not)."""
    snap = draw(clouds())
    marked = {a for a in snap.agents if draw(st.integers(0, 4)) == 0}
    agents = {a: replace(v, draining=a in marked) for a, v in snap.agents.items()}
    states: dict[RouterId, dict[AgentId, str]] = {}
    for router_id, hosts in snap.l3_agents_of_router().items():
        router = snap.routers.get(router_id)
        if router is not None and router.ha and draw(st.booleans()):
            states[router_id] = {a: draw(st.sampled_from(["active", "standby", "unknown"])) for a in sorted(hosts)}
    hosts = frozenset(a.host for a in agents.values())
    ports = tuple(Port(r, "net", "network:router_interface", snap.agents[a].host, draw(st.sampled_from(["ACTIVE",
                                                                                                          "DOWN"])))
                  for r, holders in snap.l3_agents_of_router().items() for a in sorted(holders)
                  if draw(st.booleans()))
    read = PortRead(hosts, frozenset(snap.routers), ports, frozenset(snap.networks))
    return replace(snap, agents=agents, ha_states=states, ports=read)


def planned(snap: Snapshot, policy: Policy, landed: bool) -> tuple[Snapshot, object]:
    """The plan, from a state that watched long enough for the marks to count, with every binding landed 100 s
    ago when `landed` (so verification judges them)."""
    state = observed(snap, policy)
    if landed:
        state = remember_landings(state, [(ResourceType.ROUTER, r, a) for a, rs in (snap.l3_bindings or {}).items()
                                          for r in rs], NOW - 100)
    plan, _ = make_plan(snap, state, NOW, policy)
    return apply_changes(snap, plan.changes), plan


@EXAMPLES
@given(day2_clouds(), POLICIES, st.booleans())
def test_nothing_loses_its_last_live_binding_and_legacy_routers_stay_hosted(snap: Snapshot, policy: Policy,
                                                                            landed: bool) -> None:
    after, plan = planned(snap, policy, landed)
    dead = {a for a, v in plan.verdicts.items() if v.is_dead}  # type: ignore[attr-defined]
    for kind, before_map, after_map in (
            ("network", snap.dhcp_agents_of_network(), after.dhcp_agents_of_network()),
            ("router", snap.l3_agents_of_router(), after.l3_agents_of_router())):
        for resource, hosts in before_map.items():
            exists = resource in (snap.networks if kind == "network" else snap.routers)
            if not exists or not hosts - dead:
                continue
            assert after_map.get(resource, set()) - dead, f"{kind} {resource} lost its last live binding"


@EXAMPLES
@given(day2_clouds(), POLICIES, st.booleans())
def test_an_active_replica_goes_only_from_an_agent_being_drained(snap: Snapshot, policy: Policy,
                                                                 landed: bool) -> None:
    _, plan = planned(snap, policy, landed)
    for change in plan.changes:  # type: ignore[attr-defined]
        source = change.from_agent
        if change.resource_type is not ResourceType.ROUTER or source is None or plan.verdicts[source].is_dead:
            continue
        if snap.ha_states.get(RouterId(change.resource_id), {}).get(source) == "active":
            assert snap.agents[source].draining or not snap.agents[source].admin_state_up or (
                "unverified" in change.reason), change


@EXAMPLES
@given(day2_clouds(), POLICIES, st.booleans())
def test_an_agent_being_drained_gets_nothing(snap: Snapshot, policy: Policy, landed: bool) -> None:
    _, plan = planned(snap, policy, landed)
    for change in plan.changes:  # type: ignore[attr-defined]
        if change.to_agent is not None and change.action is not ChangeKind.DISABLE_AGENT:
            assert not snap.agents[change.to_agent].draining, change
