"""Streamlog for FaultFS tests: ``python -m tests.support.faultfs_broker serve ...`` takes the same
arguments as ``python -m streamlog`` and runs the same main, after installing the syncfs interposer.

Theory of operation.  FUSE does not pass syncfs(2) on to a FUSE daemon (the kernel answers 0 and
does nothing), so a broker on FaultFS whose flush rounds call libc's syncfs would acknowledge data
that FaultFS still holds as volatile.  The interposer replaces ``streamlog.broker.fs_sync.
load_syncfs`` with one returning ``syncfs(fd) -> int`` that asks the FaultFS daemon (control socket
in ``$STREAMLOG_FAULTFS_SOCKET``) for a whole-filesystem sync: 0, or -1 with errno set
(``ctypes.set_errno``, which is what ``FilesystemSync`` reads with ``ctypes.get_errno``) when the
daemon injects a failure or cannot be reached (EIO).  It also adds ``fuse`` to
``fs_sync.FILESYSTEMS`` so that flush rounds go to syncfs on the FUSE mount, as on ext4.

``STREAMLOG_FAULTFS_SYNCFS=0`` (or no socket in the environment) leaves both alone: rounds are
then never used on FUSE and every flush is one fdatasync per file, as with
``--set streamlog.fsync.scope=file``.

``STREAMLOG_FAULTFS_BREAK`` breaks the broker on purpose, to prove that a test notices (a
comma-separated list of):

* ``dir-fsync``: the partition logs' directory fsyncs (``streamlog.storage.log.fsync_dir``: new
  partition directories, new segment files after a roll) do nothing.  A SIGKILL cannot tell; a
  power cut can.
* ``retry-fsync``: the behaviour before fail-stop: a failed fdatasync (or syncfs) is retried once,
  and the retry's success counts.  After an EIO Linux (and FaultFS, "fsyncgate") has marked the
  pages clean without writing them, so the retry succeeds with nothing written.  fdatasyncs run on
  threads (``os.fdatasync``, which this wraps) instead of io_uring/AIO.
* ``offsets-nosync``: ``__consumer_offsets`` appends are acknowledged at once and never flushed
  (until a clean shutdown): offset commits and transactional offsets are lost by a power cut.
* ``no-txn-timeout``: the transaction coordinator never aborts a transaction open past its
  timeout, so one whose producer is gone hangs the last stable offset.
* ``ignore-enospc``: a segment write that runs out of space is taken as written (short writes
  not handled): the flush then syncs a file without those bytes and acknowledges them.
* ``checkpoint-dirsync``: a newly created recovery-point checkpoint is not followed by an fsync of
  its directory (the bug fixed in main): its name is lost by a power cut right after.
"""

from __future__ import annotations

import ctypes
import errno
import os
from collections.abc import Callable, Sequence
from typing import Any, Final

from tests.support.faultfs import ControlConnection, FaultFSError

SOCKET_ENV: Final = "STREAMLOG_FAULTFS_SOCKET"
SYNCFS_ENV: Final = "STREAMLOG_FAULTFS_SYNCFS"  # "0": do not install the interposer
BREAK_ENV: Final = "STREAMLOG_FAULTFS_BREAK"  # a deliberately broken broker, see above


def faultfs_syncfs(socket_path: str, *, retry: bool = False) -> Callable[[int], int]:
    """A libc-style ``syncfs(fd)`` that syncs the whole FaultFS through its daemon (``retry``: once
    more after a failure, the "retry-fsync" breakage)."""
    conn = ControlConnection(socket_path, timeout=60.0)

    def syncfs(fd: int) -> int:
        try:
            try:
                conn.call("syncfs")
            except OSError:
                if not retry:
                    raise
                conn.call("syncfs")
        except OSError as exc:  # an injected failure
            ctypes.set_errno(exc.errno or errno.EIO)
            return -1
        except FaultFSError:
            ctypes.set_errno(errno.EIO)
            return -1
        return 0

    return syncfs


