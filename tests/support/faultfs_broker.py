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

``STREAMLOG_FAULTFS_BREAK=dir-fsync`` breaks the broker on purpose, to prove that a test notices:
the partition logs' directory fsyncs (``streamlog.storage.log.fsync_dir``: new partition
directories, new segment files after a roll) do nothing.  A SIGKILL cannot tell; a power cut can.
"""

from __future__ import annotations

import ctypes
import errno
import os
from collections.abc import Callable
from typing import Final

from tests.support.faultfs import ControlConnection, FaultFSError

SOCKET_ENV: Final = "STREAMLOG_FAULTFS_SOCKET"
SYNCFS_ENV: Final = "STREAMLOG_FAULTFS_SYNCFS"  # "0": do not install the interposer
BREAK_ENV: Final = "STREAMLOG_FAULTFS_BREAK"  # "dir-fsync": a deliberately broken broker


def faultfs_syncfs(socket_path: str) -> Callable[[int], int]:
    """A libc-style ``syncfs(fd)`` that syncs the whole FaultFS through its daemon."""
    conn = ControlConnection(socket_path, timeout=60.0)

    def syncfs(fd: int) -> int:
        try:
            conn.call("syncfs")
        except OSError as exc:  # an injected failure
            ctypes.set_errno(exc.errno or errno.EIO)
            return -1
        except FaultFSError:
            ctypes.set_errno(errno.EIO)
            return -1
        return 0

    return syncfs


def install_interposer(socket_path: str) -> None:
    from streamlog.broker import fs_sync

    syncfs = faultfs_syncfs(socket_path)
    fs_sync.load_syncfs = lambda: syncfs
    fs_sync.FILESYSTEMS = fs_sync.FILESYSTEMS | {"fuse"}  # type: ignore[misc]
    # A FaultFS syncfs costs FaultFS's own dirty data only: other programs' dirty pages on the
    # machine (which send real rounds back to per-file syncs) must not decide this path.
    fs_sync.read_dirty_bytes = lambda path="/proc/meminfo": 0


def break_directory_fsync() -> None:
    from streamlog.storage import log

    log.fsync_dir = lambda directory: None


def main(argv: list[str] | None = None) -> int:
    socket_path = os.environ.get(SOCKET_ENV)
    if socket_path and os.environ.get(SYNCFS_ENV, "1") != "0":
        install_interposer(socket_path)
    broken = os.environ.get(BREAK_ENV, "")
    if broken == "dir-fsync":
        break_directory_fsync()
    elif broken:
        raise SystemExit(f"{BREAK_ENV}={broken!r}: the only breakage on offer is 'dir-fsync'")
    from streamlog.cli.main import main as streamlog_main

    return streamlog_main(argv)


if __name__ == "__main__":
    raise SystemExit(main())
