"""Decoding the bus: heartbeats, notifications, malformed input, and no token ever surviving."""

from __future__ import annotations

import json

import pytest
from agents import TOKEN, heartbeat, notification
from hypothesis import given, settings
from hypothesis import strategies as st

from rpcdaemon.adapters.bus.dump import format_line
from rpcdaemon.adapters.bus.envelope import BusMessage, Malformed, decode
from rpcdaemon.config.bus_url import BusUrlError, broker_urls


def test_heartbeat() -> None:
    msg = decode(heartbeat("net-2", "L3 agent", start_flag=True).encode(), "q-reports-plugin")
    assert (msg.kind, msg.method, msg.host, msg.agent_type, msg.start_flag) == (
        "heartbeat", "report_state", "net-2", "L3 agent", True)
    assert msg.binary == "neutron-l3-agent"
    assert msg.agent_time


def test_notifications_name_their_resource_and_revision() -> None:
    msg = decode(notification("network.create.end", {"network": {"id": "n1", "revision_number": 3}}))
    assert (msg.kind, msg.resource_type, msg.resource_id, msg.revision_number) == ("notification", "network", "n1", 3)
    assert decode(notification("network.delete.end", {"network_id": "n2"})).resource_id == "n2"
    sub = decode(notification("subnet.create.end", {"subnet": {"id": "s1", "network_id": "n3"}}))
    assert (sub.resource_type, sub.resource_id) == ("network", "n3")
    itf = decode(notification("router.interface.create", {"router_interface": {"id": "r1", "subnet_id": "s"}}))
    assert (itf.resource_type, itf.resource_id) == ("router", "r1")
    sched = decode(notification("l3_agent.router.add", {"router_id": "r2", "agent_id": "a"}))
    assert (sched.resource_type, sched.resource_id) == ("router", "r2")


def test_no_token_survives_decoding_or_display() -> None:
    for body in (heartbeat("h", "DHCP agent"), notification("router.create.end", {"router": {"id": "r"}})):
        msg = decode(body)
        for text in (repr(msg), str(msg.as_dict()), json.dumps(msg.as_dict(), default=str), format_line(msg)):
            assert TOKEN not in text
        assert msg.context["auth_token"] == "***"


def test_credentials_in_urls_are_redacted_in_payloads() -> None:
    msg = decode(json.dumps({"method": "x", "args": {"url": "rabbit://nova:s3cret@h:5672/"}}))
    assert "s3cret" not in json.dumps(msg.as_dict())


@pytest.mark.parametrize(("body", "kind"), [
    (b"not json", "not_json"),
    (b"\xff\xfe", "not_json"),
    (b"[1, 2]", "bad_envelope"),
    (json.dumps({"oslo.version": "2.0", "oslo.message": "{oops"}).encode(), "bad_envelope"),
    (json.dumps({"oslo.message": 7}).encode(), "bad_envelope"),
    (json.dumps({"method": "report_state", "args": {}}).encode(), "missing_fields"),
    (json.dumps({"event_type": ""}).encode(), "missing_fields"),
    (b"{" + b" " * (1 << 20) + b"}", "too_large"),
])
def test_malformed_kinds(body: bytes, kind: str) -> None:
    with pytest.raises(Malformed) as info:
        decode(body)
    assert info.value.kind == kind
    assert info.value.why


JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
                    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children,
                                                                                       max_size=4), max_leaves=20)


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=300) | JSON.map(lambda v: json.dumps(v).encode())
       | st.dictionaries(st.sampled_from(["method", "args", "event_type", "payload", "oslo.message"]), JSON)
       .map(lambda d: json.dumps(d).encode()))
def test_fuzz_decoder_only_ever_raises_malformed(body: bytes) -> None:
    try:
        msg = decode(body, "k")
    except Malformed:
        return
    assert isinstance(msg, BusMessage)
    format_line(msg)


def test_broker_urls() -> None:
    assert broker_urls("10.0.0.1") == ["amqp://guest:guest@10.0.0.1:5672//"]
    assert broker_urls("10.0.0.1:5673") == ["amqp://guest:guest@10.0.0.1:5673//"]
    assert broker_urls("rabbit://u:p@h1:5672,u:p@h2:5672/vh") == ["amqp://u:p@h1:5672/vh", "amqp://u:p@h2:5672/vh"]
    assert broker_urls("rabbit+ssl://u:p@h1/") == ["amqps://u:p@h1:5671//"]
    assert broker_urls("amqp://u:p@h:5672//") == ["amqp://u:p@h:5672//"]
    assert broker_urls("") == []
    with pytest.raises(BusUrlError) as info:
        broker_urls("http://u:hunter2@h/")
    assert "hunter2" not in str(info.value)
