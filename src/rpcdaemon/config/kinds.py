"""What each kind of rpcdaemon.conf option accepts: every Kind carries the parser of its values.

An option's row in the table (options.py) names its Kind; the option parses and checks a value by handing the text
to that parser, so adding a kind is one parser here and one member below, not one more branch in the loader. A
parser raises ValueError with what is wrong, worded to follow `FILE: [SECTION] OPTION: ` in the one-line message
the loader builds.
"""

from __future__ import annotations

import difflib
import math
import os
import re
from collections.abc import Callable
from enum import StrEnum
from typing import Protocol
from urllib.parse import urlsplit

PLUGINS = ("L3Agent", "DHCPAgent", "Dump")
LOGLEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
LOG_FORMATS = ("text", "json")
REBALANCE_MODES = ("off", "ha", "all")
SYSLOG_FACILITIES = ("auth", "authpriv", "cron", "daemon", "ftp", "kern", "lpr", "mail", "news", "syslog", "user",
                     "uucp", "local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7")
"""The facilities syslog(3) names (logging.handlers.SysLogHandler.facility_names has them all, and aliases)."""


class Bounds(Protocol):
    """The least and the most a number may be (an option's row holds them)."""

    @property
    def minimum(self) -> float | None: ...

    @property
    def maximum(self) -> float | None: ...


Parse = Callable[[str, Bounds], object]
"""A parser: non-empty text (stripped) and the option's bounds -> the value, or ValueError saying what is wrong."""


def did_you_mean(name: str, choices: tuple[str, ...] | list[str]) -> str:
    close = difflib.get_close_matches(name, choices, n=1, cutoff=0.6)
    if not close:
        close = [c for c in choices if c.lower() == name.lower()]
    return f" (did you mean {close[0]!r}?)" if close else ""


def _number(text: str, bounds: Bounds, cast: Callable[[str], float]) -> float:
    try:
        number = cast(text)
    except ValueError:
        raise ValueError(f"must be {'an integer' if cast is int else 'a number'}") from None
    if not math.isfinite(number):
        raise ValueError("must be a finite number")
    if bounds.minimum is not None and number < bounds.minimum:
        raise ValueError(f"must be at least {bounds.minimum:g}")
    if bounds.maximum is not None and number > bounds.maximum:
        raise ValueError(f"must be at most {bounds.maximum:g}")
    return number


def _text(text: str, _bounds: Bounds) -> str:
    return text


def _seconds(text: str, bounds: Bounds) -> float:
    return _number(text, bounds, float)


def _fraction(text: str, bounds: Bounds) -> float:
    number = _number(text, bounds, float)
    if number <= 0:
        raise ValueError("must be more than 0")
    return number


def _integer(text: str, bounds: Bounds) -> int:
    return int(_number(text, bounds, int))


def _boolean(text: str, _bounds: Bounds) -> bool:
    lowered = text.lower()
    if lowered in ("1", "yes", "true", "on"):
        return True
    if lowered in ("0", "no", "false", "off"):
        return False
    raise ValueError("must be true or false")


def _loglevel(text: str, _bounds: Bounds) -> str:
    if text.upper() not in LOGLEVELS:
        raise ValueError(f"must be one of {', '.join(LOGLEVELS)}")
    return text.upper()


def _plugins(text: str, _bounds: Bounds) -> tuple[str, ...]:
    """Separated by spaces (the original's README), commas (the original's sample config) or both."""
    names = [name for name in re.split(r"[\s,]+", text) if name]
    for name in names:
        if name not in PLUGINS:
            raise ValueError(f"unknown plugin {name!r}{did_you_mean(name, PLUGINS)}")
    return tuple(dict.fromkeys(names))


def _one_of(choices: tuple[str, ...]) -> Parse:
    """A parser of one word among `choices` (any case; the value is the lower-case word)."""

    def parse(text: str, _bounds: Bounds) -> str:
        if text.lower() not in choices:
            raise ValueError(f"must be one of {', '.join(choices)}{did_you_mean(text.lower(), choices)}")
        return text.lower()

    return parse


def _all_or_integer(text: str, bounds: Bounds) -> int | None:
    return None if text.lower() == "all" else _integer(text, bounds)


def _url(text: str, _bounds: Bounds) -> str:
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an http:// or https:// URL")
    return text


def _host_port(text: str, _bounds: Bounds) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError("must be HOST:PORT")
    return (host.strip("[]"), int(port))


def _existing_file(text: str, _bounds: Bounds) -> str:
    if not os.path.isfile(text):
        raise ValueError(f"file {text} does not exist")
    if not os.access(text, os.R_OK):
        raise ValueError(f"file {text} is not readable")
    return text


class Kind(StrEnum):
    """A kind of option: its name in the sample config (the value), the parser of a non-empty value, and what an
    empty value means (None: unset, so the option's default or fallback applies)."""

    parse: Parse
    empty: object

    def __new__(cls, label: str, parse: Parse, empty: object = None) -> Kind:
        member = str.__new__(cls, label)
        member._value_ = label
        member.parse = parse
        member.empty = empty
        return member

    STR = "string", _text
    BOOL = "boolean", _boolean
    INT = "integer", _integer
    SECONDS = "seconds", _seconds
    FRACTION = "fraction", _fraction
    LOGLEVEL = "log level", _loglevel
    LOGFORMAT = "text or json", _one_of(LOG_FORMATS)
    REBALANCE = "off, ha or all", _one_of(REBALANCE_MODES)
    FACILITY = "syslog facility", _one_of(SYSLOG_FACILITIES)
    PLUGINS = "plugin list", _plugins, ()
    """Empty: no plugin at all."""
    PATH = "path", _text
    FILE = "existing file", _existing_file
    URL = "URL", _url
    HOSTPORT = "host:port", _host_port, ("", 0)
    """Empty: nowhere (not served)."""
    ALL_OR_INT = "'all' or integer", _all_or_integer
