"""B10 e and f: repairs on the same big cloud, timed from Neutron's API, and what they cost it (issue 16).

A cheap steady state is worth nothing if repairs got slow, so B10 times the two repairs the issue names on the
cloud it has just measured (1,000 networks, 600 routers), with rpcdaemon at its defaults with the bus and acting:
  e  one L3 agent stopped (SIGSTOP: heartbeats and RPC answers, as tests/neutron does): from its last heartbeat to
     every router it hosted being on a live agent, and the API CPU the evacuation cost;
  f  a new network with a DHCP subnet: from the subnet create's return to the network being on all target DHCP
     agents.
Both read the end state from Neutron's API. Polling the big binding lists would itself cost the API about a second
of CPU per round, so e reads uWSGI's request log (a file: free) to know when the moves have been answered, and only
then asks the API, whose answer is what is timed; the API CPU of those checks is measured alone afterwards and taken
off the evacuation's. f polls a small list (GET /networks/{id}/dhcp-agents).
Only the API, its log, /proc, the daemon's /metrics and its audit file are read: any implementation is measured.
"""

from __future__ import annotations

import json
import math
import re
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
for _path in (REPO / "tests", REPO / "tests" / "neutron"):  # the testbed and bus.rabbit, as b10_api_cost has them
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))
from testbed import Agent, Testbed, TestbedError  # noqa: E402

# "... POST /v2.0/agents/X/l3-routers => generated 42 bytes in 231 msecs (HTTP/1.1 201) 4 headers ..."
ANSWERED = re.compile(r"\] (GET|POST|PUT|DELETE) (\S+) => generated \d+ bytes in (\d+) msecs \(HTTP/[\d.]+ (\d+)\)")
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def kind_of(url: str) -> str:
    """What a request touches, ids folded: 'GET /networks', 'DHCP agent's networks', '/networks/{id}/dhcp-agents'."""
    path = url.split("?", 1)[0]
    if path in ("/", ""):
        return "/ (versions)"
    if re.fullmatch(r"/v2\.0/agents/[^/]+/dhcp-networks", path):
        return "DHCP agent's networks"
    if re.fullmatch(r"/v2\.0/agents/[^/]+/l3-routers", path):
        return "L3 agent's routers"
    return UUID.sub("{id}", path.removeprefix("/v2.0"))


def breakdown(calls: list[tuple[str, str, int]], minus: Counter[str] | None = None) -> str:
    counted = Counter(f"{method} {kind_of(url)}" for method, url, _ in calls)
    if minus:
        counted.subtract(minus)
    return ", ".join(f"{what} x{n}" for what, n in sorted(counted.items()) if n > 0) or "none"


def refused(calls: list[tuple[str, str, int]]) -> str:
    """The answers that were not a success, by kind and status: (method, url, HTTP status) in."""
    counted = Counter(f"{method} {kind_of(url)} {status}" for method, url, status in calls if not 200 <= status < 300)
    return ", ".join(f"{what} x{n}" for what, n in sorted(counted.items())) or "none"


def wait_quiet(bed: Testbed, deadline_s: float = 180) -> None:
    """The API done with what was asked before (a stopped daemon's reads run on in the server): its CPU flat."""
    end = time.monotonic() + deadline_s
    before = bed.api_cpu_s()
    while True:
        time.sleep(1.0)  # the sampling period of this poll
        now = bed.api_cpu_s()
        if now - before < 0.03:
            return
        if time.monotonic() > end:
            raise TestbedError(f"the API still busy {deadline_s:g} s after the last client stopped")
        before = now


class ApiLog:
    """uWSGI's request log read forward from an offset: (method, url, status, time seen) of each answered request."""

    def __init__(self, bed: Testbed) -> None:
        self.bed = bed
        self.offset = bed.api_log_size()
        self.start = self.offset

    def new(self) -> list[tuple[str, str, int]]:
        text = self.bed.api_log_since(self.offset)
        complete = text[: text.rfind("\n") + 1]  # a line being written is read next time
        self.offset += len(complete.encode(errors="replace"))
        return [(m.group(1), m.group(2), int(m.group(4))) for m in ANSWERED.finditer(complete)]

    def since_start(self) -> list[tuple[str, str, int]]:
        """(method, url, HTTP status) of every request answered since this reader was made."""
        text = self.bed.api_log_since(self.start)
        return [(m.group(1), m.group(2), int(m.group(4))) for m in ANSWERED.finditer(text)]


