"""A real Neutron 29 on 127.0.0.1, built and torn down by the tests and the B5 benchmark.

rpcdaemon is only proven against the Neutron it repairs: the emulator answers as Neutron does as far as we read its
source, this testbed IS Neutron. It starts, as plain processes on free loopback ports with their data under one
temporary folder, a RabbitMQ (tests/bus/rabbit.py), a MariaDB (Neutron's migrations need a real database), the
schema, Neutron's three processes (RPC server, periodic workers, the API under uWSGI, noauth) and one fake agent
process per agent (fake_agent.py; with Topology.agent_activity, the default, they also make Neutron bind ports, set
them ACTIVE and record HA states as real agents do). Every process is started in its own session and stopped by PID
(process group) in close(), also when a test failed (tests/servers.py). The Neutron venv is cached in
.cache/neutron-venv: a stamp file makes the second run skip pip.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from procstat import children, tree_cpu_s

import servers
from bus.rabbit import Rabbit
from servers import Proc, free_port, spawn, start, tail

REPO = Path(__file__).resolve().parents[2]
VENV = Path(os.environ.get("RPCD_NEUTRON_VENV") or REPO / ".cache" / "neutron-venv")  # git-ignored; CI may cache it
REQUIREMENTS = ("neutron==29.0.0", "uwsgi", "pymysql")
FAKE_AGENT = Path(__file__).with_name("fake_agent.py")
# Three DHCP agents with a target of two: a dead one leaves a choice; three L3 agents: the disruption guard's minimum.
DHCP_TARGET = 2
# The token every fake agent puts in its context, as real agents do: rpcdaemon must never show it.
TOKEN = "fake-agent-secret-token-0123456789"


class TestbedError(RuntimeError):
    """The testbed could not be built: the message says which piece and shows the end of its log."""

    __test__ = False


def ensure_venv(log: Path) -> Path:
    """The Neutron venv, built once with the system python3 and pip from the package registry."""
    return build_venv(VENV, REQUIREMENTS, "Neutron", log)


def build_venv(venv: Path, requirements: tuple[str, ...], what: str, log: Path) -> Path:
    """A venv of `requirements` at `venv`, built once (a stamp naming them makes the next run skip pip) with the
    system python3 and pip from the package registry; the Neutron and the Keystone venvs are built so."""
    stamp = venv / (".installed-" + "-".join(requirements).replace("=", "").replace(" ", ""))
    if stamp.exists():
        return venv
    python3 = os.environ.get("PYTHON") or shutil.which("python3") or "python3"  # as ./dev picks it
    with open(log, "ab") as out:
        for cmd in ([python3, "-m", "venv", "--clear", str(venv)],
                    [str(venv / "bin" / "pip"), "install", "-q", "--upgrade", "pip"],
                    [str(venv / "bin" / "pip"), "install", "-q", *requirements]):
            if subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, check=False, timeout=1200).returncode:
                raise TestbedError(f"cannot build the {what} venv ({' '.join(cmd)}); is the package registry "
                                   f"reachable? end of {log}:\n{tail(log)}")
    for old in venv.glob(".installed-*"):
        old.unlink()
    stamp.touch()
    return venv


def built_or_fail(bed: Testbed, what: str) -> None:
    """Build `bed`; a failure is a test failure with the reason (not a skip: the proof did not run)."""
    import pytest  # noqa: PLC0415 - the benchmarks import this module without pytest's fixtures

    problem = None
    try:
        bed.build()
    except TestbedError as exc:
        problem = str(exc)
    if problem is not None:
        pytest.fail(f"the {what} could not be built: {problem}", pytrace=False)


def steady(bed: Testbed, rpcd: Rpcdaemon, deadline_s: float = 90) -> None:
    """Every agent alive in the API and 'alive' (not recovering, not suspect) in rpcdaemon's last pass."""
    bed.resume_all(deadline_s)

    def all_alive() -> bool:
        status = rpcd.status()
        verdicts = {a["id"]: a["verdict"] for a in status["agents"]}
        return (not status["warming_up"] and not status["disrupted"]
                and all(verdicts.get(a.id) == "alive" for a in bed.agents))

    wait_for(all_alive, deadline_s, "every agent alive in rpcdaemon's eyes", (rpcd.proc,) if rpcd.proc else ())


