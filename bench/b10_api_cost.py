"""B10 what rpcdaemon costs a real Neutron's API at steady state (issue 16).

The emulator answers a list of 10,000 networks in microseconds, so B2 counts calls but cannot show what they cost
the server; a real Neutron 29 builds every row as a full object (`fields=` does not help). This benchmark builds
the real-Neutron testbed (tests/neutron/testbed.py: RabbitMQ, MariaDB, Neutron's API under uWSGI), fills it with
networks (each with a DHCP subnet, on all 3 DHCP agents) and legacy routers (spread over 3 L3 agents), and measures
the CPU of the API's uWSGI master and workers from /proc over a window, for:
  idle  no rpcdaemon (the baseline of the same run; every other figure is shown minus this one);
  plan  one full read of the cloud (`rpcdaemon plan -c FILE`): API CPU and wall time;
  b     rpcdaemon with `resync_interval = 5`: a full read every check_interval, what today's loop does anyway;
  c     rpcdaemon at its defaults (check_interval 5, resync_interval unset), with the bus;
  d     c without the bus (no rpchost).
Every daemon runs as operators run it (`rpcdaemon -d -c FILE`, dry_run so that nothing changes), gets its start-up
read and one more pass before the window opens, and is stopped by PID after it. Requests per minute come from its
/metrics (rpcdaemon_api_requests_total); the resync period it chose comes from its /status ("reads"), and a full
read's cost (the `plan` figure) spread over that period is added to the window's figure: the steady state per
minute. Only the config, the CLI, /metrics, /status and /proc are used, so the benchmark measures any
implementation of the daemon unchanged.

Then, on the same cloud, the repairs must not have got slower (b10_repairs.py), rpcdaemon at c's config but acting:
  e     the L3 agent hosting the most routers stopped: from its last heartbeat to all its routers on live agents
        (goal: agent_down_time + 2 s), and the API CPU of the evacuation;
  f     Neutron restarted with dhcp_agents_per_network = 1, so that rpcdaemon ('all': 3) adds two copies of each
        new network: from the subnet create's return to the network on the 3 DHCP agents (goal: 1 s), 10 times.

Last, the per-row cost the emulator should model: each kind of list the full read makes is asked again alone, with
all its rows and with (almost) none, and its API and database CPU are measured around it.

    .venv/bin/python bench/b10_api_cost.py [--networks 1000] [--routers 600] [--window 60] [--quick]
                                           [--cases bcdef] [--new-networks 10] [--repeats 5]
(RPCD_B10_LOGLEVEL=DEBUG: the daemons' loglevel; RPCD_KEEP_TESTBED=1: their logs and the testbed's kept)
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))  # bus.rabbit, used by the testbed
sys.path.insert(0, str(REPO / "tests" / "neutron"))
from procstat import read_stat  # noqa: E402
from testbed import ApiError, Proc, Testbed, TestbedError, Topology, spawn, wait_for  # noqa: E402

from b10_repairs import Evacuation, NewNetworks, breakdown, evacuate, kind_of, new_networks, wait_quiet  # noqa: E402
from bus.rabbit import free_port  # noqa: E402

HOSTS = ("net-1", "net-2", "net-3")
CHUNK = 50  # rows per bulk POST: 50 subnets (each scheduled on 3 DHCP agents) take about 16 s here
# a uWSGI request line: "... GET /v2.0/networks?fields=id => generated 867 bytes in 90 msecs (HTTP/1.1 200) ..."
REQUEST_LINE = re.compile(r"\] (GET|POST|PUT|DELETE) (\S+) => generated \d+ bytes in (\d+) msecs")


def rpcdaemon_cmd() -> list[str]:
    """The console script beside this interpreter (.venv/bin/rpcdaemon), as operators start it."""
    script = Path(sys.executable).with_name("rpcdaemon")
    return [str(script)] if script.exists() else [sys.executable, "-m", "rpcdaemon.cli.main"]


def machine() -> str:
    mem = ""
    try:
        kib = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f", {kib / 2**20:.0f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    return (f"{platform.machine()}, {os.cpu_count()} cores{mem}, Python {platform.python_version()}, "
            f"load average {os.getloadavg()[0]:.1f}")


def requests_in(log: str) -> list[tuple[str, str, int]]:
    """(method, url, msecs) of every request uWSGI logged in `log`."""
    return [(m.group(1), m.group(2), int(m.group(3))) for m in REQUEST_LINE.finditer(log)]


# ---------- building the cloud ----------
def populate(bed: Testbed, networks: int, routers: int) -> None:
    """`networks` networks with a DHCP subnet each, on every DHCP agent; `routers` routers spread on the L3 agents."""
    made = 0
    while made < networks:
        count = min(CHUNK, networks - made)
        rows = bed.request("POST", "/v2.0/networks", {"networks": [
            {"name": f"b10-{made + i}"} for i in range(count)]}, timeout=600)["networks"]
        bed.request("POST", "/v2.0/subnets", {"subnets": [
            {"network_id": row["id"], "ip_version": 4, "cidr": f"10.{(made + i) // 256}.{(made + i) % 256}.0/24",
             "enable_dhcp": True, "name": row["name"]} for i, row in enumerate(rows)]}, timeout=600)
        bed.networks += [row["id"] for row in rows]
        made += count
        print(f"    {made} networks", flush=True)
    wanted = set(bed.networks)
    for agent in bed.agents_of("dhcp"):  # dhcp_agents_per_network = 3 put them there; whatever was not, is now
        for network in sorted(wanted - bed.networks_on(agent.id)):
            bed.request("POST", f"/v2.0/agents/{agent.id}/dhcp-networks", {"network_id": network})
    l3 = bed.agents_of("l3")

    def router(i: int) -> str:  # no bulk create for routers, and no scheduling of a router without interfaces
        rid: str = bed.request("POST", "/v2.0/routers", {"router": {"name": f"b10-{i}"}})["router"]["id"]
        try:
            bed.request("POST", f"/v2.0/agents/{l3[i % len(l3)].id}/l3-routers", {"router_id": rid})
        except ApiError as exc:
            if exc.code != 409:  # 409: scheduled already, e.g. by a server that auto-schedules
                raise
        return rid

    with concurrent.futures.ThreadPoolExecutor(4) as pool:  # the API's threads answer while others wait on the DB
        bed.routers = list(pool.map(router, range(routers)))
    on_dhcp = [len(wanted & bed.networks_on(a.id)) for a in bed.agents_of("dhcp")]
    on_l3 = [len(set(bed.routers) & bed.routers_on(a.id)) for a in l3]
    if on_dhcp != [networks] * len(on_dhcp) or sum(on_l3) != routers:
        raise TestbedError(f"cloud not as built: networks per DHCP agent {on_dhcp}, routers per L3 agent {on_l3}")
    print(f"    networks per DHCP agent {on_dhcp}, routers per L3 agent {on_l3}", flush=True)


# ---------- measuring ----------
def metrics(port: int) -> dict[str, float]:
    """Every sample of the daemon's /metrics, by series ('name{labels}')."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        text = response.read().decode()
    samples = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            series, _, value = line.rpartition(" ")
            samples[series] = float(value)
    return samples


