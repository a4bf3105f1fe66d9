"""One Neutron agent without a data plane: it heartbeats, answers the server's RPC and, given a state folder, makes
the server's view of ports and HA routers move as real agents make it move.

It runs INSIDE the Neutron venv (it needs oslo.messaging), one process per agent, so a test stops an agent exactly as
a crash or a hang would: SIGSTOP freezes its heartbeats (report_state on topic q-reports-plugin), its RPC answers and
its activity below; SIGCONT resumes them. The server's view (alive, bindings, port status, HA states) and rpcdaemon's
(bus heartbeats) then come from the real thing, not from an emulation of it.

With --state-dir (a folder shared by every fake agent of a testbed, standing in for the hosts' OVS bridges and the
HA network), each agent does, in a thread of its own so heartbeats are never late, what the real agent does to the
server (the RPC methods and arguments of Neutron 29's l3_rpc.py, dhcp_rpc.py and plugins/ml2/rpc.py):
- l3: sync_routers(host) (the server binds the routers' ports to this host), "plugs" the ports it got into the
  host's bridge (a file), and for HA routers whose HA port is ACTIVE runs a VRRP stand-in (below) and reports its
  changes with update_ha_routers_states(host, states);
- dhcp: get_active_networks_info(host), and for each network with a DHCP subnet makes sure its DHCP port exists and
  is bound here (create_dhcp_port / update_dhcp_port, device_id 'dhcp<uuid5(host)>-<network>' as the real agent),
  plugs it, and tells dhcp_ready_on_ports for the network's other ports not ACTIVE yet;
- ovs: reads its host's bridge; ports newly plugged or named by a port_update notification (fanout topic
  q-agent-notifier-port-update, as the real agent consumes it) get get_devices_details_list_and_failed_devices then
  update_device_list(devices_up) (the server makes them ACTIVE), unplugged ones update_device_list(devices_down).
Costs stay O(1) calls per agent and interval: l3 and dhcp sync when a server notification arrived (router_added_to_
agent, routers_updated, network_create_end...) or every --resync intervals, the ovs agent calls only when its
bridge changed or a port it has was updated; the VRRP stand-in is files, not calls.

VRRP stand-in: each replica that runs keepalived (hosts the router, its HA port ACTIVE, not inert) writes its state
to <state-dir>/vrrp/<router>/<host> every interval (an advert); a replica whose file is older than three intervals
is gone. A standby becomes active when no live replica is active and its host sorts first among the live ones; an
active one steps down when a live replica whose host sorts first is active too; a replica that was itself gone
(paused past three intervals) comes back as standby (keepalived's nopreempt, as Neutron configures it).

Inert (--never-activate, or the file <state-dir>/hosts/<host>/inert present): the agent still syncs and the server
still binds ports here, but it activates nothing: no HA state reported, no device reported up, so its ports stay
DOWN, as on a host whose data plane is broken while its agents heartbeat.

    python fake_agent.py --transport-url URL --host net-1 --kind l3|dhcp|ovs [--interval 2] [--phase 0.7]
                         [--state-dir DIR] [--never-activate] [--resync 15]
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import logging
import os
import sys
import threading
import time
import uuid

import oslo_messaging
from oslo_config import cfg

KINDS = {
    # kind: (agent_type, binary, topic it consumes or None, configurations)
    "l3": ("L3 agent", "neutron-l3-agent", "l3_agent",
           {"agent_mode": "legacy", "handle_internal_only_routers": True, "routers": 0, "interfaces": 0}),
    "dhcp": ("DHCP agent", "neutron-dhcp-agent", "dhcp_agent", {"networks": 0, "ports": 0, "subnets": 0}),
    "ovs": ("Open vSwitch agent", "neutron-openvswitch-agent", None,
            {"tunnel_types": ["vxlan"], "bridge_mappings": {"physnet1": "br-phys"}, "tunneling_ip": "127.0.0.1"}),
}
# A token in every context, as real agents send: rpcdaemon's dump and logs must never show it.
TOKEN = "fake-agent-secret-token-0123456789"


class Answers:
    """Accepts whatever the server casts or calls (router_added_to_agent, network_create_end...) and answers None;
    each one is passed to `heard` (the activity resyncs on it)."""

    target = oslo_messaging.Target(version="1.99")

    def __init__(self, heard=None) -> None:
        self.count = 0
        self.heard = heard

    def __getattr__(self, name: str):
        if name.startswith(("_", "oslo_")):  # oslo.messaging probes for its reserved names
            raise AttributeError(name)

        def answer(ctxt, **kwargs):
            self.count += 1
            if self.heard is not None:
                self.heard(name, kwargs)

        return answer


def context(token: str) -> dict[str, object]:
    return {"user_id": None, "project_id": None, "tenant_id": None, "is_admin": True, "auth_token": token,
            "request_id": "req-" + str(uuid.uuid4())}


def dhcp_device_id(network_id: str, host: str) -> str:
    """neutron.common.utils.get_dhcp_agent_device_id, as the real DHCP agent names its port's device."""
    return f"dhcp{uuid.uuid5(uuid.NAMESPACE_DNS, host.split('.', maxsplit=1)[0])}-{network_id}"


