"""Filesystem rounds: several partitions made durable by one syncfs, on real logs and a real loop.

The flusher hands a round to ``FilesystemSync`` when two or more partitions wait; a lone partition
keeps its own fdatasync; while a round runs, the line waits for the next one; a failed round fails
every waiter in it and takes the directory offline for good (fail-stop); too much dirty data
machine-wide sends rounds back to per-file syncs.
"""

from __future__ import annotations

import asyncio
import ctypes
import os
import sys
import threading
from pathlib import Path

import pytest
from tests.unit.broker.test_durability import Harness, Waiter, real_partition, until
from tests.unit.storage.storage_support import make_batch

from streamlog.broker.config import BrokerConfig, ConfigError
from streamlog.broker.durability import FlushCoordinator
from streamlog.broker.fs_sync import FilesystemSync, filesystem_type, kernel_release, read_dirty_bytes
from streamlog.broker.topics import Partition
from streamlog.storage.errors import LogDirOffline
from streamlog.storage.logdir import LogDir

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="syncfs is Linux's")


def test_read_dirty_bytes_sums_dirty_and_writeback(tmp_path: Path) -> None:
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal:  100 kB\nDirty:        12 kB\nWriteback:     3 kB\nWritebackTmp: 7 kB\n")
    assert read_dirty_bytes(str(meminfo)) == 15 * 1024
    meminfo.write_text("MemTotal:  100 kB\nDirty:  12 kB\n")
    assert read_dirty_bytes(str(meminfo)) is None, "both lines are needed"
    assert read_dirty_bytes(str(tmp_path / "absent")) is None
    real = read_dirty_bytes()
    assert real is not None and real >= 0


def test_kernel_release_and_filesystem_type_decide_where_rounds_are_used(tmp_path: Path) -> None:
    assert kernel_release("6.18.44-fc-v769") == (6, 18)
    assert kernel_release("5.8.0-rc1") == (5, 8) and kernel_release("5.7.19") == (5, 7)
    assert kernel_release("5") is None and kernel_release("x.y") is None
    dev = os.stat(tmp_path).st_dev
    mine = f"{os.major(dev)}:{os.minor(dev)}"
    mountinfo = tmp_path / "mountinfo"
    mountinfo.write_text(
        "22 1 0:21 / /proc rw,nosuid - proc proc rw\n"
        f"30 1 {mine} / / rw,relatime shared:1 - ext4 /dev/vda rw\n"
        f"31 30 {mine} / /data rw - btrfs /dev/vda rw\n"  # mounted on top: the later line wins
    )
    assert filesystem_type(str(tmp_path), str(mountinfo)) == "btrfs"
    mountinfo.write_text("22 1 0:21 / /proc rw,nosuid - proc proc rw\n")
    assert filesystem_type(str(tmp_path), str(mountinfo)) is None
    assert filesystem_type(str(tmp_path / "absent")) is None
    assert filesystem_type("/proc") == "proc"


def test_no_rounds_on_filesystems_or_kernels_not_known_to_suit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import streamlog.broker.fs_sync as fs_sync

    async def main() -> None:
        loop = asyncio.get_running_loop()
        monkeypatch.setattr(fs_sync, "filesystem_type", lambda _d: "btrfs")
        assert FilesystemSync.open(loop, str(tmp_path), lambda _k, _r: None) is None
        monkeypatch.setattr(fs_sync, "filesystem_type", lambda _d: "xfs")
        monkeypatch.setattr(fs_sync, "kernel_release", lambda _r: (5, 4))
        assert FilesystemSync.open(loop, str(tmp_path), lambda _k, _r: None) is None
        monkeypatch.setattr(fs_sync, "kernel_release", lambda _r: (6, 1))
        fs = FilesystemSync.open(loop, str(tmp_path), lambda _k, _r: None)
        assert fs is not None
        fs.close()

    asyncio.run(main())


def append(part: Partition, waiters: list[Waiter], flusher: FlushCoordinator, count: int = 2) -> None:
    waiter = Waiter()
    end = part.log.append(make_batch(count), now_ms=0).last_offset + 1
    assert flusher.add_waiter(part, end, waiter)
    waiters.append(waiter)


