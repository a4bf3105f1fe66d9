"""systemd's notify protocol (the datagram reaches $NOTIFY_SOCKET; nothing outside systemd), and bus TLS."""

from __future__ import annotations

import socket
import ssl
from pathlib import Path

import pytest

from rpcdaemon.adapters import systemd
from rpcdaemon.adapters.bus.tls import broker_tls


def test_notify_sends_one_datagram(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "notify.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(path))
        monkeypatch.setenv("NOTIFY_SOCKET", str(path))
        assert systemd.notify("READY=1", "STATUS=running")
        sock.settimeout(5)
        assert sock.recv(1024) == b"READY=1\nSTATUS=running"


def test_outside_systemd_nothing_happens(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    assert systemd.notify("READY=1") is False
    monkeypatch.setenv("WATCHDOG_USEC", "60000000")
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    assert systemd.watchdog_interval_s() == 30.0


def test_bus_tls_argument() -> None:
    assert broker_tls(["amqp://h//"], {}) is False
    # TLS always verifies the certificate and the host name (kombu fills server_hostname from the URL in use)
    assert broker_tls(["amqps://h:5671//"], {}) == {"cert_reqs": ssl.CERT_REQUIRED, "server_hostname": None}
    assert broker_tls(["amqps://h:5671//"], {"ca_certs": "/ca"}) == {
        "ca_certs": "/ca", "cert_reqs": ssl.CERT_REQUIRED, "server_hostname": None}
    # a client certificate without a CA no longer switches verification off: the system's CAs verify
    assert broker_tls(["amqp://h//"], {"certfile": "/c", "keyfile": "/k"}) == {
        "certfile": "/c", "keyfile": "/k", "cert_reqs": ssl.CERT_REQUIRED, "server_hostname": None}