def total(samples: dict[str, float], name: str) -> float:
    return sum(v for k, v in samples.items() if k == name or k.startswith(name + "{"))


@dataclass
class Sample:
    at: float
    api_s: float
    db_s: float
    log_at: int
    daemon_s: float = 0.0
    requests: float = 0.0
    passes: float = 0.0
    failed: float = 0.0


def sample(bed: Testbed, daemon: Proc | None = None, port: int = 0) -> Sample:
    s = Sample(time.monotonic(), bed.api_cpu_s(), bed.db_cpu_s(), bed.api_log_size())
    if daemon is not None:
        stat = read_stat(daemon.popen.pid)
        s.daemon_s = stat.own_s if stat else 0.0
        got = metrics(port)
        s.requests = total(got, "rpcdaemon_api_requests_total")
        s.passes = total(got, "rpcdaemon_passes_total")
        s.failed = sum(v for k, v in got.items() if k.startswith("rpcdaemon_passes_total{") and "error" in k)
    return s


@dataclass
class Window:
    name: str
    minutes: float
    api_s: float
    db_s: float
    daemon_s: float
    requests: float
    passes: float
    failed: float
    calls: list[tuple[str, str, int]]
    reads: dict[str, Any] = field(default_factory=dict)
    """The daemon's /status "reads" at the window's end (its resync period, its full reads...)."""
    full_reads: float = 0.0
    """Full reads the daemon made within the window (from /status)."""

    @staticmethod
    def between(name: str, bed: Testbed, a: Sample, b: Sample) -> Window:
        return Window(name, (b.at - a.at) / 60, b.api_s - a.api_s, b.db_s - a.db_s, b.daemon_s - a.daemon_s,
                      b.requests - a.requests, b.passes - a.passes, b.failed - a.failed,
                      requests_in(bed.api_log_since(a.log_at)[: b.log_at - a.log_at]))

    def per_min(self, value: float) -> float:
        return value / self.minutes


