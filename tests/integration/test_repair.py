"""The daemon's shell against the emulated Neutron, over HTTP, through openstacksdk: agent deaths are repaired."""

from __future__ import annotations

from collections import Counter

from emulated import DOWN_TIME, Env, MakeEnv

from rpcdaemon.model import DHCP_AGENT, L3_AGENT


def live_ids(env: Env, agent_type: str) -> set[str]:
    return {a["id"] for a in env.agents(agent_type) if a["alive"]}


def test_dead_l3_agent_routers_move_to_live_agents_spread(make_env: MakeEnv) -> None:
    env = make_env(l3_agents=3, routers=12, dhcp_agents=1, networks=0)
    env.converge()
    l3 = env.bindings("l3")
    victim = env.agents(L3_AGENT)[0]["id"]
    victims_routers = sorted(r for r, agents in l3.items() if victim in agents)
    assert len(victims_routers) == 4

    env.kill(victim)
    env.converge()

    l3 = env.bindings("l3")
    live = live_ids(env, L3_AGENT)
    assert victim not in live
    for router in l3:
        assert len(l3[router]) == 1, (router, l3[router])
        assert l3[router][0] in live, (router, l3[router])
    new_homes = Counter(l3[r][0] for r in victims_routers)
    assert sorted(new_homes.values()) == [2, 2], new_homes
    moves = [r for r in env.audit.recent() if r.action == "move_router"]
    assert {m.resource_id for m in moves} == set(victims_routers)
    assert all(m.outcome == "done" and m.from_agent == victim for m in moves)


def test_dead_dhcp_agent_networks_leave_it_and_keep_their_count(make_env: MakeEnv) -> None:
    env = make_env(dhcp_agents=4, networks=8, dhcp_per_network=2, l3_agents=1, routers=0,
                   policy={"dhcp_agents_per_network": 2})
    env.converge()
    victim = env.agents(DHCP_AGENT)[0]["id"]
    hosted = [n for n, agents in env.bindings("dhcp").items() if victim in agents]
    assert hosted

    env.kill(victim)
    env.converge()

    live = live_ids(env, DHCP_AGENT)
    for net, agents in env.bindings("dhcp").items():
        assert victim not in agents, net
        assert len(agents) == 2, (net, agents)
        assert set(agents) <= live, (net, agents)


def test_new_dhcp_network_is_put_on_every_live_dhcp_agent(make_env: MakeEnv) -> None:
    env = make_env(dhcp_agents=3, networks=2, l3_agents=1, routers=0)
    env.converge()
    net = env.cloud.add_network(name="fresh", dhcp=True)
    env.converge()
    assert sorted(env.bindings("dhcp")[net]) == sorted(a["id"] for a in env.agents(DHCP_AGENT))


def test_network_without_dhcp_subnet_is_left_alone(make_env: MakeEnv) -> None:
    env = make_env(dhcp_agents=3, networks=0, l3_agents=1, routers=0)
    net = env.cloud.add_network(name="no-dhcp", dhcp=False)
    env.converge()
    assert not env.bindings("dhcp").get(net)


def test_binding_of_a_deleted_network_is_removed(make_env: MakeEnv) -> None:
    env = make_env(dhcp_agents=2, networks=1, l3_agents=1, routers=0)
    env.converge()
    agent = env.agents(DHCP_AGENT)[0]["id"]
    env.cloud.bind_network(agent, "5b1c6ad1-0000-4000-8000-00000000dead")
    env.converge()
    assert "5b1c6ad1-0000-4000-8000-00000000dead" not in env.bindings("dhcp")
    removed = [r for r in env.audit.recent() if r.action == "remove_network"]
    assert [r.reason for r in removed] == ["network deleted (missing from the list, and its own read answered 404)"]


def test_unhosted_router_is_scheduled(make_env: MakeEnv) -> None:
    env = make_env(l3_agents=2, routers=0, dhcp_agents=1, networks=0)
    router = env.cloud.add_router(name="orphan")
    env.converge()
    assert len(env.bindings("l3")[router]) == 1


def test_no_action_during_warm_up_even_when_the_api_says_dead(make_env: MakeEnv) -> None:
    env = make_env(warm=False, l3_agents=3, routers=6, dhcp_agents=1, networks=0)
    victim = env.agents(L3_AGENT)[0]["id"]
    env.cloud.set_agent_down(victim)
    env.clock.advance(DOWN_TIME + 1)  # the API already says dead when rpcdaemon starts
    report = env.run_pass()
    assert report.plan is not None
    assert report.plan.warming_up
    assert not [c for c in report.plan.changes if c.from_agent == victim]
    for report in env.advance(DOWN_TIME - 5):
        assert not [c for c in report.plan.changes if c.from_agent == victim]  # type: ignore[union-attr]
    env.advance(10)
    assert all(victim not in agents for agents in env.bindings("l3").values())


def test_disruption_holds_every_evacuation(make_env: MakeEnv) -> None:
    env = make_env(l3_agents=6, routers=12, dhcp_agents=1, networks=0)
    env.converge()
    before = env.bindings("l3")
    victims = [a["id"] for a in env.agents(L3_AGENT)[:4]]
    for v in victims:
        env.cloud.set_agent_down(v)
    reports = env.advance(DOWN_TIME + 10)
    assert all(r.plan is not None and not r.plan.changes for r in reports)
    assert any("DISRUPTED" in note for note in reports[-1].plan.notes)  # type: ignore[union-attr]
    assert env.bindings("l3") == before


def test_flapping_agent_causes_no_action(make_env: MakeEnv) -> None:
    env = make_env(l3_agents=3, routers=6, dhcp_agents=2, networks=2)
    env.converge()
    before = (env.bindings("l3"), env.bindings("dhcp"))
    actions_before = len(env.audit.recent())
    victim = env.agents(L3_AGENT)[0]["id"]
    for _ in range(4):
        env.cloud.set_agent_down(victim)
        env.advance(DOWN_TIME * 0.8)
        env.cloud.set_agent_up(victim)
        env.advance(10)
    assert (env.bindings("l3"), env.bindings("dhcp")) == before
    assert len(env.audit.recent()) == actions_before


def test_pass_reads_cost_o_agents_calls(make_env: MakeEnv) -> None:
    env = make_env(l3_agents=4, routers=40, dhcp_agents=4, networks=60, dhcp_per_network=2)
    env.converge()
    env.cloud.reset_stats()
    env.step()
    calls = env.cloud.stats()["calls"]
    reads = sum(n for key, n in calls.items() if key.startswith("GET "))
    assert reads <= 2 * 8 + 5, calls
    assert not [k for k in calls if not k.startswith("GET ")], calls
