"""The status port's security options (issue 13, point 4): HTTPS, the token from a file (read again on SIGHUP), a
warning when it is exposed without a token, and `rpcdaemon status` finding all of that in the daemon's config so
that no token is ever typed on a command line."""

from __future__ import annotations

import json
import logging
import os
import socket
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from certs import make_cert
from rpcdaemon.adapters.status.http import Limits, StatusServer
from rpcdaemon.cli.check import main as check_main
from rpcdaemon.cli.status import main as status_main
from rpcdaemon.config.load import load_settings
from rpcdaemon.config.settings import ConfigError
from rpcdaemon.config.status_port import server_context
from rpcdaemon.daemon.loop import Daemon, start_status_server
from rpcdaemon.emulator.cloud import Cloud
from rpcdaemon.emulator.server import EmulatorServer, serve
from servers import free_port


def get(url: str, token: str | None = None, cafile: str | None = None) -> int:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    context = ssl.create_default_context(cafile=cafile) if url.startswith("https") else None
    try:
        with urllib.request.urlopen(request, timeout=10, context=context) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def write_config(path: Path, endpoint: str, port: int, **extra: str) -> str:
    lines = ["[Daemon]", "plugins = L3Agent DHCPAgent", f"neutron_endpoint = {endpoint}", "agent_down_time = 30",
             f"status_listen = 127.0.0.1:{port}"] + [f"{k} = {v}" for k, v in extra.items()]
    path.write_text("\n".join(lines) + "\n")
    return str(path)


@pytest.fixture
def emulator() -> Iterator[EmulatorServer]:
    with serve(Cloud.build(dhcp_agents=2, l3_agents=2, networks=2, routers=2, seed=3)) as server:
        yield server


def test_https_serves_with_the_certificate_and_refuses_plain_http(tmp_path: Path) -> None:
    cert, key = make_cert(tmp_path)
    server = StatusServer("127.0.0.1", 0, lambda: {"ok": True}, lambda: b"", lambda: True, token="tok",
                          tls=server_context(cert, key)).start()
    try:
        assert server.url.startswith("https://127.0.0.1:")
        assert get(server.url + "/healthz", cafile=cert) == 200
        assert get(server.url + "/status", token="tok", cafile=cert) == 200
        assert get(server.url + "/status", token="nope", cafile=cert) == 401
        with pytest.raises(urllib.error.URLError):  # a client that trusts only the system's CAs refuses it
            get(server.url + "/healthz")
        plain = server.url.replace("https://", "http://")
        with pytest.raises((urllib.error.URLError, ConnectionError, OSError)):
            get(plain + "/healthz")
    finally:
        server.stop()


def test_a_client_that_never_says_hello_is_cut_and_others_are_served(tmp_path: Path) -> None:
    cert, key = make_cert(tmp_path)
    limits = Limits(max_connections=2, header_timeout_s=0.5, io_timeout_s=5.0)
    server = StatusServer("127.0.0.1", 0, lambda: {"ok": True}, lambda: b"", lambda: True,
                          tls=server_context(cert, key), limits=limits).start()
    try:
        port = int(server.url.rsplit(":", 1)[1])
        silent = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(2)]
        deadline = time.monotonic() + 10
        for sock in silent:  # each is hung up on after its header deadline (no handshake ever sent)
            sock.settimeout(max(0.1, deadline - time.monotonic()))
            assert sock.recv(1) == b""
            sock.close()
        assert get(server.url + "/healthz", cafile=cert) == 200
    finally:
        server.stop()


