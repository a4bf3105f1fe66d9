"""`rpcdaemon [-d] [-c FILE]`: the daemon, started as the original rpcdaemon was.

Without -d, everything that can refuse a start (the pidfile, the log file, the status port, the coordination URL)
is done by the detached daemon before it tells the waiting parent "ready" through a pipe (daemon/process.py); an
error there reaches the parent, which prints it and exits non-zero, with no pidfile left behind.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from rpcdaemon import __version__
from rpcdaemon.cli.common import EXIT_CONFIG, config_arg, load_or_say

if TYPE_CHECKING:
    from rpcdaemon.adapters.status.http import StatusServer
    from rpcdaemon.config.settings import Settings
    from rpcdaemon.daemon.loop import Daemon


def main(argv: Sequence[str], subcommands: Sequence[str] = ()) -> int:
    parser = argparse.ArgumentParser(
        prog="rpcdaemon",
        description="Keeps Neutron DHCP networks and routers on live agents. Subcommands: " + ", ".join(subcommands),
    )
    parser.add_argument("-d", dest="foreground", action="store_true",
                        help="do not detach: stay in the foreground, log to stderr, no pidfile")
    config_arg(parser)
    parser.add_argument("--version", action="version", version=f"rpcdaemon {__version__}")
    opts = parser.parse_args(argv)

    settings = load_or_say(opts.config)
    if settings is None:
        return EXIT_CONFIG

    from rpcdaemon.daemon import pidfile, process

    if opts.foreground:
        try:
            _open_log(settings, foreground=True)
            daemon, status_server = _start(opts.config, settings)
        except StartError as exc:
            process.LOG.error("%s", exc)
            return exc.code
        return _serve(daemon, status_server)

    for warning in settings.warnings:  # on the terminal too: the log of a detached daemon is read later, if ever
        print(f"rpcdaemon: WARNING: {warning}", file=sys.stderr)
    try:
        pidfile.check_pidfile(settings.pidfile)  # before detaching: the common refusal is the quickest to show
    except (pidfile.PidfileError, OSError) as exc:
        print(f"rpcdaemon: {exc}", file=sys.stderr)
        return 1
    report = process.detach_and_wait(settings.logfile)  # returns only in the detached daemon
    try:
        _open_log(settings, foreground=False)
        try:
            pidfile.acquire_pidfile(settings.pidfile)
        except (pidfile.PidfileError, OSError) as exc:
            raise StartError(1, str(exc)) from None
        daemon, status_server = _start(opts.config, settings)
    except BaseException as exc:
        start_error = exc if isinstance(exc, StartError) else StartError(1, f"cannot start: {exc!r}")
        process.LOG.error("%s", start_error)
        pidfile.release_pidfile(settings.pidfile)  # before the parent hears: it exits with no pidfile left
        report.failed(start_error.code, str(start_error))
        return start_error.code
    report.ready()
    try:
        return _serve(daemon, status_server)
    finally:
        pidfile.release_pidfile(settings.pidfile)


class StartError(Exception):
    """The daemon cannot start: one line for the operator, and the exit code."""

    def __init__(self, code: int, message: str) -> None:
        from rpcdaemon.redaction import redact_text

        super().__init__(redact_text(message))  # an exception's text may carry a URL with its password
        self.code = code


def _open_log(settings: Settings, *, foreground: bool) -> None:
    from rpcdaemon.daemon.process import configure_logging

    try:
        configure_logging(settings, foreground)
    except OSError as exc:
        raise StartError(1, f"cannot open the log file {settings.logfile}: {exc.strerror or exc}") from None


def _start(config: str, settings: Settings) -> tuple[Daemon, StatusServer | None]:
    """Everything that can refuse a start, done before the parent of a detached daemon is told "ready": the
    daemon built (a way to Neutron that cannot work is exit 2), one request that needs a token, the endpoint and
    the admin role (refused: exit 1; merely unreachable: a WARNING, and the passes retry), the status port bound,
    the signal handlers in place (the log is open and the pidfile taken)."""
    from rpcdaemon.adapters.neutron.errors import NeutronConfigError
    from rpcdaemon.config.coordination_url import CoordinationUrlError
    from rpcdaemon.daemon import process
    from rpcdaemon.daemon.loop import Daemon
    from rpcdaemon.daemon.process import install_signals

    try:
        daemon = Daemon(settings)
    except CoordinationUrlError as exc:
        raise StartError(EXIT_CONFIG, f"{config}: [Daemon] coordination_url: {exc}") from None
    except NeutronConfigError as exc:
        raise StartError(EXIT_CONFIG, f"{config}: {exc}") from None
    except Exception as exc:  # e.g. a clouds.yaml cloud that does not exist: one line, never a traceback
        raise StartError(1, f"cannot start: {type(exc).__name__}: {exc}") from None
    usable, why = daemon.client.probe()  # a credential that cannot work fails the start; a cloud down does not
    if not usable:
        daemon.audit.close()
        raise StartError(1, f"cannot start: {why}")
    if why is not None:
        process.LOG.warning("%s; starting anyway, every pass retries", why)
    try:
        status_server = daemon.serve_status()
    except (OSError, ValueError) as exc:
        host, port = settings.status_listen
        daemon.audit.close()
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        raise StartError(1, f"cannot serve status on {host}:{port}: {reason}") from None
    install_signals(daemon.stop, lambda: daemon.reload(config))
    process.LOG.info("Neutron through %s", settings.credentials_in_force)
    for warning in settings.warnings:
        process.LOG.warning("%s", warning)
    return daemon, status_server


def _serve(daemon: Daemon, status_server: StatusServer | None) -> int:
    try:
        daemon.run()
    finally:
        if daemon.status_server is not None:  # a reload may have replaced the one started
            daemon.status_server.stop()
        elif status_server is not None:
            status_server.stop()
        daemon.audit.close()
    return 0
