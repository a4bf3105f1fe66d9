"""Day-2 operations on a real Neutron 29: a drain, a rebalance and the proof that a move serves, as the emulator
tier shows them (tests/integration/test_drain_rebalance.py, test_verification.py), proven against the server.

Each test runs its own rpcdaemon with the options it needs (rebalance_moves_per_minute, ha_replicas,
verify_timeout) on the session's testbed: the session daemon (conftest.py) is stopped for the module, so that one
actor acts, and started again after, with the cloud left steady (agents resumed, active, admin up, unmarked).
What a test makes (networks, routers, interfaces) it deletes. Every assertion reads Neutron's own API or
rpcdaemon's audit log; the HA states are sampled in a thread while a drain or a rebalance runs, and the figures
(the longest window without an active replica, the seconds from an add to 'verified') are printed, never asserted:
they are measurements of the fake agents' timing, not promises.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from testbed import DHCP_TARGET, ApiError, Rpcdaemon, Testbed, Topology, built_or_fail, steady

from polling import poll

pytestmark = [pytest.mark.neutron, pytest.mark.timeout(900)]
HOSTS = ("net-1", "net-2", "net-3")
FIGURES: dict[str, Any] = {"verify_s": {}}


class Made:
    """What a test made on the shared testbed, deleted after it (router interfaces first, then routers, networks)."""

    def __init__(self, bed: Testbed) -> None:
        self.bed = bed
        self.interfaces: list[tuple[str, str]] = []
        self.routers: list[str] = []
        self.networks: list[str] = []
        self.cidrs = 0

    def network(self, name: str) -> tuple[str, str]:
        self.cidrs += 1
        net, subnet = self.bed.create_network(name, f"10.{100 + self.cidrs // 200}.{self.cidrs % 200}.0/24")
        self.networks.append(net)
        return net, subnet

    def router(self, name: str, ha: bool = False, on_agent: str | None = None) -> str:
        router = str(self.bed.request("POST", "/v2.0/routers", {"router": {"name": name, "ha": ha}})["router"]["id"])
        self.routers.append(router)
        if on_agent is not None:
            self.bed.place_router(router, on_agent)
        return router

    def wired_router(self, name: str, ha: bool = False, on_agent: str | None = None) -> str:
        """A router with an interface on a new DHCP subnet: it has ports to bind, activate and verify."""
        _net, subnet = self.network(name)
        router = self.router(name, ha, on_agent)
        self.bed.request("PUT", f"/v2.0/routers/{router}/add_router_interface", {"subnet_id": subnet})
        self.interfaces.append((router, subnet))
        return router

    def delete(self) -> None:
        for router, subnet in self.interfaces:
            self.bed.request("PUT", f"/v2.0/routers/{router}/remove_router_interface", {"subnet_id": subnet})
        for router in self.routers:
            self.bed.request("DELETE", f"/v2.0/routers/{router}")
        for net in self.networks:
            self.bed.request("DELETE", f"/v2.0/networks/{net}")
        self.interfaces, self.routers, self.networks = [], [], []


def agent_row(bed: Testbed, agent: str) -> dict[str, Any]:
    return bed.get(f"/v2.0/agents/{agent}")["agent"]  # type: ignore[no-any-return]


def ids(bed: Testbed, host: str) -> tuple[str, str]:
    """(L3 agent id, DHCP agent id) of `host`."""
    return (next(a.id for a in bed.agents_of("l3") if a.host == host),
            next(a.id for a in bed.agents_of("dhcp") if a.host == host))


def cli(rpcd: Rpcdaemon, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "rpcdaemon.cli.main", *args, "-c", str(rpcd.conf)],
                          capture_output=True, text=True, check=False, timeout=timeout)


def set_l3_option(rpcd: Rpcdaemon, name: str, value: str) -> None:
    """An [L3Agent] option in the daemon's config (testbed.Rpcdaemon's options go to [Daemon])."""
    rpcd.conf.write_text(rpcd.conf.read_text().replace("[L3Agent]\n", f"[L3Agent]\n{name} = {value}\n", 1))


def _wall(stamp: str) -> float:
    """An audit record's ISO time as a wall-clock timestamp."""
    return datetime.fromisoformat(stamp).timestamp()


