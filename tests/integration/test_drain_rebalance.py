"""Drain and rebalance through the daemon's shell and the CLI, on the emulated Neutron (issue 12, parts 2 and 3).

The drain mark is written by `rpcdaemon drain` (or here by the emulator's own PUT), read by the reconciler from the
agents list, and carried out pass by pass; rebalancing moves load back after a failure at its rate, only once
the returning agent's hold-down is over, and stops the moment another agent dies.
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import pytest
from emulated import DOWN_TIME, Env, MakeEnv

from rpcdaemon.cli.main import main as cli
from rpcdaemon.model import DHCP_AGENT, DRAIN_MARK, L3_AGENT


def agent_on(env: Env, agent_type: str, host: str) -> str:
    return next(a["id"] for a in env.agents(agent_type) if a["host"] == host)


def load(env: Env, kind: str) -> Counter[str]:
    return Counter(a for agents in env.bindings(kind).values() for a in agents)


def test_a_marked_l3_agent_is_emptied_then_set_admin_down(make_env: MakeEnv) -> None:
    env = make_env(l3_agents=3, routers=9, dhcp_agents=1, networks=0)
    env.converge()
    victim = agent_on(env, L3_AGENT, "net-1")
    assert load(env, "l3")[victim] == 3
    env.cloud.update_agent(victim, description=f"{DRAIN_MARK} since now")
    env.advance(10)  # the mark is acted on once two reads 5 s apart have shown it
    env.converge(max_passes=12)
    assert load(env, "l3")[victim] == 0
    assert all(len(agents) == 1 for agents in env.bindings("l3").values())
    row = next(a for a in env.agents(L3_AGENT) if a["id"] == victim)
    assert row["admin_state_up"] is False
    moves = [r for r in env.audit.recent() if r.action == "move_router"]
    assert len(moves) == 3 and all("draining net-1" in m.reason for m in moves)
    assert [r.action for r in env.audit.recent() if r.action == "disable_agent"] == ["disable_agent"]


def test_a_marked_dhcp_agent_keeps_every_network_served(make_env: MakeEnv) -> None:
    env = make_env(dhcp_agents=3, networks=6, l3_agents=1, routers=0, policy={"dhcp_agents_per_network": 1})
    env.converge()
    victim = agent_on(env, DHCP_AGENT, "net-1")
    assert load(env, "dhcp")[victim] == 2
    env.cloud.update_agent(victim, description=DRAIN_MARK)
    env.advance(10)
    env.converge(max_passes=12)
    assert load(env, "dhcp")[victim] == 0
    assert all(len(agents) == 1 for agents in env.bindings("dhcp").values())
    # handed over: added elsewhere, verified (the new DHCP port ACTIVE), then removed from the drained agent
    adds = [r for r in env.audit.recent() if r.action == "add_network" and "draining net-1" in r.reason]
    removals = [r for r in env.audit.recent() if r.action == "remove_network" and r.from_agent == victim]
    assert len(adds) == 2 and len(removals) == 2
    verified = {r.resource_id for r in env.audit.recent() if r.action == "verify" and r.outcome == "done"}
    assert {r.resource_id for r in adds} <= verified


def test_routers_flow_back_after_the_hold_down_at_the_rate_and_only_with_all(make_env: MakeEnv) -> None:
    env = make_env(l3_agents=3, routers=12, dhcp_agents=1, networks=0,
                   policy={"l3_rebalance": "all", "rebalance_moves_per_minute": 2})
    env.converge()
    victim = agent_on(env, L3_AGENT, "net-1")
    env.kill(victim)
    env.converge()
    assert load(env, "l3")[victim] == 0
    env.cloud.set_agent_up(victim)
    env.advance(30)  # back, in hold-down: nothing moves to it
    assert load(env, "l3")[victim] == 0
    env.advance(45)  # the hold-down (60 s) is over: 2 a minute
    assert 1 <= load(env, "l3")[victim] <= 2
    env.advance(120)
    assert sorted(load(env, "l3").values()) == [4, 4, 4]
    moves = [r for r in env.audit.recent() if r.action == "move_router" and r.to_agent == victim]
    assert len(moves) == 4 and all(m.reason.startswith("rebalancing") for m in moves)


def test_legacy_routers_stay_by_default(make_env: MakeEnv) -> None:
    env = make_env(l3_agents=3, routers=12, dhcp_agents=1, networks=0)
    env.converge()
    victim = agent_on(env, L3_AGENT, "net-1")
    env.kill(victim)
    env.converge()
    env.cloud.set_agent_up(victim)
    env.advance(DOWN_TIME + 120)
    assert load(env, "l3")[victim] == 0


def test_an_agent_dying_stops_the_rebalance_and_the_repair_comes_first(make_env: MakeEnv) -> None:
    env = make_env(l3_agents=3, routers=12, dhcp_agents=1, networks=0,
                   policy={"l3_rebalance": "all", "rebalance_moves_per_minute": 2})
    env.converge()
    victim, other = agent_on(env, L3_AGENT, "net-1"), agent_on(env, L3_AGENT, "net-2")
    env.kill(victim)
    env.converge()
    env.cloud.set_agent_up(victim)
    env.advance(65)
    assert load(env, "l3")[victim] >= 1  # rebalancing has begun
    env.cloud.set_agent_down(other)
    reports = env.advance(DOWN_TIME + 15)
    during = [c for r in reports if r.plan is not None for c in r.plan.changes if c.reason.startswith("rebalancing")]
    assert not during  # other going quiet, then dead: no rebalance while it is not calm
    assert load(env, "l3")[other] == 0  # and its routers were moved


def config_for(env: Env, tmp_path: Path) -> str:
    path = tmp_path / "rpcdaemon.conf"
    path.write_text(f"[Daemon]\nneutron_endpoint = {env.server.url}\nagent_down_time = 75\n"
                    f"pidfile = {tmp_path / 'rpcdaemon.pid'}\n")
    return str(path)


def test_the_cli_marks_follows_and_undrains(make_env: MakeEnv, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    env = make_env(l3_agents=3, routers=6, dhcp_agents=2, networks=4)
    env.converge()
    conf = config_for(env, tmp_path)
    assert cli(["drain", "net-1", "-c", conf, "--dry-run"]) == 0
    planned = capsys.readouterr().out
    assert "move_router" in planned and "disable_agent" in planned and "nothing left on net-1" in planned
    assert not [r for r in env.cloud.agent_rows() if r.get("description")]  # a dry run marks nothing
    assert cli(["drain", "net-1", "-c", conf]) == 0
    marked = [a for a in env.cloud.agent_rows() if str(a.get("description") or "").startswith(DRAIN_MARK)]
    assert {a["host"] for a in marked} == {"net-1"} and len(marked) == 2
    env.advance(10)
    env.converge(max_passes=15)
    capsys.readouterr()
    assert cli(["drain", "net-1", "-c", conf, "--wait", "--timeout", "20", "--json"]) == 0
    assert '"done": true' in capsys.readouterr().out
    assert cli(["undrain", "net-1", "-c", conf]) == 0
    rows = [a for a in env.cloud.agent_rows() if a["host"] == "net-1"]
    assert all(a["admin_state_up"] and not a.get("description") for a in rows)


def test_the_cli_names_an_unknown_host(make_env: MakeEnv, tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    env = make_env(l3_agents=2, routers=2, dhcp_agents=1, networks=1)
    assert cli(["drain", "nowhere", "-c", config_for(env, tmp_path)]) == 1
    assert "no DHCP or L3 agent that rpcdaemon manages runs on host 'nowhere'" in capsys.readouterr().err


def test_rebalance_cli_refuses_beside_a_running_daemon(make_env: MakeEnv, tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    env = make_env(l3_agents=2, routers=2, dhcp_agents=1, networks=1)
    conf = config_for(env, tmp_path)
    (tmp_path / "rpcdaemon.pid").write_text(f"{os.getppid()}\n")  # a live process holds the pidfile
    assert cli(["rebalance", "-c", conf]) == 1
    assert "only it acts" in capsys.readouterr().err
    assert cli(["rebalance", "-c", conf, "--dry-run"]) == 0


def test_rebalance_moves_standby_replicas_only_and_keeps_each_router_served(make_env: MakeEnv) -> None:
    """HA routers on two of three agents, the third empty: rebalancing shifts standby replicas to it; the
    emulator's own account of each removal (its ground truth when it took the call) shows no active replica taken
    and every router served elsewhere at that moment."""
    env = make_env(l3_agents=3, routers=0, dhcp_agents=1, networks=0, policy={"ha_replicas": 2})
    a0, a1, a2 = (a["id"] for a in sorted(env.agents(L3_AGENT), key=lambda a: a["host"]))
    for i in range(8):
        router = env.cloud.add_router(name=f"ha{i}", ha=True)
        for agent in (a0, a1):
            env.cloud.bind_router(agent, router)
    env.cloud.drain_calls()
    env.advance(130)  # two minutes at 6 moves a minute
    # a0 was bound first, so the emulator (like keepalived's first master) made it active for all 8: only a1's
    # standby replicas may move, until a1 and a2 are level; a0 keeps every active replica
    removals = [c for c in env.cloud.drain_calls() if c.method == "DELETE" and c.removal is not None]
    assert all(not c.removal.active_here and c.removal.served_elsewhere for c in removals), removals
    assert len(removals) == 4
    assert load(env, "l3") == {a0: 8, a1: 4, a2: 4}