def install_interposer(socket_path: str, *, retry: bool = False) -> None:
    from streamlog.broker import fs_sync

    syncfs = faultfs_syncfs(socket_path, retry=retry)
    fs_sync.load_syncfs = lambda: syncfs
    fs_sync.FILESYSTEMS = fs_sync.FILESYSTEMS | {"fuse"}  # type: ignore[misc]
    # A FaultFS syncfs costs FaultFS's own dirty data only: other programs' dirty pages on the
    # machine (which send real rounds back to per-file syncs) must not decide this path.
    fs_sync.read_dirty_bytes = lambda path="/proc/meminfo": 0


def break_directory_fsync() -> None:
    from streamlog.storage import log

    log.fsync_dir = lambda directory: None


def retry_failed_fdatasync() -> None:
    from streamlog.broker import durability

    durability.ENGINES.clear()  # fdatasyncs on threads, through os.fdatasync
    real = os.fdatasync

    def fdatasync(fd: int) -> None:
        try:
            real(fd)
        except OSError:
            real(fd)  # "succeeds": the pages the failed call dropped are clean now

    os.fdatasync = fdatasync


def offsets_without_fsync() -> None:
    import asyncio

    from streamlog.broker.group_service import GroupService
    from streamlog.protocol.records.builder import NewRecord, build_batch

    def append(self: GroupService, records: Sequence[Any], stamp: int) -> asyncio.Future[None]:
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if records:
            batch = build_batch([NewRecord(r.key, r.value, stamp) for r in records])
            self.partition.log.append(bytearray(batch), now_ms=stamp)
        done.set_result(None)
        return done

    GroupService._append = append  # type: ignore[method-assign]


def no_transaction_timeout() -> None:
    from streamlog.broker.txn_service import TxnService

    async def abort_timed_out(self: TxnService, stamp: int) -> None:
        return None

    TxnService.abort_timed_out = abort_timed_out  # type: ignore[method-assign]


def ignore_enospc() -> None:
    from streamlog.storage.segment import FileStore

    write_out = FileStore.write_out

    def written(self: FileStore) -> None:
        try:
            write_out(self)
        except OSError as exc:
            if exc.errno != errno.ENOSPC:
                raise
            self._file_size += len(self._pending)  # "written"
            self._pending.clear()

    FileStore.write_out = written  # type: ignore[method-assign]


def checkpoint_without_dirsync() -> None:
    from streamlog.storage.checkpoint import RecoveryCheckpoint

    write = RecoveryCheckpoint.write

    def written(self: RecoveryCheckpoint, point: Any, *, sync: bool) -> bool:
        write(self, point, sync=sync)
        return False  # "not created": the caller skips the directory fsync

    RecoveryCheckpoint.write = written  # type: ignore[method-assign]


BREAKAGES: Final[dict[str, Callable[[], None]]] = {
    "dir-fsync": break_directory_fsync,
    "retry-fsync": retry_failed_fdatasync,
    "offsets-nosync": offsets_without_fsync,
    "no-txn-timeout": no_transaction_timeout,
    "ignore-enospc": ignore_enospc,
    "checkpoint-dirsync": checkpoint_without_dirsync,
}


def main(argv: list[str] | None = None) -> int:
    broken = [name for name in os.environ.get(BREAK_ENV, "").split(",") if name]
    unknown = [name for name in broken if name not in BREAKAGES]
    if unknown:
        raise SystemExit(f"{BREAK_ENV}: unknown breakage {unknown}; on offer: {sorted(BREAKAGES)}")
    socket_path = os.environ.get(SOCKET_ENV)
    if socket_path and os.environ.get(SYNCFS_ENV, "1") != "0":
        install_interposer(socket_path, retry="retry-fsync" in broken)
    for name in broken:
        BREAKAGES[name]()
    from streamlog.cli.main import main as streamlog_main

    return streamlog_main(argv)


if __name__ == "__main__":
    raise SystemExit(main())
