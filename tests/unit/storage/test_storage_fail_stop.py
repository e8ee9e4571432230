"""Fail-stop at the storage layer: the first I/O error takes the whole log directory offline.

A failed fdatasync, write or read is reported to the directory's ``LogDir`` once; from then on
every log of that directory refuses appends, reads and flushes with ``LogDirOffline`` before
touching a file, the flushed offset stays where the last successful flush left it, nothing is
retried, and closing writes nothing (no clean-shutdown mark), so the next open recovers.
Errors are injected by wrapping ``os`` calls for the files of one directory.
"""

from __future__ import annotations

import errno
import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from storage_support import make_batch

from streamlog.storage import segment as segment_module
from streamlog.storage.checkpoint import RecoveryCheckpoint
from streamlog.storage.config import LogConfig
from streamlog.storage.errors import LogDirOffline
from streamlog.storage.log import PartitionLog
from streamlog.storage.logdir import LogDir, StorageFailure


def fd_path(fd: int) -> str:
    return os.readlink(f"/proc/self/fd/{fd}")


class Faults:
    """Make os.fdatasync / os.write / os.pread fail for descriptors of files under ``root``."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, root: Path) -> None:
        self.root = str(root)
        self.armed: dict[str, int] = {}  # call -> errno
        self.calls: dict[str, int] = {"fdatasync": 0, "write": 0, "pread": 0}
        for name in ("fdatasync", "write", "pread"):
            real = getattr(os, name)
            monkeypatch.setattr(segment_module.os, name, self._wrap(name, real))

    def _wrap(self, name: str, real: Callable[..., Any]) -> Callable[..., Any]:
        def call(fd: int, *args: Any) -> Any:
            if fd_path(fd).startswith(self.root):
                self.calls[name] += 1
                code = self.armed.get(name)
                if code is not None:
                    raise OSError(code, os.strerror(code))
            return real(fd, *args)

        return call


@pytest.fixture()
def logdir(tmp_path: Path) -> LogDir:
    return LogDir(str(tmp_path))


def open_log(tmp_path: Path, logdir: LogDir, name: str = "t-0") -> PartitionLog:
    plog = PartitionLog.open(tmp_path / name, LogConfig(), now_ms=0, logdir=logdir)
    plog.set_write_behind(True)
    return plog


@pytest.fixture()
def heard(logdir: LogDir) -> Iterator[list[StorageFailure]]:
    seen: list[StorageFailure] = []
    logdir.on_failure(seen.append)
    yield seen


def test_a_failed_fdatasync_takes_the_directory_offline_for_good(
    tmp_path: Path, logdir: LogDir, heard: list[StorageFailure], monkeypatch: pytest.MonkeyPatch
) -> None:
    faults = Faults(monkeypatch, tmp_path)
    plog, other = open_log(tmp_path, logdir), open_log(tmp_path, logdir, "u-0")
    plog.append(make_batch(3), now_ms=0)
    plog.prepare_flush()
    assert plog.flush() == 3
    plog.append(make_batch(2), now_ms=0)
    plog.prepare_flush()
    faults.armed["fdatasync"] = errno.EIO
    with pytest.raises(LogDirOffline, match="Input/output error") as raised:
        plog.flush()
    assert raised.value.errno == errno.EIO
    assert plog.flushed_offset == 3, "the failed flush claims nothing"
    assert [f.errno for f in heard] == [errno.EIO] and "fdatasync" in heard[0].operation
    del faults.armed["fdatasync"]  # the disk "recovers": nothing is retried all the same
    syncs = faults.calls["fdatasync"]
    for call in (lambda: plog.flush(), lambda: plog.append(make_batch(1), now_ms=0),
                 lambda: plog.read(0, 1 << 20), lambda: other.append(make_batch(1), now_ms=0),
                 lambda: other.flush()):
        with pytest.raises(LogDirOffline):
            call()
    assert faults.calls["fdatasync"] == syncs, "no fdatasync after the failure"
    assert plog.flushed_offset == 3 and plog.offline and other.offline
    assert plog.begin_flush() is None
    assert len(heard) == 1, "listeners hear the first failure only"


def test_closing_an_offline_log_writes_nothing_and_the_next_open_recovers(
    tmp_path: Path, logdir: LogDir, monkeypatch: pytest.MonkeyPatch
) -> None:
    faults = Faults(monkeypatch, tmp_path)
    plog = open_log(tmp_path, logdir)
    plog.append(make_batch(3), now_ms=0)
    plog.prepare_flush()
    plog.flush()
    plog.append(make_batch(2), now_ms=0)  # kept in memory (write-behind), never written
    faults.armed["write"] = errno.ENOSPC
    with pytest.raises(LogDirOffline, match="No space left"):
        plog.prepare_flush()
    del faults.armed["write"]
    writes = faults.calls["write"]
    plog.close()
    assert faults.calls["write"] == writes, "close wrote nothing"
    point = RecoveryCheckpoint(str(tmp_path / "t-0")).read()
    assert point is None or not point.clean, "no clean-shutdown mark"
    reopened = PartitionLog.open(tmp_path / "t-0", LogConfig(), now_ms=0, logdir=LogDir(str(tmp_path)))
    assert reopened.log_end_offset == 3 and not reopened.recovery_report.clean_shutdown
    reopened.close()


def test_a_failed_read_takes_the_directory_offline(
    tmp_path: Path, logdir: LogDir, heard: list[StorageFailure], monkeypatch: pytest.MonkeyPatch
) -> None:
    plog = open_log(tmp_path, logdir)
    plog.append(make_batch(3), now_ms=0)
    plog.prepare_flush()
    plog.flush()
    faults = Faults(monkeypatch, tmp_path)
    faults.armed["pread"] = errno.EIO
    with pytest.raises(LogDirOffline):
        plog.read(0, 1 << 20)
    assert heard and "read" in heard[0].operation


def test_a_failure_on_a_worker_thread_reaches_listeners_once(tmp_path: Path, logdir: LogDir) -> None:
    seen: list[tuple[StorageFailure, str]] = []
    logdir.on_failure(lambda f: seen.append((f, threading.current_thread().name)))
    errors = []

    def fail() -> None:
        errors.append(logdir.fail("fdatasync of x", OSError(errno.EIO, "Input/output error")))

    worker = threading.Thread(target=fail, name="flusher")
    worker.start()
    worker.join()
    fail()
    assert len(seen) == 1 and seen[0][1] == "flusher"
    assert all(isinstance(e, LogDirOffline) for e in errors)
    late: list[StorageFailure] = []
    logdir.on_failure(late.append)
    assert late == [seen[0][0]], "a listener added after the failure hears it at once"


def test_opening_a_log_on_an_offline_directory_is_refused(tmp_path: Path, logdir: LogDir) -> None:
    logdir.fail("fdatasync of x", OSError(errno.EIO, "Input/output error"))
    with pytest.raises(LogDirOffline):
        open_log(tmp_path, logdir, "new-0")
    assert not (tmp_path / "new-0").exists()


def test_without_a_log_dir_errors_pass_through(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    faults = Faults(monkeypatch, tmp_path)
    plog = PartitionLog.open(tmp_path / "t-0", LogConfig(), now_ms=0)
    plog.append(make_batch(1), now_ms=0)
    faults.armed["fdatasync"] = errno.EIO
    with pytest.raises(OSError) as raised:
        plog.flush()
    assert not isinstance(raised.value, LogDirOffline)
    del faults.armed["fdatasync"]
    plog.flush()  # a log of no directory reports nothing and stays usable (the memory mode's case)
    plog.close()
