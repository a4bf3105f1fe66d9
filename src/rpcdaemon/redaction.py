"""Secrets never leave rpcdaemon: one redaction for every exit (log, status, plan, check-config, dump, audit).

rpcdaemon holds secrets (the Neutron endpoint's and the broker's passwords, clouds.yaml credentials, the status
token, the coordination backend's password) and hears others' (bus messages carry the caller's Keystone token in
`_context_auth_token`, headers, nested JSON). Any of them can end up in text rpcdaemon shows: an exception message
that quotes a URL, an API error body, a decoded message. Redacting at each place that builds a message misses the
next place, so this module is the one redaction, applied again where text leaves the program:

- `redact(value)`: structures (bus messages, status documents). A key that names a secret (token, password,
  secret, auth, credential, ...) has its value masked; a `[key, value]` pair does too (headers as lists of
  pairs); a string that is itself JSON is decoded, redacted and encoded again; every other string goes through
  `redact_text`. Depth is bounded.
- `redact_text(text)`: free text. Credentials in URLs (every host of an oslo multi-host URL
  `rabbit://u:p@h1,u:p@h2/`), `key=value` and quoted `"key": "value"` pairs whose key names a secret,
  `["X-Auth-Token", "..."]` pairs, secret HTTP headers, and Keystone Fernet and JWT token shapes.
- `escape_controls(text)`: control characters (ESC above all) as visible escapes, for text bound for a terminal.
- `RedactingFormatter`: a logging.Formatter that does both to every line, tracebacks included. The daemon installs
  it on its handler; importing this module also gives it to logging's handler of last resort, which prints the
  warnings of libraries (keystoneauth quotes the auth_url it could not reach, password included) in the commands
  that configure no logging (`plan`, `check-config`, `dump`, `status`).

A value that is not recognisable as a secret (a bare word in prose) cannot be found here: the rule for the rest of
the code stays "never put a secret in a message"; this is the net below it.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any

__all__ = ["MASK", "SECRET_KEY", "RedactingFormatter", "escape_controls", "redact", "redact_text"]

MASK = "***"
MAX_DEPTH = 20
MAX_JSON_STRING = 1 << 20

SENSITIVE_WORDS = r"token|passw|pwd|secret|credential|auth|private_key|api_key|access_key"
SECRET_KEY = re.compile(rf"{SENSITIVE_WORDS}|^pass$", re.IGNORECASE)
"""A key whose value is a secret (matched anywhere in the key, case-insensitive)."""

_SCHEME_AUTHORITY = re.compile(r"((?<![A-Za-z0-9+.\-])[A-Za-z][A-Za-z0-9+.\-]{0,30}://)([^\s/?#\"'<>`\\]*)")
"""A URL's scheme and authority (user:password@host, or several of them, comma-separated, in oslo URLs). The
authority ends where a URL parser ends it (/ ? #) or where the URL itself ends in text (space, quote). Every
pattern here starts only where a name can start and bounds its names' length: redaction runs on every log line,
and text like "a.a.a.a..." must cost linear time, not quadratic."""

_KEY = rf"[A-Za-z0-9_.\-]{{0,64}}?(?:{SENSITIVE_WORDS})[A-Za-z0-9_.\-]{{0,64}}"
_QUOTED_VALUE = r"""(?:"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*'|\\"(?:(?!\\").)*\\"|\\'(?:(?!\\').)*\\')"""
_QUOTE = r"""(?:\\?["'])"""
_QUOTED_PAIR = re.compile(
    rf"(?P<key>{_QUOTE}{_KEY}{_QUOTE})(?P<sep>\s*:\s*)(?P<value>{_QUOTED_VALUE})", re.IGNORECASE
)
"""`"password": "x"` (JSON), `'token': 'x'` (a Python repr), `\\"token\\": \\"x\\"` (JSON inside JSON)."""
_ASSIGNMENT = re.compile(
    rf"(?P<key>(?<![A-Za-z0-9_.\-]){_QUOTE}?{_KEY}{_QUOTE}?)(?P<sep>\s*=\s*)"
    rf"(?P<value>{_QUOTED_VALUE}|[^\s&;,\"'<>)}}\]]+)",
    re.IGNORECASE,
)
"""`password=x`, `token = x`, `auth_token='x'` (query strings, config lines, keyword reprs)."""
_PAIR = re.compile(
    rf"(?P<key>[\[(]\s*{_QUOTE}{_KEY}{_QUOTE})(?P<sep>\s*,\s*)(?P<value>{_QUOTED_VALUE})", re.IGNORECASE
)
"""`["X-Auth-Token", "x"]`, `('X-Auth-Token', 'x')`: headers given as a list of pairs."""
_HEADER = re.compile(
    r"(?P<key>\b(?:x-auth-token|x-subject-token|x-service-token|(?:proxy-)?authorization|cookie|set-cookie))"
    r"(?P<sep>\s*:\s*)(?P<value>[^\r\n\"',;}\]]+)",
    re.IGNORECASE,
)
"""HTTP headers in text: `X-Auth-Token: x`, `Authorization: Bearer x`."""
_TOKEN_SHAPES = re.compile(
    r"\bgAAAAA[A-Za-z0-9_\-]{20,}={0,2}"  # Keystone Fernet tokens
    r"|\beyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]*"  # JWTs (JWS: header.payload.signature)
)


_MAY_HOLD_SECRET = re.compile(r"[:=,]|gAAAAA|eyJ")
"""Every pattern above needs one of these."""


def _mask_userinfo(userinfo: str) -> str:
    user, colon, _password = userinfo.partition(":")
    return f"{user}:{MASK}" if colon else userinfo


def _mask_authority(authority: str) -> str:
    """Mask every password of `u:p@h1,u:p@h2`; a password holding '@' or ',' is masked whole too."""
    parts = authority.split("@")
    if len(parts) == 1:
        return authority
    out: list[str] = []
    userinfo = parts[0]
    for piece in parts[1:-1]:
        host, comma, following = piece.partition(",")
        if not comma:  # an '@' inside the password: it all belongs to this userinfo
            userinfo += "@" + piece
            continue
        out.append(f"{_mask_userinfo(userinfo)}@{host},")
        userinfo = following
    out.append(f"{_mask_userinfo(userinfo)}@{parts[-1]}")
    return "".join(out)


def _mask_value(value: str) -> str:
    for quote in ('\\"', "\\'", '"', "'"):
        if len(value) >= 2 * len(quote) and value.startswith(quote) and value.endswith(quote):
            return quote + MASK + quote
    return MASK


def _mask_match(match: re.Match[str]) -> str:
    return match["key"] + match["sep"] + _mask_value(match["value"])


def redact_text(text: str) -> str:
    """Text with every recognisable secret replaced by ***."""
    if not _MAY_HOLD_SECRET.search(text):  # most texts (host names, ids, reasons): no pattern can match
        return text
    text = _SCHEME_AUTHORITY.sub(lambda m: m[1] + _mask_authority(m[2]), text)
    for pattern in (_QUOTED_PAIR, _PAIR, _ASSIGNMENT, _HEADER):
        text = pattern.sub(_mask_match, text)
    return _TOKEN_SHAPES.sub(MASK, text)


def _secret_key(key: object) -> bool:
    return isinstance(key, str) and SECRET_KEY.search(key) is not None


def _masked(value: Any) -> Any:
    return value if value is None or value == "" else MASK


def redact(value: Any, depth: int = 0) -> Any:
    """A copy of `value` (JSON-like data) with every secret masked: by key, by pair, inside JSON strings, in text."""
    if depth > MAX_DEPTH:
        return "<too deep>"
    if isinstance(value, dict):
        return {
            redact_text(str(k)): (_masked(v) if _secret_key(k) else redact(v, depth + 1)) for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        if len(value) == 2 and _secret_key(value[0]):
            return [value[0], _masked(value[1])]
        return [redact(v, depth + 1) for v in value]
    if isinstance(value, str):
        return _redact_string(value, depth)
    return value


def _redact_string(value: str, depth: int) -> str:
    stripped = value.strip()
    if (
        2 <= len(stripped) <= MAX_JSON_STRING
        and (stripped[0], stripped[-1]) in (("{", "}"), ("[", "]"))
    ):
        try:
            decoded = json.loads(stripped)
        except (ValueError, RecursionError):
            pass
        else:
            if isinstance(decoded, dict | list):
                return json.dumps(redact(decoded, depth + 1), sort_keys=True)
    return redact_text(value)


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_CONTROL_KEEP_LINES = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match[0])
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def escape_controls(text: str, keep_newlines: bool = False) -> str:
    """Control characters (ESC, CR, ...; also line and bidi controls) as visible \\xNN escapes: text from the
    cloud or the bus can then never move a terminal's cursor, recolour it, or forge a line. With keep_newlines,
    line feeds and tabs stay (a log message's own line breaks, a traceback)."""
    return (_CONTROL_KEEP_LINES if keep_newlines else _CONTROL).sub(_escape, text)


class RedactingFormatter(logging.Formatter):
    """Every log line (message, arguments and traceback) redacted, with control characters escaped; a message's
    own line breaks are kept."""

    def format(self, record: logging.LogRecord) -> str:
        return escape_controls(redact_text(super().format(record)), keep_newlines=True)


def _redact_last_resort() -> None:
    last_resort = logging.lastResort
    if last_resort is not None and not isinstance(last_resort.formatter, RedactingFormatter):
        last_resort.setFormatter(RedactingFormatter())


_redact_last_resort()