def verify_seconds(rpcd: Rpcdaemon) -> list[float]:
    return [float(r["duration_s"]) for r in rpcd.actions() if r["action"] == "verify" and r["outcome"] == "done"]


class HaWatch:
    """Samples the HA states of some routers about every 0.5 s in a thread: per router, the longest window with no
    replica reported active (from the first sample without one to the next sample with one), and every sample in
    which a router had no replica bound at all."""

    def __init__(self, bed: Testbed, routers: list[str]) -> None:
        self.bed = bed
        self.routers = routers
        self.samples: dict[str, list[tuple[float, dict[str, str]]]] = {r: [] for r in routers}
        self.errors: list[str] = []
        self.began = 0.0
        self.began_mono = 0.0
        self._stop = threading.Event()
        # one thread per router: a GET answers in a second or more while the API is busy with the moves
        self._threads = [threading.Thread(target=self._run, args=(r,), daemon=True) for r in routers]

    def __enter__(self) -> HaWatch:
        self.began = time.time()
        self.began_mono = time.monotonic()
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(30)

    def _run(self, router: str) -> None:
        while not self._stop.is_set():
            try:
                states = self.bed.ha_states(router)
            except (ApiError, OSError) as exc:
                self.errors.append(str(exc))
            else:
                self.samples[router].append((time.monotonic(), states))
            self._stop.wait(0.5)

    def mean_interval(self, router: str) -> float:
        times = [at for at, _states in self.samples[router]]
        return (times[-1] - times[0]) / (len(times) - 1) if len(times) > 1 else 0.0

    def longest_without_active(self, router: str) -> float:
        longest, since = 0.0, None
        for at, states in self.samples[router]:
            active = "active" in states.values()
            if not active and since is None:
                since = at
            elif active and since is not None:
                longest, since = max(longest, at - since), None
        if since is not None:
            longest = max(longest, self.samples[router][-1][0] - since)
        return longest

    def gaps(self, router: str) -> list[tuple[float, float, dict[str, str]]]:
        """(from, to) seconds after the watch began of each sampled stretch without an active replica, with the
        states sampled just before it."""
        found, since, before, last = [], None, {}, {}
        start = self.samples[router][0][0] if self.samples[router] else 0.0
        for at, states in self.samples[router]:
            active = "active" in states.values()
            if not active and since is None:
                since, before = at, last
            elif active and since is not None:
                found.append((round(since - start, 2), round(at - start, 2), before))
                since = None
            last = states
        return found

    def most_active(self, router: str) -> int:
        """The most replicas seen reported active at once (2: the next one was elected before the list dropped the
        removed one)."""
        return max((list(states.values()).count("active") for _at, states in self.samples[router]), default=0)

    def never_unbound(self, router: str) -> bool:
        return all(states for _at, states in self.samples[router])

    def always_active(self, router: str) -> bool:
        return all("active" in states.values() for _at, states in self.samples[router])


@pytest.fixture(scope="module")
def bed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Testbed]:
    """A testbed of this module's own (about 25 s with the venv cached), each test running its own daemon: drains,
    rebalances and inert hosts change a cloud for good, and the session's must stay steady for the other tests (a
    run that shared it once left HA routers and moved base routers behind for tests/neutron/test_repairs.py)."""
    testbed = Testbed(Topology(), base=tmp_path_factory.mktemp("neutron-day2"))
    built_or_fail(testbed, "real-Neutron testbed (day-2)")
    try:
        yield testbed
    finally:
        print(f"\nday-2 real figures: {json.dumps(FIGURES)}")
        seconds = [s for per_test in FIGURES["verify_s"].values() for s in per_test]
        if seconds:
            print(f"verify add->verified over {len(seconds)} records: median {statistics.median(seconds):.2f} s, "
                  f"max {max(seconds):.2f} s")
        testbed.close()


@pytest.fixture
def made(bed: Testbed) -> Iterator[Made]:
    things = Made(bed)
    try:
        yield things
    finally:
        things.delete()


