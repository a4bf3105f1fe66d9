"""The listener on a real RabbitMQ: own queues only, copies not thefts, reconnects after a broker restart."""

from __future__ import annotations

import subprocess
import sys
import threading

import pytest
from agents import Publisher, heartbeat, notification
from kombu import Connection, Exchange, Queue
from rabbit import Rabbit

from polling import poll
from rpcdaemon.adapters.bus.envelope import BusMessage
from rpcdaemon.adapters.bus.listener import BusListener


class Inbox:
    def __init__(self) -> None:
        self.messages: list[BusMessage] = []
        self.malformed: list[str] = []
        self.connects = 0
        self.lock = threading.Lock()

    def on_message(self, msg: BusMessage) -> None:
        with self.lock:
            self.messages.append(msg)

    def on_malformed(self, kind: str, why: str) -> None:
        self.malformed.append(kind)

    def on_connected(self) -> None:
        self.connects += 1


def listen(url: str, inbox: Inbox, prefix: str) -> BusListener:
    listener = BusListener([url], prefix, inbox.on_message, on_malformed=inbox.on_malformed,
                           on_connected=inbox.on_connected, queue_expire_s=30, max_backoff_s=1.0).start()
    poll(lambda: listener.connected, 30, "listener connected")
    return listener


def test_heartbeats_and_notifications_arrive_and_garbage_is_counted(rabbit: Rabbit) -> None:
    inbox = Inbox()
    listener = listen(rabbit.url, inbox, "t1")
    pub = Publisher(rabbit.url)
    try:
        pub.publish(heartbeat("net-1", "L3 agent"), "q-reports-plugin")
        pub.publish(b"\x00garbage", "q-reports-plugin")
        pub.publish(notification("network.create.end", {"network": {"id": "n1", "revision_number": 1}}),
                    "notifications.info")
        pub.publish(heartbeat("net-2", "DHCP agent"), "q-reports-plugin")
        poll(lambda: len(inbox.messages) == 3, 10, "three good messages")
        assert [m.kind for m in inbox.messages].count("heartbeat") == 2
        assert inbox.malformed == ["not_json"]
        assert listener.malformed["not_json"] == 1
        pub.publish(notification("router.delete.end", {"router_id": "r1"}), "notifications.info")
        poll(lambda: len(inbox.messages) == 4, 10, "the consumer survived the garbage")
    finally:
        pub.close()
        listener.stop()


def test_rpcdaemon_takes_copies_and_never_steals(rabbit: Rabbit) -> None:
    exchange = Exchange("neutron", type="topic", durable=False, auto_delete=False)
    with Connection(rabbit.url) as conn:
        neutrons = Queue("q-reports-plugin", exchange, routing_key="q-reports-plugin", durable=False)
        neutrons.maybe_bind(conn)
        neutrons.declare()
        neutrons.purge()
        inbox = Inbox()
        listener = listen(rabbit.url, inbox, "t2")
        pub = Publisher(rabbit.url)
        try:
            for i in range(5):
                pub.publish(heartbeat(f"net-{i}", "L3 agent"), "q-reports-plugin")
            poll(lambda: len(inbox.messages) == 5, 10, "rpcdaemon got its copies")
            got = []
            poll(lambda: got.append(neutrons.get(no_ack=True)) is None and len([g for g in got if g]) == 5, 10,
                 "Neutron's own queue still has every heartbeat")
        finally:
            pub.close()
            listener.stop()
        assert sorted(listener.queue_names) == ["t2-heartbeats", "t2-notifications"]
        for name in listener.queue_names:  # auto-delete: gone once rpcdaemon stops consuming
            with pytest.raises(Exception, match="NOT_FOUND"):
                Queue(name, exchange, channel=conn.channel()).queue_declare(passive=True)
        neutrons.delete()


def test_reconnects_and_resyncs_after_a_broker_restart(own_rabbit: Rabbit) -> None:
    inbox = Inbox()
    listener = listen(own_rabbit.url, inbox, "t3")
    try:
        assert inbox.connects == 1
        own_rabbit.restart()
        poll(lambda: listener.connected and inbox.connects == 2, 60, "reconnected after the restart")
        pub = Publisher(own_rabbit.url)
        try:
            pub.publish(heartbeat("net-9", "L3 agent"), "q-reports-plugin")
            poll(lambda: any(m.host == "net-9" for m in inbox.messages), 10, "a message after the restart")
        finally:
            pub.close()
    finally:
        listener.stop()


def test_the_emulator_publishes_its_agents_heartbeats(rabbit: Rabbit) -> None:
    inbox = Inbox()
    listener = listen(rabbit.url, inbox, "t4")
    proc = subprocess.Popen([sys.executable, "-m", "rpcdaemon.emulator.main", "--listen", "127.0.0.1:0",
                             "--transport-url", rabbit.url, "--agent-down-time", "2", "--dhcp-agents", "1",
                             "--l3-agents", "2"], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        assert "emulated Neutron listening on http://127.0.0.1:" in proc.stdout.readline()
        poll(lambda: {(m.host, m.agent_type) for m in inbox.messages if m.kind == "heartbeat"}
             >= {("net-1", "DHCP agent"), ("net-1", "L3 agent"), ("net-2", "L3 agent")}, 20, "every agent heard")
        assert any(m.start_flag for m in inbox.messages)
    finally:
        proc.terminate()
        proc.wait(30)
        listener.stop()