def log_size(part: Partition) -> int:
    return os.path.getsize(os.path.join(part.log.name, "00000000000000000000.log"))


def append_each(parts: list[Partition], flusher: FlushCoordinator) -> list[Waiter]:
    waiters: list[Waiter] = []
    for part in parts:
        append(part, waiters, flusher)
    return waiters


def started(tmp_path: Path) -> tuple[FlushCoordinator, FilesystemSync]:
    flusher = Harness(threads=2, syncfs_dir=str(tmp_path))
    flusher.start()
    fs = flusher.filesystem_rounds
    if fs is None:
        pytest.skip("syncfs is not available here")
    # Rounds as on an idle machine: another program's writes (dirty pages machine-wide) would
    # otherwise send them back to per-file syncs, and these tests count rounds.
    fs._read_dirty = lambda: 0
    return flusher, fs


async def shut(flusher: FlushCoordinator, parts: list[Partition]) -> None:
    await flusher.close()
    for part in parts:
        part.log.close()


def test_several_partitions_share_one_round_and_a_lone_one_keeps_its_own_sync(tmp_path: Path) -> None:
    async def main() -> None:
        flusher, fs = started(tmp_path)
        parts = [real_partition(tmp_path, i) for i in range(4)]
        waiters = append_each(parts, flusher)
        await until(lambda: all(w.calls for w in waiters))
        assert all(w.calls == [None] for w in waiters)
        assert fs.rounds == 1, "the four partitions asked in one turn went into one round"
        for part in parts:
            assert part.log.flushed_offset == part.log.log_end_offset == 2
            assert log_size(part) == len(make_batch(2)), "the round covered the bytes in the file"
        lone: list[Waiter] = []
        append(parts[0], lone, flusher)
        await until(lambda: lone[0].calls)
        assert lone[0].calls == [None] and parts[0].log.flushed_offset == 4
        assert fs.rounds == 1, "one partition alone is synced by its own fdatasync"
        await shut(flusher, parts)

    asyncio.run(main())


def test_the_line_waits_for_the_round_in_flight_and_forms_the_next(tmp_path: Path) -> None:
    async def main() -> None:
        flusher, fs = started(tmp_path)
        gate = threading.Event()
        real_syncfs = fs._syncfs

        def held(fd: int) -> int:  # the sync itself happens first: what is written later is not covered
            result = int(real_syncfs(fd))
            assert gate.wait(10)
            return result

        fs._syncfs = held
        parts = [real_partition(tmp_path, i) for i in range(6)]
        first = append_each(parts[:3], flusher)
        await until(lambda: fs.busy)
        second = append_each(parts, flusher)  # three in the round (asked again) and three new ones
        await asyncio.sleep(0.05)
        assert not any(w.calls for w in first + second), "nothing is released before its round ends"
        assert all(p.log.flushed_offset == 0 for p in parts)
        assert flusher._in_flight.keys() == {id(p) for p in parts[:3]}, "the new ones wait in line"
        gate.set()
        await until(lambda: all(w.calls for w in first + second))
        assert all(w.calls == [None] for w in first + second)
        assert fs.rounds == 2, "what arrived during the first round went into the second"
        assert all(p.log.flushed_offset == p.log.log_end_offset for p in parts)
        await shut(flusher, parts)

    asyncio.run(main())


def broken_syncfs(_fd: int) -> int:
    ctypes.set_errno(5)
    return -1


def raising_syncfs(_fd: int) -> int:
    raise ValueError("a bug in the round itself")


