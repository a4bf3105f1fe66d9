"""rpcdaemon as a cluster: replicas on a real etcd (three members) and on a shared folder, against the emulator.

One replica acts, the others stand by; all of them name the same leader and members. SIGKILL of the acting replica
in the middle of an evacuation: another finishes it, no router is left hosted nowhere, and no binding is written by
two replicas at once. Members come and go without a config change; without the backend, nobody acts.
"""

from __future__ import annotations

import signal
import time

from etcd import EtcdCluster
from replicas import LEASE_S, Replica, agreed_leader, views
from stack import MakeStack, Stack

from polling import poll
from rpcdaemon.model import L3_AGENT

DEADLINE = 60


def wait_leader(stack: Stack, what: str = "one leader that every replica names") -> Replica:
    found: list[str] = []

    def check() -> bool:
        leader = agreed_leader(stack.replicas)
        if leader is None:
            return False
        found.append(leader)
        return True

    poll(check, DEADLINE, what, interval_s=0.2)
    return next(r for r in stack.replicas if r.name == found[-1])


def routers_hosted_on_live_agents(stack: Stack) -> bool:
    stats = stack.cloud.stats()
    alive = {a["id"] for a in stats["agents"] if a["alive"]}
    return all(len(hosts) == 1 and hosts[0] in alive for hosts in stats["bindings"]["l3"].values())


def kill_agent(stack: Stack) -> str:
    victim = next(a for a in stack.cloud.agents.values() if a.agent_type == L3_AGENT)
    stack.cloud.set_agent_down(victim.id)
    return victim.id


def test_one_replica_leads_and_every_replica_agrees(backend: str, make_stack: MakeStack) -> None:
    stack = make_stack(backend)
    leader = wait_leader(stack)
    seen = views(stack.replicas)
    assert [name for name, s in seen.items() if s["acting"]] == [leader.name]
    assert {s["role"] for name, s in seen.items() if name != leader.name} == {"standby"}
    assert all(len(s["members"]) == 3 for s in seen.values())
    # the standbys read and plan (their observations stay warm) but wrote nothing
    poll(lambda: all(s["passes"] >= 2 for s in views(stack.replicas).values()), DEADLINE, "every replica passes")
    writers = {c["member"] for c in stack.writes()}
    assert writers <= {leader.name}, writers


def test_sigkill_of_the_acting_replica_mid_evacuation(backend: str, make_stack: MakeStack) -> None:
    stack = make_stack(backend, l3_agents=3, routers=48, dhcp_agents=2, networks=2)
    leader = wait_leader(stack)
    poll(lambda: all(not s["warming_up"] for s in views(stack.replicas).values()), DEADLINE, "warmed up")
    # every move now takes a while: the evacuation of 16 routers is under way when the leader dies
    stack.cloud.add_fault("POST", "/v2.0/agents/{id}/l3-routers", delay_s=0.25, count=10_000)
    victim = kill_agent(stack)

    def moves_by(member: str) -> int:
        return sum(1 for c in stack.writes() if c["member"] == member and c["method"] == "POST"
                   and str(c["pattern"]).endswith("l3-routers"))

    poll(lambda: moves_by(leader.name) >= 2, DEADLINE, "the leader started evacuating")
    leader.kill()
    killed_at = time.monotonic()
    left = [r for r, hosts in stack.cloud.stats()["bindings"]["l3"].items() if hosts in ([], [victim])]
    assert left, "the evacuation was over before the kill: nothing to take over"

    stack.replicas.remove(leader)
    successor = wait_leader(stack, "a standby took over")
    poll(lambda: routers_hosted_on_live_agents(stack), DEADLINE, "every router on a live agent after the takeover")
    writes = stack.writes()
    assert {c["member"] for c in writes} <= {leader.name, successor.name}
    # the successor wrote nothing while the old leader lived, nor before the old leader's last call (sent before
    # the kill, applied by the server after it) was done: no resource was acted on by two replicas at once
    old = [c["at"] for c in writes if c["member"] == leader.name]
    new = [c["at"] for c in writes if c["member"] == successor.name]
    assert new, "the successor finished the evacuation"
    assert min(new) > max(*old, killed_at)
    bindings = stack.cloud.stats()["bindings"]["l3"]
    assert all(victim not in hosts for hosts in bindings.values())
    finished = [r for r in successor.audit() if r["action"] == "move_router" and r["outcome"] in ("done", "already")]
    assert finished, "the successor's audit log records the moves it finished"


