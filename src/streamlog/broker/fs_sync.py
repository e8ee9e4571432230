"""One durable round for many partitions: syncfs(2) of the data directory's filesystem on a thread.

Theory of operation: a durable produce to N partitions waits until each partition's new bytes are
synced.  One fdatasync per partition file costs N system calls, and on ext4 each one also writes
that file's inode block synchronously; under load, N such calls in flight compete with the event
loop and the clients for the cores.  ``syncfs`` writes out everything dirty on a filesystem and
waits for it, in one call, with the inode blocks of all the files in one pass.  On this project's
machine, for rounds of 16 files with 2 to 64 KiB each, it made a round 3 to 6 times cheaper in CPU
and 2 to 6 times faster under contention (``python -m bench.fsync_streams``, docs/performance.md).

The flusher (``broker/durability.py``) hands a round to this module when two or more partitions of
the data directory's filesystem are waiting; a lone partition keeps its own fdatasync.  One round
runs at a time, on one thread; partitions asked for meanwhile wait in the flusher's line and form
the next round, so the busier the broker, the more each round covers.  The thread calls:

    syncfs(data_dir_fd)   every dirty page and inode of the filesystem is written and waited for
    fsync(data_dir_fd)    a cache flush after it: with no ext4 journal, syncfs writes the inode
                          blocks after its own flush, so without this they could sit in the
                          device's volatile cache (the descriptor is the directory's, which stays
                          open; a segment's descriptor could be closed and reused meanwhile)

and reports 0 or ``-errno`` to the loop with one ``call_soon_threadsafe``.  ``syncfs`` reports a
write-back error seen anywhere on the filesystem since the previous call (Linux 5.8 and later):
the round then fails, which is the safe side.

The cost of ``syncfs`` is everyone's dirty data on that filesystem, not just ours.  Before each
round the flusher asks ``affordable()``, which reads ``Dirty`` + ``Writeback`` from /proc/meminfo
(at most every ``_MEMINFO_EVERY_S``): above ``dirty_limit`` bytes machine-wide, the round uses
per-file fdatasyncs instead, so another program's large write does not stall our acknowledgements.
Where rounds are used: Linux 5.8 or later (before it, ``syncfs`` did not report write-back errors),
and a data directory on ext4 or xfs, where ``syncfs`` costs what the dirty data costs (found in
/proc/self/mountinfo by the directory's device number).  Elsewhere (btrfs, whose ``syncfs``
commits a whole transaction; network filesystems; anything not recognised) ``open`` returns None
and every round is per file, as it is with ``streamlog.fsync.scope=file``.
"""

from __future__ import annotations

import asyncio
import ctypes
import logging
import os
import queue
import re
import sys
import threading
import time
from collections.abc import Callable
from typing import Final

from streamlog.broker.kernel_fsync import c_function

log = logging.getLogger(__name__)

DIRTY_LIMIT: Final = 32 << 20  # bytes dirty or under write-back machine-wide above which rounds go per file
_MEMINFO_EVERY_S: Final = 0.05
RoundDone = Callable[[list[int], int], None]  # (the round's tokens, 0 or -errno), on the loop
FILESYSTEMS: Final = frozenset({"ext4", "xfs"})  # where rounds are used
MIN_KERNEL: Final = (5, 8)  # syncfs reports write-back errors from this release on


def kernel_release(release: str) -> tuple[int, int] | None:
    """``(major, minor)`` from a release string such as ``6.18.44-fc-v769``; None if unparsable."""
    found = re.match(r"(\d+)\.(\d+)", release)
    return (int(found[1]), int(found[2])) if found else None


def load_syncfs() -> Callable[[int], int] | None:
    """libc's ``int syncfs(int fd)`` (0, or -1 with errno set), its signature declared
    (``kernel_fsync.c_function``); None where libc has none."""
    try:
        syncfs: Callable[[int], int] = c_function("syncfs", ctypes.c_int, ctypes.c_int)
    except AttributeError:
        return None
    return syncfs


def filesystem_type(directory: str, mountinfo: str = "/proc/self/mountinfo") -> str | None:
    """The type of the mounted filesystem holding ``directory`` (matched by device number), or None."""
    try:
        dev = os.stat(directory).st_dev
        with open(mountinfo, encoding="utf-8", errors="replace") as fh:
            lines = fh.read().splitlines()
    except OSError:
        return None
    wanted = f"{os.major(dev)}:{os.minor(dev)}"
    found = None
    for line in lines:
        # 36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue
        fields = line.split()
        if len(fields) > 4 and fields[2] == wanted and " - " in line:
            after = line.split(" - ", 1)[1].split()
            if after:
                found = after[0]  # the last match is the mount on top
    return found


