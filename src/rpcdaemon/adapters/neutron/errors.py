"""The one exception a read of Neutron raises: its own module, so the answer parsers and the client share it."""

from __future__ import annotations

from rpcdaemon.redaction import redact_text


class NeutronReadError(Exception):
    """Reading the topology failed: the pass is abandoned, nothing is planned from partial data. Its text is
    redacted once, here: it may quote a URL or an error body, and it reaches the log, /status and `plan`."""

    def __init__(self, message: str) -> None:
        super().__init__(redact_text(message))