def write_json(path: str, value: object) -> None:
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w") as out:
        json.dump(value, out)
    os.replace(tmp, path)


def read_json(path: str, default: object) -> object:
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return default


class Activity:
    """What the agent does to the server besides heartbeats (see the module docstring), one step per interval."""

    def __init__(self, args: argparse.Namespace, transport) -> None:
        self.args = args
        self.host = args.host
        self.kind = args.kind
        self.state_dir = args.state_dir
        self.bridge = os.path.join(self.state_dir, "hosts", self.host)
        os.makedirs(self.bridge, exist_ok=True)
        self.dirty = threading.Event()
        self.dirty.set()  # a full sync at start, as the real agents do
        self.lock = threading.Lock()
        self.updated: set[str] = set()  # ports named by port_update notifications (ovs)
        self.steps = 0
        self.calls = 0
        self.was_inert: bool | None = None
        # l3
        self.ha_routers: dict[str, bool] = {}  # HA router hosted here -> its HA port here is ACTIVE
        self.server_states: dict[str, str] = {}  # HA router -> this host's state as the server last told or heard
        self.vrrp: dict[str, str] = {}  # HA router -> this replica's state in the VRRP stand-in
        # ovs
        self.known: set[str] = set()
        self.agent_id = f"ovs-agent-{self.host}"
        # the L3 plugin's topic for l3; the core plugin's (ML2 and its DHCP callbacks) for dhcp and ovs
        target = oslo_messaging.Target(topic="q-l3-plugin" if self.kind == "l3" else "q-plugin", version="1.0")
        self.client = oslo_messaging.get_rpc_client(transport, target, timeout=30)

    # ---------- plumbing ----------
    def heard(self, name: str, kwargs: dict) -> None:
        if name == "port_update":
            port = kwargs.get("port") or {}
            with self.lock:
                self.updated.add(port.get("id", ""))
        self.dirty.set()

    def inert(self) -> bool:
        return self.args.never_activate or os.path.exists(os.path.join(self.bridge, "inert"))

    def call(self, method: str, version: str, cast: bool = False, **kwargs):
        """A call (or a cast) at the version the real agent's client asks for."""
        self.calls += 1
        print(f"rpc {time.time():.3f} {method}", flush=True)  # the experiments count them
        prepared = self.client.prepare(version=version)
        return (prepared.cast if cast else prepared.call)(context(self.args.token), method, **kwargs)

    def plug(self, ports: list[str]) -> None:
        write_json(os.path.join(self.bridge, f"{self.kind}.ports"), sorted(set(ports)))

    def step(self) -> None:
        self.steps += 1
        inert = self.inert()
        if inert != self.was_inert:  # the testbed waits for this line after it made a host inert (or not)
            print(f"inert {time.time():.3f} {inert}", flush=True)
            self.was_inert = inert
        due = self.steps % max(1, self.args.resync) == 0
        {"l3": self.step_l3, "dhcp": self.step_dhcp, "ovs": self.step_ovs}[self.kind](due)

    def run(self, stop: threading.Event, registered: threading.Event) -> None:
        registered.wait()  # the server knows the agent from its first report only (its RPC refuses it before)
        while not stop.is_set():
            try:
                self.step()
            except Exception as exc:  # the server busy or restarting (or not knowing the agent yet): again
                logging.warning("%s step failed: %s", self.kind, str(exc).splitlines()[0][:300])
                self.dirty.set()
            now_s = time.time()
            # half an interval after the heartbeat: its calls and the heartbeat are spread, not in a burst
            stop.wait(self.args.interval - (now_s - self.args.phase - self.args.interval / 2) % self.args.interval)

    # ---------- l3 ----------
    def step_l3(self, due: bool) -> None:
        if self.dirty.is_set() or due:
            self.dirty.clear()
            routers = self.call("sync_routers", "1.0", host=self.host) or []
            ports: list[str] = []
            ha: dict[str, bool] = {}
            for router in routers:
                if router.get("gw_port"):
                    ports.append(router["gw_port"]["id"])
                ports += [i["id"] for i in router.get("_interfaces", [])]
                ha_port = router.get("_ha_interface")
                if router.get("ha") and ha_port:
                    ports.append(ha_port["id"])
                    ha[router["id"]] = ha_port.get("status") == "ACTIVE"
                    if router.get("_ha_state"):
                        self.server_states[router["id"]] = router["_ha_state"]
            self.plug(ports)
            self.ha_routers = ha
        self.elect()

    def elect(self) -> None:
        """The VRRP stand-in: adverts written, states decided, changes reported in one call."""
        now = time.time()
        gone_after = 3 * self.args.interval
        running = {r for r, port_active in self.ha_routers.items() if port_active and not self.inert()}
        for router in set(self.vrrp) - running:  # keepalived stopped here: its advert goes
            self.vrrp.pop(router)
            self.server_states.pop(router, None)
            with contextlib.suppress(OSError):
                os.unlink(os.path.join(self.state_dir, "vrrp", router, self.host))
        changes: dict[str, str] = {}
        for router in sorted(running):
            folder = os.path.join(self.state_dir, "vrrp", router)
            os.makedirs(folder, exist_ok=True)
            mine_path = os.path.join(folder, self.host)
            mine = self.vrrp.get(router, "standby")
            try:
                if now - os.stat(mine_path).st_mtime > gone_after:
                    mine = "standby"  # this replica was gone (paused): it comes back as a standby
            except OSError:
                mine = "standby"
            peers: dict[str, str] = {}
            for host in os.listdir(folder):
                path = os.path.join(folder, host)
                if host == self.host or host.endswith(".tmp"):
                    continue
                try:
                    if now - os.stat(path).st_mtime > gone_after:
                        continue
                    with open(path) as f:
                        peers[host] = f.read().strip()
                except OSError:
                    continue
            actives = {h for h, s in peers.items() if s == "active"}
            if mine == "active" and any(h < self.host for h in actives):
                mine = "standby"
            elif mine != "active" and not actives and self.host < min(peers, default="\uffff"):
                mine = "active"
            self.vrrp[router] = mine
            tmp = f"{mine_path}.tmp"
            with open(tmp, "w") as out:
                out.write(mine)
            os.replace(tmp, mine_path)
            if self.server_states.get(router) != mine:
                changes[router] = mine
        if changes:
            self.call("update_ha_routers_states", "1.5", cast=True, host=self.host, states=changes)
            self.server_states.update(changes)

    # ---------- dhcp ----------
    def step_dhcp(self, due: bool) -> None:
        if not (self.dirty.is_set() or due):
            return
        self.dirty.clear()
        networks = self.call("get_active_networks_info", "1.1", host=self.host) or []
        ports: list[str] = []
        ready: list[str] = []
        for net in networks:
            if not net or not net.get("subnets"):
                continue
            device_id = dhcp_device_id(net["id"], self.host)
            fixed_ips = [{"subnet_id": s["id"]} for s in net["subnets"]]
            mine = [p for p in net["ports"] if p["device_id"] == device_id]
            reserved = [p for p in net["ports"] if p["device_id"] == "reserved_dhcp_port"]
            port = None
            if mine and mine[0].get("binding:host_id") == self.host:
                port = mine[0]
            elif mine or reserved:
                old = (mine or reserved)[0]
                port = self.call("update_dhcp_port", "1.1", host=self.host, port_id=old["id"], port={"port": {
                    "network_id": net["id"], "device_id": device_id}})
            else:
                port = self.call("create_dhcp_port", "1.1", host=self.host, port={"port": {
                    "name": "", "admin_state_up": True, "network_id": net["id"], "device_id": device_id,
                    "project_id": net["project_id"], "tenant_id": net["project_id"], "fixed_ips": fixed_ips}})
            if port:
                ports.append(port["id"])
            if not self.inert():
                ready += [p["id"] for p in net["ports"]
                          if p["status"] != "ACTIVE" and not p["device_owner"].startswith("network:")]
        self.plug(ports)
        if ready:
            self.call("dhcp_ready_on_ports", "1.5", port_ids=ready)

    # ---------- ovs ----------
    def step_ovs(self, due: bool) -> None:
        plugged: set[str] = set()
        for kind in ("l3", "dhcp"):
            plugged.update(read_json(os.path.join(self.bridge, f"{kind}.ports"), []))
        with self.lock:
            updated, self.updated = self.updated, set()
        if self.inert():
            withheld = plugged - self.known
            if withheld:  # the tests wait for this line: the port was seen here and will never be reported up
                print(f"withheld {time.time():.3f} {' '.join(sorted(withheld))}", flush=True)
            self.known = plugged  # wired, never reported up (nor down)
            return
        todo = sorted((plugged - self.known) | (updated & plugged))
        gone = sorted(self.known - plugged)
        up: list[str] = []
        if todo:
            details = self.call("get_devices_details_list_and_failed_devices", "1.5", devices=todo,
                                agent_id=self.agent_id, host=self.host)
            up = [d["device"] for d in details["devices"] if "network_id" in d]
        if up or gone:
            self.call("update_device_list", "1.9", devices_up=up, devices_down=gone, agent_id=self.agent_id,
                      host=self.host)
        # a device not bound yet (no details) is tried again at the next step
        self.known = plugged - (set(todo) - set(up))


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--transport-url", required=True)
    parser.add_argument("--host", required=True)
    parser.add_argument("--kind", choices=sorted(KINDS), required=True)
    parser.add_argument("--interval", type=float, default=2.0)
    parser.add_argument("--token", default=TOKEN)
    parser.add_argument("--phase", type=float, default=0.0,
                        help="beat when wall-clock time modulo interval is this: agents of a real cloud started at "
                             "different times, and a pause must not line their heartbeats up")
    parser.add_argument("--state-dir", help="the folder shared by the testbed's fake agents (bridges, VRRP): "
                                            "without it the agent only heartbeats and answers")
    parser.add_argument("--never-activate", action="store_true",
                        help="inert: accept routers and networks, never make a port ACTIVE or a router active")
    parser.add_argument("--resync", type=int, default=15,
                        help="a full sync every this many intervals even without a server notification")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s %(message)s")
    # The global cfg.CONF: a private ConfigOpts breaks oslo.messaging (NoSuchOptError oslo_messaging_tracing).
    cfg.CONF([], project="fake-agent")
    oslo_messaging.set_transport_defaults("neutron")
    transport = oslo_messaging.get_rpc_transport(cfg.CONF, url=args.transport_url)
    agent_type, binary, topic, configurations = KINDS[args.kind]
    activity = Activity(args, transport) if args.state_dir else None
    answers = Answers(activity.heard if activity is not None else None)
    if topic is not None:
        server = oslo_messaging.get_rpc_server(transport, oslo_messaging.Target(topic=topic, server=args.host),
                                               [answers], executor="threading")
        server.start()
    elif activity is not None:  # the OVS agent hears port updates, as the real one (fanout)
        server = oslo_messaging.get_rpc_server(
            transport, oslo_messaging.Target(topic="q-agent-notifier-port-update", server=args.host),
            [answers], executor="threading")
        server.start()
    client = oslo_messaging.get_rpc_client(
        transport, oslo_messaging.Target(topic="q-reports-plugin", version="1.4"), timeout=20)
    state = {"binary": binary, "host": args.host, "availability_zone": "nova", "topic": topic or "N/A",
             "configurations": configurations, "agent_type": agent_type, "start_flag": True,
             "uuid": str(uuid.uuid4()), "resource_versions": {}}
    print("started", flush=True)
    stop = threading.Event()
    registered = threading.Event()
    if activity is not None:
        threading.Thread(target=activity.run, args=(stop, registered), daemon=True, name="activity").start()
    while not stop.is_set():
        try:
            now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")
            print(f"beat {time.time():.3f}", flush=True)  # when it was sent: B5 measures from the last one
            client.call(context(args.token), "report_state", agent_state={"agent_state": state}, time=now)
            state.pop("start_flag", None)
            registered.set()
        except Exception as exc:  # the server busy or restarting: try again at the next beat
            logging.warning("report_state failed: %s", exc)
        now_s = time.time()
        stop.wait(args.interval - (now_s - args.phase) % args.interval)
    return 0


if __name__ == "__main__":
    sys.exit(main())
