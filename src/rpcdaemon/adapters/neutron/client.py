"""The only module that talks to the Neutron API (through openstacksdk).

Reading the topology costs 4 + (number of DHCP and L3 agents) calls per pass, whatever the number of networks and
routers: the agent list, each agent's bindings, then the network, DHCP-subnet and router lists (bindings first, so a
binding whose resource is missing from the lists belongs to a deleted resource, never to a new one). Lists ask for
the few fields rpcdaemon uses, follow pagination links, and are parsed from JSON directly: building openstacksdk
resource objects for 10,000 networks would cost more CPU than the rest of the pass.

Writes use the proxy's raw calls, which return the HTTP response instead of raising (openstacksdk's add/remove
helpers return error dicts silently); every answer is classified once (answers.py): done, already so, conflict,
transient (retry) or failed.

The client sees the connection only through a Protocol (connection.py), and waits between read retries through an
injected sleep and jitter, so its retries are tested with a fake connection and no real time.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import requests
from keystoneauth1 import exceptions as ks_exceptions

from rpcdaemon.adapters.neutron.answers import (
    ALREADY_SO,
    NOT_FOUND_TYPES,
    TRANSIENT_STATUS,
    CallResult,
    Outcome,
    body_of,
    classify,
    error_of,
    next_page,
    parse_agent,
    required,
    strings,
)
from rpcdaemon.adapters.neutron.connection import NetworkProxy, NeutronConnection, open_connection
from rpcdaemon.adapters.neutron.errors import NeutronReadError
from rpcdaemon.config.credentials import Credentials
from rpcdaemon.core.actions import Call, Op, ResourceType
from rpcdaemon.core.cache import NetworkRead, RouterRead
from rpcdaemon.core.verify import DHCP_OWNER, ROUTER_OWNERS
from rpcdaemon.model import (
    DHCP_AGENT,
    L3_AGENT,
    Agent,
    AgentId,
    Confirmations,
    Network,
    NetworkId,
    Port,
    PortRead,
    Router,
    RouterId,
    Snapshot,
)
from rpcdaemon.redaction import redact_text

__all__ = [
    "AGENT_FIELDS",
    "ALREADY_SO",
    "NOT_FOUND_TYPES",
    "READ_BACKOFF_S",
    "READ_RETRIES",
    "TRANSIENT_STATUS",
    "CallResult",
    "NeutronClient",
    "NeutronConnection",
    "NeutronReadError",
    "Outcome",
    "classify",
    "parse_agent",
]
"""What other modules import from here (the answers, errors and connection modules were split out of this one)."""

AGENT_FIELDS = (
    "id", "agent_type", "host", "availability_zone", "admin_state_up", "alive",
    "heartbeat_timestamp", "started_at", "configurations", "description",
)

PORT_DEVICES_PER_CALL = 40
"""Router ids per GET /ports?device_id=...: 40 of 36 characters keep the URL under 2 KB."""
READ_RETRIES = 2
READ_BACKOFF_S = 0.1


class NeutronClient:
    def __init__(
        self,
        conn: NeutronConnection,
        read_concurrency: int = 8,
        member: str | None = None,
        observer: Callable[[str, int | None, float], None] | None = None,
        read_retries: int = READ_RETRIES,
        *,
        sleep: Callable[[float], None] = time.sleep,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self._conn = conn
        self._read_retries = max(0, read_retries)
        self._sleep = sleep
        self._jitter = jitter
        """A number in [0, 1): a read retry waits READ_BACKOFF_S * 2**attempt * (0.5 + jitter())."""
        self.observer = observer
        """Called with (method, status or None, seconds) after every request: metrics."""
        self._read_concurrency = max(1, read_concurrency)
        self._headers = {"X-Rpcdaemon-Member": member} if member else {}
        self._proxy: NetworkProxy | None = None
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
        credentials: Credentials | None = None,
    ) -> NeutronClient:
        """A client from a clouds.yaml cloud, or from a Neutron endpoint served without Keystone. `pool_size`: the
        most connections kept per host (the executor's max_concurrency; requests' default of 10 made an evacuation
        at 16 at a time open and drop connections)."""
        conn = open_connection(cloud=cloud, endpoint=endpoint, timeout_s=timeout_s,
                               pool_size=max(read_concurrency, pool_size), credentials=credentials)
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
                required(row, "network_id", "/subnets")
                for row in self._list("/subnets", "subnets", {"enable_dhcp": "True", "fields": ["network_id"]})
            }
            for row in self._list("/networks", "networks", {"fields": ["id", "availability_zone_hints"]}):
                net_id = required(row, "id", "/networks")
                networks[NetworkId(net_id)] = Network(
                    NetworkId(net_id), net_id in with_dhcp, strings(row.get("availability_zone_hints"))
                )
        routers: dict[RouterId, Router] = {}
        if l3:
            fields = ["id", "ha", "distributed", "availability_zone_hints"]
            for row in self._list("/routers", "routers", {"fields": fields}):
                router_id = required(row, "id", "/routers")
                routers[RouterId(router_id)] = Router(
                    RouterId(router_id), row.get("ha") is True, row.get("distributed") is True,
                    strings(row.get("availability_zone_hints")),
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
        if response.status_code == 404 and error_of(response)[0] == "NetworkNotFound":
            return NetworkRead(net_id, None)
        row = self._one(response, path, "network")
        subnets = list(self._list("/subnets", "subnets",
                                  {"network_id": net_id, "enable_dhcp": "True", "fields": ["network_id"]}))
        hosts = [required(r, "id", f"{path}/dhcp-agents")
                 for r in self._list(f"{path}/dhcp-agents", "agents", {"fields": ["id"]})]
        network = Network(net_id, bool(subnets), strings(row.get("availability_zone_hints")))
        return NetworkRead(net_id, network, frozenset(AgentId(a) for a in hosts))

    def fetch_router(self, router_id: RouterId) -> RouterRead:
        """One router and its L3 agents (two small calls); a 404 is a deletion."""
        path = f"/routers/{router_id}"
        response = self._get(path, {"fields": ["id", "ha", "distributed", "availability_zone_hints"]})
        if response.status_code == 404 and error_of(response)[0] == "RouterNotFound":
            return RouterRead(router_id, None)
        row = self._one(response, path, "router")
        hosts = [required(r, "id", f"{path}/l3-agents")
                 for r in self._list(f"{path}/l3-agents", "agents", {"fields": ["id"]})]
        router = Router(router_id, row.get("ha") is True, row.get("distributed") is True,
                        strings(row.get("availability_zone_hints")))
        return RouterRead(router_id, router, frozenset(AgentId(a) for a in hosts))

    def fetch_ha_states(self, routers: Sequence[RouterId]) -> dict[RouterId, dict[AgentId, str]]:
        """Each replica's ha_state of the HA routers named (GET /routers/{id}/l3-agents, one call each, a few
        at once): only what a drain or a rebalance is about to take from (core: Plan.wants_ha_states). A router
        that answers 404 is left out (not known: nothing is taken from it)."""
        def read(router_id: RouterId) -> dict[AgentId, str] | None:
            path = f"/routers/{router_id}/l3-agents"
            try:
                rows = list(self._list(path, "agents", {"fields": ["id", "ha_state"]}))
            except NeutronReadError:
                return None
            return {AgentId(required(r, "id", path)): str(r.get("ha_state") or "") for r in rows}

        if not routers:
            return {}
        with ThreadPoolExecutor(max_workers=self._read_concurrency, thread_name_prefix="fetch") as pool:
            results = list(pool.map(read, routers))
        return {r: states for r, states in zip(routers, results, strict=True) if states is not None}

    def fetch_ports(self, hosts: Sequence[str], devices: Sequence[str], networks: Sequence[str] = ()) -> PortRead:
        """The ports verification needs (core/verify.py): the router and DHCP ports bound to `hosts` in one call;
        all ports of the routers in `devices` and the DHCP ports of the `networks` (40 per call: a URL under 2 KB,
        where Neutron's uWSGI takes about 4 KB)."""
        fields = ["device_id", "network_id", "device_owner", "binding:host_id", "status"]
        rows: list[dict[str, Any]] = []
        if hosts:
            rows += self._list("/ports", "ports", {"binding:host_id": sorted(hosts),
                                                   "device_owner": [*ROUTER_OWNERS, DHCP_OWNER], "fields": fields})
        ordered = sorted(devices)
        for i in range(0, len(ordered), PORT_DEVICES_PER_CALL):
            rows += self._list("/ports", "ports", {"device_id": ordered[i:i + PORT_DEVICES_PER_CALL],
                                                   "fields": fields})
        nets = sorted(networks)
        for i in range(0, len(nets), PORT_DEVICES_PER_CALL):
            rows += self._list("/ports", "ports", {"network_id": nets[i:i + PORT_DEVICES_PER_CALL],
                                                   "device_owner": DHCP_OWNER, "fields": fields})
        ports = tuple(Port(str(r.get("device_id") or ""), str(r.get("network_id") or ""),
                           str(r.get("device_owner") or ""), str(r.get("binding:host_id") or ""),
                           str(r.get("status") or "")) for r in rows)
        return PortRead(frozenset(hosts), frozenset(devices), ports, frozenset(networks))

    def set_agent(self, agent_id: AgentId, **fields: object) -> CallResult:
        """PUT /agents/{id} (admin_state_up, description): the drain's mark and its end; never raises for an API
        error."""
        path = f"/agents/{agent_id}"
        try:
            response = self._request("PUT", path, lambda proxy: proxy.put(
                path, headers=self._headers, json={"agent": fields}))
        except NeutronReadError as exc:
            return CallResult(Outcome.TRANSIENT, None, "ConnectionError", str(exc))
        return classify(Op.DISABLE, response.status_code, *error_of(response))

    def _one(self, response: requests.Response, path: str, key: str) -> dict[str, Any]:
        body = body_of(response, path)
        row = body.get(key) if isinstance(body, dict) else None
        if not isinstance(row, dict) or required(row, "id", path) != path.rsplit("/", 1)[1]:
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
        if response.status_code == 404 and error_of(response)[0] in NOT_FOUND_TYPES:
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
        return [required(row, "id", path) for row in self._list(path, key, {"fields": ["id"]})]

    def _list(self, path: str, key: str, params: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
        """Every row of a list, following `<key>_links` next pages."""
        query: dict[str, Any] = dict(params)
        for _page in range(100_000):
            body = body_of(self._get(path, query), path)
            rows = body.get(key) if isinstance(body, dict) else None
            if not isinstance(rows, list):
                raise NeutronReadError(f"GET {path}: answer has no '{key}' list")
            if not all(isinstance(row, dict) for row in rows):
                raise NeutronReadError(f"GET {path}: a '{key}' row is not an object")
            yield from rows
            next_query = next_page(body.get(f"{key}_links"))
            if next_query is None:
                return
            query = next_query
        raise NeutronReadError(f"GET {path}: pagination does not end")

    def _get(self, path: str, query: Mapping[str, Any]) -> requests.Response:
        """A GET, retried a few times with a short backoff when it failed transiently: one 503 or reset among the
        dozens of reads of a pass should not cost the whole pass (reads are safe to repeat)."""
        def send(proxy: NetworkProxy) -> requests.Response:
            return proxy.get(path, headers=self._headers, params=query)

        for attempt in range(self._read_retries):
            try:
                response = self._request("GET", path, send)
                if response.status_code not in TRANSIENT_STATUS:
                    return response
            except NeutronReadError:
                pass
            self._sleep(READ_BACKOFF_S * (2 ** attempt) * (0.5 + self._jitter()))
        return self._request("GET", path, send)

    def probe(self) -> tuple[bool, str | None]:
        """One request needing what the daemon needs (a token, the endpoint, the admin role): GET /agents for one
        id. (True, None): usable. (False, why): refused for good (credentials refused, no network endpoint in the
        catalog, no admin role): a start must fail. (True, why): not reachable now (down, 5xx, timeout): a start
        goes on and the passes retry."""
        def send(proxy: NetworkProxy) -> requests.Response:
            return proxy.get("/agents", headers=self._headers, params={"fields": ["id"], "limit": 1})

        try:
            response = self._request("GET", "/agents", send)
        except NeutronReadError as exc:
            cause = exc.__cause__
            if isinstance(cause, ks_exceptions.Unauthorized):
                return False, f"Keystone refused the credentials: {exc}"
            if isinstance(cause, ks_exceptions.EndpointNotFound | ks_exceptions.EmptyCatalog):
                return False, f"the catalog has no usable network endpoint: {exc}"
            if isinstance(cause, ks_exceptions.Forbidden):
                return False, f"Keystone refused a token: {exc}"
            return True, f"Neutron or Keystone not reachable now: {exc}"
        status = response.status_code
        if status == 401:
            return False, "Neutron refused the token (GET /v2.0/agents answered 401)"
        if status == 403:
            return False, ("the credentials lack the admin role needed to list agents and schedule routers and "
                           "networks (GET /v2.0/agents answered 403)")
        if status == 404:  # no agents extension, or a proxy with no Neutron behind it yet: not a reason to refuse
            return True, "GET /v2.0/agents answered 404 (no agents extension, or no Neutron behind the endpoint yet)"
        if status >= 400:
            return True, f"Neutron not usable now: GET /v2.0/agents answered {status}"
        try:
            rows = response.json().get("agents")
        except (ValueError, AttributeError):
            rows = None
        if rows == []:
            # Neutron 29 answers a non-admin 200 with an empty list (rows filtered by policy), not 403
            roles = self._token_roles()
            if roles is not None and "admin" not in {r.lower() for r in roles}:
                return False, ("the credentials lack the admin role needed to list agents and schedule routers and "
                               "networks (Neutron answered GET /v2.0/agents with an empty list, as it answers a "
                               f"non-admin; the token's roles: {', '.join(sorted(roles)) or 'none'})")
            return True, "Neutron lists no agents yet"
        return True, None

    def _token_roles(self) -> list[str] | None:
        """The role names of the token in use (None: no Keystone, or they cannot be told)."""
        session = getattr(self._conn, "session", None)
        auth = getattr(session, "auth", None)
        if session is None or auth is None or not hasattr(auth, "get_access"):
            return None
        try:
            roles = auth.get_access(session).role_names
        except Exception:  # an auth plugin without roles (noauth, admin_token): not telling
            return None
        return [str(r) for r in roles] if isinstance(roles, list) else None

    def _network(self) -> NetworkProxy:
        """openstacksdk builds the proxy (and discovers the API version) on first use: do that once, locked."""
        with self._proxy_lock:
            if self._proxy is None:
                self._proxy = self._conn.network
            return self._proxy

    def _request(
        self, method: str, path: str, send: Callable[[NetworkProxy], requests.Response]
    ) -> requests.Response:
        """`send` on the network proxy, timed for the observer; no answer at all raises NeutronReadError."""
        started = time.perf_counter()
        status: int | None = None
        try:
            response = send(self._network())
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
        if call.op is Op.DISABLE:
            return self.set_agent(call.agent_id, admin_state_up=False)
        if call.resource_type is ResourceType.NETWORK:
            collection, body_key = "dhcp-networks", "network_id"
        else:
            collection, body_key = "l3-routers", "router_id"
        try:
            if call.op is Op.ADD:
                path = f"/agents/{call.agent_id}/{collection}"
                response = self._request("POST", path, lambda proxy: proxy.post(
                    path, headers=self._headers, json={body_key: call.resource_id}))
            else:
                path = f"/agents/{call.agent_id}/{collection}/{call.resource_id}"
                response = self._request("DELETE", path, lambda proxy: proxy.delete(path, headers=self._headers))
        except NeutronReadError as exc:
            return CallResult(Outcome.TRANSIENT, None, "ConnectionError", str(exc))
        return classify(call.op, response.status_code, *error_of(response))