# ---------- e: a dead L3 agent's routers ----------
@dataclass
class Evacuation:
    victim: str
    routers: int
    elapsed_s: float
    """From the victim's last heartbeat to the API showing every router it hosted on a live agent."""
    first_move_s: float
    """From the last heartbeat to the first removal from the victim answered (uWSGI's log, read every 50 ms)."""
    log_done_s: float
    """From the last heartbeat to the last move answered (uWSGI's log)."""
    api_s: float
    """API CPU from the pause until the API was quiet again, less idle and less this benchmark's own checks."""
    api_to_done_s: float
    """The same up to the last move answered (no check had run yet)."""
    db_s: float
    daemon_requests: float
    checks: int
    check_api_s: float
    calls: str
    refused: str
    moves: int
    audit: str
    agent_down_time: float
    report_interval: float


def hosted(bed: Testbed, routers: set[str], victim: Agent, live: list[Agent]) -> bool:
    """Every router of `routers` on a live agent and none left on the victim (3 binding lists)."""
    on_live: set[str] = set()
    for agent in live:
        on_live |= bed.routers_on(agent.id)
    return routers <= on_live and not routers & bed.routers_on(victim.id)


def audit_breakdown(audit: Path, victim: str, last: float) -> tuple[int, str]:
    """(moves recorded, when the first started and the last ended relative to the last heartbeat)."""
    if not audit.exists():
        return 0, "no audit file"
    rows = [json.loads(line) for line in audit.read_text().splitlines() if line.strip()]
    moves = [r for r in rows if r.get("action") == "move_router" and r.get("from_agent") == victim]
    if not moves:
        return 0, "no move recorded"
    ends = [datetime.fromisoformat(str(r["time"])).timestamp() for r in moves]
    starts = [end - float(r["duration_s"]) for r, end in zip(moves, ends, strict=True)]
    outcomes = Counter(str(r.get("outcome")) for r in moves)
    return len(moves), (f"first move started {min(starts) - last:.2f} s after the last heartbeat, the last done "
                        f"{max(ends) - last:.2f} s after it; outcomes {dict(outcomes)}")


def evacuate(bed: Testbed, victim: Agent, idle_api_per_s: float, requests_now: Callable[[], float],
             audit: Path, deadline_s: float = 600) -> Evacuation:
    """Stop `victim` (an L3 agent), time its routers back on live agents, resume it; the API CPU of it all."""
    live = [a for a in bed.agents_of("l3") if a is not victim]
    live_ids = {a.id for a in live}
    routers = bed.routers_on(victim.id)
    if not routers:
        raise TestbedError(f"{victim.host}'s L3 agent hosts no router: nothing to evacuate")
    wait_quiet(bed)
    log = ApiLog(bed)
    api0, db0, req0, began = bed.api_cpu_s(), bed.db_cpu_s(), requests_now(), time.monotonic()
    victim.pause()
    try:
        last = victim.last_beat()
        removed: set[str] = set()
        added = 0
        first_move = log_done = api_done = to_done = None
        active_at = checked_at = None
        checks = 0
        end = time.monotonic() + deadline_s
        while True:
            now = time.monotonic()
            for method, url, status in log.new():
                path = url.split("?", 1)[0]
                ok = 200 <= status < 300
                if method == "DELETE" and path.startswith(f"/v2.0/agents/{victim.id}/l3-routers/"):
                    active_at = now
                    if ok:
                        removed.add(path.rsplit("/", 1)[1])
                        first_move = first_move or time.time()
                elif method == "POST" and (m := re.fullmatch(r"/v2\.0/agents/([^/]+)/l3-routers", path)):
                    active_at = now
                    added += ok and m.group(1) in live_ids
            answered = routers <= removed and added >= len(routers)
            if answered and log_done is None:
                log_done, api_done, to_done = time.time(), bed.api_cpu_s(), now - began
            # the API is asked when the log says every move was answered, or when moves stopped short of that
            due = answered or (active_at is not None and now - active_at > 2.0) or now - began > 120
            if due and (checked_at is None or now - checked_at >= 2.0):
                checked_at, asked = now, time.time()
                checks += 1
                if hosted(bed, routers, victim, live):
                    done = asked  # true when the reads began: the last move had been answered before
                    break
            if now > end:
                raise TestbedError(f"{victim.host}'s routers not all on live agents within {deadline_s:g} s")
            time.sleep(0.05)  # the log's polling period
        wait_quiet(bed)
        api1, db1, req1, ended = bed.api_cpu_s(), bed.db_cpu_s(), requests_now(), time.monotonic()
        calls = log.since_start()
    finally:
        victim.resume()
    # what one check costs the API, measured alone (the lists hold what they held at the end)
    c0 = bed.api_cpu_s()
    for _ in range(3):
        hosted(bed, routers, victim, live)
    check_api_s = (bed.api_cpu_s() - c0) / 3
    idle = idle_api_per_s * (ended - began)
    moves, audit_text = audit_breakdown(audit, victim.id, last)
    return Evacuation(
        victim=victim.host, routers=len(routers), elapsed_s=done - last,
        first_move_s=(first_move or done) - last, log_done_s=(log_done or done) - last,
        api_s=api1 - api0 - idle - checks * check_api_s,
        api_to_done_s=api_done - api0 - idle_api_per_s * to_done if api_done is not None and to_done else math.nan,
        db_s=db1 - db0, daemon_requests=req1 - req0, checks=checks, check_api_s=check_api_s,
        calls=breakdown(calls, Counter({"GET L3 agent's routers": 3 * checks})), refused=refused(calls),
        moves=moves, audit=audit_text,
        agent_down_time=bed.topology.agent_down_time, report_interval=bed.topology.report_interval)


