"""The tests' RabbitMQ leaves nothing running once stopped: its epmd daemonizes out of the broker's process group
(twenty of them were found left behind after a day of runs), so bus/rabbit.py stops it by its port."""

from __future__ import annotations

import socket

from rabbit import Rabbit

from polling import poll


def listening(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(1)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def test_a_stopped_broker_leaves_no_epmd_behind() -> None:
    broker = Rabbit()
    broker.start()
    try:
        assert listening(broker.epmd_port)
    finally:
        broker.cleanup()
    poll(lambda: not listening(broker.epmd_port), 15, f"nothing listening on epmd's port {broker.epmd_port}",
         interval_s=0.2)
