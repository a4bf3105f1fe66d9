"""Neutron's answers, read without trusting them: a write's answer classified, a list's rows checked, an agent row
parsed, an error body's NeutronError type and message extracted.

Pure functions of an answer (no request is sent here), so they are tested on answers alone; the client
(client.py) sends the requests and calls these on what comes back.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests

from rpcdaemon.adapters.neutron.errors import NeutronReadError
from rpcdaemon.core.actions import Op
from rpcdaemon.model import DRAIN_MARK, Agent, AgentId, AgentMode

LOG = logging.getLogger("rpcdaemon.adapters.neutron.client")
"""The client's logger, as before the split (an operator's logging config may name it)."""

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


class Outcome(StrEnum):
    """What one API call's answer means (the executor turns a change's calls into a ChangeOutcome)."""

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
        heartbeat=str_or_none(row.get("heartbeat_timestamp")),
        started_at=str_or_none(row.get("started_at")),
        agent_mode=mode,
        draining=isinstance(row.get("description"), str) and row["description"].startswith(DRAIN_MARK),
    )


def body_of(response: requests.Response, path: str) -> Any:
    """The JSON of a 200 answer to a GET; anything else fails the read."""
    if response.status_code != 200:
        raise NeutronReadError(f"GET {path}: HTTP {response.status_code} {error_of(response)[1]}")
    try:
        return response.json()
    except ValueError as exc:
        raise NeutronReadError(f"GET {path}: answer is not JSON") from exc


def error_of(response: requests.Response) -> tuple[str | None, str]:
    """The NeutronError type (None when the body has none: a proxy's error page) and message of an answer."""
    try:
        body = response.json()
    except ValueError:
        return None, response.text[:200]
    if isinstance(body, dict) and isinstance(body.get("NeutronError"), dict):
        err = body["NeutronError"]
        return str_or_none(err.get("type")), str(err.get("message", ""))[:500]
    return None, ""


def next_page(links: object) -> dict[str, Any] | None:
    """The query of a list's next page, from its `<key>_links`; None on the last page."""
    if not isinstance(links, list):
        return None
    for link in links:
        if isinstance(link, dict) and link.get("rel") == "next" and isinstance(link.get("href"), str):
            return {k: v if len(v) > 1 else v[0] for k, v in parse_qs(urlsplit(link["href"]).query).items()}
    return None


def required(row: Mapping[str, Any], key: str, path: str) -> str:
    """A field every row must have: a row without it fails the whole read. A list with a row dropped looks
    complete and is not (an agent would look empty, every network deleted): nothing may be decided on it."""
    value = row.get(key)
    if not isinstance(value, str) or not value:
        raise NeutronReadError(f"GET {path}: a row without a valid '{key}'")
    return value


def strings(value: object) -> tuple[str, ...]:
    return tuple(v for v in value if isinstance(v, str)) if isinstance(value, list) else ()


def str_or_none(value: object) -> str | None:
    return value if isinstance(value, str) else None
