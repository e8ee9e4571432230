"""FaultFS mounted: real system calls against the FUSE filesystem, power cuts through the control
socket, and the POSIX behaviour the broker relies on."""

from __future__ import annotations

import errno
import fcntl
import os
import signal
import time
from pathlib import Path

import pytest
from tests.support.faultfs import FaultFS, FaultFSError, is_mounted


def write_file(path: Path, data: bytes, *, sync: bool = False) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        assert os.write(fd, data) == len(data)
        if sync:
            os.fdatasync(fd)
    finally:
        os.close(fd)


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def test_unsynced_data_is_lost_and_synced_data_kept(faultfs: FaultFS) -> None:
    root = faultfs.mountpoint
    write_file(root / "f", b"synced", sync=True)
    fsync_dir(root)
    with open(root / "f", "ab") as fh:
        fh.write(b"+unsynced")
    assert (root / "f").read_bytes() == b"synced+unsynced"
    report = faultfs.power_cut()
    assert report["unmount"] == "clean"
    assert (root / "f").read_bytes() == b"synced", "the remount shows the durable state, not the page cache"
    assert os.stat(root / "f").st_size == 6


def test_a_new_file_is_lost_unless_its_directory_was_fsynced(faultfs: FaultFS) -> None:
    root = faultfs.mountpoint
    (root / "a").mkdir()
    (root / "b").mkdir()
    fsync_dir(root)
    write_file(root / "a" / "f", b"x", sync=True)
    write_file(root / "b" / "f", b"y", sync=True)
    fsync_dir(root / "b")
    faultfs.power_cut()
    assert sorted(os.listdir(root)) == ["a", "b"]
    assert os.listdir(root / "a") == []
    assert (root / "b" / "f").read_bytes() == b"y"


def test_os_replace_is_durable_after_the_directory_fsync(faultfs: FaultFS) -> None:
    root = faultfs.mountpoint
    write_file(root / "cfg", b"v1", sync=True)
    fsync_dir(root)
    write_file(root / "cfg.tmp", b"v2", sync=True)
    os.replace(root / "cfg.tmp", root / "cfg")
    faultfs.power_cut()
    assert (root / "cfg").read_bytes() == b"v1", "rename not durable without the directory fsync"
    write_file(root / "cfg.tmp", b"v3", sync=True)
    os.replace(root / "cfg.tmp", root / "cfg")
    fsync_dir(root)
    faultfs.power_cut()
    assert (root / "cfg").read_bytes() == b"v3"
    assert os.listdir(root) == ["cfg"]


def test_fsyncgate_a_failed_fsync_loses_the_data_and_the_retry_succeeds(faultfs: FaultFS) -> None:
    root = faultfs.mountpoint
    write_file(root / "seg.log", b"A" * 100, sync=True)
    fsync_dir(root)
    fd = os.open(root / "seg.log", os.O_WRONLY | os.O_APPEND)
    try:
        os.write(fd, b"B" * 100)
        faultfs.fail("fsync", errno.EIO, path="*.log")
        with pytest.raises(OSError) as failed:
            os.fdatasync(fd)
        assert failed.value.errno == errno.EIO
        assert (root / "seg.log").read_bytes() == b"A" * 100 + b"B" * 100, "reads still see it"
        os.fdatasync(fd)  # "succeeds": nothing is dirty any more
    finally:
        os.close(fd)
    faultfs.power_cut()
    assert (root / "seg.log").read_bytes() == b"A" * 100
    assert faultfs.stats()["counters"]["faults.fsync"] == 1