def test_token_file_tls_and_exposure_are_checked_when_the_config_is_read(tmp_path: Path,
                                                                       emulator: EmulatorServer) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("FileToken\n")
    token_file.chmod(0o600)
    settings = load_settings(write_config(tmp_path / "ok.conf", emulator.url, 0, status_token_file=str(token_file)))
    assert settings.status_token == "FileToken"
    assert settings.warnings == ()
    assert "FileToken" not in repr(settings)

    both = write_config(tmp_path / "both.conf", emulator.url, 0, status_token="x", status_token_file=str(token_file))
    with pytest.raises(ConfigError) as err:
        load_settings(both)
    assert err.value.problems == [f"{both}: [Daemon] status_token_file: set either status_token or "
                                  "status_token_file, not both"]
    (tmp_path / "empty").write_text("\n")
    empty = write_config(tmp_path / "empty.conf", emulator.url, 0, status_token_file=str(tmp_path / "empty"))
    with pytest.raises(ConfigError) as err:
        load_settings(empty)
    assert err.value.problems == [f"{empty}: [Daemon] status_token_file: {tmp_path / 'empty'} is empty: its first "
                                  "line must be the token"]

    cert, key = make_cert(tmp_path)
    other_cert, _other_key = make_cert(tmp_path, "other")
    _enc_cert, enc_key = make_cert(tmp_path, "enc", encrypted=True)
    half = write_config(tmp_path / "half.conf", emulator.url, 0, status_tls_cert=cert)
    mismatch = write_config(tmp_path / "mismatch.conf", emulator.url, 0, status_tls_cert=other_cert,
                            status_tls_key=key)
    encrypted = write_config(tmp_path / "enc.conf", emulator.url, 0, status_tls_cert=_enc_cert,
                             status_tls_key=enc_key)
    for path, expected in ((half, "[Daemon] status_tls_key: status_tls_cert and status_tls_key go together"),
                           (mismatch, "[Daemon] status_tls_cert: cannot use"),
                           (encrypted, "[Daemon] status_tls_cert: the key is encrypted")):
        with pytest.raises(ConfigError) as err:
            load_settings(path)
        assert len(err.value.problems) == 1 and err.value.problems[0].startswith(f"{path}: {expected}"), (
            err.value.problems)

    token_file.chmod(0o644)
    open_conf = write_config(tmp_path / "open.conf", emulator.url, 0, status_token_file=str(token_file))
    assert any("readable by every user" in w for w in load_settings(open_conf).warnings)
    exposed = write_config(tmp_path / "exposed.conf", emulator.url, 0)
    exposed_text = Path(exposed).read_text().replace("127.0.0.1:0", "0.0.0.0:0")
    Path(exposed).write_text(exposed_text)
    (warning,) = load_settings(exposed).warnings
    assert "0.0.0.0 is not a loopback address and no status token is set" in warning
    assert check_main(["-c", exposed]) == 0
    assert check_main(["-c", both]) == 2


def test_check_config_prints_the_warning(tmp_path: Path, emulator: EmulatorServer,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    exposed = write_config(tmp_path / "exposed.conf", emulator.url, 0)
    Path(exposed).write_text(Path(exposed).read_text().replace("127.0.0.1:0", "0.0.0.0:0"))
    assert check_main(["-c", exposed]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith(f"WARNING: {exposed}: [Daemon] status_listen: 0.0.0.0 is not a loopback address")
    assert out[-1] == f"{exposed}: OK"


def test_the_token_file_is_read_again_on_reload_and_status_finds_everything_in_the_config(
        tmp_path: Path, emulator: EmulatorServer, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    cert, key = make_cert(tmp_path)
    token_file = tmp_path / "token"
    token_file.write_text("FirstToken\n")
    token_file.chmod(0o600)
    port = free_port()
    path = write_config(tmp_path / "rpcdaemon.conf", emulator.url, port, status_token_file=str(token_file),
                        status_tls_cert=cert, status_tls_key=key)
    daemon = Daemon(load_settings(path), member="secure")
    start_status_server(daemon)
    url = f"https://127.0.0.1:{port}"
    try:
        daemon.run_once()
        assert get(url + "/status", token="FirstToken", cafile=cert) == 200
        monkeypatch.delenv("RPCDAEMON_STATUS_TOKEN", raising=False)
        assert status_main(["-c", path, "--json"]) == 0  # the URL, HTTPS, the CA and the token: all from -c
        assert json.loads(capsys.readouterr().out)["member"] == "secure"

        token_file.write_text("SecondToken\n")
        with caplog.at_level(logging.INFO, logger="rpcdaemon"):
            assert daemon.reload(path)
        assert get(url + "/status", token="SecondToken", cafile=cert) == 200
        assert get(url + "/status", token="FirstToken", cafile=cert) == 401
        assert status_main(["-c", path]) == 0
        assert "secure" in capsys.readouterr().out
        assert not any("SecondToken" in r.getMessage() or "FirstToken" in r.getMessage() for r in caplog.records)

        # the other ways to give the token, each without a secret on the command line
        other = tmp_path / "other-token"
        other.write_text("SecondToken\n")
        assert status_main(["--url", url, "--cacert", cert, "--token-file", str(other), "--json"]) == 0
        capsys.readouterr()
        monkeypatch.setenv("RPCDAEMON_STATUS_TOKEN", "SecondToken")
        assert status_main(["--url", url, "--cacert", cert, "--json"]) == 0
        capsys.readouterr()
        monkeypatch.setenv("RPCDAEMON_STATUS_TOKEN", "Wrong")
        assert status_main(["--url", url, "--cacert", cert]) == 1
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "answered 401" in err and "Wrong" not in err
        assert status_main(["--url", url]) == 1  # the system's CAs do not know this certificate: one line
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "CERTIFICATE_VERIFY_FAILED" in err
    finally:
        if daemon.status_server is not None:
            daemon.status_server.stop()
        daemon.audit.close()
        os.environ.pop("RPCDAEMON_STATUS_TOKEN", None)
