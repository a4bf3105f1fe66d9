"""The process's plumbing: logging (every line redacted), detaching with a start-up pipe, signals.

Without -d the daemon detaches as the original rpcdaemon did (a double fork), with a pipe from the daemon to the
process the operator started: that one exits only when the daemon says it is ready (exit 0) or why it cannot start
(the message on stderr, its exit code), so that no error after the fork vanishes. The pidfile: daemon/pidfile.py.

Logging goes to one handler on the root logger: stderr with -d, else the log file through a WatchedFileHandler
(logrotate moves the file away and the next line opens a new one: no copytruncate, which loses lines), or syslog
when [Daemon] use_syslog is set and /dev/log exists (else the usual handler and a WARNING that says so). Lines are
text or, with [Daemon] log_format = json, one JSON object each; either way through the one redaction. A reload
(SIGHUP) re-opens the handler (`reopen_logging`), applying a changed log_format or use_syslog.
"""

from __future__ import annotations

import contextlib
import json
import logging
import logging.handlers
import os
import signal
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType

from rpcdaemon.config.settings import Settings
from rpcdaemon.redaction import RedactingFormatter

LOG = logging.getLogger("rpcdaemon")
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


SYSLOG_SOCKET = "/dev/log"


class JsonFormatter(RedactingFormatter):
    """One JSON object per line: time (UTC, ISO 8601), level, logger, message (redacted, its traceback included)."""

    def __init__(self) -> None:
        super().__init__("%(message)s")

    def format(self, record: logging.LogRecord) -> str:
        return json.dumps({
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": super().format(record),  # the message, arguments and traceback, redacted
        }, ensure_ascii=False)


class _Configured:
    """Whether configure_logging ran, and in which mode: what a reload re-opens (nothing if it never ran)."""

    foreground: bool | None = None
    handler: logging.Handler | None = None


def configure_logging(settings: Settings, foreground: bool) -> None:
    """The root logger's one handler (see the module docstring). OSError: the log file cannot be opened (and the
    handlers in place stay)."""
    handler, problem = _handler(settings, foreground)
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    if _Configured.handler is not None:  # ours, replaced: its file or socket closed (others are not ours to close)
        _Configured.handler.close()
    root.addHandler(handler)
    root.setLevel(logging.WARNING)
    _Configured.foreground, _Configured.handler = foreground, handler
    configure_levels(settings)
    if problem:
        LOG.warning("%s", problem)


def reopen_logging(settings: Settings) -> None:
    """A reload: the handler closed and opened again with `settings` (a log file moved away is created anew, a
    changed log_format or use_syslog applies). Nothing when configure_logging never ran (a daemon in a test); a
    log file that cannot be opened any more leaves the current handler in place, with an ERROR."""
    if _Configured.foreground is None:
        return
    try:
        configure_logging(settings, _Configured.foreground)
    except OSError as exc:
        LOG.error("cannot re-open the log file %s, logging on as before: %s", settings.logfile, exc.strerror or exc)


def _handler(settings: Settings, foreground: bool) -> tuple[logging.Handler, str]:
    """The handler for `settings`, and a problem to log once it is in place (empty: none)."""
    formatter = JsonFormatter() if settings.log_format == "json" else RedactingFormatter(LOG_FORMAT)
    problem = ""
    if settings.use_syslog:
        try:
            syslog = _syslog_handler(settings.syslog_facility)
        except OSError as exc:
            problem = (f"[Daemon] use_syslog: cannot log to syslog ({SYSLOG_SOCKET}: {exc.strerror or exc}); "
                       f"logging to {'stderr' if foreground else settings.logfile} instead")
        else:
            syslog.setFormatter(formatter)
            return syslog, problem
    handler: logging.Handler
    if foreground:
        handler = logging.StreamHandler(sys.stderr)
    else:
        Path(settings.logfile).parent.mkdir(parents=True, exist_ok=True)
        handler = logging.handlers.WatchedFileHandler(settings.logfile)
    handler.setFormatter(formatter)  # every line: URL credentials, tokens, ESC sequences
    return handler, problem