def run_daemon(bed: Testbed, base: Path, l3: dict[str, str] | None = None, **options: str) -> Rpcdaemon:
    rpcd = Rpcdaemon(bed, base, **options)
    for name, value in (l3 or {}).items():
        set_l3_option(rpcd, name, value)
    checked = rpcd.check_config()
    assert checked.returncode == 0, checked.stdout + checked.stderr
    rpcd.start()
    return rpcd


def one_active(bed: Testbed, router: str, replicas: int) -> bool:
    states = bed.ha_states(router)
    return len(states) == replicas and list(states.values()).count("active") == 1 and all(
        s in ("active", "standby") for s in states.values())


def test_drain_empties_net1_with_ha_routers_ready_and_undrain_restores_it(
        bed: Testbed, made: Made, tmp_path: Path) -> None:
    l3_1, dhcp_1 = ids(bed, "net-1")
    others = [ids(bed, host)[0] for host in ("net-2", "net-3")]
    # Made before the daemon starts: each HA router first on net-1 alone, so that its replica there is elected
    # active, then on net-2 and net-3 again (standby, as a later keepalived is): the drain takes the active one.
    ha = [made.wired_router(f"drain-ha-{i}", ha=True) for i in range(2)]
    for router in ha:
        poll(lambda r=router: len(bed.ha_states(r)) == 3, 60, f"{router} on 3 agents", interval_s=0.5)
        for agent in others:
            bed.request("DELETE", f"/v2.0/agents/{agent}/l3-routers/{router}")
        poll(lambda r=router: bed.ha_states(r) == {l3_1: "active"}, 90, f"{router} active on net-1 alone",
             interval_s=0.5)
        for agent in others:
            bed.request("POST", f"/v2.0/agents/{agent}/l3-routers", {"router_id": router})
    for router in ha:  # ha_replicas is Neutron's max_l3_agents_per_router (3): one per L3 agent
        poll(lambda r=router: one_active(bed, r, 3), 90, f"HA router {router}: 3 replicas, one active",
             interval_s=0.5)
    legacy = [made.wired_router(f"drain-legacy-{i}", on_agent=l3_1) for i in range(2)]
    nets = [made.network(f"drain-dhcp-{i}")[0] for i in range(2)]
    rpcd = run_daemon(bed, tmp_path)
    try:
        steady(bed, rpcd)
        for net in nets + made.networks:
            poll(lambda n=net: len(bed.dhcp_agents_of(n)) >= DHCP_TARGET, 60, f"{net} on {DHCP_TARGET} agents",
                 interval_s=0.5)
            if dhcp_1 not in bed.dhcp_agents_of(net):
                bed.request("POST", f"/v2.0/agents/{dhcp_1}/dhcp-networks", {"network_id": net})
        assert set(legacy) <= bed.routers_on(l3_1) and set(ha) <= bed.routers_on(l3_1)
        assert set(nets) <= bed.networks_on(dhcp_1)
        active_before = {r: next(a for a, s in bed.ha_states(r).items() if s == "active") for r in ha}

        with HaWatch(bed, ha) as watch:
            began = time.monotonic()
            done = cli(rpcd, "drain", "net-1", "--wait", "--timeout", "240", "--json")
            drain_s = time.monotonic() - began
        assert done.returncode == 0, done.stdout + done.stderr
        assert json.loads(done.stdout.strip().splitlines()[-1])["done"] is True, done.stdout

        assert not bed.routers_on(l3_1) and not bed.networks_on(dhcp_1)
        assert not agent_row(bed, l3_1)["admin_state_up"] and not agent_row(bed, dhcp_1)["admin_state_up"]
        live = {a.id for a in bed.agents_of("l3") if a.host != "net-1"}
        for router in bed.routers + made.routers:
            hosts = bed.l3_agents_of(router)
            assert hosts and hosts <= live, (router, hosts)
        for net in bed.networks + made.networks:
            assert len(bed.dhcp_agents_of(net)) == DHCP_TARGET, net
        for router in ha:
            poll(lambda r=router: "active" in bed.ha_states(r).values(), 60, f"{router} active again",
                 interval_s=0.5)
            assert watch.never_unbound(router), watch.samples[router]
        FIGURES["drain"] = {
            "seconds": round(drain_s, 1), "samples": {r: len(watch.samples[r]) for r in ha},
            "active_on_net1_before": {r: active_before[r] == l3_1 for r in ha},
            "mean_sample_interval_s": {r: round(watch.mean_interval(r), 2) for r in ha},
            "longest_without_active_s": {r: round(watch.longest_without_active(r), 2) for r in ha},
            "most_active_at_once": {r: watch.most_active(r) for r in ha}, "sample_errors": len(watch.errors)}
        print(f"\ndrain figures: {FIGURES['drain']}")

        undone = cli(rpcd, "undrain", "net-1", "--json")
        assert undone.returncode == 0, undone.stdout + undone.stderr
        for agent in (l3_1, dhcp_1):
            row = agent_row(bed, agent)
            assert row["admin_state_up"] and not row.get("description"), row
        steady(bed, rpcd)
    finally:
        FIGURES["verify_s"]["drain"] = verify_seconds(rpcd)
        rpcd.stop()


