"""B7 a real node's worth of routers and networks: Neutron's own failover vs rpcdaemon, one real Neutron, one run.

B5 races 20 routers; a network node of a real cloud hosts hundreds, and B10 e showed 200 routers taking 45 s with
the API as the bottleneck. B7 times both repairs at that size on the testbed of tests/neutron (Neutron 29,
agent_down_time 10 s, heartbeats every 2 s, 3 L3 and 3 DHCP fake agents):
  L3    N routers (default 200), each with an interface on its own network with a DHCP subnet, all on one L3 agent;
  DHCP  those networks (default 200), all on one DHCP agent.
Each trial stops that agent (SIGSTOP: heartbeats and RPC answers stop, as b5 does) and times, from its last
heartbeat, the first move (detection) and then the last resource hosted by a live agent (the move phase). The sides:
Neutron's built-in failover (allow_automatic_l3agent_failover / allow_automatic_dhcp_failover = True, rpcdaemon not
running), then rpcdaemon at its defaults (both built-ins off, Neutron restarted with that config), optionally again
with max_concurrency raised. Between trials the agent is resumed and everything is put back on one agent with
rpcdaemon stopped, so the put-back does not race with its repairs.

Progress is read from MariaDB's binding tables (routerl3agentbindings, networkdhcpagentbindings), polled every
0.1 s with the mariadb client: polling the API's binding lists of 200 rows would cost the API about 0.3 s of CPU a
call (B10) and slow the very moves being timed. When the tables say every resource is on a live agent the API is
asked (the agents' binding lists) and must agree. The API's CPU (uWSGI master and workers, /proc), Neutron's other
two processes' CPU and the requests the API answered (uWSGI's log) are taken over the move phase.
"""

from __future__ import annotations

import argparse
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

from common import machine

REPO = Path(__file__).resolve().parents[1]
for _path in (REPO / "tests", REPO / "tests" / "neutron"):  # the testbed and bus.rabbit, as b10_repairs has them
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))
from procstat import tree_cpu_s  # noqa: E402
from testbed import Agent, ApiError, Rpcdaemon, Testbed, TestbedError, Topology  # noqa: E402

from b5_race import wait_steady  # noqa: E402
from b10_repairs import ApiLog, breakdown, refused  # noqa: E402

T = TypeVar("T")
HOSTS = ("net-1", "net-2", "net-3")
TABLES = {"l3": ("routerl3agentbindings", "l3_agent_id", "router_id"),
          "dhcp": ("networkdhcpagentbindings", "dhcp_agent_id", "network_id")}
WORDS = {"l3": "routers", "dhcp": "networks"}


@dataclass
class Result:
    side: str
    kind: str
    trial: int
    resources: int
    victim: str
    detect_s: float | None
    """From the victim's last heartbeat to the first binding changed (a removal from it or an add to a live agent)."""
    move_s: float | None
    """From that first change to the last resource bound to a live agent."""
    moved: int
    """Resources on a live agent at the end (all of them, unless the deadline passed)."""
    left_on_victim: int
    api_cpu_s: float
    neutron_cpu_s: float
    """CPU of neutron-rpc-server and neutron-periodic-workers over the move phase (the built-in's work is there)."""
    calls: int
    call_kinds: str
    refused: str
    actions: str
    deadline_s: float

    @property
    def total_s(self) -> float | None:
        return None if self.detect_s is None or self.move_s is None else self.detect_s + self.move_s

    def line(self) -> str:
        if self.detect_s is None:
            return (f"{self.side} {self.kind} trial {self.trial}: NO move within {self.deadline_s:g} s of the last "
                    f"heartbeat ({self.resources} {WORDS[self.kind]} on {self.victim})")
        if self.move_s is None:
            return (f"{self.side} {self.kind} trial {self.trial}: first move {self.detect_s:.2f} s after the last "
                    f"heartbeat, but only {self.moved}/{self.resources} on live agents {self.deadline_s:g} s after it")
        rate = self.calls / self.move_s if self.move_s > 0 else 0.0
        return (f"{self.side} {self.kind} trial {self.trial}: {self.resources} {WORDS[self.kind]} of {self.victim} "
                f"on live agents {self.total_s:.2f} s after its last heartbeat = detection {self.detect_s:.2f} s + "
                f"moves {self.move_s:.2f} s ({self.resources / max(self.move_s, 1e-3):.1f}/s); move phase: API CPU "
                f"{self.api_cpu_s:.1f} s ({100 * self.api_cpu_s / max(self.move_s, 1e-3):.0f} % of a core), "
                f"rpc-server + periodic workers {self.neutron_cpu_s:.1f} s, {self.calls} API requests "
                f"({rate:.1f}/s: {self.call_kinds}; not 2xx: {self.refused}); {self.left_on_victim} still bound to "
                f"the dead agent; "
                f"rpcdaemon actions: {self.actions}")


