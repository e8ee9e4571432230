"""The open descriptors of segment files, in one bounded least-recently-used cache per data directory.

Theory of operation. A broker cannot keep a descriptor open for every file of every partition: the
process's open-file limit (``ulimit -n``) is shared with the client sockets, and a data directory
with more partitions than descriptors must still start and serve. So a segment's ``.log`` file
(``segment.FileStore``) is opened on demand, through a `CachedFile`, and its descriptor is kept in
the `DescriptorCache` of the data directory (``logdir.LogDir.files``), which holds at most
``capacity`` of them (the broker derives the capacity from the open-file limit:
``broker/resources.py``, setting ``streamlog.max.open.log.files``). When the cache is full, opening
a file first closes the least recently used descriptor that may be closed (below); its file is
reopened by path the next time it is used. Recency is tracked the "second chance" (CLOCK) way, so
that a use costs one attribute store on the read and write paths: the list is in order of opening,
a use sets a bit, and looking for a descriptor to close moves an entry whose bit is set to the back
(clearing it) instead of closing it. The other files of a partition keep no descriptor at
all: index blocks and recovery points are written through short-lived descriptors (``index``,
``checkpoint``), and opening a log closes what recovery opened (``log.PartitionLog.open``), so the
number of open files no longer grows with partitions and segments.

Which descriptor may be closed. The rules come from fail-stop (``logdir``): a write the kernel has
accepted but not yet written back can fail later, and that error must reach an fsync of ours.

* Never a *pinned* one: a descriptor lent for an asynchronous fdatasync (io_uring, native AIO, a
  syncfs round: ``PartitionLog.begin_flush`` lends it, ``finish_flush`` / ``cancel_flush`` give it
  back). The kernel may look the number up only when it runs the request, so a closed number, or
  one reused by another file, could sync the wrong file and report success for ours. Closing a
  pinned file (the log is closed or deleted meanwhile) is deferred until it is given back.
* Preferably a *clean* one: every write through it is covered by a successful fdatasync since
  (`CachedFile.writes` and `CachedFile.synced` count them). That is the common case: sealed,
  synced segments, and the active segments of durable partitions between flushes.
* A *dirty* one only as the last resort, and then only after an fdatasync through that same
  descriptor has succeeded (``synced_on_evict``). The reason: when write-back of a dirty page fails,
  Linux records the error in the file's in-memory inode and reports it to the next fsync of every
  descriptor opened before it, and (errseq, Linux 4.13, with the "report it at least once" change
  that followed) to a descriptor opened later if nobody has seen it yet. But only while the inode
  stays in memory: with no descriptor left open, the kernel may evict the inode and the error with
  it, and an fdatasync through a new descriptor would then report success for pages that never
  reached the disk (PostgreSQL's "fsyncgate"). If the fdatasync fails, the failure is reported like
  any other (``on_sync_failure``: the directory goes offline) and nothing is closed. In practice
  only partitions that are not durable (``flush.messages`` above 1) keep unsynced writes for long;
  a durable partition's active segment is dirty only between the flusher's write and its sync.
* If every open descriptor is pinned, the cache opens one more anyway, above its capacity, and
  counts it (``overflows``): the broker bounds how many are pinned at once (flush slots and syncfs
  round size, ``broker/durability.py``) well below the capacity. When a descriptor is given back,
  clean ones are closed until the cache is within its capacity again (`trim`).

Threads. Everything that changes the cache (opening, using, evicting, closing, pinning) runs on one
thread, the logs' owner (the broker's event loop; during start-up the thread that opens the logs,
before the loop uses them). Another thread (an fsync worker, ``PartitionLog.flush``) only reads an
entry's current descriptor (`CachedFile.fd`) and copes with it being closed under it: the number
then fails with EBADF (the reader falls back to a descriptor of its own, opened by path) or belongs
to another file. The second case is harmless because the owner closes only clean descriptors, or
dirty ones after syncing them: whatever the reader was asked to make durable had been synced by
then. That reader records what it synced with `synced_through`, a monotonic store; a stale value
only makes a file look dirty, which errs on the safe side.

Counters, for logs and tests: ``opened`` (descriptors opened), ``evicted`` (closed to make room),
``synced_on_evict`` (of those, dirty ones fdatasync'ed first), ``overflows`` (opened above the
capacity because everything was pinned), ``peak`` (most open at once), and ``len(cache)``.
"""

