"""Secrets never leave rpcdaemon: tokens, passwords and URL credentials are replaced before anything is shown.

Bus messages carry the caller's Keystone token in `_context_auth_token` (and friends); a dump, a log line or the
status page must never show it. Redaction is by key name (anything that looks like a token, password, secret or
credential) and by pattern inside strings (scheme://user:password@host). Depth and size are bounded.
"""

from __future__ import annotations

import re
from typing import Any

SECRET_KEY = re.compile(r"token|passw|secret|credential|private_key|api_key", re.IGNORECASE)
URL_CREDENTIALS = re.compile(r"(\b[a-zA-Z][a-zA-Z0-9+.-]*://[^:/@\s]*:)[^@/\s]+@")
MASK = "***"
MAX_DEPTH = 20


def redact_text(text: str) -> str:
    return URL_CREDENTIALS.sub(r"\1" + MASK + "@", text)


def redact(value: Any, depth: int = 0) -> Any:
    if depth > MAX_DEPTH:
        return "<too deep>"
    if isinstance(value, dict):
        return {
            str(k): (MASK if SECRET_KEY.search(str(k)) and v not in (None, "") else redact(v, depth + 1))
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [redact(v, depth + 1) for v in value]
    if isinstance(value, str):
        return redact_text(value)
    return value