# ---------- reading the bindings ----------
def sql(bed: Testbed, query: str) -> list[list[str]]:
    assert bed.db is not None
    out = subprocess.run(["mariadb", f"--defaults-file={bed.db.cnf}", "-N", "-B", "neutron", "-e", query],
                         capture_output=True, text=True, check=False, timeout=30)
    if out.returncode:
        raise TestbedError(f"mariadb: {query[:80]}...: {out.stderr}")
    return [line.split("\t") for line in out.stdout.splitlines()]


def progress(bed: Testbed, kind: str, victim: str, ids: set[str]) -> tuple[int, int]:
    """(of `ids`: bound to the victim, bound to some other agent), from the binding table."""
    table, agent_col, res_col = TABLES[kind]
    listed = ",".join(f"'{i}'" for i in sorted(ids))
    row = sql(bed, f"SELECT COALESCE(SUM({agent_col} = '{victim}'), 0), "
                   f"COUNT(DISTINCT IF({agent_col} <> '{victim}', {res_col}, NULL)) "
                   f"FROM {table} WHERE {res_col} IN ({listed})")[0]
    return int(row[0]), int(row[1])


def on_agent(bed: Testbed, kind: str, agent: str) -> set[str]:
    return bed.routers_on(agent) if kind == "l3" else bed.networks_on(agent)


def neutron_cpu_s(bed: Testbed) -> float:
    return sum(tree_cpu_s(p.popen.pid) for p in bed.servers if p.name != "neutron-api")


# ---------- putting things on one agent ----------
def place_network(bed: Testbed, network: str, agent: str) -> None:
    """`network` on the DHCP agent `agent` only."""
    hosts = bed.dhcp_agents_of(network)
    if agent not in hosts:
        try:
            bed.request("POST", f"/v2.0/agents/{agent}/dhcp-networks", {"network_id": network})
        except ApiError as exc:
            if exc.code != 409:
                raise
    for other in hosts - {agent}:
        bed.request("DELETE", f"/v2.0/agents/{other}/dhcp-networks/{network}")


def again(call: Callable[[], T]) -> T:
    """`call` tried up to 3 times on a 403 or a 500: a fresh uWSGI worker's first concurrent requests can fail
    ("rule:create_subnet is disallowed by policy" under noauth, a 500 on a DHCP add) while it loads its policy."""
    for attempt in range(3):
        try:
            return call()
        except ApiError as exc:
            if exc.code not in (403, 500) or attempt == 2:
                raise
            print(f"    {str(exc)[:160]}; once more", flush=True)
            time.sleep(1.0)  # a moment for the server before the next attempt
    raise AssertionError("unreachable")


def place(bed: Testbed, kind: str, resource: str, agent: str) -> None:
    """On `agent` only."""
    if kind == "l3":
        again(lambda: bed.place_router(resource, agent))
    else:
        again(lambda: place_network(bed, resource, agent))


def consolidate(bed: Testbed, kind: str, ids: set[str], target: Agent | None = None) -> Agent:
    """Every one of `ids` on one agent of `kind` only (the one hosting most of them, unless `target`): the next
    victim. Four at a time, as the API has 2 processes of 4 threads."""
    agents = bed.agents_of(kind)
    where = {a.id: on_agent(bed, kind, a.id) & ids for a in agents}
    chosen = target or max(agents, key=lambda a: len(where[a.id]))
    todo = sorted(i for i in ids if i not in where[chosen.id]
                  or any(i in where[a.id] for a in agents if a is not chosen))
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda i: place(bed, kind, i, chosen.id), todo))
    return chosen