def write_config(base: Path, bed: Testbed, name: str, *, bus: bool, resync: float | None,
                 dry_run: bool = True) -> tuple[Path, int]:
    """rpcdaemon.conf for one case: the testbed's API (noauth), its RabbitMQ when `bus`, defaults else."""
    port = free_port()
    assert bed.rabbit is not None
    daemon = {"plugins": "L3Agent DHCPAgent", "neutron_endpoint": bed.api,
              "agent_down_time": str(bed.topology.agent_down_time), "dry_run": str(dry_run).lower(),
              "status_listen": f"127.0.0.1:{port}", "audit_log": str(base / f"{name}-audit.jsonl"),
              "loglevel": os.environ.get("RPCD_B10_LOGLEVEL", "INFO")}
    if bus:
        daemon["rpchost"] = bed.rabbit.url
    if resync is not None:
        daemon["resync_interval"] = f"{resync:g}"
    conf = base / f"{name}.conf"
    conf.write_text("[Daemon]\n" + "".join(f"{k} = {v}\n" for k, v in daemon.items()))
    return conf, port


def done_passes(port: int) -> float:
    got = metrics(port)
    return total(got, "rpcdaemon_passes_total") - sum(
        v for k, v in got.items() if k.startswith("rpcdaemon_passes_total{") and "error" in k)


def status(port: int) -> dict[str, Any]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/status", timeout=10) as response:
        return json.loads(response.read())  # type: ignore[no-any-return]


def start_daemon(bed: Testbed, base: Path, name: str, *, bus: bool, resync: float | None, dry_run: bool,
                 running: list[Proc]) -> tuple[Proc, int]:
    """`rpcdaemon -d -c FILE` started on a quiet API, past its start-up read and one more pass."""
    conf, port = write_config(base, bed, name, bus=bus, resync=resync, dry_run=dry_run)
    checked = subprocess.run([*rpcdaemon_cmd(), "check-config", "-c", str(conf)], capture_output=True, text=True,
                             check=False, timeout=60)
    if checked.returncode:
        raise TestbedError(f"rpcdaemon check-config {conf}: {checked.stdout}{checked.stderr}")
    wait_quiet(bed)
    proc = spawn(f"rpcdaemon {name}", [*rpcdaemon_cmd(), "-d", "-c", str(conf)], base / f"{name}.log",
                 env={"PYTHONUNBUFFERED": "1"})
    running.append(proc)
    began = time.monotonic()
    wait_for(lambda: done_passes(port) >= 2, 600,
             f"rpcdaemon ({name}) past its start-up read and one more pass", (proc,))
    print(f"    {name}: start-up read and one pass done in {time.monotonic() - began:.1f} s", flush=True)
    return proc, port


def stop_daemon(proc: Proc, running: list[Proc]) -> None:
    proc.stop(30)
    running.remove(proc)