def test_rebalance_moves_standby_ha_replicas_to_the_empty_agent_only(
        bed: Testbed, made: Made, tmp_path: Path) -> None:
    l3 = {host: ids(bed, host)[0] for host in HOSTS}
    ha = [made.wired_router(f"rebal-ha-{i}", ha=True) for i in range(8)]
    legacy = [made.wired_router(f"rebal-legacy-{i}", on_agent=l3["net-1"]) for i in range(2)]
    # Neutron puts each HA router on every L3 agent (max_l3_agents_per_router 3); rpcdaemon will keep 2: the
    # replicas on net-3 go, so net-1 and net-2 carry them all
    for router in ha:
        poll(lambda r=router: len(bed.ha_states(r)) == 3, 60, f"{router} on 3 agents", interval_s=0.5)
        bed.request("DELETE", f"/v2.0/agents/{l3['net-3']}/l3-routers/{router}")
        poll(lambda r=router: one_active(bed, r, 2), 60, f"{router}: 2 replicas, one active", interval_s=0.5)
    active_before = {r: next(a for a, s in bed.ha_states(r).items() if s == "active") for r in ha}
    legacy_before = {r: bed.l3_agents_of(r) for r in bed.routers + legacy}
    loads_before = {h: len(bed.routers_on(a)) for h, a in l3.items()}
    rpcd = run_daemon(bed, tmp_path, l3={"ha_replicas": "2"}, rebalance_moves_per_minute="30")
    try:
        with HaWatch(bed, ha) as watch:
            steady(bed, rpcd)

            def shifts() -> list[dict[str, Any]]:
                return [r for r in rpcd.actions() if r["action"] == "shift_ha_replica"]

            poll(lambda: any(r["outcome"] == "done" for r in shifts()), 120, "a replica shifted", interval_s=0.5)
            # settled: ten passes without a new shift record
            settled: dict[str, int] = {"passes": rpcd.status()["passes"], "shifts": len(shifts())}

            def quiet() -> bool:
                now, count = rpcd.status()["passes"], len(shifts())
                if count != settled["shifts"]:
                    settled.update(passes=now, shifts=count)
                return bool(now - settled["passes"] >= 10)

            poll(quiet, 180, "ten passes without a new shift", interval_s=0.5)
        records = shifts()
        assert records and all(r["outcome"] == "done" for r in records), records
        assert all(r["to_agent"] == l3["net-3"] for r in records), records
        # The fake agents' active role can flip under load (a step blocked by a slow sync_routers leaves its advert
        # stale for longer than 3 intervals: the peer takes over), so the state at setup proves nothing: what the
        # sampler saw of the taken replica last before the shift started is reported, and each router ends with
        # one active replica of its two
        taken: list[str | None] = []
        for record in records:
            began = _wall(record["time"]) - float(record["duration_s"])
            before = [st for at, st in watch.samples[record["resource_id"]]
                      if at - watch.began_mono + watch.began < began]
            taken.append(before[-1].get(record["from_agent"]) if before else None)
        for router in ha:
            poll(lambda r=router: one_active(bed, r, 2), 60, f"{router}: 2 replicas, one active", interval_s=0.5)
            assert watch.never_unbound(router), watch.samples[router]
        on_net3 = [r for r in ha if l3["net-3"] in bed.l3_agents_of(r)]
        assert on_net3
        for router, hosts in legacy_before.items():  # rebalance = ha: legacy routers stay
            assert bed.l3_agents_of(router) == hosts, router
        FIGURES["rebalance"] = {
            "loads_before": loads_before, "loads_after": {h: len(bed.routers_on(a)) for h, a in l3.items()},
            "shifts": len(records), "ha_on_net3": len(on_net3),
            "always_active": {r: watch.always_active(r) for r in ha},
            "gaps": {r: watch.gaps(r) for r in ha if watch.gaps(r)}, "taken_replica_sampled_state": taken,
            "active_at_setup_taken": sum(r["from_agent"] == active_before[r["resource_id"]] for r in records),
            "watch_began": watch.began,
            "mean_sample_interval_s": {r: round(watch.mean_interval(r), 2) for r in ha},
            "longest_without_active_s": {r: round(watch.longest_without_active(r), 2) for r in ha}}
        print(f"\nrebalance figures: {FIGURES['rebalance']}")
    finally:
        FIGURES["verify_s"]["rebalance"] = verify_seconds(rpcd)
        rpcd.stop()


