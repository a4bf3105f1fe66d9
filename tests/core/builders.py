"""Small builders of snapshots for the core's tests, and a Hypothesis strategy of random valid clouds."""

from __future__ import annotations

from collections.abc import Iterable

from hypothesis import strategies as st

from rpcdaemon.core.liveness import state_from_api
from rpcdaemon.core.plan import CoreState
from rpcdaemon.core.policy import Policy
from rpcdaemon.model import (
    DHCP_AGENT,
    L3_AGENT,
    Agent,
    AgentId,
    AgentMode,
    Network,
    NetworkId,
    Router,
    RouterId,
    Snapshot,
)

NOW = 10_000.0


def agent(name: str, kind: str = L3_AGENT, alive: bool = True, zone: str = "nova", admin: bool = True,
          mode: AgentMode = AgentMode.LEGACY, beat: str = "b0") -> Agent:
    return Agent(AgentId(name), kind, name, zone, admin, alive, beat, "s0", mode)


def snapshot(agents: Iterable[Agent], routers: dict[str, Router] | None = None,
             networks: dict[str, Network] | None = None, l3: dict[str, set[str]] | None = None,
             dhcp: dict[str, set[str]] | None = None) -> Snapshot:
    agent_map = {a.id: a for a in agents}
    return Snapshot(
        agents=agent_map,
        networks={NetworkId(k): v for k, v in (networks or {}).items()},
        routers={RouterId(k): v for k, v in (routers or {}).items()},
        dhcp_bindings={AgentId(a.id): frozenset(NetworkId(n) for n in (dhcp or {}).get(a.id, ()))
                       for a in agent_map.values() if a.agent_type == DHCP_AGENT},
        l3_bindings={AgentId(a.id): frozenset(RouterId(r) for r in (l3 or {}).get(a.id, ()))
                     for a in agent_map.values() if a.agent_type == L3_AGENT},
    )


def observed(snap: Snapshot, policy: Policy, now: float = NOW) -> CoreState:
    """A state as if the daemon had watched for a whole dead period: API-dead agents are DEAD."""
    return CoreState(liveness=state_from_api(snap.agents, now, policy))


def routers(*names: str, ha: bool = False, distributed: bool = False, hints: tuple[str, ...] = ()) -> dict[str, Router]:
    return {n: Router(RouterId(n), ha, distributed, hints) for n in names}


def networks(*names: str, dhcp: bool = True, hints: tuple[str, ...] = ()) -> dict[str, Network]:
    return {n: Network(NetworkId(n), dhcp, hints) for n in names}


@st.composite
def clouds(draw: st.DrawFn) -> Snapshot:
    """Random clouds that obey Neutron's rules: a legacy router on at most one agent, distributed routers only on
    dvr_snat agents, HA routers on distinct agents; some bindings of deleted networks."""
    zones = draw(st.sampled_from([("nova",), ("az1", "az2"), ("az1", "az2", "az3")]))
    n_l3 = draw(st.integers(0, 7))
    n_dhcp = draw(st.integers(0, 6))
    l3_agents = [
        agent(f"l3-{i}", L3_AGENT, alive=draw(st.booleans()), zone=draw(st.sampled_from(zones)),
              admin=draw(st.sampled_from([True, True, False])),
              mode=draw(st.sampled_from([AgentMode.LEGACY, AgentMode.LEGACY, AgentMode.DVR_SNAT, AgentMode.DVR])))
        for i in range(n_l3)
    ]
    dhcp_agents = [
        agent(f"dhcp-{i}", DHCP_AGENT, alive=draw(st.booleans()), zone=draw(st.sampled_from(zones)),
              admin=draw(st.sampled_from([True, True, False])))
        for i in range(n_dhcp)
    ]
    router_map: dict[str, Router] = {}
    l3: dict[str, set[str]] = {a.id: set() for a in l3_agents}
    for i in range(draw(st.integers(0, 12))):
        kind = draw(st.sampled_from(["legacy", "legacy", "ha", "dvr"]))
        hints = tuple(draw(st.lists(st.sampled_from(zones), max_size=1, unique=True)))
        router = Router(RouterId(f"r{i}"), kind == "ha", kind == "dvr", hints)
        router_map[router.id] = router
        fitting = [a for a in l3_agents if (a.agent_mode is AgentMode.DVR_SNAT if router.distributed
                                            else a.agent_mode in (AgentMode.LEGACY, AgentMode.DVR_SNAT))]
        if not fitting:
            continue
        if router.ha:
            hosts = draw(st.lists(st.sampled_from(fitting), max_size=3, unique_by=lambda a: a.id))
        else:
            hosts = draw(st.lists(st.sampled_from(fitting), max_size=1))
        for host in hosts:
            l3[host.id].add(router.id)
    net_map: dict[str, Network] = {}
    dhcp: dict[str, set[str]] = {a.id: set() for a in dhcp_agents}
    for i in range(draw(st.integers(0, 12))):
        net = Network(NetworkId(f"n{i}"), draw(st.booleans() | st.just(True)),
                      tuple(draw(st.lists(st.sampled_from(zones), max_size=1, unique=True))))
        net_map[net.id] = net
        if dhcp_agents:
            for host in draw(st.lists(st.sampled_from(dhcp_agents), max_size=3, unique_by=lambda a: a.id)):
                dhcp[host.id].add(net.id)
    if dhcp_agents and draw(st.booleans()):
        dhcp[draw(st.sampled_from(dhcp_agents)).id].add("deleted-net")
    return snapshot([*l3_agents, *dhcp_agents], router_map, net_map, l3, dhcp)