@pytest.mark.parametrize("failure", [broken_syncfs, raising_syncfs], ids=["EIO", "exception"])
def test_a_failed_round_fails_every_waiter_in_it_and_takes_the_directory_offline(
    tmp_path: Path, failure: object
) -> None:
    async def main() -> None:
        flusher, fs = started(tmp_path)
        real_syncfs = fs._syncfs
        logdir = LogDir(str(tmp_path))
        parts = [real_partition(tmp_path, i, logdir) for i in range(2)]
        fs._syncfs = failure
        failed = append_each(parts, flusher)
        await until(lambda: all(w.calls for w in failed))
        assert all(len(w.calls) == 1 and isinstance(w.calls[0], LogDirOffline) for w in failed)
        assert "Input/output error" in str(failed[0].calls[0])
        assert all(p.log.flushed_offset == 0 for p in parts), "a failed round claims nothing"
        assert logdir.offline and logdir.failure is not None and logdir.failure.errno == 5
        assert logdir.failure.operation.startswith("syncfs of the filesystem (a flush round with ")
        fs._syncfs = real_syncfs  # the disk "recovers": nothing is synced again all the same
        with pytest.raises(LogDirOffline):
            parts[0].log.append(make_batch(1), now_ms=0)
        for part in parts:
            flusher.request_flush(part)
        await asyncio.sleep(0.05)
        assert all(p.log.flushed_offset == 0 for p in parts)
        assert fs.rounds == 1, "no round after the failed one"
        await shut(flusher, parts)

    asyncio.run(main())


def test_much_dirty_data_sends_rounds_back_to_per_file_syncs(tmp_path: Path) -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        flusher = Harness(threads=2)
        flusher.start()
        # Swap in rounds that see a machine with 1 GiB dirty (the flusher's own would read the real one).
        fs = FilesystemSync.open(loop, str(tmp_path), flusher._fs_done, read_dirty=lambda: 1 << 30)
        if fs is None:
            pytest.skip("syncfs is not available here")
        flusher._fs = fs
        parts = [real_partition(tmp_path, i) for i in range(3)]
        waiters = append_each(parts, flusher)
        await until(lambda: all(w.calls for w in waiters))
        assert all(w.calls == [None] for w in waiters)
        assert fs.rounds == 0 and fs.declined >= 1
        assert all(p.log.flushed_offset == 2 for p in parts)
        await shut(flusher, parts)

    asyncio.run(main())


def test_broker_settings_choose_the_scope_and_the_cache_tail(tmp_path: Path) -> None:
    config = BrokerConfig({"log.dirs": str(tmp_path)})
    assert config.get("streamlog.fsync.scope") == "filesystem"
    assert config.get("streamlog.page.cache.tail.bytes") == 64 * 1024 * 1024
    per_file = BrokerConfig({"streamlog.fsync.scope": "file", "streamlog.page.cache.tail.bytes": "-1"})
    assert per_file.get("streamlog.fsync.scope") == "file"
    assert per_file.get("streamlog.page.cache.tail.bytes") == -1
    with pytest.raises(ConfigError):
        BrokerConfig({"streamlog.fsync.scope": "disk"})
    with pytest.raises(ConfigError):
        BrokerConfig({"streamlog.page.cache.tail.bytes": "-2"})


def test_a_round_takes_at_most_max_round_partitions(tmp_path: Path) -> None:
    """Each partition in a round keeps its descriptor lent until the round ends, so the broker caps
    a round at half its descriptor budget; the rest of the line waits for the next round."""

    async def main() -> None:
        flusher = Harness(threads=2, syncfs_dir=str(tmp_path), max_round=2)
        flusher.start()
        fs = flusher.filesystem_rounds
        if fs is None:
            pytest.skip("syncfs is not available here")
        fs._read_dirty = lambda: 0
        sizes: list[int] = []
        real_submit = fs.submit

        def recorded(tokens: list[int]) -> None:
            sizes.append(len(tokens))
            real_submit(tokens)

        fs.submit = recorded  # type: ignore[method-assign]
        parts = [real_partition(tmp_path, i) for i in range(5)]
        waiters = append_each(parts, flusher)
        await until(lambda: all(w.calls for w in waiters))
        assert all(w.calls == [None] for w in waiters)
        assert sizes and max(sizes) == 2, sizes
        assert all(p.log.flushed_offset == 2 for p in parts)
        await shut(flusher, parts)

    asyncio.run(main())