from __future__ import annotations

import errno
import os
from collections import OrderedDict
from collections.abc import Callable

SyncFailure = Callable[[str, BaseException], BaseException]  # (operation, error) -> error to raise
_OUT_OF_DESCRIPTORS = (errno.EMFILE, errno.ENFILE)


class CachedFile:
    """One file that is opened on demand and whose descriptor lives in a `DescriptorCache`."""

    __slots__ = ("_cache", "_doomed", "fd", "flags", "path", "pins", "synced", "used", "writes")

    def __init__(self, cache: DescriptorCache, path: str, flags: int) -> None:
        self._cache = cache
        self.path = path
        self.flags = flags
        self.fd: int | None = None  # the open descriptor, or None; read by any thread
        self.used = False  # used since the cache last looked at it (its second chance)
        self.pins = 0  # lent for asynchronous fdatasyncs not yet given back
        self.writes = 0  # changes made through this object (writes, shrinking truncates)
        self.synced = 0  # `writes` as it was when the last successful fdatasync began
        self._doomed = False  # closed while pinned: close when the last pin is given back

    @property
    def dirty(self) -> bool:
        """Whether a write through this file is not yet covered by a successful fdatasync."""
        return self.writes != self.synced

    def get(self) -> int:
        """The descriptor, opened if it is not (owner thread); marks the file most recently used."""
        fd = self.fd
        if fd is None:
            return self._cache.open(self)
        self.used = True  # (the read and write paths: one store, no reordering here)
        return fd

    def wrote(self) -> None:
        """Something was written (or cut) through the descriptor: dirty until synced."""
        self.writes += 1

    def synced_through(self, mark: int) -> None:
        """An fdatasync that began when `writes` was `mark` succeeded (any thread)."""
        if mark > self.synced:
            self.synced = mark

    def pin(self) -> tuple[int, int]:
        """Lend the descriptor for an asynchronous fdatasync: ``(fd, mark)``; it stays open until
        `unpin`. ``mark`` goes to `unpin` to record what the fdatasync covered."""
        fd = self.fd
        if fd is None:
            fd = self._cache.open(self)
        self.pins += 1
        return fd, self.writes

    def unpin(self, mark: int | None) -> None:
        """The fdatasync lent by `pin` ended: it succeeded and covered ``mark`` (from `pin`), or it
        failed or never ran (None)."""
        self.pins -= 1
        if mark is not None and mark > self.synced:
            self.synced = mark
        if self.pins == 0 and self._doomed:
            self._doomed = False
            self._close_now()
        cache = self._cache
        if cache.over:
            cache.trim()

    def release(self) -> bool:
        """Close the descriptor if that is safe now (not pinned, clean); True if none is left open."""
        if self.fd is None:
            return True
        if self.pins or self.dirty or self._doomed:
            return False
        self._close_now()
        return True

    def close(self) -> None:
        """Close the descriptor whatever the file holds: the caller made it durable, or replaces or
        deletes the file, or the directory failed. A pinned descriptor is closed when given back."""
        if self.fd is None or self._doomed:
            return
        if self.pins:
            self._doomed = True
            self._cache.forget(self)
            return
        self._close_now()

    def _close_now(self) -> None:
        fd, self.fd = self.fd, None  # unpublish first: readers on other threads see None or EBADF
        self._cache.forget(self)
        if fd is not None:
            os.close(fd)

    def __repr__(self) -> str:
        state = "closed" if self.fd is None else f"fd {self.fd}"
        return f"CachedFile({self.path!r}, {state}, pins={self.pins}, dirty={self.dirty})"


