"""The only module that talks to the Neutron API (through openstacksdk).

Reading the topology costs 4 + (number of DHCP and L3 agents) calls per pass, whatever the number of networks and
routers: the agent list, each agent's bindings, then the network, DHCP-subnet and router lists (bindings first, so a
binding whose resource is missing from the lists belongs to a deleted resource, never to a new one). Lists ask for
the few fields rpcdaemon uses, follow pagination links, and are parsed from JSON directly: building openstacksdk
resource objects for 10,000 networks would cost more CPU than the rest of the pass.

Writes use the proxy's raw calls, which return the HTTP response instead of raising (openstacksdk's add/remove
helpers return error dicts silently); every answer is classified here, once: done, already so, conflict, transient
(retry) or failed.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from urllib.parse import parse_qs, urlsplit
from urllib.request import getproxies

import openstack
import requests
from keystoneauth1 import exceptions as ks_exceptions
from keystoneauth1 import session as ks_session

from rpcdaemon.core.actions import Call, Op, ResourceType
from rpcdaemon.core.cache import NetworkRead, RouterRead
from rpcdaemon.model import (
    DHCP_AGENT,
    L3_AGENT,
    Agent,
    AgentId,
    AgentMode,
    Confirmations,
    Network,
    NetworkId,
    Router,
    RouterId,
    Snapshot,
)
from rpcdaemon.redaction import redact_text

LOG = logging.getLogger(__name__)

AGENT_FIELDS = (
    "id", "agent_type", "host", "availability_zone", "admin_state_up", "alive",
    "heartbeat_timestamp", "started_at", "configurations",
)

ALREADY_SO = {
    (Op.ADD, 409, "NetworkHostedByDHCPAgent"),
    (Op.REMOVE, 409, "NetworkNotHostedByDhcpAgent"),
    (Op.REMOVE, 404, "NetworkNotFound"),
    (Op.REMOVE, 404, "RouterNotFound"),
}
"""Answers that mean the binding already is as wanted: success for an idempotent action."""

NOT_FOUND_TYPES = frozenset({"NetworkNotFound", "AgentNotFound"})
"""A 404 proves a resource gone only with Neutron's own error type (a proxy's 404 page proves nothing)."""
TRANSIENT_STATUS = frozenset({408, 429, 500, 502, 503, 504})
READ_RETRIES = 2
READ_BACKOFF_S = 0.1


class Outcome(StrEnum):
    DONE = "done"
    ALREADY = "already"
    CONFLICT = "conflict"
    TRANSIENT = "transient"
    FAILED = "failed"

    @property
    def ok(self) -> bool:
        return self in (Outcome.DONE, Outcome.ALREADY)


@dataclass(frozen=True, slots=True)
class CallResult:
    outcome: Outcome
    status: int | None
    error_type: str | None = None
    message: str = ""


class NeutronReadError(Exception):
    """Reading the topology failed: the pass is abandoned, nothing is planned from partial data. Its text is
    redacted once, here: it may quote a URL or an error body, and it reaches the log, /status and `plan`."""

    def __init__(self, message: str) -> None:
        super().__init__(redact_text(message))


class NeutronClient:
    def __init__(
        self,
        conn: Any,
        read_concurrency: int = 8,
        member: str | None = None,
        observer: Callable[[str, int | None, float], None] | None = None,
        read_retries: int = READ_RETRIES,
    ) -> None:
        self._conn = conn
        self._read_retries = max(0, read_retries)
        self.observer = observer
        """Called with (method, status or None, seconds) after every request: metrics."""
        self._read_concurrency = max(1, read_concurrency)
        self._headers = {"X-Rpcdaemon-Member": member} if member else {}
        self._proxy: Any = None
        self._proxy_lock = threading.Lock()

    @classmethod
    def connect(
        cls,
        *,
        cloud: str | None = None,
        endpoint: str | None = None,
        timeout_s: float = 30.0,
        read_concurrency: int = 8,
        member: str | None = None,
        pool_size: int = 16,
    ) -> NeutronClient:
        """A client from a clouds.yaml cloud, or from a Neutron endpoint served without Keystone. `pool_size`: the
        most connections kept per host (the executor's max_concurrency; requests' default of 10 made an evacuation
        at 16 at a time open and drop connections)."""
        if endpoint:
            url = endpoint.rstrip("/")
            url = url.removesuffix("/v2.0")
            conn = openstack.connect(
                auth_type="none", auth={"endpoint": url}, network_endpoint_override=url, api_timeout=timeout_s,
                load_yaml_config=False, load_envvars=False,
            )
        else:
            conn = openstack.connect(cloud=cloud or None, api_timeout=timeout_s)
        _skip_environment_lookups(conn)
        _size_connection_pool(conn, max(read_concurrency, pool_size))
        return cls(conn, read_concurrency, member)

    # --- reads -----------------------------------------------------------------------------------------------

    def fetch_agents(self) -> dict[AgentId, Agent]:
        agents: dict[AgentId, Agent] = {}
        for row in self._list("/agents", "agents", {"fields": list(AGENT_FIELDS)}):
            agent = parse_agent(row)
            if agent is None:  # an agent we cannot read could be a dead one: acting on the rest would be wrong
                raise NeutronReadError(
                    "GET /agents: a malformed row (id, agent_type, host, alive, heartbeat_timestamp and "
                    f"admin_state_up are required): fields {sorted(row)[:12]}"
                )
            agents[agent.id] = agent
        return agents

    def fetch_snapshot(
        self, *, dhcp: bool = True, l3: bool = True, agents: dict[AgentId, Agent] | None = None
    ) -> Snapshot:
        """Everything; `agents`: the agents list when the caller has just read it (to time liveness by it)."""
        agents = self.fetch_agents() if agents is None else agents
        dhcp_ids = sorted(a.id for a in agents.values() if a.agent_type == DHCP_AGENT) if dhcp else []
        l3_ids = sorted(a.id for a in agents.values() if a.agent_type == L3_AGENT) if l3 else []
        dhcp_bindings, l3_bindings = self.fetch_bindings(dhcp_ids, l3_ids)
        networks: dict[NetworkId, Network] = {}
        if dhcp:
            with_dhcp = {
                _required(row, "network_id", "/subnets")
                for row in self._list("/subnets", "subnets", {"enable_dhcp": "True", "fields": ["network_id"]})
            }
            for row in self._list("/networks", "networks", {"fields": ["id", "availability_zone_hints"]}):
                net_id = _required(row, "id", "/networks")
                networks[NetworkId(net_id)] = Network(
                    NetworkId(net_id), net_id in with_dhcp, _strings(row.get("availability_zone_hints"))
                )
        routers: dict[RouterId, Router] = {}
        if l3:
            fields = ["id", "ha", "distributed", "availability_zone_hints"]
            for row in self._list("/routers", "routers", {"fields": fields}):
                router_id = _required(row, "id", "/routers")
                routers[RouterId(router_id)] = Router(
                    RouterId(router_id), row.get("ha") is True, row.get("distributed") is True,
                    _strings(row.get("availability_zone_hints")),
                )
        return Snapshot(
            agents=agents,
            networks=networks,
            routers=routers,
            dhcp_bindings=dhcp_bindings if dhcp else None,
            l3_bindings=l3_bindings if l3 else None,
        )

    # --- targeted reads: what one event or one verdict names (core/cache.py) ------------------------------------

    def fetch_bindings(
        self, dhcp: Sequence[AgentId] = (), l3: Sequence[AgentId] = ()
    ) -> tuple[dict[AgentId, frozenset[NetworkId]], dict[AgentId, frozenset[RouterId]]]:
        """The bindings of the agents named: one call each."""
        jobs = [("dhcp", a) for a in dhcp] + [("l3", a) for a in l3]
        if not jobs:
            return {}, {}
        with ThreadPoolExecutor(max_workers=self._read_concurrency, thread_name_prefix="fetch") as pool:
            results = list(pool.map(lambda job: self._fetch_bindings(*job), jobs))
        dhcp_bindings: dict[AgentId, frozenset[NetworkId]] = {}
        l3_bindings: dict[AgentId, frozenset[RouterId]] = {}
        for (kind, agent_id), ids in zip(jobs, results, strict=True):
            if kind == "dhcp":
                dhcp_bindings[agent_id] = frozenset(NetworkId(i) for i in ids)
            else:
                l3_bindings[agent_id] = frozenset(RouterId(i) for i in ids)
        return dhcp_bindings, l3_bindings

    def fetch_network(self, net_id: NetworkId) -> NetworkRead:
        """One network, whether it has a DHCP subnet, and its DHCP agents (three small calls); a 404 is a deletion."""
        path = f"/networks/{net_id}"
        response = self._get(path, {"fields": ["id", "availability_zone_hints"]})
        if response.status_code == 404 and _error(response)[0] == "NetworkNotFound":
            return NetworkRead(net_id, None)
        row = self._one(response, path, "network")
        subnets = list(self._list("/subnets", "subnets",
                                  {"network_id": net_id, "enable_dhcp": "True", "fields": ["network_id"]}))
        hosts = [_required(r, "id", f"{path}/dhcp-agents")
                 for r in self._list(f"{path}/dhcp-agents", "agents", {"fields": ["id"]})]
        network = Network(net_id, bool(subnets), _strings(row.get("availability_zone_hints")))
        return NetworkRead(net_id, network, frozenset(AgentId(a) for a in hosts))

    def fetch_router(self, router_id: RouterId) -> RouterRead:
        """One router and its L3 agents (two small calls); a 404 is a deletion."""
        path = f"/routers/{router_id}"
        response = self._get(path, {"fields": ["id", "ha", "distributed", "availability_zone_hints"]})
        if response.status_code == 404 and _error(response)[0] == "RouterNotFound":
            return RouterRead(router_id, None)
        row = self._one(response, path, "router")
        hosts = [_required(r, "id", f"{path}/l3-agents")
                 for r in self._list(f"{path}/l3-agents", "agents", {"fields": ["id"]})]
        router = Router(router_id, row.get("ha") is True, row.get("distributed") is True,
                        _strings(row.get("availability_zone_hints")))
        return RouterRead(router_id, router, frozenset(AgentId(a) for a in hosts))

    def _one(self, response: requests.Response, path: str, key: str) -> dict[str, Any]:
        body = _body(response, path)
        row = body.get(key) if isinstance(body, dict) else None
        if not isinstance(row, dict) or _required(row, "id", path) != path.rsplit("/", 1)[1]:
            raise NeutronReadError(f"GET {path}: answer has no '{key}' object of that id")
        return row

    def confirm(self, networks: Sequence[NetworkId], agents: Sequence[AgentId]) -> Confirmations:
        """Read one by one the networks and agents a list left out: 404 is gone, 200 is present (the list lied),
        anything else proves nothing (they stay vanished)."""
        jobs = [("networks", n) for n in networks] + [("agents", a) for a in agents]
        if not jobs:
            return Confirmations()
        with ThreadPoolExecutor(max_workers=self._read_concurrency, thread_name_prefix="confirm") as pool:
            answers = list(pool.map(lambda job: self._exists(*job), jobs))
        found: dict[tuple[str, bool], set[str]] = {}
        for (collection, resource_id), exists in zip(jobs, answers, strict=True):
            if exists is not None:
                found.setdefault((collection, exists), set()).add(resource_id)
        return Confirmations(
            gone_networks=frozenset(NetworkId(n) for n in found.get(("networks", False), ())),
            present_networks=frozenset(NetworkId(n) for n in found.get(("networks", True), ())),
            gone_agents=frozenset(AgentId(a) for a in found.get(("agents", False), ())),
            present_agents=frozenset(AgentId(a) for a in found.get(("agents", True), ())),
        )

    def _exists(self, collection: str, resource_id: str) -> bool | None:
        try:
            response = self._get(f"/{collection}/{resource_id}", {"fields": ["id"]})
        except NeutronReadError:
            return None
        if response.status_code == 404 and _error(response)[0] in NOT_FOUND_TYPES:
            return False
        if response.status_code == 200:
            return True
        return None

    def _fetch_bindings(self, kind: str, agent_id: AgentId) -> list[str]:
        path, key = (
            (f"/agents/{agent_id}/dhcp-networks", "networks")
            if kind == "dhcp"
            else (f"/agents/{agent_id}/l3-routers", "routers")
        )
        return [_required(row, "id", path) for row in self._list(path, key, {"fields": ["id"]})]

    def _list(self, path: str, key: str, params: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
        """Every row of a list, following `<key>_links` next pages."""
        query: dict[str, Any] = dict(params)
        for _page in range(100_000):
            body = _body(self._get(path, query), path)
            rows = body.get(key) if isinstance(body, dict) else None
            if not isinstance(rows, list):
                raise NeutronReadError(f"GET {path}: answer has no '{key}' list")
            if not all(isinstance(row, dict) for row in rows):
                raise NeutronReadError(f"GET {path}: a '{key}' row is not an object")
            yield from rows
            next_query = _next_page(body.get(f"{key}_links"))
            if next_query is None:
                return
            query = next_query
        raise NeutronReadError(f"GET {path}: pagination does not end")

    def _get(self, path: str, query: Mapping[str, Any]) -> requests.Response:
        """A GET, retried a few times with a short backoff when it failed transiently: one 503 or reset among the
        dozens of reads of a pass should not cost the whole pass (reads are safe to repeat)."""
        for attempt in range(self._read_retries):
            try:
                response = self._request("GET", path, params=query)
                if response.status_code not in TRANSIENT_STATUS:
                    return response
            except NeutronReadError:
                pass
            time.sleep(READ_BACKOFF_S * (2 ** attempt) * (0.5 + random.random()))
        return self._request("GET", path, params=query)

    def _network(self) -> Any:
        """openstacksdk builds the proxy (and discovers the API version) on first use: do that once, locked."""
        with self._proxy_lock:
            if self._proxy is None:
                self._proxy = self._conn.network
            return self._proxy

    def _request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        started = time.perf_counter()
        status: int | None = None
        try:
            response: requests.Response = getattr(self._network(), method.lower())(
                path, headers=self._headers, **kwargs
            )
            status = response.status_code
        except (ks_exceptions.ClientException, requests.RequestException, OSError) as exc:
            raise NeutronReadError(redact_text(f"{method} {path}: {type(exc).__name__}: {exc}")) from exc
        finally:
            if self.observer is not None:
                self.observer(method, status, time.perf_counter() - started)
        return response

    # --- writes ----------------------------------------------------------------------------------------------

    def apply_call(self, call: Call) -> CallResult:
        """Carry out one scheduling call and classify Neutron's answer; never raises for an API error."""
        if call.resource_type is ResourceType.NETWORK:
            collection, body_key = "dhcp-networks", "network_id"
        else:
            collection, body_key = "l3-routers", "router_id"
        try:
            if call.op is Op.ADD:
                response = self._request(
                    "POST", f"/agents/{call.agent_id}/{collection}", json={body_key: call.resource_id}
                )
            else:
                response = self._request("DELETE", f"/agents/{call.agent_id}/{collection}/{call.resource_id}")
        except NeutronReadError as exc:
            return CallResult(Outcome.TRANSIENT, None, "ConnectionError", str(exc))
        return classify(call.op, response.status_code, *_error(response))


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


