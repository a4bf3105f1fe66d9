"""The audit trail: one JSON line per change rpcdaemon carried out (or planned, in a dry run).

Operators ask "what did it do at 3 a.m., and why": every record says what, to which resource, from and to which
agent (ids and hosts), why, the outcome, and how long it took. Records go to the plugin's logger
(`rpcdaemon.audit.L3Agent` or `rpcdaemon.audit.DHCPAgent`, at the plugin's loglevel), to an optional JSON-lines
file, and to a short in-memory ring that status output reads. A record's reason and detail may quote Neutron's
answer (an error body can hold anything, a URL with its password included): both are redacted on the way in, so
no copy (log, file, ring, /status) ever holds the secret.
"""

from __future__ import annotations

import json
import logging
import threading
from collections import deque
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from rpcdaemon.core.actions import ChangeOutcome
from rpcdaemon.redaction import redact_text

LOG = logging.getLogger("rpcdaemon.audit")
PLUGIN_LOGGERS = {"network": logging.getLogger("rpcdaemon.audit.DHCPAgent"),
                  "router": logging.getLogger("rpcdaemon.audit.L3Agent")}
"""Each plugin's changes are logged on its own logger, so [L3Agent]/[DHCPAgent] loglevel apply as in the original."""


@dataclass(frozen=True, slots=True)
class AuditRecord:
    time: str
    action: str
    resource_type: str
    resource_id: str
    from_agent: str | None
    to_agent: str | None
    from_host: str | None
    to_host: str | None
    reason: str
    outcome: ChangeOutcome
    detail: str
    duration_s: float
    dry_run: bool
    member: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


class AuditLog:
    def __init__(self, path: str | None = None, keep: int = 200) -> None:
        self._path = path
        self._lock = threading.Lock()
        self._recent: deque[AuditRecord] = deque(maxlen=keep)
        self._file = open(path, "a", encoding="utf-8") if path else None  # noqa: SIM115 - lives as long as the log

    @staticmethod
    def now() -> str:
        return datetime.now(UTC).isoformat(timespec="milliseconds")

    def record(self, record: AuditRecord) -> None:
        record = replace(record, reason=redact_text(record.reason), detail=redact_text(record.detail))
        line = json.dumps(record.as_dict(), sort_keys=True)
        with self._lock:
            self._recent.append(record)
            if self._file is not None:
                self._file.write(line + "\n")
                self._file.flush()
        level = logging.INFO if record.outcome.ok else logging.WARNING
        PLUGIN_LOGGERS.get(record.resource_type, LOG).log(level, "%s", line)

    def recent(self) -> list[AuditRecord]:
        with self._lock:
            return list(self._recent)

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None
