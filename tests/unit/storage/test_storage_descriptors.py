"""The descriptor cache: segment files are opened on demand and at most ``capacity`` stay open.

What is checked: the least recently used descriptor goes first; an evicted file reopens by itself
with its data intact; a descriptor lent for an asynchronous fdatasync is never closed until given
back (also when its log is closed meanwhile); a dirty one is closed only after an fdatasync
through itself, whose failure takes the directory offline and closes nothing; index files and
checkpoints hold no descriptor; and the number of open descriptors does not grow with partitions
and segments, at open (recovery) as while appending and reading.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest
from storage_support import make_batch, offsets

from streamlog.storage.config import LogConfig
from streamlog.storage.descriptors import DescriptorCache
from streamlog.storage.errors import LogDirOffline
from streamlog.storage.log import PartitionLog
from streamlog.storage.logdir import LogDir
from streamlog.storage.segment import FileStore

SMALL = LogConfig(segment_bytes=1_000, index_interval_bytes=100)


def open_fds() -> set[int]:
    """This process's open descriptors (not counting the one that lists them)."""
    found = set()
    for name in os.listdir("/proc/self/fd"):
        try:
            os.readlink(f"/proc/self/fd/{name}")
        except FileNotFoundError:  # the directory listing's own descriptor, closed by now
            continue
        found.add(int(name))
    return found


def fd_inode(fd: int) -> int:
    return os.fstat(fd).st_ino


def stores(tmp_path: Path, cache: DescriptorCache, count: int) -> list[FileStore]:
    out = []
    for i in range(count):
        store = FileStore(str(tmp_path / f"{i}.log"), cache)
        store.write(bytes([65 + i]) * 10)
        store.sync()  # clean: evictable without a sync
        out.append(store)
    return out


def test_the_least_recently_used_descriptor_is_closed_and_the_file_reopens_with_its_data(
    tmp_path: Path,
) -> None:
    cache = DescriptorCache(3)
    a, b, c, d = stores(tmp_path, cache, 4)
    assert len(cache) == 3 and cache.opened == 4 and cache.evicted == 1
    assert a.file.fd is None, "the oldest went to make room for the fourth"
    assert b.read(0, 10) == b"B" * 10  # b is the most recently used now: c goes next
    e = FileStore(str(tmp_path / "e.log"), cache)
    e.write(b"e")
    assert c.file.fd is None and b.file.fd is not None and d.file.fd is not None
    assert a.read(0, 10) == b"A" * 10, "reopened by path, transparently"
    a.write(b"more")
    a.sync()
    assert a.read(0, 14) == b"A" * 10 + b"more" and os.path.getsize(a.path) == 14
    assert len(cache) == 3 and cache.peak == 3 and cache.overflows == 0
    assert cache.opened == 6 and cache.evicted == 3
    for store in (a, b, c, d, e):
        store.close()
    assert len(cache) == 0


def test_a_lent_descriptor_is_never_closed_until_it_is_given_back(tmp_path: Path) -> None:
    cache = DescriptorCache(2)
    a, b = stores(tmp_path, cache, 2)
    fd, mark = a.lend_descriptor()  # an asynchronous fdatasync of `a` is in flight from here
    inode = os.stat(a.path).st_ino
    others: list[FileStore] = []
    for i in range(5):
        other = FileStore(str(tmp_path / f"other-{i}.log"), cache)
        other.write(b"x")
        other.sync()
        others.append(other)
        assert a.file.fd == fd and fd_inode(fd) == inode, "still open, still a's"
    assert len(cache) == 2
    a.close()  # the log is closed meanwhile: closing waits for the fdatasync to be given back
    assert a.file.fd == fd and fd_inode(fd) == inode and a.file.pins == 1
    os.fdatasync(fd)
    a.return_descriptor(mark)
    assert a.file.fd is None
    assert fd not in open_fds() or fd_inode(fd) != inode, "closed once given back"
    for store in [b, *others]:
        store.close()


def test_when_everything_is_lent_the_cache_goes_above_its_capacity_and_says_so(tmp_path: Path) -> None:
    cache = DescriptorCache(2)
    a, b = stores(tmp_path, cache, 2)
    lent = [a.lend_descriptor(), b.lend_descriptor()]
    c = FileStore(str(tmp_path / "c.log"), cache)
    c.write(b"c")
    assert len(cache) == 3 and cache.overflows == 1 and cache.peak == 3
    a.return_descriptor(lent[0][1])
    assert len(cache) == 2 and a.file.fd is None, "back within its capacity once one is given back"
    b.return_descriptor(lent[1][1])
    assert len(cache) == 2 and b.file.fd is not None
    c.sync()
    d = FileStore(str(tmp_path / "d.log"), cache)
    d.write(b"d")
    assert len(cache) == 2 and b.file.fd is None, "the least recently used went"
    for store in (a, b, c, d):
        store.close()


def test_a_dirty_descriptor_is_synced_through_itself_before_it_is_closed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = DescriptorCache(2)
    clean, dirty = stores(tmp_path, cache, 2)
    dirty.write(b"unsynced")
    fresh = FileStore(str(tmp_path / "fresh.log"), cache)
    fresh.write(b"f")  # needs room: the clean one goes, although the dirty one is older
    assert clean.file.fd is None and dirty.file.fd is not None and cache.synced_on_evict == 0
    dirty_fd = dirty.file.fd
    synced: list[tuple[int, int | None]] = []  # (fd synced, fd still open as the dirty file then)
    real = os.fdatasync

    def record(fd: int) -> None:
        synced.append((fd, dirty.file.fd))
        real(fd)

    monkeypatch.setattr(os, "fdatasync", record)
    fresh.sync()
    dirty.read(0, 1)  # the dirty one is the most recently used now; still only dirty ones to spare
    fresh.write(b"g")  # fresh is dirty too
    another = FileStore(str(tmp_path / "another.log"), cache)
    another.write(b"a")
    assert (dirty_fd, dirty_fd) in synced, "synced through its own descriptor, while still open"
    assert cache.synced_on_evict == 1 and len(cache) == 2
    assert dirty.file.fd is None and not dirty.file.dirty
    assert dirty.read(0, 18) == b"B" * 10 + b"unsynced"
    for store in (clean, dirty, fresh, another):
        store.close()