# ---------- one trial ----------
def trial(bed: Testbed, side: str, kind: str, number: int, victim: Agent, ids: set[str], deadline_s: float,
          actions_since: Callable[[], str]) -> Result:
    """Stop `victim`, time its `ids` onto live agents (from the binding table, confirmed by the API), resume it."""
    live = [a for a in bed.agents_of(kind) if a is not victim]
    n = len(ids)
    victim.pause()
    try:
        last = victim.last_beat()
        first = done = None
        log: ApiLog | None = None
        api0 = neu0 = api1 = neu1 = 0.0
        on_victim = on_live = 0
        while time.time() < last + deadline_s:
            on_victim, on_live = progress(bed, kind, victim.id, ids)
            now = time.time()
            if first is None and (on_victim < n or on_live > 0):
                first, log, api0, neu0 = now, ApiLog(bed), bed.api_cpu_s(), neutron_cpu_s(bed)
            if on_live == n:
                done, api1, neu1 = now, bed.api_cpu_s(), neutron_cpu_s(bed)
                break
            time.sleep(0.1)  # the tables' polling period
        calls = log.since_start() if log is not None else []
        if done is not None:  # the API must agree with the tables
            end = time.monotonic() + 30
            while True:
                seen: set[str] = set()
                for agent in live:
                    seen |= on_agent(bed, kind, agent.id)
                if ids <= seen:
                    break
                if time.monotonic() > end:
                    raise TestbedError(f"the tables say all {n} {WORDS[kind]} are on live agents, the API does not "
                                       f"({len(ids - seen)} missing)")
                time.sleep(0.5)
    finally:
        victim.resume()
    if done is None:
        api1, neu1 = bed.api_cpu_s(), neutron_cpu_s(bed)
    return Result(side=side, kind=kind, trial=number, resources=n, victim=victim.host,
                  detect_s=None if first is None else first - last,
                  move_s=None if first is None or done is None else done - first,
                  moved=on_live, left_on_victim=on_victim, api_cpu_s=api1 - api0 if first else 0.0,
                  neutron_cpu_s=neu1 - neu0 if first else 0.0, calls=len(calls),
                  call_kinds=breakdown(calls) if calls else "none", refused=refused(calls),
                  actions=actions_since(), deadline_s=deadline_s)


# ---------- the cloud ----------
def build_cloud(bed: Testbed, routers: int, networks: int) -> tuple[set[str], set[str]]:
    """max(routers, networks) networks with a DHCP subnet; `routers` routers each with an interface on one of them,
    all on the first L3 agent; the first `networks` networks on the first DHCP agent, the others on the second."""
    l3, dhcp = bed.agents_of("l3"), bed.agents_of("dhcp")

    def make(i: int) -> tuple[str, str | None]:
        net = again(lambda: bed.request("POST", "/v2.0/networks", {"network": {"name": f"b7-{i}"}}))["network"]["id"]
        subnet = again(lambda: bed.request("POST", "/v2.0/subnets", {"subnet": {
            "network_id": net, "ip_version": 4, "cidr": f"10.{100 + i // 250}.{i % 250}.0/24", "enable_dhcp": True,
            "name": f"b7-{i}"}}))["subnet"]["id"]
        router = None
        if i < routers:
            made = again(lambda: bed.request("POST", "/v2.0/routers", {"router": {"name": f"b7-{i}"}}))
            router = made["router"]["id"]
            again(lambda: bed.place_router(router, l3[0].id))
            again(lambda: bed.request("PUT", f"/v2.0/routers/{router}/add_router_interface", {"subnet_id": subnet}))
        return net, router

    count = max(routers, networks)
    made = [make(i) for i in range(min(count, 4))]  # the API's workers warmed up one request at a time
    with ThreadPoolExecutor(4) as pool:
        made += pool.map(make, range(len(made), count))
    nets = [net for net, _ in made]
    bed.networks = nets
    bed.routers = [r for _, r in made if r is not None]
    victims, others = set(nets[:networks]), set(nets[networks:])
    if dhcp:
        consolidate(bed, "dhcp", victims, dhcp[0])
        if others:
            consolidate(bed, "dhcp", others, dhcp[1])
    routers_set = set(bed.routers)
    consolidate(bed, "l3", routers_set, l3[0])  # Neutron may have scheduled some before the explicit placement
    return routers_set, victims


def audit_counts(rpcd: Rpcdaemon, mark: int) -> str:
    counted = Counter(f"{a['action']} {a.get('outcome')}" for a in rpcd.actions()[mark:])
    return ", ".join(f"{k} x{v}" for k, v in sorted(counted.items())) or "none"