def test_members_join_and_leave_without_config_changes(backend: str, make_stack: MakeStack) -> None:
    stack = make_stack(backend)
    leader = wait_leader(stack)
    fourth = stack.add("r4")
    poll(lambda: agreed_leader(stack.replicas) == leader.name
         and all(len(s["members"]) == 4 for s in views(stack.replicas).values()),
         DEADLINE, "four members, same leader", interval_s=0.2)
    assert fourth.terminate() == 0
    stack.replicas.remove(fourth)
    poll(lambda: agreed_leader(stack.replicas) == leader.name
         and all(len(s["members"]) == 3 for s in views(stack.replicas).values()),
         DEADLINE, "back to three members", interval_s=0.2)
    # the leader leaving cleanly hands over at once (no lease to wait for), then a dead agent is still repaired
    assert leader.terminate() == 0
    stack.replicas.remove(leader)
    successor = wait_leader(stack, "a standby leads after a clean handover")
    assert successor.name != leader.name
    kill_agent(stack)
    poll(lambda: routers_hosted_on_live_agents(stack), DEADLINE, "repaired by the new leader")


def test_etcd_member_and_quorum_loss(etcd_cluster: EtcdCluster, make_stack: MakeStack) -> None:
    stack = make_stack(etcd_cluster.start_gateway(), l3_agents=4, routers=16, dhcp_agents=2, networks=2)
    leader = wait_leader(stack)
    try:
        # one member of three stopped: the cluster keeps quorum, nothing changes
        etcd_cluster.stop_member("m2")
        victim = kill_agent(stack)
        poll(lambda: routers_hosted_on_live_agents(stack), DEADLINE, "repaired with one etcd member down")
        assert agreed_leader(stack.replicas) == leader.name

        # two of three stopped: no quorum, so no renewals; within a lease nobody acts
        etcd_cluster.stop_member("m1")
        poll(lambda: not any(s["acting"] for s in views(stack.replicas).values()), LEASE_S * 4,
             "no replica acts without quorum", interval_s=0.1)
        stopped_at = time.monotonic()
        stack.cloud.set_agent_up(victim)
        second = next(a.id for a in stack.cloud.agents.values() if a.agent_type == L3_AGENT and a.id != victim)
        stack.cloud.set_agent_down(second)
        # long enough for the agent to be judged dead (3 s) and a pass to act on it, were anyone acting
        poll(lambda: all(not s["agents"] or any(a["id"] == second and a["verdict"] == "dead" for a in s["agents"])
                         for s in views(stack.replicas).values()), DEADLINE, "the standbys see the dead agent")
        assert not [c for c in stack.writes() if c["at"] > stopped_at], "a replica acted without quorum"
        assert all(s["role"] != "leader" or not s["acting"] for s in views(stack.replicas).values())
    finally:
        etcd_cluster.restart_member("m1")
        etcd_cluster.restart_member("m2")
    etcd_cluster.wait_healthy(etcd_cluster.names)
    wait_leader(stack, "a leader again once quorum is back")
    poll(lambda: routers_hosted_on_live_agents(stack), DEADLINE, "converged after quorum came back")


def test_a_replica_refuses_an_unsafe_backend(make_stack: MakeStack) -> None:
    stack = make_stack("file:///unused", replicas=0)
    replica = Replica("bad", stack.folder, stack.server.url, "redis://127.0.0.1:6379")
    replica.start()
    assert replica.proc is not None
    assert replica.proc.wait(30) == 2
    assert "[Daemon] coordination_url" in replica.log()
    assert "refused" in replica.log()
    replica.signal(signal.SIGKILL)
