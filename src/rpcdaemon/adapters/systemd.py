"""systemd's notify protocol (Type=notify): READY, WATCHDOG, STOPPING, STATUS; a no-op outside systemd.

The protocol is one datagram on the socket named by $NOTIFY_SOCKET; a dependency for it is not worth having.
"""

from __future__ import annotations

import logging
import os
import socket

LOG = logging.getLogger(__name__)


def notify(*states: str) -> bool:
    """Send 'KEY=value' lines to systemd; False when not under systemd or the send failed."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address or not states:
        return False
    target = "\0" + address[1:] if address.startswith("@") else address
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.connect(target)
            sock.sendall("\n".join(states).encode())
    except OSError as exc:
        LOG.warning("sd_notify to %s failed: %s", address, exc)
        return False
    return True


def watchdog_interval_s() -> float | None:
    """Half of WATCHDOG_USEC when systemd asks for keep-alives (and the PID matches), else None."""
    usec = os.environ.get("WATCHDOG_USEC")
    pid = os.environ.get("WATCHDOG_PID")
    if not usec or (pid and pid != str(os.getpid())):
        return None
    try:
        return int(usec) / 2_000_000
    except ValueError:
        return None
