"""Chaos on the cluster: leaders SIGKILLed, etcd members stopped, standbys restarted, agents dying, for a bounded
time; then the faults stop and the cloud must converge with one leader, and no resource was ever changed by two
replicas at once.

Seeded (RPCDAEMON_CHAOS_SEED, printed), so a failing run can be replayed; RPCDAEMON_CHAOS_S sets the duration.
"""

from __future__ import annotations

import os
import random
import time
from collections import Counter, defaultdict
from datetime import datetime

from etcd import EtcdCluster
from replicas import agreed_leader
from stack import MakeStack, Stack

from polling import poll
from rpcdaemon.model import DHCP_AGENT, L3_AGENT

DURATION_S = float(os.environ.get("RPCDAEMON_CHAOS_S", "45"))


def overlapping_changes(stack: Stack) -> list[str]:
    """Changes of one resource by two replicas at overlapping times, from the replicas' audit logs (each record
    is written when a change ends, with its duration: the change ran over [time - duration, time])."""
    spans: dict[str, list[tuple[float, float, str]]] = defaultdict(list)
    for replica in stack.replicas:
        for record in replica.audit():
            if record.get("outcome") in ("done", "already", "conflict", "failed"):
                ended = datetime.fromisoformat(record["time"]).timestamp()
                spans[record["resource_id"]].append((ended - float(record["duration_s"]), ended, replica.name))
    problems = []
    for resource, changes in spans.items():
        changes.sort()
        for i, (start_a, end_a, a) in enumerate(changes):
            problems += [f"{resource}: {a} [{start_a:.3f}, {end_a:.3f}] and {b} from {start_b:.3f}"
                         for start_b, _end_b, b in changes[i + 1:] if b != a and start_b < end_a]
    return problems


def converged(stack: Stack) -> bool:
    stats = stack.cloud.stats()
    alive = {a["id"] for a in stats["agents"] if a["alive"]}
    dhcp_alive = {a["id"] for a in stats["agents"] if a["alive"] and a["agent_type"] == DHCP_AGENT}
    routers_ok = all(len(h) == 1 and h[0] in alive for h in stats["bindings"]["l3"].values())
    networks_ok = all(set(h) == dhcp_alive for h in stats["bindings"]["dhcp"].values())
    return routers_ok and networks_ok and agreed_leader(stack.replicas) is not None


def test_cluster_chaos(etcd_cluster: EtcdCluster, make_stack: MakeStack) -> None:
    seed = int(os.environ.get("RPCDAEMON_CHAOS_SEED", str(random.randrange(1 << 30))))
    print(f"cluster chaos seed {seed} (RPCDAEMON_CHAOS_SEED={seed} to replay), {DURATION_S:.0f} s of faults")
    rng = random.Random(seed)
    stack = make_stack(etcd_cluster.start_gateway(), l3_agents=4, routers=24, dhcp_agents=3, networks=6)
    poll(lambda: agreed_leader(stack.replicas) is not None, 60, "a first leader")
    l3 = [a.id for a in stack.cloud.agents.values() if a.agent_type == L3_AGENT]
    faults: Counter[str] = Counter()
    down_agent: str | None = None
    down_member: str | None = None
    end = time.monotonic() + DURATION_S
    try:
        while time.monotonic() < end:
            kind = rng.choice(["kill_leader", "etcd_member", "restart_standby", "agent"])
            if kind == "kill_leader":
                leader = next((r for r in stack.replicas if r.name == agreed_leader(stack.replicas)), None)
                if leader is not None:
                    leader.kill()
                    leader.start()  # the controller comes back: same name, new process
                    faults[kind] += 1
            elif kind == "etcd_member":
                if down_member is None:
                    down_member = rng.choice(etcd_cluster.names)
                    etcd_cluster.stop_member(down_member)
                else:
                    etcd_cluster.restart_member(down_member)
                    down_member = None
                faults[kind] += 1
            elif kind == "restart_standby":
                standbys = [r for r in stack.replicas if r.name != agreed_leader(stack.replicas)]
                if standbys:
                    replica = rng.choice(standbys)
                    replica.terminate()
                    replica.start()
                    faults[kind] += 1
            else:  # one L3 agent of four down at a time: a minority, so the disruption guard lets it be evacuated
                if down_agent is not None:
                    stack.cloud.set_agent_up(down_agent)
                down_agent = rng.choice(l3)
                stack.cloud.set_agent_down(down_agent)
                faults[kind] += 1
            time.sleep(rng.uniform(1.0, 4.0))  # the pace of the faults, not a wait for an outcome
    finally:
        if down_member is not None:
            etcd_cluster.restart_member(down_member)
    etcd_cluster.wait_healthy(etcd_cluster.names)
    started = time.monotonic()
    poll(lambda: converged(stack), 90, "converged after the faults stopped", interval_s=0.5)
    took = time.monotonic() - started
    writes = stack.writes()
    problems = overlapping_changes(stack)
    print(f"faults {dict(faults)}; scheduling calls by replica {dict(Counter(str(c['member']) for c in writes))}; "
          f"converged {took:.1f} s after the faults stopped; violations {len(problems)}")
    assert not problems, problems
    assert None not in {c["member"] for c in writes}
    # no storm: the calls stay within a small multiple of what the deaths required
    assert len(writes) <= 2 * 24 * (faults["agent"] + 1) + 3 * 6 * 2, len(writes)