def test_a_router_moved_to_an_inert_host_is_unverified_and_moved_on(
        bed: Testbed, made: Made, tmp_path: Path) -> None:
    l3 = {host: ids(bed, host)[0] for host in HOSTS}
    victim = next(a for a in bed.agents_of("l3") if a.host == "net-1")
    loads = {h: len(bed.routers_on(a)) for h, a in l3.items()}
    # enough routers on net-1 that the least-loaded placement puts at least one on net-2 (the inert host)
    count = max(0, loads["net-2"] - loads["net-3"]) + 2
    routers = [made.wired_router(f"verify-{i}", on_agent=l3["net-1"]) for i in range(count)]
    for router in routers:
        poll(lambda r=router: any(p["binding:host_id"] == "net-1" and p["status"] == "ACTIVE"
                                  for p in bed.ports_of(r)), 60, f"{router} ACTIVE on net-1", interval_s=0.5)
    rpcd = run_daemon(bed, tmp_path, verify_timeout="15")
    try:
        steady(bed, rpcd)
        bed.set_inert("net-2", True)
        victim.pause()

        def failed() -> list[dict[str, Any]]:
            return [r for r in rpcd.actions() if r["action"] == "verify" and r["outcome"] == "failed"]

        poll(lambda: any(r["resource_id"] in routers for r in failed()), 180, "a router found unverified",
             interval_s=0.5)
        unverified = {r["resource_id"] for r in failed() if r["resource_id"] in routers}
        assert {r["to_agent"] for r in failed() if r["resource_id"] in routers} == {l3["net-2"]}

        def verified_on_net3() -> bool:
            done = {r["resource_id"] for r in rpcd.actions() if r["action"] == "verify" and r["outcome"] == "done"
                    and r["to_agent"] == l3["net-3"]}
            return bool(unverified <= done)

        poll(verified_on_net3, 120, "each unverified router verified on net-3", interval_s=0.5)
        for router in unverified:
            assert bed.l3_agents_of(router) == {l3["net-3"]}, router
            trail = [r for r in rpcd.actions() if r["resource_id"] == router and r["action"] == "verify"]
            assert [(r["outcome"], r["to_agent"]) for r in trail][-2:] == [("failed", l3["net-2"]),
                                                                           ("done", l3["net-3"])], trail
            moves = [r for r in rpcd.actions() if r["resource_id"] == router and r["action"] == "move_router"]
            assert moves[-1]["from_agent"] == l3["net-2"] and moves[-1]["to_agent"] == l3["net-3"], moves
        FIGURES["verify_test"] = {"routers": count, "unverified": len(unverified), "loads_before": loads}
    finally:
        bed.set_inert("net-2", False)
        victim.resume()
        FIGURES["verify_s"]["verify"] = verify_seconds(rpcd)
        rpcd.stop()