class ApiError(RuntimeError):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


def wait_for(condition: Any, deadline_s: float, what: str, procs: tuple[Proc, ...] = ()) -> None:
    """servers.wait_for raising TestbedError: poll with a deadline; a process of `procs` that exits fails at once,
    with its log."""
    servers.wait_for(condition, deadline_s, what, procs, error=TestbedError)


class MariaDB:
    def __init__(self, base: Path) -> None:
        self.base = base
        self.port = free_port()
        self.cnf = base / "my.cnf"
        self.proc: Proc | None = None

    def start(self) -> None:
        for tool in ("mariadbd", "mariadb-install-db", "mariadb"):
            if not shutil.which(tool, path="/usr/sbin:/usr/bin:" + os.environ.get("PATH", "")):
                raise TestbedError(f"{tool} not found: ./dev test installs Debian's mariadb-server package")
        data = self.base / "data"
        user = "user = root\n" if os.getuid() == 0 else ""
        self.cnf.write_text(
            f"[mysqld]\n{user}datadir = {data}\nsocket = {self.base}/mysqld.sock\npid-file = {self.base}/mysqld.pid\n"
            f"port = {self.port}\nbind-address = 127.0.0.1\nskip-name-resolve\ninnodb_buffer_pool_size = 64M\n"
            f"character-set-server = utf8mb4\ncollation-server = utf8mb4_general_ci\n"
            f"log-error = {self.base}/mysqld.err\n"
            f"[client]\nsocket = {self.base}/mysqld.sock\nuser = root\n")
        log = self.base / "install.log"
        with open(log, "ab") as out:
            rc = subprocess.run(["mariadb-install-db", f"--defaults-file={self.cnf}",
                                 "--auth-root-authentication-method=normal", "--skip-test-db"],
                                stdout=out, stderr=subprocess.STDOUT, check=False, timeout=300).returncode
        if rc:
            raise TestbedError(f"mariadb-install-db failed; end of {log}:\n{tail(log)}")
        self.proc = start("mariadbd", ["mariadbd", f"--defaults-file={self.cnf}"], self.base / "mysqld.out",
                          lambda: self.sql("SELECT 1"), 60, "MariaDB answering", error=TestbedError)
        self.sql("CREATE DATABASE neutron CHARACTER SET utf8mb4; "
                 "CREATE USER 'neutron'@'127.0.0.1' IDENTIFIED BY 'neutron'; "
                 "GRANT ALL PRIVILEGES ON neutron.* TO 'neutron'@'127.0.0.1';", check=True)

    def sql(self, statement: str, check: bool = False) -> bool:
        result = subprocess.run(["mariadb", f"--defaults-file={self.cnf}", "-e", statement], capture_output=True,
                                text=True, check=False, timeout=60)
        if check and result.returncode:
            raise TestbedError(f"SQL failed: {statement}: {result.stderr}")
        return result.returncode == 0

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.stop(60)
            self.proc = None


@dataclass
class Agent:
    host: str
    kind: str  # l3, dhcp, ovs
    proc: Proc
    paused: bool = False
    id: str = ""

    def pause(self) -> None:
        """Heartbeats and RPC answers stop at once, as a hung agent's."""
        self.proc.signal(signal.SIGSTOP)
        self.paused = True

    def resume(self) -> None:
        self.proc.signal(signal.SIGCONT)
        self.paused = False

    def last_beat(self) -> float:
        """Wall-clock time at which the agent sent its last heartbeat (it logs each one)."""
        beats = [line for line in self.proc.log.read_text(errors="replace").splitlines() if line.startswith("beat ")]
        if not beats:
            raise TestbedError(f"agent {self.kind}@{self.host} never sent a heartbeat")
        return float(beats[-1].split()[1])


