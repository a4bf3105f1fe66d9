"""The pidfile: never written through a link, held with a lock, a stale one replaced, one holder at a time."""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rpcdaemon.daemon import pidfile
from rpcdaemon.daemon.pidfile import PidfileError, acquire_pidfile, check_pidfile, release_pidfile


@pytest.fixture
def path(tmp_path: Path) -> Iterator[Path]:
    p = tmp_path / "run" / "rpcdaemon.pid"
    yield p
    release_pidfile(str(p))


def test_a_symlink_is_refused_and_nothing_is_written_through_it(tmp_path: Path, path: Path) -> None:
    target = tmp_path / "precious"
    target.write_text("keep me\n")
    path.parent.mkdir()
    path.symlink_to(target)
    for take in (check_pidfile, acquire_pidfile):
        with pytest.raises(PidfileError, match="symbolic link"):
            take(str(path))
    assert target.read_text() == "keep me\n"
    assert path.is_symlink()


def test_a_dangling_symlink_creates_nothing_at_its_target(tmp_path: Path, path: Path) -> None:
    target = tmp_path / "created-through-the-link"
    path.parent.mkdir()
    path.symlink_to(target)
    with pytest.raises(PidfileError, match="symbolic link"):
        acquire_pidfile(str(path))
    assert not target.exists()


def test_a_hard_link_is_refused(tmp_path: Path, path: Path) -> None:
    other = tmp_path / "other"
    other.write_text("keep me\n")
    path.parent.mkdir()
    os.link(other, path)
    with pytest.raises(PidfileError, match="hard links"):
        acquire_pidfile(str(path))
    assert other.read_text() == "keep me\n"


def test_not_a_regular_file_is_refused(path: Path) -> None:
    path.parent.mkdir()
    os.mkfifo(path)
    with pytest.raises(PidfileError, match="not a regular file"):
        acquire_pidfile(str(path))


def test_a_stale_pidfile_is_replaced_and_released(path: Path) -> None:
    path.parent.mkdir()
    path.write_text("999999\n")  # no such process
    acquire_pidfile(str(path))
    assert path.read_text() == f"{os.getpid()}\n"
    release_pidfile(str(path))
    assert not path.exists()


def test_a_held_pidfile_refuses_a_second_holder(path: Path) -> None:
    acquire_pidfile(str(path))
    fd = os.open(path, os.O_RDWR)  # another daemon: its own open file, its own lock attempt
    try:
        assert not pidfile._lock(fd)
    finally:
        os.close(fd)
    assert path.read_text() == f"{os.getpid()}\n"


def test_a_lock_held_by_another_open_file_refuses_acquire(path: Path) -> None:
    """The lock decides, not the pid written: an empty file someone holds (a daemon between its lock and its
    write) is not free."""
    path.parent.mkdir()
    path.write_text("")
    fd = os.open(path, os.O_RDWR)
    try:
        assert pidfile._lock(fd)
        with pytest.raises(PidfileError, match="already running"):
            acquire_pidfile(str(path))
    finally:
        os.close(fd)
    assert path.read_text() == ""


def test_a_live_pid_in_an_unlocked_file_refuses(path: Path) -> None:
    """Written by an older rpcdaemon that took no lock: refuse rather than run twice."""
    path.parent.mkdir()
    path.write_text(f"{os.getppid()}\n")
    with pytest.raises(PidfileError, match=f"running process {os.getppid()}"):
        acquire_pidfile(str(path))
    assert path.read_text() == f"{os.getppid()}\n"


def test_a_file_replaced_while_locking_is_not_the_one_held(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A daemon exiting unlinks its file between our open and our lock: we must hold the file the path names."""
    real_lock = pidfile._lock
    calls = 0

    def lock_after_a_replacement(fd: int) -> bool:
        nonlocal calls
        calls += 1
        if calls == 1:
            os.unlink(path)
            path.write_text("")
        return real_lock(fd)

    path.parent.mkdir()
    path.write_text("999999\n")
    monkeypatch.setattr(pidfile, "_lock", lock_after_a_replacement)
    acquire_pidfile(str(path))
    held = os.fstat(pidfile._held[str(path)])
    assert (held.st_dev, held.st_ino) == (path.stat().st_dev, path.stat().st_ino)
    assert path.read_text() == f"{os.getpid()}\n"
    assert calls == 2


def _start_like_a_daemon(path: str, gate: Any, results: Any, done: Any) -> None:
    """A daemon's acquire, in its own process, paused at the same point as its twin (creating the pidfile's
    folder) so that both have decided nothing yet, or both have, whichever the implementation does first."""
    real_mkdir = Path.mkdir

    def mkdir_together(self: Path, *args: Any, **kwargs: Any) -> None:
        gate.wait(10)
        real_mkdir(self, *args, **kwargs)

    Path.mkdir = mkdir_together  # type: ignore[method-assign]
    try:
        acquire_pidfile(path)
    except PidfileError as exc:
        results.put(f"refused: {exc}")
        return
    results.put("running")
    done.wait(30)  # hold it until the twin has tried
    release_pidfile(path)


def test_two_daemons_starting_together_exactly_one_gets_the_pidfile(path: Path) -> None:
    ctx = multiprocessing.get_context("fork")
    gate, results, done = ctx.Barrier(2), ctx.Queue(), ctx.Event()
    procs = [ctx.Process(target=_start_like_a_daemon, args=(str(path), gate, results, done)) for _ in range(2)]
    for proc in procs:
        proc.start()
    try:
        outcomes = sorted(results.get(timeout=30) for _ in procs)
    finally:
        done.set()
        for proc in procs:
            proc.join(30)
    assert outcomes[0].startswith("refused:") and "already running" in outcomes[0], outcomes
    assert outcomes[1] == "running", outcomes
