"""Error answers of the emulated Neutron, rendered as Neutron renders its exceptions.

Why it exists: every part of the emulator (the state's lookups, the scheduling checks, the HTTP layer) answers
errors the same way a real Neutron does: the exception's HTTP status and a body {"NeutronError": {"type": the
exception's class name, "message", "detail": ""}}. rpcdaemon's client tells errors apart by that type (404
RouterNotFound is not 404 InvalidL3Agent), so one definition serves all of them.
"""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """An error answer: HTTP status and NeutronError type, as Neutron's exception would be rendered."""

    def __init__(self, status: int, error_type: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.error_type = error_type
        self.message = message

    def body(self) -> dict[str, Any]:
        return {"NeutronError": {"type": self.error_type, "message": self.message, "detail": ""}}


def agent_not_found(agent_id: str) -> ApiError:
    return ApiError(404, "AgentNotFound", f"Agent {agent_id} could not be found.")


def network_not_found(net_id: str) -> ApiError:
    return ApiError(404, "NetworkNotFound", f"Network {net_id} could not be found.")


def router_not_found(router_id: str) -> ApiError:
    return ApiError(404, "RouterNotFound", f"Router {router_id} could not be found.")