def test_capacity_short_write_enospc_and_statfs(faultfs: FaultFS) -> None:
    root = faultfs.mountpoint
    faultfs.set_capacity(64 * 1024)
    st = os.statvfs(root)
    assert st.f_bavail * st.f_frsize == 64 * 1024
    fd = os.open(root / "big", os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        assert os.write(fd, b"x" * 40_000) == 40_000
        st = os.statvfs(root)
        assert st.f_bavail * st.f_frsize == (64 * 1024 - 40_000) // 4096 * 4096
        assert os.write(fd, b"y" * 40_000) == 64 * 1024 - 40_000, "a short write: what fits"
        with pytest.raises(OSError) as failed:
            os.write(fd, b"z")
        assert failed.value.errno == errno.ENOSPC
    finally:
        os.close(fd)
    assert os.stat(root / "big").st_size == 64 * 1024
    faultfs.set_free(123 * 4096)
    assert os.statvfs(root).f_bavail == 123


def test_syncfs_by_control_makes_everything_durable(faultfs: FaultFS) -> None:
    root = faultfs.mountpoint
    (root / "d").mkdir()
    write_file(root / "d" / "f", b"data")
    faultfs.syncfs()
    faultfs.power_cut()
    assert (root / "d" / "f").read_bytes() == b"data"
    faultfs.fail("syncfs", errno.EIO)
    with pytest.raises(OSError) as failed:
        faultfs.syncfs()
    assert failed.value.errno == errno.EIO
    assert faultfs.stats()["counters"]["syncfs"] == 2


def test_keep_random_leaves_a_torn_tail_deterministically(tmp_path: Path) -> None:
    from tests.support.faultfs import require_fuse

    require_fuse()
    results = []
    for attempt in range(2):
        with FaultFS(tmp_path / str(attempt)) as fs:
            root = fs.mountpoint
            write_file(root / "f", b"S" * 8192, sync=True)
            fsync_dir(root)
            with open(root / "f", "ab") as fh:
                fh.write(bytes(range(256)) * 64 * 10)  # 40 pages, not synced
            fs.power_cut(keep="random", seed=11)
            results.append((root / "f").read_bytes())
    first = results[0]
    assert results[1] == first, "same seed, same state: same outcome"
    assert first[:8192] == b"S" * 8192
    assert 8192 <= len(first) <= 8192 + 40 * 4096
    tail = first[8192:]
    expected = (bytes(range(256)) * 64 * 10)[:len(tail)]
    pages = [(tail[i:i + 4096], expected[i:i + 4096]) for i in range(0, len(tail), 4096)]
    assert all(got in (want, bytes(len(want))) for got, want in pages), "each page is new or a hole"
    assert any(got == want for got, want in pages) and any(got != want for got, want in pages)


def test_posix_behaviour_the_broker_relies_on(faultfs: FaultFS) -> None:
    root = faultfs.mountpoint
    # flock (kernel-local): a second open file description cannot take it
    a = os.open(root / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
    b = os.open(root / ".lock", os.O_RDWR)
    fcntl.flock(a, fcntl.LOCK_EX | fcntl.LOCK_NB)
    with pytest.raises(BlockingIOError):
        fcntl.flock(b, fcntl.LOCK_EX | fcntl.LOCK_NB)
    os.close(a)
    os.close(b)
    # O_APPEND, pwrite, pread, ftruncate
    fd = os.open(root / "seg", os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
    os.write(fd, b"hello ")
    os.write(fd, b"world")
    assert os.pread(fd, 5, 6) == b"world"
    os.ftruncate(fd, 5)
    os.write(fd, b"!")
    assert os.pread(fd, 100, 0) == b"hello!"
    os.close(fd)
    fd = os.open(root / "seg", os.O_RDWR)
    os.pwrite(fd, b"J", 0)
    os.close(fd)
    assert (root / "seg").read_bytes() == b"Jello!"
    # rename over an existing file, utimens, chmod, readdir, stat
    write_file(root / "new", b"N")
    os.replace(root / "new", root / "seg")
    assert (root / "seg").read_bytes() == b"N" and not (root / "new").exists()
    os.utime(root / "seg", ns=(1_000_000_000, 2_000_000_000))
    os.chmod(root / "seg", 0o600)
    st = os.stat(root / "seg")
    assert st.st_mtime_ns == 2_000_000_000 and st.st_mode & 0o777 == 0o600
    (root / "sub").mkdir()
    (root / "sub" / "x").write_bytes(b"")
    assert sorted(os.listdir(root)) == [".lock", "seg", "sub"]
    os.rename(root / "sub", root / "sub.delete")
    assert os.listdir(root / "sub.delete") == ["x"]
    # an unlinked file stays readable through its open descriptor
    fd = os.open(root / "seg", os.O_RDONLY)
    os.unlink(root / "seg")
    assert os.pread(fd, 10, 0) == b"N"
    os.close(fd)
    assert sorted(os.listdir(root)) == [".lock", "sub.delete"]
    with pytest.raises(OSError) as failed:
        os.rmdir(root / "sub.delete")
    assert failed.value.errno == errno.ENOTEMPTY


def test_injected_errors_reach_the_caller(faultfs: FaultFS) -> None:
    root = faultfs.mountpoint
    (root / "t-0").mkdir()
    faultfs.fail("create", errno.EDQUOT, path="t-0/*.log")
    faultfs.fail("mkdir", errno.EROFS, path="t-1")
    faultfs.fail("fsyncdir", errno.EIO, path="t-0")
    faultfs.fail("write", errno.ENOSPC, path="*.index", count=None)
    with pytest.raises(OSError) as failed:
        write_file(root / "t-0" / "0.log", b"x")
    assert failed.value.errno == errno.EDQUOT
    with pytest.raises(OSError) as failed:
        (root / "t-1").mkdir()
    assert failed.value.errno == errno.EROFS
    with pytest.raises(OSError) as failed:
        fsync_dir(root / "t-0")
    assert failed.value.errno == errno.EIO
    for _ in range(2):
        with pytest.raises(OSError) as failed:
            write_file(root / "t-0" / "0.index", b"x")
        assert failed.value.errno == errno.ENOSPC
    faultfs.clear_faults()
    write_file(root / "t-0" / "0.index", b"x")
    fsync_dir(root / "t-0")
    stats = faultfs.stats()
    assert stats["counters"]["faults_injected"] == 5
    assert stats["counters"]["fsyncdirs"] == 2


def test_a_power_cut_with_a_file_still_open_forces_the_unmount(faultfs: FaultFS) -> None:
    root = faultfs.mountpoint
    write_file(root / "f", b"x", sync=True)
    fsync_dir(root)
    fd = os.open(root / "f", os.O_RDONLY)
    try:
        report = faultfs.power_cut()
        assert report["unmount"] == "forced" and report["open_handles_at_cut"] == 1
        with pytest.raises(OSError):
            os.pread(fd, 1, 0)  # the old connection is gone
    finally:
        os.close(fd)
    assert (root / "f").read_bytes() == b"x"


def test_a_dead_daemon_makes_the_client_raise_not_hang(faultfs: FaultFS) -> None:
    assert faultfs.pid is not None
    os.kill(faultfs.pid, signal.SIGKILL)
    started = time.monotonic()
    with pytest.raises(FaultFSError, match="exited"):
        faultfs.stats()
    assert time.monotonic() - started < 5
    faultfs.close()
    assert not is_mounted(faultfs.mountpoint), "close unmounted the dead mount"


def test_the_single_threaded_daemon_and_fsyncgate_off(tmp_path: Path) -> None:
    from tests.support.faultfs import require_fuse

    require_fuse()
    with FaultFS(tmp_path, threaded=False, fsyncgate=False) as fs:
        root = fs.mountpoint
        write_file(root / "f", b"first")
        fsync_dir(root)
        fs.fail("fsync", errno.EIO)
        fd = os.open(root / "f", os.O_RDONLY)
        try:
            with pytest.raises(OSError):
                os.fsync(fd)
            os.fsync(fd)  # without fsyncgate the retry really syncs
        finally:
            os.close(fd)
        fs.power_cut()
        assert (root / "f").read_bytes() == b"first"
        assert fs.stats()["fsyncgate"] is False