# ---------- f: a new network's DHCP copies ----------
@dataclass
class NewNetworks:
    latencies_s: list[float] = field(default_factory=list)
    """From the subnet create's return to the network on every target DHCP agent (the poll that saw it returned)."""
    neutron_put_on: list[int] = field(default_factory=list)
    """DHCP agents the network was on at the first poll (Neutron's own scheduling)."""
    polls: int = 0
    daemon_requests: float = 0.0
    calls: str = ""
    refused: str = ""

    @property
    def p50(self) -> float:
        return statistics.median(self.latencies_s)


def new_networks(bed: Testbed, count: int, requests_now: Callable[[], float], deadline_s: float = 60) -> NewNetworks:
    """`count` networks with a DHCP subnet, one after the other, each timed until on every DHCP agent."""
    targets = {a.id for a in bed.agents_of("dhcp")}
    found = NewNetworks()
    log = ApiLog(bed)
    req0 = requests_now()
    mine: Counter[str] = Counter()
    for i in range(count):
        net = bed.request("POST", "/v2.0/networks", {"network": {"name": f"b10-new-{i}"}})["network"]["id"]
        bed.request("POST", "/v2.0/subnets", {"subnet": {
            "network_id": net, "ip_version": 4, "cidr": f"10.250.{i}.0/24", "enable_dhcp": True,
            "name": f"b10-new-{i}"}})
        created = time.monotonic()
        mine.update(["POST /networks", "POST /subnets"])
        first = None
        while True:
            hosts = bed.dhcp_agents_of(net)
            found.polls += 1
            mine["GET /networks/{id}/dhcp-agents"] += 1
            if first is None:
                first = len(hosts)
            if hosts >= targets:
                found.latencies_s.append(time.monotonic() - created)
                break
            if time.monotonic() - created > deadline_s:
                raise TestbedError(f"new network {net} not on {len(targets)} DHCP agents within {deadline_s:g} s "
                                   f"(on {sorted(hosts)})")
            time.sleep(0.05)  # the polling period
        found.neutron_put_on.append(first)
        bed.networks.append(net)
        print(f"    new network {i + 1}: on {len(targets)} DHCP agents {found.latencies_s[-1]:.2f} s after its "
              f"subnet (Neutron had put it on {first})", flush=True)
        # the next one at another phase of the daemon's check_interval (5 s): 1.0 .. 4.9 s later
        time.sleep(1.0 + (i * 1.3) % 3.9)
    found.daemon_requests = requests_now() - req0
    calls = log.since_start()
    found.calls, found.refused = breakdown(calls, mine), refused(calls)
    return found