def run_daemon(bed: Testbed, base: Path, name: str, label: str, window_s: float, *, bus: bool,
               resync: float | None, running: list[Proc]) -> Window:
    """The daemon (dry_run) started, past its start-up read and one more pass, measured over the window, stopped."""
    proc, port = start_daemon(bed, base, name, bus=bus, resync=resync, dry_run=True, running=running)
    try:
        full_before = status(port)["reads"]["full_reads"]
        first = sample(bed, proc, port)
        time.sleep(window_s)  # the measurement window itself
        if not proc.alive():
            raise TestbedError(f"rpcdaemon ({name}) exited during the window; see {proc.log}")
        window = Window.between(label, bed, first, sample(bed, proc, port))
        window.reads = status(port)["reads"]
        window.full_reads = window.reads["full_reads"] - full_before
        print(f"    {name}: reads {window.reads}", flush=True)
        return window
    finally:
        stop_daemon(proc, running)


def wait_steady(port: int, proc: Proc, deadline_s: float = 180) -> None:
    """Past the warm-up, no zone disrupted, every agent 'alive' in the daemon's last pass (none recovering)."""
    def steady() -> bool:
        got = status(port)
        return (not got["warming_up"] and not got["disrupted"] and bool(got["agents"])
                and all(a["verdict"] == "alive" for a in got["agents"]))

    wait_for(steady, deadline_s, "every agent alive in rpcdaemon's eyes", (proc,))


def run_evacuation(bed: Testbed, base: Path, idle_api_per_s: float, running: list[Proc]) -> Evacuation:
    """e: rpcdaemon at the defaults of c, acting; the L3 agent hosting the most routers stopped."""
    proc, port = start_daemon(bed, base, "e", bus=True, resync=None, dry_run=False, running=running)
    try:
        wait_steady(port, proc)
        victim = max(bed.agents_of("l3"), key=lambda a: len(bed.routers_on(a.id)))
        print(f"    e: stopping the L3 agent of {victim.host}", flush=True)
        evac = evacuate(bed, victim, idle_api_per_s, lambda: total(metrics(port), "rpcdaemon_api_requests_total"),
                        base / "e-audit.jsonl")
        print(f"    e: {evac}", flush=True)
        return evac
    finally:
        stop_daemon(proc, running)


def run_new_networks(bed: Testbed, base: Path, count: int, running: list[Proc]) -> NewNetworks:
    """f: Neutron restarted to schedule a new network on ONE DHCP agent, so that rpcdaemon ('all') adds two."""
    bed.restart_neutron(extra={**bed.topology.extra, "dhcp_agents_per_network": "1"})
    bed.resume_all(180)
    proc, port = start_daemon(bed, base, "f", bus=True, resync=None, dry_run=False, running=running)
    try:
        wait_steady(port, proc)
        return new_networks(bed, count, lambda: total(metrics(port), "rpcdaemon_api_requests_total"))
    finally:
        stop_daemon(proc, running)


def idle(bed: Testbed, window_s: float) -> Window:
    wait_quiet(bed)
    first = sample(bed)
    time.sleep(window_s)  # the measurement window itself
    return Window.between("idle", bed, first, sample(bed))


def plan_once(bed: Testbed, base: Path) -> tuple[float, float, float, list[tuple[str, str, int]]]:
    """(API CPU s, DB CPU s, wall s, requests) of one `rpcdaemon plan`: one full read of the cloud."""
    conf, _ = write_config(base, bed, "plan", bus=False, resync=None)
    wait_quiet(bed)
    first = sample(bed)
    began = time.perf_counter()
    done = subprocess.run([*rpcdaemon_cmd(), "plan", "-c", str(conf)], capture_output=True, text=True, check=False,
                          timeout=900)
    wall = time.perf_counter() - began
    if done.returncode:
        raise TestbedError(f"rpcdaemon plan failed ({done.returncode}): {done.stdout}{done.stderr}")
    last = sample(bed)
    print(f"    plan said: {done.stdout.strip().splitlines()[0]} / {done.stdout.strip().splitlines()[-1]}")
    return (last.api_s - first.api_s, last.db_s - first.db_s, wall,
            requests_in(bed.api_log_since(first.log_at)[: last.log_at - first.log_at]))