def classify(op: Op, status: int, error_type: str | None, message: str) -> CallResult:
    if 200 <= status < 300:
        return CallResult(Outcome.DONE, status)
    if (op, status, error_type) in ALREADY_SO:
        return CallResult(Outcome.ALREADY, status, error_type, message)
    if status == 409:
        return CallResult(Outcome.CONFLICT, status, error_type, message)
    if status in TRANSIENT_STATUS:
        return CallResult(Outcome.TRANSIENT, status, error_type, message)
    return CallResult(Outcome.FAILED, status, error_type, message)


def parse_agent(row: Mapping[str, Any]) -> Agent | None:
    """An Agent from an API row; None (and a warning) for a row rpcdaemon cannot trust.

    `alive` and `heartbeat_timestamp` are one liveness signal: a row where they are missing or of the wrong type
    must fail the read like any malformed row, never pass for "the API says dead"."""
    agent_id, agent_type, host = row.get("id"), row.get("agent_type"), row.get("host")
    if not (isinstance(agent_id, str) and isinstance(agent_type, str) and isinstance(host, str)):
        LOG.warning("ignoring an agent row without id, agent_type and host: %r", sorted(row)[:10])
        return None
    for key, kind in (("alive", bool), ("heartbeat_timestamp", str), ("admin_state_up", bool)):
        if not isinstance(row.get(key), kind):
            LOG.warning("agent row %s: '%s' missing or not a %s", agent_id, key, kind.__name__)
            return None
    config = row.get("configurations")
    mode = AgentMode.parse(config.get("agent_mode") if isinstance(config, dict) else None)
    zone = row.get("availability_zone")
    return Agent(
        id=AgentId(agent_id),
        agent_type=agent_type,
        host=host,
        availability_zone=zone if isinstance(zone, str) and zone else None,
        admin_state_up=row.get("admin_state_up") is not False,
        alive=row.get("alive") is True,
        heartbeat=_str_or_none(row.get("heartbeat_timestamp")),
        started_at=_str_or_none(row.get("started_at")),
        agent_mode=mode,
    )


