"""The pidfile of a detached rpcdaemon: taken atomically, held for the daemon's life, never written through a link.

Reading a pid, checking it and then writing ours lets two daemons started at once both pass the check and both run;
writing with open() follows a symlink planted at the pidfile's path (a root daemon then truncates whatever it points
at). So the file is opened with O_NOFOLLOW (a symlink is refused, with one clear line), must be a regular file with
a single link, and is held with an exclusive flock for the daemon's life: the kernel drops the lock when the
process dies, however it dies, so a stale file (a dead pid, nobody holding the lock) is replaced safely, and of
two daemons started together exactly one gets the lock. The lock is taken on the file that the path still names:
a daemon that exits unlinks the file before its lock goes, so a waiter that opened the old file sees the inode
change and tries again instead of locking a file nobody else can see.

A pid in an unlocked file that names a live process other than us still refuses the start: the conservative reading
(an older rpcdaemon that wrote the file without a lock, or a pid reused by something else) against running twice.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import stat
import threading
from pathlib import Path

OPEN_FLAGS = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
ATTEMPTS = 5
"""Times to retry when the path was replaced between our open and our lock (a daemon exiting meanwhile)."""

_held: dict[str, int] = {}
"""Pidfiles this process holds: path -> the open, locked descriptor."""
_held_lock = threading.Lock()


class PidfileError(Exception):
    pass


def check_pidfile(path: str) -> None:
    """Refuse a pidfile path that is a symlink or not a regular file, or one that names a live process other than
    us (a stale one is fine: it gets replaced). Before detaching, so that the error reaches the terminal; the
    decision that counts is acquire_pidfile's, under the lock."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return
    _check_kind(path, info)
    with contextlib.suppress(OSError, ValueError):
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        try:
            other = _read_pid(fd)
        finally:
            os.close(fd)
        if other is not None and other != os.getpid() and process_alive(other):
            raise PidfileError(f"{path}: held by running process {other}; is rpcdaemon already running?")


def acquire_pidfile(path: str) -> None:
    """Take the pidfile for this process and write our pid; refuse when another daemon holds it, when it names a
    live process, or when the path is a symlink or not a plain file. Held until release_pidfile or exit."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    for _ in range(ATTEMPTS):
        fd = _open(path)
        try:
            if not _lock(fd):
                other = _read_pid(fd)
                holder = f"running process {other}" if other is not None else "another rpcdaemon starting"
                raise PidfileError(f"{path}: held by {holder}; is rpcdaemon already running?")
            if not _same_file(path, fd):
                os.close(fd)  # replaced while we waited for the lock: take the file the path names now
                continue
            other = _read_pid(fd)
            if other is not None and other != os.getpid() and process_alive(other):
                raise PidfileError(f"{path}: held by running process {other}; is rpcdaemon already running?")
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        except BaseException:
            with contextlib.suppress(OSError):
                os.close(fd)
            raise
        with _held_lock:
            previous = _held.pop(path, None)
            _held[path] = fd
        if previous is not None and previous != fd:
            with contextlib.suppress(OSError):
                os.close(previous)
        return
    raise PidfileError(f"{path}: replaced again and again while starting; is another rpcdaemon starting?")


def release_pidfile(path: str) -> None:
    """Remove the pidfile when it is ours (the file we hold, or one naming our pid), then drop the lock."""
    with _held_lock:
        fd = _held.pop(path, None)
    if fd is None:
        with contextlib.suppress(OSError, PidfileError):
            _check_kind(path, os.lstat(path))
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
            try:
                if _read_pid(fd) == os.getpid() and _same_file(path, fd):
                    os.unlink(path)
            finally:
                os.close(fd)
        return
    try:
        if _same_file(path, fd):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)  # before the lock goes: a waiter that opened this file sees it replaced
    finally:
        os.close(fd)


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError as exc:
        return exc.errno == errno.EPERM
    return True


def _open(path: str) -> int:
    with contextlib.suppress(FileNotFoundError):
        _check_kind(path, os.lstat(path))  # a clear line for a link, and no open() of a device or a FIFO
    try:
        fd = os.open(path, OPEN_FLAGS, 0o644)
    except OSError as exc:
        if exc.errno == errno.ELOOP or os.path.islink(path):
            raise PidfileError(f"{path}: is a symbolic link; refusing to use it as the pidfile") from None
        raise PidfileError(f"{path}: cannot open the pidfile: {exc.strerror}") from None
    try:
        _check_kind(path, os.fstat(fd))
    except BaseException:
        os.close(fd)
        raise
    return fd


def _check_kind(path: str, info: os.stat_result) -> None:
    if stat.S_ISLNK(info.st_mode):
        raise PidfileError(f"{path}: is a symbolic link; refusing to use it as the pidfile")
    if not stat.S_ISREG(info.st_mode):
        raise PidfileError(f"{path}: is not a regular file; refusing to use it as the pidfile")
    if info.st_nlink > 1:
        raise PidfileError(f"{path}: has {info.st_nlink} hard links; refusing to use it as the pidfile")


def _lock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            return False
        raise
    return True


def _same_file(path: str, fd: int) -> bool:
    try:
        named = os.lstat(path)
    except FileNotFoundError:
        return False
    held = os.fstat(fd)
    return (named.st_dev, named.st_ino) == (held.st_dev, held.st_ino)


def _read_pid(fd: int) -> int | None:
    try:
        text = os.pread(fd, 64, 0).decode("ascii", "replace").strip()
        pid = int(text) if text else 0
    except (OSError, ValueError):
        return None
    return pid if pid > 0 else None
