"""`coordination_url` -> the tooz URL rpcdaemon connects with, or a clear refusal.

tooz offers many backends, and not all of them can keep two replicas from acting at once: rpcdaemon accepts only
those whose locks are released when their holder dies or is cut off, and whose lock and membership state is
consistent across the backend's own failover. The lease settings rpcdaemon depends on (how soon a dead
replica's lock and membership expire, how long a backend request may hang) are added to the URL unless the
operator set them there. No tooz import here: `check-config` validates without loading a driver.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from rpcdaemon.core.leadership import LeaseTiming
from rpcdaemon.redaction import redact_text

SUPPORTED = {
    "etcd3+http": "etcd v3 through its gRPC gateway (locks and members on leases)",
    "etcd3+https": "etcd v3 through its gRPC gateway, TLS",
    "zookeeper": "ZooKeeper (ephemeral nodes bound to the session)",
    "kazoo": "ZooKeeper (ephemeral nodes bound to the session)",
    "file": "a folder shared by replicas on one host (locks released when the process dies)",
}
REFUSED = {
    "redis": "its locks are expiring keys that a Redis failover can grant twice",
    "memcached": "its locks are expiring keys without replication: a restart forgets them",
    "mysql": "its locks live as long as a connection the server may keep for hours after the holder is cut off",
    "postgresql": "its locks live as long as a connection the server may keep long after the holder is cut off",
    "ipc": "its SysV semaphores are not released when the holder is killed",
    "zake": "it is an in-memory fake for tests, shared by nobody",
    "kubernetes": "its leases are not checked by rpcdaemon's tests",
    "etcd": "it speaks etcd's v2 API, which etcd no longer serves",
    "etcd3": "its gRPC driver is unmaintained: use etcd3+http://",
}


class CoordinationUrlError(ValueError):
    pass


def backend_of(url: str) -> str:
    return urlsplit(url).scheme.lower()


def check_coordination_url(url: str) -> None:
    """Raise CoordinationUrlError (credentials redacted) for a URL rpcdaemon would not run with."""
    scheme = backend_of(url)
    shown = redact_text(url)
    if not scheme or "://" not in url:
        raise CoordinationUrlError(f"{shown!r} is not a URL (e.g. etcd3+http://127.0.0.1:2379, "
                                   "zookeeper://127.0.0.1:2181, file:///var/lib/rpcdaemon/coordination)")
    if scheme in REFUSED:
        raise CoordinationUrlError(f"backend {scheme!r} refused: {REFUSED[scheme]}; use one of {_supported()}")
    if scheme not in SUPPORTED:
        raise CoordinationUrlError(f"unknown backend {scheme!r}; use one of {_supported()}")
    parts = urlsplit(url)
    if scheme == "file" and not parts.path:
        raise CoordinationUrlError(f"{shown!r}: a file:// URL needs an absolute folder, e.g. file:///var/lib/rpcdaemon")
    if scheme != "file" and not parts.hostname:
        raise CoordinationUrlError(f"{shown!r}: a host is missing")
    try:
        _ = parts.port
    except ValueError:
        raise CoordinationUrlError(f"{shown!r}: bad port") from None


def tooz_url(url: str, timing: LeaseTiming) -> str:
    """The URL with rpcdaemon's lease settings added where the operator did not set them."""
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    lease = str(max(1, round(timing.lease_s)))
    scheme = backend_of(url)
    if scheme.startswith("etcd3"):
        query.setdefault("lock_timeout", lease)
        query.setdefault("membership_timeout", lease)
        query.setdefault("timeout", str(timing.request_timeout_s))
    else:  # file:// (member expiry), zookeeper:// (session timeout)
        query.setdefault("timeout", lease)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), parts.fragment))


def group_name(cloud: str | None, endpoint: str | None) -> str:
    """The group replicas of one cloud meet in: named after the cloud, or the Neutron endpoint without one."""
    if cloud:
        base = cloud
    elif endpoint:
        parsed = urlsplit(endpoint)
        base = f"{parsed.hostname}-{parsed.port}" if parsed.port else str(parsed.hostname)
    else:
        base = "default"
    return "rpcdaemon-" + re.sub(r"[^A-Za-z0-9_.-]+", "-", base)


def _supported() -> str:
    return ", ".join(f"{s}://" for s in SUPPORTED)