# ---------- per-row cost ----------
def rows_of(answer: Any) -> int:
    return sum(len(v) for k, v in answer.items() if isinstance(v, list) and not k.endswith("_links"))


def cost(bed: Testbed, url: str, repeats: int) -> tuple[float, float, int]:
    """(API CPU s, DB CPU s) per call of GET `url`, asked `repeats` times one after the other, and its rows."""
    rows = rows_of(bed.get(url))  # once before, so that a first call's caches are not counted
    first = sample(bed)
    for _ in range(repeats):
        bed.get(url)
    last = sample(bed)
    return (last.api_s - first.api_s) / repeats, (last.db_s - first.db_s) / repeats, rows


def with_limit(url: str) -> str:
    return url + ("&" if "?" in url else "?") + "limit=1"


@dataclass
class RowCost:
    kind: str
    calls: int  # in one full read
    rows: int
    api_s: float  # per call, all rows
    db_s: float
    fixed_rows: int
    fixed_api_s: float
    fixed_db_s: float

    def per_row(self, full: float, fixed: float) -> float:
        return (full - fixed) / max(1, self.rows - self.fixed_rows)


def calibrate(bed: Testbed, plan_calls: list[tuple[str, str, int]], repeats: int) -> list[RowCost]:
    """Each kind of list of the full read, asked alone with all its rows and with (almost) none."""
    empty_agent = bed.agents_of("ovs")[0].id  # an agent with no binding: the list's cost without rows
    first_url: dict[str, str] = {}
    calls: Counter[str] = Counter()
    for method, url, _ in plan_calls:
        if method == "GET":
            first_url.setdefault(kind_of(url), url)
            calls[kind_of(url)] += 1
    found = []
    wait_quiet(bed)
    for kind, url in first_url.items():
        if kind == "/ (versions)":
            continue
        if kind.endswith("agent's networks") or kind.endswith("agent's routers"):
            empty = re.sub(r"/agents/[^/]+/", f"/agents/{empty_agent}/", url)
        else:
            empty = with_limit(url)
        api_s, db_s, rows = cost(bed, url, repeats)
        fixed_api, fixed_db, fixed_rows = cost(bed, empty, max(repeats, 5))
        found.append(RowCost(kind, calls[kind], rows, api_s, db_s, fixed_rows, fixed_api, fixed_db))
        print(f"    {kind}: {rows} rows {api_s:.3f} s API, {db_s:.3f} s DB per call", flush=True)
    return found