def read_dirty_bytes(path: str = "/proc/meminfo") -> int | None:
    """``Dirty`` + ``Writeback`` in bytes, or None if the file is unreadable or lacks them."""
    try:
        with open(path, "rb") as fh:
            text = fh.read()
    except OSError:
        return None
    total = 0
    found = 0
    for line in text.splitlines():
        if line.startswith((b"Dirty:", b"Writeback:")):
            parts = line.split()
            if len(parts) >= 2 and parts[1].isdigit():
                total += int(parts[1]) * 1024  # the kernel reports kB
                found += 1
    return total if found == 2 else None


class FilesystemSync:
    """syncfs rounds on one thread; ``on_done(tokens, result)`` runs on the loop with the round's
    tokens as submitted and 0 or -errno."""

    def __init__(self, loop: asyncio.AbstractEventLoop, on_done: RoundDone,
                 syncfs: Callable[[int], int], dir_fd: int, dirty_limit: int,
                 read_dirty: Callable[[], int | None]) -> None:
        self._loop = loop
        self._on_done = on_done
        self._syncfs = syncfs
        self._dir_fd = dir_fd
        self._dev = os.fstat(dir_fd).st_dev
        self._dirty_limit = dirty_limit
        self._read_dirty = read_dirty
        self._dirty_checked = -1.0
        self._dirty_ok = True
        self._jobs: queue.SimpleQueue[list[int] | None] = queue.SimpleQueue()
        self.busy = False
        self.rounds = 0
        self.declined = 0  # rounds that went per file because too much was dirty
        self._thread = threading.Thread(target=self._work, name="streamlog-syncfs", daemon=True)
        self._thread.start()

    @classmethod
    def open(cls, loop: asyncio.AbstractEventLoop, directory: str, on_done: RoundDone, *,
             dirty_limit: int | None = None,
             read_dirty: Callable[[], int | None] | None = None) -> FilesystemSync | None:
        """Rounds for ``directory``'s filesystem, or None where they are not used.  ``dirty_limit``
        and ``read_dirty`` default to this module's ``DIRTY_LIMIT`` and ``read_dirty_bytes``, looked
        up at the call (tests that run the broker on another filesystem replace them)."""
        if not sys.platform.startswith("linux"):
            return None
        release = kernel_release(os.uname().release)
        if release is None or release < MIN_KERNEL:
            log.info("syncfs rounds off: kernel %s reports no write-back errors from syncfs",
                     os.uname().release)
            return None
        fstype = filesystem_type(directory)
        if fstype not in FILESYSTEMS:
            log.info("syncfs rounds off: %s is on %s, not on %s", directory,
                     fstype or "an unknown filesystem", " or ".join(sorted(FILESYSTEMS)))
            return None
        syncfs = load_syncfs()
        if syncfs is None:
            return None
        try:
            dir_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError as exc:
            log.info("syncfs rounds off: cannot open %s (%s)", directory, exc)
            return None
        return cls(loop, on_done, syncfs, dir_fd, DIRTY_LIMIT if dirty_limit is None else dirty_limit,
                   read_dirty_bytes if read_dirty is None else read_dirty)

    def covers(self, fd: int) -> bool:
        """Whether ``fd``'s file lives on the filesystem this syncs."""
        try:
            return os.fstat(fd).st_dev == self._dev
        except OSError:
            return False

    def affordable(self) -> bool:
        """False while more than ``dirty_limit`` bytes are dirty or under write-back machine-wide."""
        now = time.monotonic()
        if now - self._dirty_checked >= _MEMINFO_EVERY_S:
            self._dirty_checked = now
            dirty = self._read_dirty()
            self._dirty_ok = dirty is None or dirty <= self._dirty_limit
        if not self._dirty_ok:
            self.declined += 1
        return self._dirty_ok

    def submit(self, tokens: list[int]) -> None:
        """Start a round: everything written to files on this filesystem before now becomes durable;
        ``tokens`` come back with the result."""
        assert not self.busy, "one round at a time"
        self.busy = True
        self._jobs.put(tokens)

    def _work(self) -> None:
        while (tokens := self._jobs.get()) is not None:
            try:
                result = self._sync_once()
            except Exception:  # never leave a round unanswered: the flusher's line waits for it
                log.exception("syncfs round failed unexpectedly")
                result = -5  # EIO
            try:
                self._loop.call_soon_threadsafe(self._finished, tokens, result)
            except RuntimeError:  # the loop is closed: shutting down
                return

    def _sync_once(self) -> int:
        if self._syncfs(self._dir_fd) != 0:
            return -(ctypes.get_errno() or 5)
        try:
            os.fsync(self._dir_fd)
        except OSError as exc:
            return -(exc.errno or 5)
        return 0

    def _finished(self, tokens: list[int], result: int) -> None:
        self.busy = False
        self.rounds += 1
        self._on_done(tokens, result)

    def close(self) -> None:
        """Wait for the round in flight (its completion is not delivered), then stop."""
        self._jobs.put(None)
        self._thread.join()
        os.close(self._dir_fd)
