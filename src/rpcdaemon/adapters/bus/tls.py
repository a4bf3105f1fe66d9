"""TLS to the broker: the broker's certificate is always verified, and so is its host name.

kombu's `ssl=True` (what an amqps:// URL used to give) verifies the certificate but not the name on it, and a
client certificate given without a CA used to switch verification off altogether: either lets anyone who can
answer on the broker's address read the bus (heartbeats, notifications) and feed rpcdaemon forged ones. Now the
CA is `rpc_ssl_ca_file` when set, else the system's CAs, and the name is checked against the host of the URL in
use: kombu fills `server_hostname` from the URL when the key is present and None (a copy per connection, since
kombu writes the name into the dict it is given and a failover would then check the next broker against the
first one's name).
"""

from __future__ import annotations

import ssl
from typing import Any

FILE_KEYS = ("ca_certs", "certfile", "keyfile")


def broker_tls(urls: list[str], files: dict[str, str]) -> dict[str, Any] | bool:
    """kombu's `ssl` argument: False without TLS; with TLS (an amqps:// URL, or certificate files configured),
    the options that verify the broker's certificate and host name."""
    if not files and not any(url.startswith("amqps://") for url in urls):
        return False
    options: dict[str, Any] = {key: files[key] for key in FILE_KEYS if key in files}
    options["cert_reqs"] = ssl.CERT_REQUIRED
    options["server_hostname"] = None  # kombu puts the host of the URL in use here
    return options


def for_connection(tls: dict[str, Any] | bool) -> dict[str, Any] | bool:
    """A fresh copy for one connection attempt (kombu writes the host name it checked into it)."""
    return dict(tls) if isinstance(tls, dict) else tls
