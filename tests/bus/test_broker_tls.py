"""AMQP over TLS against a real RabbitMQ (issue 13, point 4): the broker's certificate and host name are verified,
a client certificate without a CA does not switch verification off, and `rpcdaemon dump` uses the same options.

The broker listens for TLS on 127.0.0.1 (named in its certificate) and on 127.0.0.2 (not named): a client that
reaches the second and connects did not check the name. Before bus/tls.py it did, and a client certificate
given without rpc_ssl_ca_file connected to a broker no CA vouched for.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from agents import Publisher, heartbeat
from rabbit import Rabbit
from test_dump import run_dump
from test_listener import Inbox

from certs import make_cert
from polling import poll
from rpcdaemon.adapters.bus.listener import BusListener
from rpcdaemon.adapters.bus.tls import broker_tls


@pytest.fixture(scope="module")
def tls_rabbit(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Rabbit, str, str, str]]:
    folder = tmp_path_factory.mktemp("broker-tls")
    cert, key = make_cert(folder, "broker")  # names 127.0.0.1 and localhost, not 127.0.0.2
    client_cert, client_key = make_cert(folder, "client")
    broker = Rabbit(tls=(cert, cert, key))
    broker.start()
    try:
        yield broker, cert, client_cert, client_key
    finally:
        broker.cleanup()


def attempt(url: str, files: dict[str, str], prefix: str) -> BusListener:
    inbox = Inbox()
    return BusListener([url], prefix, inbox.on_message, queue_expire_s=30, max_backoff_s=1.0,
                       ssl=broker_tls([url], files)).start()


def test_the_broker_named_in_its_certificate_is_reached(tls_rabbit: tuple[Rabbit, str, str, str]) -> None:
    broker, ca, _client_cert, _client_key = tls_rabbit
    url = f"amqps://guest:guest@127.0.0.1:{broker.tls_port}//"
    inbox = Inbox()
    listener = BusListener([url], "tls-ok", inbox.on_message, queue_expire_s=30, max_backoff_s=1.0,
                           ssl=broker_tls([url], {"ca_certs": ca})).start()
    pub = Publisher(broker.url)
    try:
        poll(lambda: listener.connected, 30, "listener connected over TLS")
        pub.publish(heartbeat("net-1", "L3 agent"), "q-reports-plugin")
        poll(lambda: len(inbox.messages) == 1, 10, "a heartbeat over TLS")
    finally:
        pub.close()
        listener.stop()


@pytest.mark.parametrize("case", ["name not in the certificate", "client certificate without a CA"])
def test_an_unverified_broker_is_never_listened_to(tls_rabbit: tuple[Rabbit, str, str, str], case: str,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    broker, ca, client_cert, client_key = tls_rabbit
    if case == "name not in the certificate":
        url, files = f"amqps://guest:guest@127.0.0.2:{broker.tls_port2}//", {"ca_certs": ca}
    else:  # the system's CAs do not know the broker's certificate
        url, files = (f"amqps://guest:guest@127.0.0.1:{broker.tls_port}//",
                      {"certfile": client_cert, "keyfile": client_key})
    with caplog.at_level(logging.WARNING, logger="rpcdaemon"):
        listener = attempt(url, files, "tls-refused")
        try:
            poll(lambda: any("bus unavailable" in r.getMessage() for r in caplog.records), 30,
                 "the refusal logged")
            assert not listener.connected and listener.connects == 0
        finally:
            listener.stop()
    refusal = next(r.getMessage() for r in caplog.records if "bus unavailable" in r.getMessage())
    assert "CERTIFICATE_VERIFY_FAILED" in refusal or "SSL" in refusal, refusal
    assert "guest:guest" not in refusal


def test_dump_uses_the_configs_tls_options(tls_rabbit: tuple[Rabbit, str, str, str], tmp_path: Path) -> None:
    broker, ca, _client_cert, _client_key = tls_rabbit
    config = tmp_path / "rpcdaemon.conf"
    config.write_text(f"[Daemon]\nplugins = Dump\nneutron_endpoint = http://127.0.0.1:9\n"
                      f"rpchost = amqps://guest:guest@127.0.0.1:{broker.tls_port}//\nrpc_ssl_ca_file = {ca}\n")
    out = run_dump(broker, "-c", str(config), "--count", "1", url=False,
                   publish=[(heartbeat("net-9", "DHCP agent"), "q-reports-plugin")])
    assert "net-9" in out
