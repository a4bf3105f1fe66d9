"""Decoding what Neutron puts on the bus, without trusting it.

Heartbeats are oslo.messaging RPC calls (`report_state` on topic q-reports-plugin), notifications are
oslo.messaging notifications (routing key notifications.info); both usually arrive wrapped in an oslo envelope
{"oslo.version": "2.0", "oslo.message": "<JSON text>"}. Anything else (not JSON, a wrong envelope, missing fields,
a huge body) raises `Malformed` with a kind for the counters and a reason for the log; nothing is ever evaluated.
The decoded message keeps only redacted copies of the payload and context (rpcdaemon.redaction: by key, in
[key, value] pairs, inside JSON-encoded strings): a token never survives decoding.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from rpcdaemon.model import BusKind, MalformedKind
from rpcdaemon.redaction import redact

MAX_BODY = 1 << 20
RESOURCES = ("network", "subnet", "router", "port", "agent", "floatingip")


class Malformed(Exception):
    def __init__(self, kind: MalformedKind, why: str) -> None:
        super().__init__(why)
        self.kind = kind
        self.why = why


@dataclass(frozen=True, slots=True)
class BusMessage:
    kind: BusKind
    routing_key: str
    method: str | None = None
    event_type: str | None = None
    host: str | None = None
    agent_type: str | None = None
    binary: str | None = None
    start_flag: bool = False
    agent_time: str | None = None
    resource_type: str | None = None
    resource_id: str | None = None
    revision_number: int | None = None
    payload: dict[str, Any] = field(default_factory=dict, repr=False)
    context: dict[str, Any] = field(default_factory=dict, repr=False)

    def as_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


def decode(body: bytes | str | dict[str, Any], routing_key: str = "") -> BusMessage:
    message = _unwrap(_load(body))
    context = redact({k[len("_context_"):]: v for k, v in message.items() if k.startswith("_context_")})
    if isinstance(message.get("context"), dict):
        context = redact(message["context"]) | context
    if "event_type" in message:
        return _notification(message, routing_key, context)
    method = message.get("method")
    if isinstance(method, str):
        if method == "report_state":
            return _heartbeat(message, routing_key, context)
        args = message.get("args")
        return BusMessage(BusKind.RPC, routing_key, method=method,
                          payload=redact(args) if isinstance(args, dict) else {}, context=context)
    return BusMessage(BusKind.OTHER, routing_key, payload=redact(message), context=context)


def _load(body: bytes | str | dict[str, Any]) -> dict[str, Any]:
    if isinstance(body, dict):
        return body
    if isinstance(body, bytes | bytearray):
        if len(body) > MAX_BODY:
            raise Malformed(MalformedKind.TOO_LARGE, f"body of {len(body)} bytes (limit {MAX_BODY})")
        try:
            body = body.decode("utf-8")
        except UnicodeDecodeError:
            raise Malformed(MalformedKind.NOT_JSON, "body is not UTF-8 text") from None
    if not isinstance(body, str):
        raise Malformed(MalformedKind.NOT_JSON, f"body is a {type(body).__name__}")
    if len(body) > MAX_BODY:
        raise Malformed(MalformedKind.TOO_LARGE, f"body of {len(body)} characters (limit {MAX_BODY})")
    try:
        loaded = json.loads(body)
    except (ValueError, RecursionError):
        raise Malformed(MalformedKind.NOT_JSON, "body is not JSON") from None
    if not isinstance(loaded, dict):
        raise Malformed(MalformedKind.BAD_ENVELOPE, f"body is a JSON {type(loaded).__name__}, not an object")
    return loaded


def _unwrap(message: dict[str, Any]) -> dict[str, Any]:
    if "oslo.message" not in message:
        return message
    inner = message["oslo.message"]
    if not isinstance(inner, str):
        raise Malformed(MalformedKind.BAD_ENVELOPE, "oslo.message is not a JSON string")
    try:
        loaded = json.loads(inner)
    except (ValueError, RecursionError):
        raise Malformed(MalformedKind.BAD_ENVELOPE, "oslo.message is not JSON") from None
    if not isinstance(loaded, dict):
        raise Malformed(MalformedKind.BAD_ENVELOPE, "oslo.message is not a JSON object")
    return loaded


def _heartbeat(message: dict[str, Any], routing_key: str, context: dict[str, Any]) -> BusMessage:
    args = message.get("args")
    state = args.get("agent_state") if isinstance(args, dict) else None
    if isinstance(state, dict) and isinstance(state.get("agent_state"), dict):
        state = state["agent_state"]
    if not isinstance(state, dict):
        raise Malformed(MalformedKind.MISSING_FIELDS, "report_state without args.agent_state")
    host, agent_type = state.get("host"), state.get("agent_type")
    if not isinstance(host, str) or not host or not isinstance(agent_type, str) or not agent_type:
        raise Malformed(MalformedKind.MISSING_FIELDS, "report_state without host or agent_type")
    binary = state.get("binary")
    agent_time = args.get("time") if isinstance(args, dict) else None
    return BusMessage(
        BusKind.HEARTBEAT, routing_key, method="report_state", host=host, agent_type=agent_type,
        binary=binary if isinstance(binary, str) else None, start_flag=state.get("start_flag") is True,
        agent_time=agent_time if isinstance(agent_time, str) else None, payload=redact(state), context=context,
    )


def _notification(message: dict[str, Any], routing_key: str, context: dict[str, Any]) -> BusMessage:
    event_type = message.get("event_type")
    if not isinstance(event_type, str) or not event_type:
        raise Malformed(MalformedKind.MISSING_FIELDS, "notification without an event_type")
    payload = message.get("payload")
    payload = payload if isinstance(payload, dict) else {}
    resource_type, resource_id, revision = _resource(event_type, payload)
    publisher = message.get("publisher_id")
    host = publisher.partition(".")[2] if isinstance(publisher, str) and "." in publisher else None
    return BusMessage(
        BusKind.NOTIFICATION, routing_key, event_type=event_type, host=host or None, resource_type=resource_type,
        resource_id=resource_id, revision_number=revision, payload=redact(payload), context=context,
    )


def _resource(event_type: str, payload: dict[str, Any]) -> tuple[str | None, str | None, int | None]:
    """(resource type, id, revision) named by a notification; for router.interface.* and the scheduling
    notifications the resource is the router or network they change."""
    head = event_type.split(".", 1)[0]
    if event_type.startswith("router.interface."):
        body = payload.get("router_interface")
        rid = body.get("id") if isinstance(body, dict) else payload.get("router_id")
        return "router", rid if isinstance(rid, str) else None, None
    if head in ("dhcp_agent", "l3_agent"):
        kind = "network" if head == "dhcp_agent" else "router"
        rid = payload.get(f"{kind}_id")
        return kind, rid if isinstance(rid, str) else None, None
    if head not in RESOURCES:
        return None, None, None
    body = payload.get(head)
    if isinstance(body, dict):
        rid, revision = body.get("id"), body.get("revision_number")
        if head == "subnet" and isinstance(body.get("network_id"), str):
            return "network", body["network_id"], None
        return head, rid if isinstance(rid, str) else None, revision if isinstance(revision, int) else None
    rid = payload.get(f"{head}_id")
    return head, rid if isinstance(rid, str) else None, None
