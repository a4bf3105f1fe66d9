"""One Neutron agent without a data plane: it heartbeats and answers the server's RPC, nothing else.

It runs INSIDE the Neutron venv (it needs oslo.messaging), one process per agent, so a test stops an agent exactly as
a crash or a hang would: SIGSTOP freezes both its heartbeats (report_state on topic q-reports-plugin) and its RPC
answers; SIGCONT resumes them. The server's view (alive, bindings) and rpcdaemon's (bus heartbeats) then come from
the real thing, not from an emulation of it.

    python fake_agent.py --transport-url URL --host net-1 --kind l3|dhcp|ovs [--interval 2] [--phase 0.7]
"""

from __future__ import annotations

import argparse
import datetime
import logging
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
    """Accepts whatever the server casts or calls (router_added_to_agent, network_create_end...) and answers None."""

    target = oslo_messaging.Target(version="1.99")

    def __init__(self) -> None:
        self.count = 0

    def __getattr__(self, name: str):
        if name.startswith(("_", "oslo_")):  # oslo.messaging probes for its reserved names
            raise AttributeError(name)

        def answer(ctxt, **kwargs):
            self.count += 1

        return answer


def context(token: str) -> dict[str, object]:
    return {"user_id": None, "project_id": None, "tenant_id": None, "is_admin": True, "auth_token": token,
            "request_id": "req-" + str(uuid.uuid4())}


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
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s %(message)s")
    # The global cfg.CONF: a private ConfigOpts breaks oslo.messaging (NoSuchOptError oslo_messaging_tracing).
    cfg.CONF([], project="fake-agent")
    oslo_messaging.set_transport_defaults("neutron")
    transport = oslo_messaging.get_rpc_transport(cfg.CONF, url=args.transport_url)
    agent_type, binary, topic, configurations = KINDS[args.kind]
    if topic is not None:
        server = oslo_messaging.get_rpc_server(transport, oslo_messaging.Target(topic=topic, server=args.host),
                                               [Answers()], executor="threading")
        server.start()
    client = oslo_messaging.get_rpc_client(
        transport, oslo_messaging.Target(topic="q-reports-plugin", version="1.4"), timeout=20)
    state = {"binary": binary, "host": args.host, "availability_zone": "nova", "topic": topic or "N/A",
             "configurations": configurations, "agent_type": agent_type, "start_flag": True,
             "uuid": str(uuid.uuid4()), "resource_versions": {}}
    print("started", flush=True)
    stop = threading.Event()
    while not stop.is_set():
        try:
            now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")
            print(f"beat {time.time():.3f}", flush=True)  # when it was sent: B5 measures from the last one
            client.call(context(args.token), "report_state", agent_state={"agent_state": state}, time=now)
            state.pop("start_flag", None)
        except Exception as exc:  # the server busy or restarting: try again at the next beat
            logging.warning("report_state failed: %s", exc)
        now_s = time.time()
        stop.wait(args.interval - (now_s - args.phase) % args.interval)
    return 0


if __name__ == "__main__":
    sys.exit(main())