# ---------- the run ----------
def report(idle_w: Window, windows: list[Window], plan: tuple[float, float, float, list[tuple[str, str, int]]],
           costs: list[RowCost], opts: argparse.Namespace, evac: Evacuation | None = None,
           fresh: NewNetworks | None = None) -> None:
    api0, db0 = idle_w.per_min(idle_w.api_s), idle_w.per_min(idle_w.db_s)
    print(f"\nB10 result ({opts.networks} networks x 3 DHCP agents, {opts.routers} routers on 3 L3 agents, "
          f"{opts.api_processes} API processes, windows of {opts.window:g} s):")
    print(f"  idle: API {api0:.2f} s CPU/min, DB {db0:.2f} s CPU/min; requests seen by the API: "
          f"{len(idle_w.calls)}")
    api_s, db_s, wall, calls = plan
    print(f"  one full read (rpcdaemon plan): API {api_s:.2f} s CPU, DB {db_s:.2f} s CPU, wall {wall:.1f} s, "
          f"{len(calls)} requests")
    slow: dict[str, list[int]] = {}
    for _, url, msecs in calls:
        slow.setdefault(kind_of(url), []).append(msecs)
    for kind, ms in sorted(slow.items(), key=lambda kv: -sum(kv[1])):
        print(f"      {kind}: {len(ms)} x, {', '.join(f'{m / 1000:.2f}' for m in ms)} s wall")
    targets = {"c": "<= 1 %", "d": "<= 5 %"}
    print("  | case | API CPU s/min - idle (window) | rpcdaemon requests/min | DB CPU s/min - idle | "
          "rpcdaemon CPU s/min | passes/min | API CPU s/pass | full reads in window | resync period (/status) | "
          "amortized full reads s/min | steady state s/min | % of one core | target |")
    print("  |---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for w in windows:
        extra = w.per_min(w.api_s) - api0
        per_pass = f"{(w.api_s - idle_w.api_s / idle_w.minutes * w.minutes) / w.passes:.2f}" if w.passes else "-"
        period = float(w.reads.get("resync_period_s") or 0)
        # a full read every period costs what `plan` cost: spread over the period unless the window held them
        amortized = api_s / period * 60 if period and not w.full_reads else 0.0
        steady = extra + amortized
        print(f"  | {w.name} | {extra:.2f} | {w.per_min(w.requests):.0f} "
              f"(API log {w.per_min(len(w.calls)):.0f}) | {w.per_min(w.db_s) - db0:.2f} | "
              f"{w.per_min(w.daemon_s):.2f} | {w.per_min(w.passes):.1f}"
              f"{f' ({w.failed:.0f} failed)' if w.failed else ''} | {per_pass} | {w.full_reads:.0f} | "
              f"{period:g} s (last full read {w.reads.get('last_full_read_s')} s) | "
              f"{f'{amortized:.2f}' if amortized else 'in the window'} | {steady:.2f} | {steady / 60 * 100:.2f} % | "
              f"{targets.get(w.name[0], '')} |")
    for w in windows:
        print(f"    {w.name} read: {breakdown(w.calls)}")
    if evac is not None:
        print(f"  e: the L3 agent of {evac.victim} stopped (SIGSTOP), {evac.routers} routers; rpcdaemon at the "
              f"defaults of c, acting; agent_down_time {evac.agent_down_time:g} s (neutron.conf and rpcdaemon), "
              f"a heartbeat every {evac.report_interval:g} s:")
        print(f"    last heartbeat -> every router on a live agent (API): {evac.elapsed_s:.2f} s (goal <= "
              f"{evac.agent_down_time + 2:g} s); "
              f"first removal answered {evac.first_move_s:.2f} s, last move answered {evac.log_done_s:.2f} s "
              f"(uWSGI log)")
        print(f"    API CPU of the evacuation: {evac.api_s:.2f} s (to the last move answered: {evac.api_to_done_s:.2f} "
              f"s), {evac.api_s / evac.routers * 1e3:.0f} ms per router; MariaDB {evac.db_s:.2f} s; rpcdaemon "
              f"requests {evac.daemon_requests:.0f}; this benchmark's checks {evac.checks} x {evac.check_api_s:.2f} s "
              f"taken off")
        print(f"    moves recorded {evac.moves}: {evac.audit}")
        print(f"    requests (the benchmark's checks taken off): {evac.calls}; not a success: {evac.refused}")
    if fresh is not None and fresh.latencies_s:
        print(f"  f: {len(fresh.latencies_s)} new networks with a DHCP subnet; Neutron (dhcp_agents_per_network = 1) "
              f"put each on {sorted(set(fresh.neutron_put_on))} agent(s), rpcdaemon (all) adds the rest:")
        print(f"    subnet created -> on all 3 DHCP agents (API, polled every 50 ms): p50 {fresh.p50:.2f} s, max "
              f"{max(fresh.latencies_s):.2f} s (goal <= 1 s); each: "
              f"{', '.join(f'{v:.2f}' for v in fresh.latencies_s)}")
        per_net = fresh.daemon_requests / len(fresh.latencies_s)
        print(f"    rpcdaemon requests {fresh.daemon_requests:.0f} ({per_net:.1f} per network, its passes' GET "
              f"/agents included); the API log without this benchmark's own: {fresh.calls}; not a success: "
              f"{fresh.refused}")
    if not costs:
        return
    print("  per-row cost (CPU s per call = fixed + rows x per row; API, and DB beside it):")
    print("  | list | calls per full read | rows | API s/call | API fixed s | API s/row | DB s/call | DB s/row |")
    print("  |---|---|---|---|---|---|---|---|")
    predicted = 0.0
    for c in costs:
        listed = c.rows - c.fixed_rows >= 20  # per row from a few rows is noise (a tick is 10 ms)
        api_row = f"{c.per_row(c.api_s, c.fixed_api_s) * 1e3:.2f} ms" if listed else "-"
        db_row = f"{c.per_row(c.db_s, c.fixed_db_s) * 1e3:.3f} ms" if listed else "-"
        print(f"  | {c.kind} | {c.calls} | {c.rows} | {c.api_s:.3f} | {c.fixed_api_s:.3f} | {api_row} "
              f"| {c.db_s:.3f} | {db_row} |")
        predicted += c.calls * c.api_s
    print(f"  these lists asked alone, as many as one full read makes: {predicted:.2f} s of API CPU "
          f"(the read itself: {api_s:.2f} s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--networks", type=int, default=1000)
    parser.add_argument("--routers", type=int, default=600)
    parser.add_argument("--window", type=float, default=60, help="seconds per measured window")
    parser.add_argument("--repeats", type=int, default=5,
                        help="calls per list when deriving the per-row cost (0: skip that part)")
    parser.add_argument("--api-processes", type=int, default=2, help="uWSGI processes of the API")
    parser.add_argument("--quick", action="store_true", help="a smoke run: 200 networks, 100 routers, 30 s windows")
    parser.add_argument("--cases", default="bcdef", help="which daemon cases to run (letters of b, c, d, e, f)")
    parser.add_argument("--new-networks", type=int, default=10, help="networks created in f")
    opts = parser.parse_args()
    if opts.quick:
        opts.networks, opts.routers, opts.window = 200, 100, 30
    print(f"B10 Neutron API cost on a real Neutron 29: {opts.networks} networks, {opts.routers} routers; "
          f"{machine()}; {datetime.now(UTC):%Y-%m-%d %H:%M} UTC", flush=True)
    print("  command: " + " ".join([Path(sys.executable).name, *sys.argv]), flush=True)
    began = time.monotonic()
    bed = Testbed(Topology(l3_hosts=HOSTS, dhcp_hosts=HOSTS, api_processes=opts.api_processes,
                           vxlan_vnis=max(1000, opts.networks + 100), extra={"dhcp_agents_per_network": "3"}))
    base = Path(tempfile.mkdtemp(prefix="rpcd-b10-"))
    running: list[Proc] = []

    def on_term(signum: int, _frame: FrameType | None) -> None:
        raise SystemExit(f"B10: signal {signum}: stopping everything")

    signal.signal(signal.SIGTERM, on_term)
    try:
        bed.build()
        print(f"  testbed built in {time.monotonic() - began:.0f} s", flush=True)
        populate(bed, opts.networks, opts.routers)
        print(f"  cloud created; {time.monotonic() - began:.0f} s so far", flush=True)
        idle_w = idle(bed, opts.window)
        plan = plan_once(bed, base)
        cases = {"b": ("b: resync_interval = 5, bus", True, 5.0), "c": ("c: defaults, bus", True, None),
                 "d": ("d: defaults, no bus", False, None)}
        windows = [run_daemon(bed, base, c, cases[c][0], opts.window, bus=cases[c][1], resync=cases[c][2],
                              running=running) for c in opts.cases if c in cases]
        costs = calibrate(bed, plan[3], opts.repeats) if opts.repeats > 0 else []
        # the repairs last: e moves routers, f restarts Neutron with another dhcp_agents_per_network
        evac = (run_evacuation(bed, base, idle_w.api_s / idle_w.minutes / 60, running)
                if "e" in opts.cases else None)
        fresh = run_new_networks(bed, base, opts.new_networks, running) if "f" in opts.cases else None
        report(idle_w, windows, plan, costs, opts, evac, fresh)
        print(f"  whole run {time.monotonic() - began:.0f} s; load average now {os.getloadavg()[0]:.1f}")
    finally:
        for proc in list(running):
            proc.stop(30)
        bed.close()
        if os.environ.get("RPCD_KEEP_TESTBED") != "1":
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
