"""The exceptions of the Neutron seam: a read that failed, and a way to Neutron that cannot work at all.

Their own module, so the answer parsers, the connection and the client share them."""

from __future__ import annotations

from rpcdaemon.redaction import redact_text


class NeutronReadError(Exception):
    """Reading the topology failed: the pass is abandoned, nothing is planned from partial data. Its text is
    redacted once, here: it may quote a URL or an error body, and it reaches the log, /status and `plan`."""

    def __init__(self, message: str) -> None:
        super().__init__(redact_text(message))


class NeutronConfigError(ValueError):
    """The way to Neutron cannot work whatever the network does: a clouds.yaml cloud that does not exist, no
    credentials at all, an auth plugin missing an option. A configuration problem (exit 2 at start), found
    without a request; its text names the option or file, never a secret."""

    def __init__(self, message: str) -> None:
        super().__init__(redact_text(message))
