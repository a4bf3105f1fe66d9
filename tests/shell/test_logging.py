"""The daemon's log as an operator consumes it (issue 13): JSON lines, syslog, and a log file that logrotate moves.

Each test configures the root logger as the daemon does (process.configure_logging) and puts back what pytest had,
so that no other test logs into a file of this one.
"""

from __future__ import annotations

import json
import logging
import os
import socket
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from rpcdaemon.config.load import check_config, load_settings
from rpcdaemon.config.settings import Settings, default_settings
from rpcdaemon.daemon import process

SECRET = "S3cretPass"


@pytest.fixture(autouse=True)
def restore_logging(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    monkeypatch.setattr(process._Configured, "foreground", None)
    monkeypatch.setattr(process._Configured, "handler", None)
    yield
    if process._Configured.handler is not None:
        process._Configured.handler.close()
    root.handlers[:] = handlers
    root.setLevel(level)


def settings(tmp_path: Path, **changes: object) -> Settings:
    return replace(default_settings(), logfile=str(tmp_path / "log" / "rpcdaemon.log"), **changes)  # type: ignore[arg-type]


def lines(path: Path) -> list[str]:
    return path.read_text().splitlines()


def test_json_lines_are_parseable_and_redacted(tmp_path: Path) -> None:
    s = settings(tmp_path, log_format="json")
    process.configure_logging(s, foreground=False)
    log = logging.getLogger("rpcdaemon.test")
    log.info("bus at %s", f"amqp://guest:{SECRET}@10.0.0.1:5672//")
    try:
        raise RuntimeError(f"token={SECRET} refused")
    except RuntimeError:
        log.exception("a pass failed\nsecond line")
    log.debug("not at INFO")
    text = Path(s.logfile).read_text()
    assert SECRET not in text
    records = [json.loads(line) for line in text.splitlines()]
    assert [(r["level"], r["logger"]) for r in records] == [("INFO", "rpcdaemon.test"), ("ERROR", "rpcdaemon.test")]
    assert set(records[0]) == {"time", "level", "logger", "message"}
    assert records[0]["message"] == "bus at amqp://guest:***@10.0.0.1:5672//"
    assert records[0]["time"].endswith("+00:00")
    assert records[1]["message"].startswith("a pass failed\nsecond line\nTraceback")
    assert "token=***" in records[1]["message"]


def test_text_is_the_default_format(tmp_path: Path) -> None:
    s = settings(tmp_path)
    process.configure_logging(s, foreground=False)
    logging.getLogger("rpcdaemon.test").warning("password=%s", SECRET)
    (line,) = lines(Path(s.logfile))
    assert line.endswith(" WARNING rpcdaemon.test: password=***")


def test_a_log_file_moved_away_gets_a_new_file_with_the_next_lines(tmp_path: Path) -> None:
    """logrotate renames the file (no copytruncate) and does not signal: the next line opens a new file."""
    s = settings(tmp_path)
    process.configure_logging(s, foreground=False)
    log = logging.getLogger("rpcdaemon.test")
    log.info("before the rotation")
    os.rename(s.logfile, s.logfile + ".1")
    log.info("after the rotation")
    assert [line.split(": ", 1)[1] for line in lines(Path(s.logfile + ".1"))] == ["before the rotation"]
    assert [line.split(": ", 1)[1] for line in lines(Path(s.logfile))] == ["after the rotation"]


def test_a_reload_reopens_the_log_with_the_new_format(tmp_path: Path) -> None:
    s = settings(tmp_path)
    process.configure_logging(s, foreground=False)
    first = process._Configured.handler
    log = logging.getLogger("rpcdaemon.test")
    log.info("text")
    os.rename(s.logfile, s.logfile + ".1")
    process.reopen_logging(replace(s, log_format="json"))
    log.info("json")
    assert process._Configured.handler is not first and logging.getLogger().handlers == [process._Configured.handler]
    assert [json.loads(line)["message"] for line in lines(Path(s.logfile))] == ["json"]
    assert lines(Path(s.logfile + ".1"))[0].endswith("rpcdaemon.test: text")


def test_reopen_does_nothing_when_logging_was_never_configured(tmp_path: Path) -> None:
    root = logging.getLogger()
    before = list(root.handlers)
    process.reopen_logging(settings(tmp_path))
    assert root.handlers == before
    assert not (tmp_path / "log").exists()


def test_syslog_gets_the_lines_with_the_facility(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = str(tmp_path / "log.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as server:
        server.bind(path)
        server.settimeout(10)
        monkeypatch.setattr(process, "SYSLOG_SOCKET", path)
        process.configure_logging(settings(tmp_path, use_syslog=True, syslog_facility="local3", log_format="json"),
                                  foreground=True)
        logging.getLogger("rpcdaemon.test").warning("token=%s", SECRET)
        datagram = server.recv(65536).decode()
    priority = 19 * 8 + 4  # local3, warning
    prefix = f"<{priority}>rpcdaemon[{os.getpid()}]: "
    assert datagram.startswith(prefix)
    assert json.loads(datagram[len(prefix):].rstrip("\x00"))["message"] == "token=***"
    assert not (tmp_path / "log").exists()


def test_without_syslog_the_log_file_and_a_warning(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(process, "SYSLOG_SOCKET", str(tmp_path / "no-such-socket"))
    s = settings(tmp_path, use_syslog=True)
    process.configure_logging(s, foreground=False)
    logging.getLogger("rpcdaemon.test").info("still logged")
    first, second = lines(Path(s.logfile))
    assert "WARNING rpcdaemon: [Daemon] use_syslog: cannot log to syslog" in first
    assert f"logging to {s.logfile} instead" in first
    assert second.endswith("rpcdaemon.test: still logged")


@pytest.mark.parametrize(("text", "problem"), [
    ("log_format = xml", "[Daemon] log_format: must be one of text, json (got 'xml')"),
    ("use_syslog = maybe", "[Daemon] use_syslog: must be true or false (got 'maybe')"),
    ("syslog_facility = local9", "[Daemon] syslog_facility: must be one of auth, authpriv"),
])
def test_bad_logging_options_are_config_problems(tmp_path: Path, text: str, problem: str) -> None:
    path = tmp_path / "rpcdaemon.conf"
    path.write_text(f"[Daemon]\nneutron_endpoint = http://127.0.0.1:9696\n{text}\n")
    problems = check_config(str(path))
    assert len(problems) == 1 and problem in problems[0], problems


def test_the_logging_options_load(tmp_path: Path) -> None:
    path = tmp_path / "rpcdaemon.conf"
    path.write_text("[Daemon]\nneutron_endpoint = http://127.0.0.1:9696\nlog_format = JSON\nuse_syslog = yes\n"
                    "syslog_facility = Local0\n")
    s = load_settings(str(path))
    assert (s.log_format, s.use_syslog, s.syslog_facility) == ("json", True, "local0")
    d = default_settings()
    assert (d.log_format, d.use_syslog, d.syslog_facility) == ("text", False, "daemon")
