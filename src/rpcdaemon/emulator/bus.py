"""The emulated cloud on a bus: agents' heartbeats and the server's notifications, as oslo.messaging sends them.

A pump publishes `report_state` for every live agent each report interval (routing key q-reports-plugin) and the
API publishes `<resource>.create.end`/`.delete.end` and scheduling notifications (notifications.info). `publish`
is any callable: kombu onto a real RabbitMQ (`rpcdaemon emulator --transport-url`), or a function that hands the
body straight to a daemon in the same process (the demo).
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from kombu import Connection, Exchange, Producer

from rpcdaemon.emulator.cloud import L3, Cloud

LOG = logging.getLogger("rpcdaemon.emulator")

Publish = Callable[[str, str], None]
"""publish(routing_key, body)"""


def envelope(message: dict[str, Any]) -> str:
    return json.dumps({"oslo.version": "2.0", "oslo.message": json.dumps(message)})


def heartbeat_body(host: str, agent_type: str, agent_mode: str | None, start_flag: bool) -> str:
    state: dict[str, Any] = {
        "binary": "neutron-l3-agent" if agent_type == L3 else "neutron-dhcp-agent", "host": host,
        "availability_zone": "nova", "topic": "N/A", "agent_type": agent_type,
        "configurations": {"agent_mode": agent_mode} if agent_mode else {},
    }
    if start_flag:
        state["start_flag"] = True
    return envelope({"method": "report_state", "namespace": "state", "version": "1.4",
                     "args": {"agent_state": {"agent_state": state},
                              "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")},
                     "_msg_id": uuid.uuid4().hex, "_unique_id": uuid.uuid4().hex,
                     "_context_auth_token": "emulated-token", "_context_is_admin": True})


def notification_body(event_type: str, payload: dict[str, Any]) -> str:
    return envelope({"message_id": str(uuid.uuid4()), "publisher_id": "network.emulator", "event_type": event_type,
                     "priority": "INFO", "payload": payload, "timestamp": datetime.now(UTC).isoformat(),
                     "_context_auth_token": "emulated-token"})


class HeartbeatPump:
    """Publishes a heartbeat for every agent that is up, every report interval, until stopped."""

    def __init__(self, cloud: Cloud, publish: Publish) -> None:
        self._cloud = cloud
        self._publish = publish
        self._stop = threading.Event()
        self._started: set[str] = set()
        self._thread = threading.Thread(target=self._run, name="emulated-heartbeats", daemon=True)

    def start(self) -> HeartbeatPump:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def _run(self) -> None:
        while not self._stop.wait(self._cloud.report_interval or 1.0):
            with self._cloud.lock:
                agents = [(a.id, a.host, a.agent_type, a.agent_mode) for a in self._cloud.agents.values()
                          if a.down_at is None]
            for agent_id, host, agent_type, mode in agents:
                first = agent_id not in self._started
                self._started.add(agent_id)
                try:
                    self._publish("q-reports-plugin", heartbeat_body(host, agent_type, mode, first))
                except Exception as exc:  # a broker hiccup must not stop the emulated agents
                    LOG.debug("heartbeat of %s not published: %s", host, exc)


def kombu_publisher(url: str) -> tuple[Publish, Callable[[], None]]:
    """A publish function onto exchange `neutron` of a real broker, and its closer."""
    conn = Connection(url)
    exchange = Exchange("neutron", type="topic", durable=False, auto_delete=False)
    producer = Producer(conn.channel(), exchange=exchange)
    exchange.declare(channel=producer.channel)
    lock = threading.Lock()

    def publish(routing_key: str, body: str) -> None:
        with lock:
            producer.publish(body, routing_key=routing_key, content_type="application/json",
                             content_encoding="utf-8", retry=True)

    return publish, conn.release
