"""The seam between the client and openstacksdk: the few calls the client makes on a connection, as Protocols.

The client needs only a connection's `network` proxy and three raw requests on it (GET, POST, DELETE, each
returning the HTTP response instead of raising); tests hand it a fake with those, and `open_connection` builds the
real one (an openstacksdk Connection) with the session tuned for rpcdaemon's traffic.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol
from urllib.request import getproxies

import openstack
import openstack.exceptions
import requests
from keystoneauth1 import exceptions as ks_exceptions
from keystoneauth1 import session as ks_session

from rpcdaemon.adapters.neutron.errors import NeutronConfigError
from rpcdaemon.config.credentials import Credentials


class NetworkProxy(Protocol):
    """openstacksdk's network proxy (a keystoneauth Adapter): raw requests, paths relative to the Neutron endpoint.

    Each may raise keystoneauth1's ClientException, requests' RequestException or an OSError when no answer came."""

    def get(self, url: str, /, *, headers: dict[str, str], params: Mapping[str, Any]) -> requests.Response: ...

    def post(self, url: str, /, *, headers: dict[str, str], json: Mapping[str, Any]) -> requests.Response: ...

    def put(self, url: str, /, *, headers: dict[str, str], json: Mapping[str, Any]) -> requests.Response: ...

    def delete(self, url: str, /, *, headers: dict[str, str]) -> requests.Response: ...


class NeutronConnection(Protocol):
    """An openstacksdk Connection, as far as the client uses it: the network proxy, built on first use (which may
    raise like a request: openstacksdk discovers the API version then)."""

    @property
    def network(self) -> NetworkProxy: ...


def open_connection(
    *, cloud: str | None, endpoint: str | None, timeout_s: float, pool_size: int,
    credentials: Credentials | None = None,
) -> NeutronConnection:
    """A connection from a clouds.yaml cloud, to a Neutron endpoint served without Keystone, or with Keystone
    credentials read from a conffile (the endpoint then from the catalog), keeping up to `pool_size` connections
    per host."""
    try:
        conn = _connect(cloud=cloud, endpoint=endpoint, timeout_s=timeout_s, credentials=credentials)
    except openstack.exceptions.ConfigException as exc:  # e.g. "Cloud nosuchcloud was not found."
        where = f"[Daemon] cloud {cloud!r}: " if cloud else ""
        raise NeutronConfigError(f"{where}{exc} (clouds.yaml: OS_CLIENT_CONFIG_FILE, ~/.config/openstack, "
                                 "/etc/openstack)") from None
    except ks_exceptions.ClientException as exc:  # MissingRequiredOptions, NoMatchingPlugin, ...
        if cloud:
            where = f"[Daemon] cloud {cloud!r}"
        elif credentials is not None:
            where = credentials.origin
        else:
            where = ("no way to Neutron is configured ([Daemon] cloud, neutron_endpoint, or a conffile's "
                     "Keystone credentials) and openstacksdk's defaults (OS_CLOUD, OS_*) do not make one")
        raise NeutronConfigError(f"{where}: {type(exc).__name__}: {exc}") from None
    _skip_environment_lookups(conn)
    _size_connection_pool(conn, pool_size)
    return conn


def _connect(*, cloud: str | None, endpoint: str | None, timeout_s: float, credentials: Credentials | None
             ) -> NeutronConnection:
    if not cloud and not endpoint and credentials is not None:
        options: dict[str, Any] = {"interface": credentials.interface} if credentials.interface else {}
        conn: NeutronConnection = openstack.connect(
            auth_type=credentials.auth_type, auth=dict(credentials.auth), region_name=credentials.region_name,
            api_timeout=timeout_s, load_yaml_config=False, load_envvars=False, **options,
        )
    elif endpoint:
        url = endpoint.rstrip("/")
        url = url.removesuffix("/v2.0")
        conn = openstack.connect(
            auth_type="none", auth={"endpoint": url}, network_endpoint_override=url, api_timeout=timeout_s,
            load_yaml_config=False, load_envvars=False,
        )
    else:
        conn = openstack.connect(cloud=cloud or None, api_timeout=timeout_s)
    return conn


def _size_connection_pool(conn: Any, size: int) -> None:
    session = getattr(getattr(conn, "session", None), "session", None)
    if isinstance(session, requests.Session):
        for prefix in ("https://", "http://"):
            session.mount(prefix, ks_session.TCPKeepAliveAdapter(pool_maxsize=size))


def _skip_environment_lookups(conn: Any) -> None:
    """requests re-reads proxy variables and ~/.netrc from the environment on every request (a third of the CPU
    of a scheduling call); with no proxy configured, that lookup can be skipped for good."""
    if getproxies():
        return
    session = getattr(getattr(conn, "session", None), "session", None)
    if isinstance(session, requests.Session):
        session.trust_env = False