def summary(results: list[Result]) -> list[str]:
    rows = ["| side | kind | resources | trial | detection s | move phase s | total s | moves/s | API CPU s "
            "(% core) | rpc-server + periodic CPU s | API requests (/s) |",
            "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        if r.detect_s is None or r.move_s is None:
            got = "none" if r.detect_s is None else f"{r.detect_s:.2f}"
            rows.append(f"| {r.side} | {r.kind} | {r.resources} | {r.trial} | {got} | not done "
                        f"({r.moved}/{r.resources}) | > {r.deadline_s:g} | | | | |")
            continue
        pct = 100 * r.api_cpu_s / max(r.move_s, 1e-3)
        rows.append(f"| {r.side} | {r.kind} | {r.resources} | {r.trial} | {r.detect_s:.2f} | {r.move_s:.2f} | "
                    f"{r.total_s:.2f} | {r.resources / max(r.move_s, 1e-3):.1f} | {r.api_cpu_s:.1f} ({pct:.0f} %) | "
                    f"{r.neutron_cpu_s:.1f} | {r.calls} ({r.calls / max(r.move_s, 1e-3):.1f}) |")
    by: dict[tuple[str, str], list[float]] = {}
    for r in results:
        if r.total_s is not None:
            by.setdefault((r.side, r.kind), []).append(r.total_s)
    rows += [f"median {side} {kind}: {statistics.median(v):.2f} s over {len(v)} trial(s)"
             for (side, kind), v in by.items()]
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--routers", type=int, default=200)
    parser.add_argument("--networks", type=int, default=200)
    parser.add_argument("--trials", type=int, default=2)
    parser.add_argument("--skip-dhcp", action="store_true")
    parser.add_argument("--skip-l3", action="store_true")
    parser.add_argument("--max-concurrency", type=int, default=0,
                        help="also run rpcdaemon with this max_concurrency (0: only its defaults)")
    parser.add_argument("--variant-trials", type=int, default=1, help="trials of each kind for that variant")
    parser.add_argument("--deadline", type=float, default=420,
                        help="seconds from the last heartbeat after which a trial is reported as not done")
    opts = parser.parse_args()
    kinds = [k for k, skip in (("l3", opts.skip_l3), ("dhcp", opts.skip_dhcp)) if not skip]
    topology = Topology(l3_hosts=HOSTS, dhcp_hosts=HOSTS, l3_failover=True,
                        extra={"allow_automatic_dhcp_failover": "True"})
    commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True, check=False).stdout.strip()
    print(f"B7 node scale on a real Neutron 29, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, code {commit}, "
          f"command: {shlex.join([sys.executable.rsplit('/', 1)[-1], *sys.argv])}", flush=True)
    print(f"  {machine()}; agent_down_time {topology.agent_down_time} s, report_interval "
          f"{topology.report_interval:g} s; {opts.routers} routers on one of 3 L3 agents, {opts.networks} networks "
          f"on one of 3 DHCP agents (dhcp_agents_per_network 1 in Neutron and rpcdaemon); kinds {kinds}; "
          f"{opts.trials} trial(s) each", flush=True)
    began = time.monotonic()
    bed = Testbed(topology)
    results: list[Result] = []
    rpcd: Rpcdaemon | None = None
    base = Path(tempfile.mkdtemp(prefix="rpcd-b7-"))
    try:
        bed.build()
        print(f"  testbed built in {time.monotonic() - began:.0f} s", flush=True)
        t0 = time.monotonic()
        routers, networks = build_cloud(bed, opts.routers, opts.networks)
        ids = {"l3": routers, "dhcp": networks}
        print(f"  cloud created in {time.monotonic() - t0:.0f} s", flush=True)

        def run(side: str, trials: int, start: Callable[[], Rpcdaemon | None]) -> None:
            nonlocal rpcd
            for kind in kinds:
                for i in range(trials):
                    victim = consolidate(bed, kind, ids[kind])
                    rpcd = start()
                    current = rpcd
                    mark = len(current.actions()) if current is not None else 0

                    def since(current: Rpcdaemon | None = current, mark: int = mark) -> str:
                        return audit_counts(current, mark) if current is not None else "(not running)"

                    result = trial(bed, side, kind, i + 1, victim, ids[kind], opts.deadline, since)
                    results.append(result)
                    print("  " + result.line(), flush=True)
                    if rpcd is not None:
                        rpcd.stop()  # the put-back must not race with rpcdaemon's own repairs
                        rpcd = None
                    bed.resume_all(120)

        run("neutron built-in", opts.trials, lambda: None)
        bed.restart_neutron(l3_failover=False, extra={})
        bed.resume_all(120)
        variants = [("rpcdaemon defaults", opts.trials, {})]
        if opts.max_concurrency:
            variants.append((f"rpcdaemon max_concurrency {opts.max_concurrency}", opts.variant_trials,
                             {"max_concurrency": str(opts.max_concurrency)}))
        for number, (side, trials, extra) in enumerate(variants):
            # rpcdaemon's defaults, except the DHCP target: Neutron's dhcp_agents_per_network (1), or it would add
            # copies to every network before the trial starts
            options = {"plugins": "L3Agent DHCPAgent", "check_interval": "5", "hold_down": "60",
                       "dhcp_agents_per_network": "1", **extra}
            folder = base / f"v{number}"
            folder.mkdir()

            def start(folder: Path = folder, options: dict[str, str] = options) -> Rpcdaemon:
                daemon = Rpcdaemon(bed, folder, **options)
                daemon.start()
                wait_steady(daemon, bed, 180)
                return daemon

            run(side, trials, start)
    finally:
        if rpcd is not None:
            rpcd.stop()
        bed.close()
        shutil.rmtree(base, ignore_errors=True)
    print(f"B7 result ({datetime.now(UTC):%Y-%m-%d %H:%M} UTC, whole run {time.monotonic() - began:.0f} s, "
          f"agent_down_time {topology.agent_down_time} s, {machine()}):")
    for row in summary(results):
        print(row)


if __name__ == "__main__":
    main()
