"""The status port's security options: its token from a file, its TLS files, and whether it is exposed.

The token once could only be written into rpcdaemon.conf (and `rpcdaemon status --token`, which every `ps` shows);
a token file keeps it out of both, and is read again on every reload so that rotating it needs no restart. TLS
files are loaded here, when the config is read, so that a wrong key or an encrypted one is one line at start (or
from check-config), never a failure of the status thread later, and never a passphrase prompt on a terminal
nobody watches. A status port on a non-loopback address without a token is allowed (a scrape behind a firewall)
but warned about: /status names every agent and host, and /metrics is open to anyone who reaches it.
"""

from __future__ import annotations

import ipaddress
import os
import ssl
from pathlib import Path

LOOPBACK_NAMES = ("localhost", "localhost.localdomain", "ip6-localhost")


def read_token_file(path: str) -> str:
    """The token: the file's first line, stripped. ValueError (without the token) when it cannot serve."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"cannot read {path}: {type(exc).__name__}") from None
    token = lines[0].strip() if lines else ""
    if not token:
        raise ValueError(f"{path} is empty: its first line must be the token")
    if any(ord(c) < 0x21 or ord(c) > 0x7E for c in token):
        raise ValueError(f"the first line of {path} must be printable ASCII without spaces (a bearer token)")
    return token


def token_file_exposed(path: str) -> bool:
    """Whether users other than the owner and group may read the token file."""
    try:
        return bool(os.stat(path).st_mode & 0o004)
    except OSError:
        return False


def server_context(cert: str, key: str) -> ssl.SSLContext:
    """A server-side TLS context for the status port. ValueError (one line) when the files cannot serve."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2

    def no_passphrase() -> bytes:
        raise ValueError("the key is encrypted: rpcdaemon needs it unencrypted (readable by rpcdaemon only)")

    try:
        context.load_cert_chain(cert, key, password=no_passphrase)
    except ValueError:
        raise
    except ssl.SSLError as exc:
        reason = exc.reason or exc.strerror or type(exc).__name__
        raise ValueError(f"cannot use {cert} with {key}: {reason} (a PEM certificate and the unencrypted PEM key "
                         "that goes with it are needed)") from None
    except OSError as exc:
        raise ValueError(f"cannot read {cert} or {key}: {exc.strerror or type(exc).__name__}") from None
    return context


def is_loopback(host: str) -> bool:
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: it may resolve anywhere


def client_host(host: str) -> str:
    """Where a client on this host reaches a server listening on `host` (a wildcard means loopback)."""
    if host in ("", "0.0.0.0"):  # noqa: S104 - a listen address read, not bound
        return "127.0.0.1"
    if host.strip("[]") == "::":
        return "::1"
    return host