def _body(response: requests.Response, path: str) -> Any:
    """The JSON of a 200 answer to a GET; anything else fails the read."""
    if response.status_code != 200:
        raise NeutronReadError(f"GET {path}: HTTP {response.status_code} {_error(response)[1]}")
    try:
        return response.json()
    except ValueError as exc:
        raise NeutronReadError(f"GET {path}: answer is not JSON") from exc


def _error(response: requests.Response) -> tuple[str | None, str]:
    try:
        body = response.json()
    except ValueError:
        return None, response.text[:200]
    if isinstance(body, dict) and isinstance(body.get("NeutronError"), dict):
        err = body["NeutronError"]
        return _str_or_none(err.get("type")), str(err.get("message", ""))[:500]
    return None, ""


def _next_page(links: object) -> dict[str, Any] | None:
    if not isinstance(links, list):
        return None
    for link in links:
        if isinstance(link, dict) and link.get("rel") == "next" and isinstance(link.get("href"), str):
            return {k: v if len(v) > 1 else v[0] for k, v in parse_qs(urlsplit(link["href"]).query).items()}
    return None


def _required(row: Mapping[str, Any], key: str, path: str) -> str:
    """A field every row must have: a row without it fails the whole read. A list with a row dropped looks
    complete and is not (an agent would look empty, every network deleted): nothing may be decided on it."""
    value = row.get(key)
    if not isinstance(value, str) or not value:
        raise NeutronReadError(f"GET {path}: a row without a valid '{key}'")
    return value


def _strings(value: object) -> tuple[str, ...]:
    return tuple(v for v in value if isinstance(v, str)) if isinstance(value, list) else ()


def _str_or_none(value: object) -> str | None:
    return value if isinstance(value, str) else None
