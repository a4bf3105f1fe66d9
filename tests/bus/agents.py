"""Messages as Neutron's agents and server put them on the bus (oslo.messaging's wire format), and a publisher."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from kombu import Connection, Exchange, Producer

from rpcdaemon.emulator.bus import envelope

TOKEN = "gAAAAABsecret-keystone-token-0123456789"


def context() -> dict[str, Any]:
    return {"_context_auth_token": TOKEN, "_context_user_id": "u1", "_context_project_id": "p1",
            "_context_request_id": f"req-{uuid.uuid4()}", "_context_is_admin": True}


def heartbeat(host: str, agent_type: str, start_flag: bool = False) -> str:
    binary = "neutron-l3-agent" if agent_type == "L3 agent" else "neutron-dhcp-agent"
    state = {"binary": binary, "host": host, "availability_zone": "nova", "topic": "N/A",
             "configurations": {"agent_mode": "legacy"} if agent_type == "L3 agent" else {},
             "agent_type": agent_type, "uuid": str(uuid.uuid4()), "resource_versions": {}}
    if start_flag:
        state["start_flag"] = True
    return envelope({"method": "report_state", "namespace": "state", "version": "1.4",
                     "args": {"agent_state": {"agent_state": state},
                              "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")},
                     "_msg_id": uuid.uuid4().hex, "_reply_q": f"reply_{uuid.uuid4().hex}",
                     "_unique_id": uuid.uuid4().hex, **context()})


def notification(event_type: str, payload: dict[str, Any]) -> str:
    return envelope({"message_id": str(uuid.uuid4()), "publisher_id": "network.controller-1",
                     "event_type": event_type, "priority": "INFO", "payload": payload,
                     "timestamp": datetime.now(UTC).isoformat(), **context()})


class Publisher:
    """Publishes to exchange `neutron` as oslo.messaging does (topic, not durable)."""

    def __init__(self, url: str) -> None:
        self.conn = Connection(url)
        self.exchange = Exchange("neutron", type="topic", durable=False, auto_delete=False)
        self.producer = Producer(self.conn.channel(), exchange=self.exchange)
        self.exchange.declare(channel=self.producer.channel)

    def publish(self, body: str | bytes, routing_key: str) -> None:
        self.producer.publish(body, routing_key=routing_key, content_type="application/json",
                              content_encoding="utf-8")

    def close(self) -> None:
        self.conn.release()
