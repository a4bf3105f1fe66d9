"""The faulty bus relay does what the chaos run counts on: faults happen and are counted, outages tell the
listener, and without faults every message arrives once, in order."""

from __future__ import annotations

import random
import threading
from collections import Counter

from testkit.chaos.relay import BusFaultRates, FaultyRelay, malformed_body

from polling import poll
from rpcdaemon.adapters.bus.envelope import Malformed, decode


class Sink:
    def __init__(self) -> None:
        self.got: list[tuple[str, str]] = []
        self.lock = threading.Lock()

    def __call__(self, key: str, body: str) -> None:
        with self.lock:
            self.got.append((key, body))


def test_without_faults_every_message_arrives_once_in_order() -> None:
    sink, faults = Sink(), Counter[str]()
    relay = FaultyRelay(sink, 1, faults).start()
    try:
        for i in range(200):
            relay.publish("k", str(i))
        poll(lambda: len(sink.got) == 200, 5, "all delivered")
    finally:
        relay.stop()
    assert [b for _, b in sink.got] == [str(i) for i in range(200)]
    assert not faults


def test_faults_are_counted_and_change_what_arrives() -> None:
    sink, faults = Sink(), Counter[str]()
    relay = FaultyRelay(sink, 7, faults).start()
    relay.rates = BusFaultRates(drop=0.2, duplicate=0.2, delay=0.3, corrupt=0.1, max_delay_s=0.05)
    try:
        for i in range(500):
            relay.publish("k", str(i))
        expected = 500 - faults["bus_drop"] + faults["bus_duplicate"]
        poll(lambda: len(sink.got) == expected, 5, "all surviving messages delivered")
    finally:
        relay.stop()
    assert faults["bus_drop"] > 0
    assert faults["bus_duplicate"] > 0
    assert faults["bus_delay"] > 0
    assert sum(n for k, n in faults.items() if k.startswith("bus_malformed_")) > 0
    bodies = [b for _, b in sink.got]
    assert bodies != sorted(bodies, key=lambda b: int(b) if b.isdigit() else -1)  # reordered


def test_outage_loses_messages_and_tells_the_listener() -> None:
    sink, faults, events = Sink(), Counter[str](), []
    relay = FaultyRelay(sink, 1, faults, on_down=lambda: events.append("down"),
                        on_up=lambda: events.append("up")).start()
    try:
        relay.outage(0.2)
        relay.publish("k", "lost")
        assert relay.in_outage
        poll(lambda: events == ["down", "up"], 5, "the broker came back")
        relay.publish("k", "kept")
        poll(lambda: sink.got == [("k", "kept")], 5, "delivered after the outage")
    finally:
        relay.stop()
    assert faults["bus_broker_restart"] == 1
    assert faults["bus_lost_in_outage"] == 1


def test_every_malformed_body_is_refused_by_the_decoder() -> None:
    rng = random.Random(3)
    kinds = set()
    for _ in range(300):
        kind, body = malformed_body(rng)
        kinds.add(kind)
        try:
            decode(body, "q-reports-plugin")
        except Malformed:
            continue
        raise AssertionError(f"{kind} decoded: {body[:80]!r}")
    assert len(kinds) == 8