@dataclass
class Topology:
    l3_hosts: tuple[str, ...] = ("net-1", "net-2", "net-3")
    dhcp_hosts: tuple[str, ...] = ("net-1", "net-2", "net-3")
    agent_down_time: int = 10
    report_interval: float = 2.0
    l3_failover: bool = False
    # uWSGI processes for the API: devstack's default on a two-core machine (API_WORKERS = max(nproc/4, 2))
    api_processes: int = 2
    # VXLAN ids for tenant networks: one per network, so this many networks at most (B10 creates 1,000+)
    vxlan_vnis: int = 1000
    extra: dict[str, str] = field(default_factory=dict)
    # the fake agents bind ports, make them ACTIVE and elect HA routers' active replica as real agents do
    # (fake_agent.py --state-dir); False: they only heartbeat and answer
    agent_activity: bool = True
    # hosts whose agents accept routers and networks but never activate them (fake_agent.py --never-activate)
    inert_hosts: tuple[str, ...] = ()


NEUTRON_TYPES = {"l3": "L3 agent", "dhcp": "DHCP agent", "ovs": "Open vSwitch agent"}


class Testbed:
    """RabbitMQ, MariaDB, Neutron's three processes and the fake agents; `close()` stops them all by PID."""

    __test__ = False

    def __init__(self, topology: Topology | None = None, base: Path | None = None) -> None:
        self.topology = topology or Topology()
        self.base = base or Path(tempfile.mkdtemp(prefix="rpcd-neutron-"))
        self.logs = self.base / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.etc = self.base / "etc"
        self.etc.mkdir(exist_ok=True)
        self.rabbit: Rabbit | None = None
        self.db: MariaDB | None = None
        self.servers: list[Proc] = []
        self.agents: list[Agent] = []
        self.api_port = free_port()
        self.timings: dict[str, float] = {}
        self.networks: list[str] = []  # what the tests or the benchmark created and track
        self.routers: list[str] = []

    # ---------- building ----------
    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def transport_url(self) -> str:
        assert self.rabbit is not None
        return f"rabbit://guest:guest@127.0.0.1:{self.rabbit.port}/"

    @property
    def venv(self) -> Path:
        return VENV

    def build(self) -> Testbed:
        try:
            self._timed("venv", lambda: ensure_venv(self.logs / "pip.log"))
            self._timed("rabbitmq", self._start_rabbit)
            self.db = MariaDB(self.base / "mariadb")
            self.db.base.mkdir()
            self._timed("mariadb", self.db.start)
            self.write_config()
            self._timed("schema", self._migrate)
            self._timed("neutron", self.start_neutron)
            self._timed("agents", self._start_agents)
        except BaseException:
            self.close()
            raise
        return self

    def _timed(self, what: str, step: Any) -> None:
        began = time.monotonic()
        step()
        self.timings[what] = time.monotonic() - began

    def _start_rabbit(self) -> None:
        try:
            self.rabbit = Rabbit()
            self.rabbit.start()
        except RuntimeError as exc:
            raise TestbedError(f"RabbitMQ: {exc}") from exc

    def write_config(self) -> None:
        topo = self.topology
        options = {
            "core_plugin": "ml2", "service_plugins": "router", "auth_strategy": "noauth",
            "api_workers": "1", "rpc_workers": "1", "rpc_state_report_workers": "1",
            "agent_down_time": str(topo.agent_down_time),
            "allow_automatic_l3agent_failover": str(topo.l3_failover),
            # the DHCP repairs under test are rpcdaemon's, not the server's own
            "allow_automatic_dhcp_failover": "False",
            "network_auto_schedule": "True", "router_auto_schedule": "True", "dhcp_agents_per_network": "1",
            "notify_nova_on_port_status_changes": "False", "notify_nova_on_port_data_changes": "False",
            "transport_url": self.transport_url, "state_path": str(self.base / "state"),
            "api_paste_config": str(VENV / "etc" / "neutron" / "api-paste.ini"),
            "debug": "False", "use_stderr": "True", **topo.extra,
        }
        assert self.db is not None
        (self.etc / "neutron.conf").write_text(
            "[DEFAULT]\n" + "".join(f"{k} = {v}\n" for k, v in options.items())
            + f"[database]\nconnection = mysql+pymysql://neutron:neutron@127.0.0.1:{self.db.port}/neutron"
              "?charset=utf8mb4\n"
            + "[oslo_messaging_notifications]\ndriver = messagingv2\n"
            + f"[oslo_concurrency]\nlock_path = {self.base / 'lock'}\n"
            + "[agent]\nreport_interval = 2\n"
            # the default quota (10 routers, 100 networks) is below what the tests and B5 create
            + "[quotas]\nquota_router = -1\nquota_network = -1\nquota_subnet = -1\nquota_port = -1\n")
        (self.etc / "ml2_conf.ini").write_text(
            "[ml2]\ntype_drivers = flat,vlan,vxlan\ntenant_network_types = vxlan\n"
            "mechanism_drivers = openvswitch\n[ml2_type_flat]\nflat_networks = *\n"
            "[ml2_type_vlan]\nnetwork_vlan_ranges = physnet1:100:200\n"
            f"[ml2_type_vxlan]\nvni_ranges = 1:{topo.vxlan_vnis}\n")
        (self.etc / "uwsgi.ini").write_text(
            f"[uwsgi]\nhttp-socket = 127.0.0.1:{self.api_port}\nvirtualenv = {VENV}\n"
            "module = neutron.wsgi.api:application\nmaster = true\n"
            f"processes = {self.topology.api_processes}\nthreads = 4\n"
            "enable-threads = true\nlazy-apps = true\ndie-on-term = true\nneed-app = true\n"
            # http-socket closes every connection after the answer: say so, or clients reuse it and get a reset
            "add-header = Connection: close\n"
            f"env = OS_NEUTRON_CONFIG_DIR={self.etc}\nenv = OS_NEUTRON_CONFIG_FILES=neutron.conf;ml2_conf.ini\n")

    def _config_args(self) -> list[str]:
        return ["--config-file", str(self.etc / "neutron.conf"), "--config-file", str(self.etc / "ml2_conf.ini")]

    def _migrate(self) -> None:
        log = self.logs / "db-manage.log"
        with open(log, "ab") as out:
            rc = subprocess.run([str(VENV / "bin" / "neutron-db-manage"), *self._config_args(), "upgrade", "heads"],
                                stdout=out, stderr=subprocess.STDOUT, check=False, timeout=600).returncode
        if rc:
            raise TestbedError(f"neutron-db-manage upgrade heads failed; end of {log}:\n{tail(log)}")

    def start_neutron(self) -> None:
        bin_ = VENV / "bin"
        self.servers = [
            spawn("neutron-rpc-server", [str(bin_ / "neutron-rpc-server"), *self._config_args()],
                  self.logs / "neutron-rpc-server.log"),
            spawn("neutron-periodic-workers", [str(bin_ / "neutron-periodic-workers"), *self._config_args()],
                  self.logs / "neutron-periodic-workers.log"),
            spawn("neutron-api", [str(bin_ / "uwsgi"), "--ini", str(self.etc / "uwsgi.ini")],
                  self.logs / "neutron-api.log"),
        ]
        wait_for(lambda: self.get("/v2.0/networks") is not None, 180, "Neutron API answering 200",
                 tuple(self.servers))

    def _server(self, name: str) -> Proc:
        for proc in self.servers:
            if proc.name == name:
                return proc
        raise TestbedError(f"{name} is not running")

    def api_pids(self) -> list[int]:
        """The uWSGI master of the API (uwsgi runs in place of its launcher) and its live workers."""
        master = self._server("neutron-api").popen.pid
        return [master, *children(master)]

    def api_cpu_s(self) -> float:
        """CPU seconds (user + system) the API's uWSGI master and workers have used so far, from /proc."""
        return tree_cpu_s(self._server("neutron-api").popen.pid)

    def db_cpu_s(self) -> float:
        """CPU seconds MariaDB has used so far: a list the API answers costs the database too."""
        assert self.db is not None and self.db.proc is not None
        return tree_cpu_s(self.db.proc.popen.pid)

    def stop_neutron(self) -> None:
        for proc in self.servers:
            proc.stop(30)
        self.servers = []

    def restart_neutron(self, **topology: Any) -> None:
        """Neutron's processes again, with a changed config (e.g. l3_failover=True): agents and data stay."""
        for key, value in topology.items():
            setattr(self.topology, key, value)
        self.stop_neutron()
        self.write_config()
        self.start_neutron()

    def _start_agents(self) -> None:
        python = str(VENV / "bin" / "python")
        wanted = [(h, "l3") for h in self.topology.l3_hosts] + [(h, "dhcp") for h in self.topology.dhcp_hosts]
        wanted += [(h, "ovs") for h in dict.fromkeys(self.topology.l3_hosts + self.topology.dhcp_hosts)]
        interval = self.topology.report_interval
        for host, kind in wanted:
            # heartbeats spread evenly over the interval, and kept so across pauses, as in a cloud whose agents
            # started at different times
            same = [h for h, k in wanted if k == kind]
            phase = interval * same.index(host) / len(same)
            proc = spawn(f"agent {kind}@{host}",
                         [python, str(FAKE_AGENT), "--transport-url", self.transport_url, "--host", host,
                          "--kind", kind, "--interval", str(interval), "--phase", f"{phase:.3f}", "--token", TOKEN,
                          *self._activity_args(host)],
                         self.logs / f"agent-{kind}-{host}.log")
            self.agents.append(Agent(host, kind, proc))
        wait_for(self._all_agents_alive, 120, "every fake agent alive in Neutron's API",
                 tuple(a.proc for a in self.agents) + tuple(self.servers))

    @property
    def agent_state(self) -> Path:
        """The folder the fake agents share: each host's 'bridge' (the ports plugged there) and the VRRP adverts."""
        return self.base / "agents"

    def _activity_args(self, host: str) -> list[str]:
        if not self.topology.agent_activity:
            return []
        inert = ["--never-activate"] if host in self.topology.inert_hosts else []
        return ["--state-dir", str(self.agent_state), *inert]

    def set_inert(self, host: str, inert: bool, deadline_s: float = 30) -> None:
        """Make `host`'s agents inert (or active again) while they keep running: returns when each one has said, at
        its next step, that it took the change (a line 'inert <time> True|False' in its log)."""
        marker = self.agent_state / "hosts" / host / "inert"
        marker.parent.mkdir(parents=True, exist_ok=True)
        if inert:
            marker.touch()
        else:
            marker.unlink(missing_ok=True)

        def taken(agent: Agent) -> bool:
            said = [line for line in agent.proc.log.read_text(errors="replace").splitlines()
                    if line.startswith("inert ")]
            return bool(said) and said[-1].endswith(str(inert))

        mine = [a for a in self.agents if a.host == host]
        wait_for(lambda: all(taken(a) for a in mine), deadline_s, f"{host}'s agents inert={inert}",
                 tuple(a.proc for a in mine))

    def withheld(self, host: str) -> set[str]:
        """The ports `host`'s inert OVS agent saw plugged and will not report up (it logs them)."""
        ovs = [a for a in self.agents if a.host == host and a.kind == "ovs"]
        lines = ovs[0].proc.log.read_text(errors="replace").splitlines() if ovs else []
        return {port for line in lines if line.startswith("withheld ") for port in line.split()[2:]}

    def rpc_calls(self, agent: Agent) -> list[tuple[float, str]]:
        """(time, method) of every call the agent's activity made to the server so far (it logs each one)."""
        lines = agent.proc.log.read_text(errors="replace").splitlines()
        return [(float(parts[1]), parts[2]) for parts in (line.split() for line in lines if line.startswith("rpc "))]

    def _all_agents_alive(self) -> bool:
        rows = self.get("/v2.0/agents")["agents"]
        by_key = {(r["host"], r["agent_type"]): r for r in rows}
        for agent in self.agents:
            row = by_key.get((agent.host, NEUTRON_TYPES[agent.kind]))
            if row is None or not row["alive"]:
                return False
            agent.id = row["id"]
        return True

    def agents_of(self, kind: str) -> list[Agent]:
        return [a for a in self.agents if a.kind == kind]

    def resume_all(self, deadline_s: float = 60) -> None:
        """Every paused agent resumed, and alive again in the API."""
        for agent in self.agents:
            if agent.paused:
                agent.resume()
        wait_for(self._all_agents_alive, deadline_s, "every agent alive again")

    # ---------- the API (noauth: no project headers, every call is admin) ----------
    def request(self, method: str, path: str, body: Any = None, timeout: float = 60) -> Any:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.api + path, data=data, method=method,
                                     headers={"Content-Type": "application/json", "Accept": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as response:
                raw = response.read()
        except urllib.error.HTTPError as exc:
            raise ApiError(exc.code, f"{method} {path}: {exc.code} {exc.read().decode(errors='replace')}") from None
        return json.loads(raw) if raw.strip() else None

    def get(self, path: str) -> Any:
        return self.request("GET", path)

    def create_network(self, name: str, cidr: str) -> tuple[str, str]:
        """A network with a DHCP-enabled subnet (the server schedules it on dhcp_agents_per_network agents)."""
        net = self.request("POST", "/v2.0/networks", {"network": {"name": name}})["network"]["id"]
        subnet = self.request("POST", "/v2.0/subnets", {"subnet": {
            "network_id": net, "ip_version": 4, "cidr": cidr, "enable_dhcp": True, "name": name}})["subnet"]["id"]
        return net, subnet

    def create_router(self, name: str, on_agent: str | None = None) -> str:
        """A legacy router, hosted on `on_agent` (explicitly) or where the server's scheduler puts it."""
        router = self.request("POST", "/v2.0/routers", {"router": {"name": name}})["router"]["id"]
        if on_agent is not None:
            self.place_router(router, on_agent)
        return router

    def place_router(self, router: str, agent: str) -> None:
        """`router` on `agent` only (rpcdaemon may have scheduled a new router already: it is moved)."""
        for _ in range(3):
            for other in self.l3_agents_of(router) - {agent}:
                self.request("DELETE", f"/v2.0/agents/{other}/l3-routers/{router}")
            try:
                self.request("POST", f"/v2.0/agents/{agent}/l3-routers", {"router_id": router})
                return
            except ApiError as exc:
                if exc.code != 409:  # 409: hosted elsewhere meanwhile: once more
                    raise
        raise TestbedError(f"router {router} could not be placed on {agent}")

    def dhcp_agents_of(self, network: str) -> set[str]:
        return {a["id"] for a in self.get(f"/v2.0/networks/{network}/dhcp-agents")["agents"]}

    def l3_agents_of(self, router: str) -> set[str]:
        return {a["id"] for a in self.get(f"/v2.0/routers/{router}/l3-agents")["agents"]}

    def ports_of(self, *device_ids: str) -> list[dict[str, Any]]:
        """The ports of these devices (routers, 'dhcp<host uuid>-<network>'...) with their binding host and status."""
        query = "&".join(f"device_id={d}" for d in device_ids)
        return self.get(f"/v2.0/ports?{query}")["ports"]  # type: ignore[no-any-return]

    def ha_states(self, router: str) -> dict[str, str]:
        """Agent id -> ha_state ('active', 'standby', 'unknown') of an HA router's replicas, as the API lists them."""
        return {a["id"]: a.get("ha_state") for a in self.get(f"/v2.0/routers/{router}/l3-agents")["agents"]}

    def routers_on(self, agent: str) -> set[str]:
        return {r["id"] for r in self.get(f"/v2.0/agents/{agent}/l3-routers")["routers"]}

    def networks_on(self, agent: str) -> set[str]:
        return {n["id"] for n in self.get(f"/v2.0/agents/{agent}/dhcp-networks")["networks"]}

    def api_log_size(self) -> int:
        return (self.logs / "neutron-api.log").stat().st_size

    def api_log_since(self, offset: int) -> str:
        """What uWSGI logged after `offset`: one line per request answered, e.g. 'DELETE /v2.0/... => ...'."""
        with open(self.logs / "neutron-api.log", "rb") as log:
            log.seek(offset)
            return log.read().decode(errors="replace")

    def alive(self) -> dict[str, bool]:
        return {r["id"]: r["alive"] for r in self.get("/v2.0/agents")["agents"]}

    # ---------- tearing down ----------
    def close(self) -> None:
        """Everything stopped by PID, Neutron before RabbitMQ (its RPC worker hangs retrying otherwise)."""
        for agent in self.agents:
            agent.proc.stop(10)
        self.agents = []
        self.stop_neutron()
        if self.db is not None:
            self.db.stop()
        if self.rabbit is not None:
            self.rabbit.cleanup()
        if os.environ.get("RPCD_KEEP_TESTBED") != "1":
            shutil.rmtree(self.base, ignore_errors=True)


class Rpcdaemon:
    """rpcdaemon as operators run it (`rpcdaemon -d -c FILE`), a subprocess in its own session, stopped by PID."""

    def __init__(self, testbed: Testbed, base: Path, **options: str) -> None:
        self.testbed = testbed
        self.base = base
        self.status_port = free_port()
        self.audit = base / "audit.jsonl"
        self.log = base / "rpcdaemon.log"
        self.conf = base / "rpcdaemon.conf"
        assert testbed.rabbit is not None
        daemon = {
            "plugins": "L3Agent DHCPAgent", "neutron_endpoint": testbed.api, "rpchost": testbed.rabbit.url,
            "agent_down_time": str(testbed.topology.agent_down_time), "check_interval": "2", "hold_down": "5",
            "status_listen": f"127.0.0.1:{self.status_port}", "audit_log": str(self.audit), "loglevel": "INFO",
        }
        daemon.update(options)
        dhcp = daemon.pop("dhcp_agents_per_network", str(DHCP_TARGET))
        self.conf.write_text("[Daemon]\n" + "".join(f"{k} = {v}\n" for k, v in daemon.items())
                             + "[L3Agent]\ntimeout = 30\n"
                             + f"[DHCPAgent]\ntimeout = 30\ndhcp_agents_per_network = {dhcp}\n")
        self.proc: Proc | None = None

    def check_config(self) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "rpcdaemon.cli.main", "check-config", "-c", str(self.conf)],
                              capture_output=True, text=True, check=False, timeout=60)

    def start(self) -> None:
        self.proc = start("rpcdaemon", [sys.executable, "-m", "rpcdaemon.cli.main", "-d", "-c", str(self.conf)],
                          self.log, lambda: self.status()["agents"], 60, "rpcdaemon's /status listing agents",
                          env={"PYTHONUNBUFFERED": "1"}, error=TestbedError)

    def status(self) -> dict[str, Any]:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.status_port}/status", timeout=10) as response:
            return json.loads(response.read())  # type: ignore[no-any-return]

    def actions(self) -> list[dict[str, Any]]:
        """Every change recorded in the audit log (all runs of the daemon with this config)."""
        if not self.audit.exists():
            return []
        return [json.loads(line) for line in self.audit.read_text().splitlines() if line.strip()]

    def kill(self) -> None:
        """SIGKILL: no clean shutdown, no change in flight finished."""
        assert self.proc is not None
        self.proc.signal(signal.SIGKILL)
        self.proc.popen.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.stop(30)
            self.proc = None