def _syslog_handler(facility: str) -> logging.handlers.SysLogHandler:
    """A SysLogHandler on the local socket; OSError when there is none (a container, a minimal host)."""
    if not os.path.exists(SYSLOG_SOCKET):
        raise FileNotFoundError(2, "no such socket")
    handler = logging.handlers.SysLogHandler(address=SYSLOG_SOCKET,
                                             facility=logging.handlers.SysLogHandler.facility_names[facility])
    handler.ident = f"rpcdaemon[{os.getpid()}]: "
    return handler


def configure_levels(settings: Settings) -> None:
    """The Daemon's loglevel for rpcdaemon, each plugin's own for its changes and (Dump) its lines."""
    logging.getLogger("rpcdaemon").setLevel(settings.loglevel)
    logging.getLogger("rpcdaemon.audit").setLevel(logging.INFO)
    logging.getLogger("rpcdaemon.audit.L3Agent").setLevel(settings.l3.loglevel)
    logging.getLogger("rpcdaemon.audit.DHCPAgent").setLevel(settings.dhcp.loglevel)
    logging.getLogger("rpcdaemon.dump").setLevel(settings.dump.loglevel)
    for name in ("openstack", "keystoneauth", "urllib3"):
        logging.getLogger(name).setLevel(logging.WARNING)


def install_signals(stop: Callable[[], None], reload: Callable[[], object]) -> None:
    """SIGTERM and SIGINT stop the loop after the changes in flight; SIGHUP reloads the config."""

    def on_stop(signum: int, _frame: FrameType | None) -> None:
        LOG.info("signal %s: finishing the changes in flight, then stopping", signal.Signals(signum).name)
        stop()

    def on_hup(_signum: int, _frame: FrameType | None) -> None:
        reload()

    signal.signal(signal.SIGTERM, on_stop)
    signal.signal(signal.SIGINT, on_stop)
    signal.signal(signal.SIGHUP, on_hup)


class StartReport:
    """The detached daemon's side of the start-up pipe: one line, "ready" or "error CODE MESSAGE", then closed."""

    def __init__(self, fd: int) -> None:
        self._fd: int | None = fd

    def ready(self) -> None:
        self._send("ready")

    def failed(self, code: int, message: str) -> None:
        self._send(f"error {code} {' '.join(message.split())}")

    def _send(self, line: str) -> None:
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        with contextlib.suppress(OSError):  # a parent that went away (its terminal closed) changes nothing here
            os.write(fd, (line + "\n").encode("utf-8", "replace"))
        with contextlib.suppress(OSError):
            os.close(fd)


def detach_and_wait(logfile: str) -> StartReport:
    """Classic double fork with the start-up pipe. Returns in the daemon; the operator's process exits with the
    daemon's verdict."""
    read_end, write_end = os.pipe()
    first = os.fork()
    if first > 0:
        os.close(write_end)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(first, 0)  # the intermediate child exits at once
        code = wait_for_daemon(read_end, logfile)
        sys.stderr.flush()
        os._exit(code)
    os.close(read_end)
    os.setsid()
    if os.fork() > 0:
        os._exit(0)
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    os.close(devnull)
    return StartReport(write_end)


def wait_for_daemon(read_end: int, logfile: str) -> int:
    """The operator's process: the daemon's one line, turned into an exit code (and its message on stderr)."""
    chunks: list[bytes] = []
    try:
        while not chunks or b"\n" not in chunks[-1]:
            chunk = os.read(read_end, 4096)
            if not chunk:
                break
            chunks.append(chunk)
    except KeyboardInterrupt:
        print(f"rpcdaemon: interrupted; the daemon may still be starting, see {logfile}", file=sys.stderr)
        return 130
    finally:
        os.close(read_end)
    line = b"".join(chunks).decode("utf-8", "replace").strip()
    if line == "ready":
        return 0
    if line.startswith("error "):
        code, _, message = line[len("error "):].partition(" ")
        print(f"rpcdaemon: {message}", file=sys.stderr)
        return int(code) if code.isdigit() and int(code) > 0 else 1
    print(f"rpcdaemon: the daemon exited while starting; see {logfile}", file=sys.stderr)
    return 1