def test_a_failed_sync_before_closing_takes_the_directory_offline_and_closes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    logdir = LogDir(str(tmp_path), DescriptorCache(1))
    dirty = FileStore(str(tmp_path / "dirty.log"), logdir.files)
    dirty.write(b"unsynced")
    fd = dirty.file.fd

    def fail(_fd: int) -> None:
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(os, "fdatasync", fail)
    other = FileStore(str(tmp_path / "other.log"), logdir.files)
    with pytest.raises(LogDirOffline):
        other.read(0, 1)
    assert logdir.failure is not None and logdir.failure.errno == errno.EIO
    assert "dirty.log (to close its descriptor)" in logdir.failure.operation
    assert dirty.file.fd == fd and dirty.file.dirty, "nothing closed, nothing claimed synced"
    monkeypatch.undo()
    dirty.abandon()


def test_a_store_synced_on_another_thread_after_eviction_uses_a_descriptor_of_its_own(tmp_path: Path) -> None:
    cache = DescriptorCache(1)
    a = FileStore(str(tmp_path / "a.log"), cache)
    a.write(b"a")
    a.sync()
    b = FileStore(str(tmp_path / "b.log"), cache)
    b.write(b"b")
    assert a.file.fd is None
    a.sync()  # by path: nothing to do, but it must not fail or touch the cache
    assert a.file.fd is None and len(cache) == 1
    a.close()
    b.close()


def test_running_out_of_descriptors_gives_back_clean_ones_and_retries(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = DescriptorCache(100)
    a, b = stores(tmp_path, cache, 2)
    real = os.open
    refusals = [errno.EMFILE]

    def open_once_refused(path: str, flags: int, mode: int = 0o777) -> int:
        if refusals and path.endswith("c.log"):
            raise OSError(refusals.pop(), os.strerror(errno.EMFILE))
        return real(path, flags, mode)

    monkeypatch.setattr(os, "open", open_once_refused)
    c = FileStore(str(tmp_path / "c.log"), cache)
    c.write(b"c")
    assert a.file.fd is None and b.file.fd is None and c.file.fd is not None and cache.evicted == 2
    for store in (a, b, c):
        store.close()


def test_opening_many_logs_keeps_only_the_cache_full_of_descriptors(tmp_path: Path) -> None:
    before = open_fds()
    logdir = LogDir(str(tmp_path), DescriptorCache(8))
    logs = []
    for i in range(40):  # several segments each, written, then closed cleanly
        plog = PartitionLog.open(tmp_path / f"t-{i}", SMALL, now_ms=0, logdir=logdir)
        for j in range(50):
            plog.append(make_batch(2, j), now_ms=0)
        plog.flush()
        assert len(plog.segments) >= 5
        logs.append(plog)
        assert len(open_fds() - before) <= 8
    for plog in logs:
        plog.close()
    assert open_fds() == before
    reopened = [PartitionLog.open(tmp_path / f"t-{i}", SMALL, now_ms=0, logdir=logdir) for i in range(40)]
    assert len(open_fds() - before) == 0, "recovery opens, checks, closes"
    for round_ in range(2):
        for plog in reopened:
            plog.append(make_batch(1, 100 + round_), now_ms=0)
            plog.flush()
            assert offsets(plog.read(0, 1 << 20).data)[0] == (0, 1)
            assert len(open_fds() - before) <= 8
    assert logdir.files.overflows == 0 and logdir.files.synced_on_evict == 0
    for plog in reopened:
        plog.close()
    assert open_fds() == before


def test_index_files_and_checkpoints_keep_no_descriptor(tmp_path: Path) -> None:
    before = open_fds()
    plog = PartitionLog.open(tmp_path / "t-0", SMALL, now_ms=0)
    for j in range(30):
        plog.append(make_batch(2, j), now_ms=0)
        plog.flush()
    open_now = {os.readlink(f"/proc/self/fd/{fd}") for fd in open_fds() - before}
    assert all(path.endswith(".log") for path in open_now), open_now
    assert len(open_now) <= len(plog.segments)
    plog.close()


def test_an_empty_log_costs_no_fsync_to_open_or_close(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    PartitionLog.open(tmp_path / "t-0", SMALL, now_ms=0).close()
    syncs: list[int] = []
    real_fsync, real_fdatasync = os.fsync, os.fdatasync
    monkeypatch.setattr(os, "fsync", lambda fd: (syncs.append(fd), real_fsync(fd))[1])
    monkeypatch.setattr(os, "fdatasync", lambda fd: (syncs.append(fd), real_fdatasync(fd))[1])
    plog = PartitionLog.open(tmp_path / "t-0", SMALL, now_ms=0)
    plog.close()
    assert syncs == []
    plog = PartitionLog.open(tmp_path / "t-0", SMALL, now_ms=0)
    plog.append(make_batch(1), now_ms=0)
    plog.flush()
    assert len(syncs) >= 2, "the first flush syncs the data and the directory it was created in"
    plog.close()
    again = PartitionLog.open(tmp_path / "t-0", SMALL, now_ms=0)
    assert again.recovery_report.clean_shutdown and again.log_end_offset == 1
    again.close()
