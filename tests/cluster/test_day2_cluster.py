"""Day-2 operations in a cluster: `rpcdaemon drain` and `rpcdaemon rebalance` against three replicas on a shared
folder (file://, the cheapest backend: what is checked here is who acts, not the backend).

One actor, always. `drain HOST` only writes a mark into Neutron; the leader alone carries it out (every scheduling
call carries its member id, the standbys record no change), and because the mark lives in Neutron, a leader
SIGKILLed mid-drain is followed by the next one, which finishes it. `rebalance` (acting) must take the leader lock:
while a replica leads, it refuses in one line and calls nothing; `--dry-run` needs no lock.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

from replicas import RPCDAEMON, Replica, agreed_leader, views
from stack import MakeStack, Stack

from polling import poll
from rpcdaemon.model import L3_AGENT

DEADLINE = 60
HOST = "net-1"
CHANGES = ("done", "already", "conflict", "failed")
"""Outcomes of a change an executor carried out (the audit records of a replica that acted)."""


def file_backend(tmp_path: Path) -> str:
    return f"file://{tmp_path / 'coordination'}"


def wait_leader(stack: Stack, what: str = "one leader that every replica names") -> Replica:
    found: list[str] = []

    def check() -> bool:
        leader = agreed_leader(stack.replicas)
        if leader is not None:
            found.append(leader)
        return leader is not None

    poll(check, DEADLINE, what, interval_s=0.2)
    return next(r for r in stack.replicas if r.name == found[-1])


def cli(*args: str, timeout_s: float = 120) -> subprocess.CompletedProcess[str]:
    """`rpcdaemon ARGS` as an operator runs it (no RPCDAEMON_MEMBER: its calls carry no member id)."""
    return subprocess.run([*RPCDAEMON, *args], capture_output=True, text=True, timeout=timeout_s, check=False)


def host_agents(stack: Stack) -> list[dict[str, Any]]:
    return [a for a in stack.cloud.stats()["agents"] if a["host"] == HOST]


def hosted_on(stack: Stack, agent_ids: set[str]) -> list[str]:
    """The routers and networks still bound to any of `agent_ids`."""
    bindings = stack.cloud.stats()["bindings"]
    return [r for kind in ("l3", "dhcp") for r, hosts in bindings[kind].items() if set(hosts) & agent_ids]


def agent_puts(stack: Stack) -> list[dict[str, Any]]:
    """PUT /agents/{id} calls (the CLI's marks, the leader's admin down)."""
    return [c for c in stack.cloud.call_log() if c["method"] == "PUT" and str(c["pattern"]).endswith("agents/{id}")]


def test_drain_is_carried_out_by_the_leader_only(tmp_path: Path, make_stack: MakeStack) -> None:
    stack = make_stack(file_backend(tmp_path))
    leader = wait_leader(stack)
    poll(lambda: all(not s["warming_up"] for s in views(stack.replicas).values()), DEADLINE, "warmed up")
    drained = {a["id"] for a in host_agents(stack)}
    assert any(a["agent_type"] == L3_AGENT for a in host_agents(stack))
    assert hosted_on(stack, drained), "the host hosts something to drain"
    conf = str(stack.replicas[-1].conf)

    marked = cli("drain", HOST, "-c", conf)
    assert marked.returncode == 0, marked.stdout + marked.stderr
    assert "marked for draining" in marked.stdout
    followed = cli("drain", HOST, "-c", conf, "--wait", "--timeout", "60")
    assert followed.returncode == 0, followed.stdout + followed.stderr
    assert f"{HOST}: drained" in followed.stdout

    assert not hosted_on(stack, drained)
    assert all(not a["admin_state_up"] for a in host_agents(stack))
    writes = stack.writes()
    assert writes, "the drain moved something"
    assert {c["member"] for c in writes} == {leader.name}, writes
    # the marks are the CLI's (no member id); setting the emptied agents admin down is the leader's
    assert {c["member"] for c in agent_puts(stack)} == {None, leader.name}
    for standby in (r for r in stack.replicas if r is not leader):
        assert not [r for r in standby.audit() if r.get("outcome") in CHANGES], standby.name
    assert [r for r in leader.audit() if r.get("outcome") in CHANGES]
    assert agreed_leader(stack.replicas) == leader.name


def test_sigkill_of_the_leader_mid_drain(tmp_path: Path, make_stack: MakeStack) -> None:
    # 30 legacy routers on 3 agents: net-1's 10 move remove-then-add, one at a time per target agent, each add
    # slowed down: several passes, so the leader is killed with the drain under way
    stack = make_stack(file_backend(tmp_path), l3_agents=3, routers=30, dhcp_agents=2, networks=2, latency_s=0.02)
    leader = wait_leader(stack)
    poll(lambda: all(not s["warming_up"] for s in views(stack.replicas).values()), DEADLINE, "warmed up")
    stack.cloud.add_fault("POST", "/v2.0/agents/{id}/l3-routers", delay_s=0.4, count=10_000)
    l3 = next(a["id"] for a in host_agents(stack) if a["agent_type"] == L3_AGENT)
    drained = {a["id"] for a in host_agents(stack)}
    assert len(hosted_on(stack, {l3})) == 10

    out = tmp_path / "drain-wait.out"
    with open(out, "w") as sink:
        follower = subprocess.Popen([*RPCDAEMON, "drain", HOST, "-c", str(stack.replicas[-1].conf), "--wait",
                                     "--timeout", "150"], stdout=sink, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, text=True)
    try:
        def moves_by(member: str) -> int:
            return sum(1 for c in stack.writes() if c["member"] == member and c["method"] == "POST"
                       and str(c["pattern"]).endswith("l3-routers"))

        poll(lambda: moves_by(leader.name) >= 2, DEADLINE, "the leader started draining")
        leader.kill()
        left = [r for r, hosts in stack.cloud.stats()["bindings"]["l3"].items() if hosts in ([], [l3])]
        assert left, "the drain was over before the kill: nothing to take over"

        stack.replicas.remove(leader)
        successor = wait_leader(stack, "a standby took over")
        assert follower.wait(180) == 0, out.read_text()
    finally:
        if follower.poll() is None:
            follower.kill()
            follower.wait(10)
    assert f"{HOST}: drained" in out.read_text()

    stats = stack.cloud.stats()
    assert not hosted_on(stack, drained)
    assert all(not a["admin_state_up"] for a in host_agents(stack))
    routers = stats["bindings"]["l3"]
    assert len(routers) == 30
    assert all(len(hosts) == 1 for hosts in routers.values()), {r: h for r, h in routers.items() if len(h) != 1}
    writes = stack.writes()
    assert {c["member"] for c in writes} <= {leader.name, successor.name}
    assert [c for c in writes if c["member"] == successor.name], "the successor finished the drain"
    finished = [r for r in successor.audit() if r["action"] == "move_router" and r["outcome"] in ("done", "already")]
    assert finished, "the successor's audit log records the moves it finished"


def test_rebalance_refuses_while_a_leader_acts(tmp_path: Path, make_stack: MakeStack) -> None:
    stack = make_stack(file_backend(tmp_path))
    leader = wait_leader(stack)
    poll(lambda: all(not s["warming_up"] for s in views(stack.replicas).values()), DEADLINE, "warmed up")
    conf = str(stack.replicas[-1].conf)
    before = len(stack.cloud.call_log())

    refused = cli("rebalance", "-c", conf)
    assert refused.returncode == 1, refused.stdout + refused.stderr
    lines = refused.stderr.strip().splitlines()
    assert len(lines) == 1, refused.stderr
    assert "leader lock" in lines[0] and "only it acts" in lines[0], lines[0]
    assert not refused.stdout.strip(), refused.stdout
    assert {c["member"] for c in stack.writes()} <= {leader.name}
    assert not [c for c in stack.cloud.call_log()[before:] if c["member"] is None
                and c["method"] in ("POST", "PUT", "DELETE")], "the refused rebalance changed something"

    dry = cli("rebalance", "-c", conf, "--dry-run")
    assert dry.returncode == 0, dry.stdout + dry.stderr
    assert "would move" in dry.stdout
    assert {c["member"] for c in stack.writes()} <= {leader.name}
    # the cluster is as it was: same leader, the three replicas its only members
    poll(lambda: agreed_leader(stack.replicas) == leader.name, DEADLINE, "the same leader, three members")
