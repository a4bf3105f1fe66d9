"""The `rpcdaemon` command: the daemon with the original's `-d` and `-c FILE`, and the operator's subcommands.

    rpcdaemon [-d] [-c FILE]                 the daemon (default config /usr/local/etc/rpcdaemon.conf)
    rpcdaemon check-config -c FILE           exit 0 when valid, else 2 and one line per problem
    rpcdaemon plan -c FILE [--json]          one read of the cloud: what the daemon would do now, and why
    rpcdaemon status [--url URL] [--json]    what a running daemon sees and did (reads its /status)
    rpcdaemon dump [-c FILE] [--queue X] [--key K ...] [--match F=GLOB ...] [--json]   bus traffic, redacted
    rpcdaemon emulator --listen HOST:PORT    an emulated Neutron API (demo, tests, benchmarks)
    rpcdaemon demo [--duration S]            the whole story on an emulated cloud, live in the terminal
    rpcdaemon sample-config                  the sample config, generated from the option definitions

Errors a user can cause (bad config, unreachable API, a held pidfile) are one clear message and an exit code,
never a traceback. Without -d, everything that can refuse a start (the pidfile, the log file, the status port, the
coordination URL) is done by the detached daemon before it tells the waiting parent "ready" through a pipe; an error
there reaches the parent, which prints it and exits non-zero, with no pidfile left behind.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import sys
import time
from collections.abc import Sequence
from types import FrameType
from typing import TYPE_CHECKING

from rpcdaemon import __version__

if TYPE_CHECKING:
    from rpcdaemon.adapters.status.http import StatusServer
    from rpcdaemon.config.settings import Settings
    from rpcdaemon.daemon.loop import Daemon

DEFAULT_CONFIG = "/usr/local/etc/rpcdaemon.conf"
SUBCOMMANDS = ("check-config", "plan", "status", "dump", "emulator", "demo", "sample-config")
EXIT_CONFIG = 2


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] in SUBCOMMANDS:
        command, rest = args[0], args[1:]
        if command == "check-config":
            return check_config_main(rest)
        if command == "plan":
            return plan_main(rest)
        if command == "status":
            from rpcdaemon.cli.status import main as status_main

            return status_main(rest)
        if command == "dump":
            from rpcdaemon.adapters.bus.dump import main as dump_main

            return dump_main(rest)
        if command == "emulator":
            from rpcdaemon.emulator.main import main as emulator_main

            return emulator_main(rest)
        if command == "demo":
            from rpcdaemon.cli.demo import main as demo_main

            return demo_main(rest)
        from rpcdaemon.config.settings import render_sample_config

        sys.stdout.write(render_sample_config())
        return 0
    return daemon_main(args)


def _config_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-c", dest="config", metavar="FILE", default=DEFAULT_CONFIG,
                        help=f"path to rpcdaemon.conf (default {DEFAULT_CONFIG})")


def daemon_main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="rpcdaemon",
        description="Keeps Neutron DHCP networks and routers on live agents. Subcommands: " + ", ".join(SUBCOMMANDS),
    )
    parser.add_argument("-d", dest="foreground", action="store_true",
                        help="do not detach: stay in the foreground, log to stderr, no pidfile")
    _config_arg(parser)
    parser.add_argument("--version", action="version", version=f"rpcdaemon {__version__}")
    opts = parser.parse_args(argv)

    from rpcdaemon.config.settings import ConfigError, load_settings

    try:
        settings = load_settings(opts.config)
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_CONFIG

    from rpcdaemon.daemon import loop as runner

    if opts.foreground:
        try:
            _open_log(settings, foreground=True)
            daemon, status_server = _start(opts.config, settings)
        except StartError as exc:
            runner.LOG.error("%s", exc)
            return exc.code
        return _serve(daemon, status_server)

    try:
        runner.check_pidfile(settings.pidfile)  # before detaching: the common refusal is the quickest to show
    except (runner.PidfileError, OSError) as exc:
        print(f"rpcdaemon: {exc}", file=sys.stderr)
        return 1
    report = _detach_and_wait(settings.logfile)  # returns only in the detached daemon
    try:
        _open_log(settings, foreground=False)
        try:
            runner.acquire_pidfile(settings.pidfile)
        except (runner.PidfileError, OSError) as exc:
            raise StartError(1, str(exc)) from None
        daemon, status_server = _start(opts.config, settings)
    except BaseException as exc:
        start_error = exc if isinstance(exc, StartError) else StartError(1, f"cannot start: {exc!r}")
        runner.LOG.error("%s", start_error)
        runner.release_pidfile(settings.pidfile)  # before the parent hears: it exits with no pidfile left
        report.failed(start_error.code, str(start_error))
        return start_error.code
    report.ready()
    try:
        return _serve(daemon, status_server)
    finally:
        runner.release_pidfile(settings.pidfile)


class StartError(Exception):
    """The daemon cannot start: one line for the operator, and the exit code."""

    def __init__(self, code: int, message: str) -> None:
        from rpcdaemon.redaction import redact_text

        super().__init__(redact_text(message))  # an exception's text may carry a URL with its password
        self.code = code


def _open_log(settings: Settings, *, foreground: bool) -> None:
    from rpcdaemon.daemon import loop as runner

    try:
        runner.configure_logging(settings, foreground)
    except OSError as exc:
        raise StartError(1, f"cannot open the log file {settings.logfile}: {exc.strerror or exc}") from None


def _start(config: str, settings: Settings) -> tuple[Daemon, StatusServer | None]:
    """Everything that can refuse a start, done before the parent of a detached daemon is told "ready": the
    daemon built, the status port bound, the signal handlers in place (the log is open and the pidfile taken)."""
    from rpcdaemon.config.coordination_url import CoordinationUrlError
    from rpcdaemon.daemon import loop as runner

    try:
        daemon = runner.Daemon(settings)
    except CoordinationUrlError as exc:
        raise StartError(EXIT_CONFIG, f"{config}: [Daemon] coordination_url: {exc}") from None
    except Exception as exc:  # e.g. a clouds.yaml cloud that does not exist: one line, never a traceback
        raise StartError(1, f"cannot start: {type(exc).__name__}: {exc}") from None
    try:
        status_server = runner.start_status_server(daemon)
    except OSError as exc:
        host, port = settings.status_listen
        daemon.audit.close()
        raise StartError(1, f"cannot serve status on {host}:{port}: {exc.strerror or exc}") from None

    def on_stop(signum: int, _frame: FrameType | None) -> None:
        runner.LOG.info("signal %s: finishing the changes in flight, then stopping", signal.Signals(signum).name)
        daemon.stop()

    def on_hup(_signum: int, _frame: FrameType | None) -> None:
        daemon.reload(config)

    signal.signal(signal.SIGTERM, on_stop)
    signal.signal(signal.SIGINT, on_stop)
    signal.signal(signal.SIGHUP, on_hup)
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


def _detach_and_wait(logfile: str) -> StartReport:
    """Classic double fork, as the original rpcdaemon did without -d, with a pipe from the daemon to the process
    the operator started: that one exits only when the daemon says it is ready (exit 0) or why it cannot start
    (the message on stderr, its exit code), so that no error after the fork vanishes. Returns in the daemon."""
    read_end, write_end = os.pipe()
    first = os.fork()
    if first > 0:
        os.close(write_end)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(first, 0)  # the intermediate child exits at once
        code = _wait_for_daemon(read_end, logfile)
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


def _wait_for_daemon(read_end: int, logfile: str) -> int:
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


def check_config_main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="rpcdaemon check-config", description="Validate rpcdaemon.conf.")
    _config_arg(parser)
    opts = parser.parse_args(argv)
    from rpcdaemon.config.settings import check_config

    problems = check_config(opts.config)
    for problem in problems:
        print(problem)
    if problems:
        return EXIT_CONFIG
    print(f"{opts.config}: OK")
    return 0


def plan_main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="rpcdaemon plan", description="Read the cloud once and print what rpcdaemon would do now; acts on nothing."
    )
    _config_arg(parser)
    parser.add_argument("--json", action="store_true", help="a JSON list of changes")
    opts = parser.parse_args(argv)

    from rpcdaemon.adapters.neutron.client import NeutronReadError
    from rpcdaemon.config.settings import ConfigError, load_settings
    from rpcdaemon.core.liveness import state_from_api
    from rpcdaemon.core.plan import CoreState, make_plan
    from rpcdaemon.daemon.loop import build_client, policy_from
    from rpcdaemon.daemon.reconciler import read_snapshot

    try:
        settings = load_settings(opts.config)
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_CONFIG
    policy = policy_from(settings)
    try:
        snapshot = read_snapshot(build_client(settings), policy, CoreState())
    except NeutronReadError as exc:
        print(f"rpcdaemon plan: cannot read Neutron: {exc}", file=sys.stderr)
        return 1
    now = time.monotonic()
    state = CoreState(liveness=state_from_api(snapshot.agents, now, policy))
    plan, _ = make_plan(snapshot, state, now, policy)
    if opts.json:
        print(json.dumps([c.as_dict() for c in plan.changes], indent=2))
        return 0
    hosts = {a.id: a.host for a in snapshot.agents.values()}
    dead = sorted(hosts[a] for a, v in plan.verdicts.items() if v.is_dead)
    print(f"{len(snapshot.agents)} agents ({len(dead)} dead{': ' + ', '.join(dead) if dead else ''}), "
          f"{len(snapshot.networks)} networks, {len(snapshot.routers)} routers")
    for note in plan.notes:
        print(f"HOLD: {note}")
    if not plan.changes:
        print("nothing to do")
    for change in plan.changes:
        src = hosts.get(change.from_agent, change.from_agent) if change.from_agent else "-"
        dst = hosts.get(change.to_agent, change.to_agent) if change.to_agent else "-"
        print(f"{change.action.value:<18} {change.resource_type.value} {change.resource_id}  {src} -> {dst}  "
              f"({change.reason})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
