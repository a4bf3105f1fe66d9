"""The bus's name for rpcdaemon's one redaction (rpcdaemon.redaction): kept so that older imports still work."""

from __future__ import annotations

from rpcdaemon.redaction import MASK, SECRET_KEY, escape_controls, redact, redact_text

__all__ = ["MASK", "SECRET_KEY", "escape_controls", "redact", "redact_text"]
