"""API errors while acting: retried when transient, never a crash, nothing left hosted nowhere afterwards."""

from __future__ import annotations

from emulated import Env, MakeEnv

from rpcdaemon.adapters.neutron.client import READ_RETRIES
from rpcdaemon.model import L3_AGENT


def every_router_on_one_live_agent(env: Env) -> bool:
    live = {a["id"] for a in env.agents(L3_AGENT) if a["alive"]}
    return all(len(agents) == 1 and agents[0] in live for agents in env.bindings("l3").values())


def first_l3(env: Env) -> str:
    env.converge()
    victim: str = env.agents(L3_AGENT)[0]["id"]
    return victim


def test_500s_are_retried(make_env: MakeEnv) -> None:
    env = make_env(l3_agents=3, routers=6, dhcp_agents=1, networks=0)
    victim = first_l3(env)
    env.cloud.add_fault("POST", "POST /v2.0/agents/{id}/l3-routers", status=500, count=3)
    env.cloud.add_fault("DELETE", "DELETE /v2.0/agents/{id}/l3-routers/{id}", status=503, count=1)
    report = env.kill(victim)
    assert report.results
    assert all(r.outcome == "done" for r in report.results)
    env.converge()
    assert every_router_on_one_live_agent(env)
    assert not [r for r in env.audit.recent() if r.outcome == "failed"]


def test_timeouts_and_resets_are_retried(make_env: MakeEnv) -> None:
    env = make_env(l3_agents=3, routers=6, dhcp_agents=1, networks=0)
    victim = first_l3(env)
    env.cloud.add_fault("POST", "POST /v2.0/agents/{id}/l3-routers", reset=True, count=2)
    report = env.kill(victim)
    assert report.results
    assert all(r.outcome == "done" for r in report.results)
    env.converge()
    assert every_router_on_one_live_agent(env)


def test_persistent_failure_leaves_nothing_unhosted_after_recovery(make_env: MakeEnv) -> None:
    env = make_env(l3_agents=3, routers=6, dhcp_agents=1, networks=0)
    victim = first_l3(env)
    # every add fails for a while: routers are removed from the dead agent and left hosted nowhere...
    env.cloud.add_fault("POST", "POST /v2.0/agents/{id}/l3-routers", status=500, count=40)
    report = env.kill(victim)
    assert report.error is None
    assert any(r.outcome == "failed" for r in report.results)
    # ...and the next passes, once the API is healthy again, host them
    env.converge()
    assert every_router_on_one_live_agent(env)


def test_conflict_when_another_actor_moves_the_router(make_env: MakeEnv) -> None:
    env = make_env(l3_agents=3, routers=3, dhcp_agents=1, networks=0)
    victim = first_l3(env)
    router = next(r for r, agents in env.bindings("l3").items() if victim in agents)
    other = next(a["id"] for a in env.agents(L3_AGENT) if a["id"] != victim)
    env.cloud.add_race_on_next_add_router(router, other)
    report = env.kill(victim)
    assert [r.outcome for r in report.results if r.change.resource_id == router] in (["conflict"], ["done"])
    env.converge()
    assert every_router_on_one_live_agent(env)
    assert env.bindings("l3")[router] == [other]


def test_unreadable_api_means_no_action_and_no_crash(make_env: MakeEnv) -> None:
    env = make_env(l3_agents=3, routers=3, dhcp_agents=1, networks=0)
    victim = first_l3(env)
    env.cloud.add_fault("GET", "GET /v2.0/routers", status=500, count=1 + READ_RETRIES)  # beyond the retries
    env.cloud.set_agent_down(victim)
    errors = [r for r in env.advance(80) if r.error is not None]
    assert len(errors) == 1
    assert "500" in (errors[0].error or "")
    assert not errors[0].results
    env.converge()
    assert every_router_on_one_live_agent(env)


def test_a_read_that_fails_once_is_retried_within_the_pass(make_env: MakeEnv) -> None:
    env = make_env(l3_agents=3, routers=3, dhcp_agents=1, networks=0)
    env.cloud.add_fault("GET", "GET /v2.0/agents", status=503, count=1)
    env.cloud.add_fault("GET", "GET /v2.0/routers", reset=True, count=1)
    report = env.step()
    assert report.error is None
    assert report.snapshot is not None
    assert len(report.snapshot.routers) == 3