class DescriptorCache:
    """Open descriptors of `CachedFile`s, least recently used first; ``capacity`` None: unbounded."""

    __slots__ = ("_lru", "capacity", "evicted", "on_sync_failure", "opened", "over", "overflows", "peak",
                 "synced_on_evict")

    def __init__(self, capacity: int | None = None) -> None:
        if capacity is not None and capacity < 1:
            raise ValueError(f"a descriptor cache needs room for at least one file, not {capacity}")
        self.capacity = capacity
        self._lru: OrderedDict[CachedFile, None] = OrderedDict()
        # Set by the data directory (``LogDir``): reports a failed fdatasync of a dirty descriptor
        # that had to be closed, and returns the error to raise (fail-stop).
        self.on_sync_failure: SyncFailure | None = None
        self.over = False  # above the capacity (everything was pinned when a file had to be opened)
        self.opened = 0
        self.evicted = 0
        self.synced_on_evict = 0
        self.overflows = 0
        self.peak = 0

    def file(self, path: str, flags: int) -> CachedFile:
        """A file whose descriptor this cache will keep (nothing is opened yet)."""
        return CachedFile(self, path, flags)

    def __len__(self) -> int:
        return len(self._lru)

    def open(self, entry: CachedFile) -> int:
        """Open `entry`'s file, closing another descriptor first if the cache is full."""
        capacity = self.capacity
        if capacity is not None and len(self._lru) >= capacity:
            self._make_room()
        try:
            fd = os.open(entry.path, entry.flags, 0o644)
        except OSError as exc:
            # Out of descriptors although the budget said otherwise (another part of the process
            # used more than its share): give back what can be given back and try once more.
            if exc.errno not in _OUT_OF_DESCRIPTORS or not self.shed():
                raise
            fd = os.open(entry.path, entry.flags, 0o644)
        entry.fd = fd
        entry.used = True
        self._lru[entry] = None
        self.opened += 1
        if len(self._lru) > self.peak:
            self.peak = len(self._lru)
        if capacity is not None and len(self._lru) > capacity:
            self.over = True
        return fd

    def forget(self, entry: CachedFile) -> None:
        self._lru.pop(entry, None)

    def trim(self) -> None:
        """Back within the capacity after going above it: close clean, unpinned descriptors, least
        recently used first (dirty ones wait for their next sync or eviction)."""
        capacity = self.capacity
        if capacity is None or len(self._lru) <= capacity:
            self.over = False
            return
        excess = len(self._lru) - capacity
        for entry in [e for e in self._lru if not e.pins and not e.dirty][:excess]:
            entry._close_now()
            self.evicted += 1
        self.over = len(self._lru) > capacity

    def shed(self) -> int:
        """Close every descriptor that may be closed without a sync (clean, not pinned); how many."""
        closed = 0
        for entry in [e for e in self._lru if not e.pins and not e.dirty]:
            entry._close_now()
            closed += 1
        self.evicted += closed
        return closed

    def _make_room(self) -> None:
        """Close one descriptor: the least recently used clean one, else a dirty one (synced first).
        Recency is approximated the "second chance" way (CLOCK): a use only sets `used`; here an
        entry found used is cleared and moved to the back instead of being closed, so a descriptor
        goes once it has gone unused for a whole round of the list."""
        lru = self._lru
        victim: CachedFile | None = None
        dirty: CachedFile | None = None
        for _ in range(2 * len(lru)):  # each entry is looked at most twice
            entry = next(iter(lru))  # the oldest
            if entry.used:
                entry.used = False
                lru.move_to_end(entry)
            elif entry.pins:
                lru.move_to_end(entry)
            elif entry.dirty:
                if dirty is None:
                    dirty = entry
                lru.move_to_end(entry)
            else:
                victim = entry
                break
        if victim is None and dirty is not None:
            self._sync_for_eviction(dirty)
            victim = dirty
        if victim is None:
            self.overflows += 1  # everything is lent out: go above the capacity for a while
            return
        victim._close_now()
        self.evicted += 1

    def _sync_for_eviction(self, entry: CachedFile) -> None:
        """fdatasync a dirty descriptor through itself before it is closed (see the module doc)."""
        fd = entry.fd
        assert fd is not None
        mark = entry.writes
        try:
            os.fdatasync(fd)
        except OSError as exc:
            report = self.on_sync_failure
            if report is None:
                raise
            raise report(f"fdatasync of {entry.path} (to close its descriptor)", exc) from exc
        entry.synced_through(mark)
        self.synced_on_evict += 1
