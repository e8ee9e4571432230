"""The pieces around FaultFS: skipping without FUSE, the syncfs interposer the broker runs with."""

from __future__ import annotations

import asyncio
import ctypes
import errno

import pytest
from tests.support import faultfs
from tests.support.faultfs import FaultFS
from tests.support.faultfs_broker import faultfs_syncfs, install_interposer

from streamlog.broker import fs_sync


def test_require_fuse_skips_without_fuse(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(faultfs, "fuse_unavailable", lambda: "no /dev/fuse here")
    monkeypatch.delenv(faultfs.REQUIRE_FUSE_ENV, raising=False)
    with pytest.raises(pytest.skip.Exception, match="no /dev/fuse here"):
        faultfs.require_fuse()


def test_require_fuse_fails_when_fuse_is_required(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(faultfs, "fuse_unavailable", lambda: "no /dev/fuse here")
    monkeypatch.setenv(faultfs.REQUIRE_FUSE_ENV, "1")
    with pytest.raises(pytest.fail.Exception, match="STREAMLOG_REQUIRE_FUSE=1"):
        faultfs.require_fuse()


def test_the_interposed_syncfs_reports_injected_failures_like_libc(faultfs: FaultFS) -> None:
    (faultfs.mountpoint / "f").write_bytes(b"data")
    syncfs = faultfs_syncfs(faultfs.socket_path)
    assert syncfs(-1) == 0
    assert faultfs.tree()["f"]["unsynced"] is False
    faultfs.fail("syncfs", errno.ENOSPC)
    assert syncfs(-1) == -1
    assert ctypes.get_errno() == errno.ENOSPC
    assert syncfs(-1) == 0
    assert faultfs.stats()["counters"]["syncfs"] == 3


def test_the_interposer_turns_flush_rounds_on_for_the_fuse_mount(faultfs: FaultFS,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fs_sync, "load_syncfs", fs_sync.load_syncfs)  # both restored after the test
    monkeypatch.setattr(fs_sync, "FILESYSTEMS", fs_sync.FILESYSTEMS)
    directory = str(faultfs.mountpoint)
    results: list[tuple[list[int], int]] = []
    loop = asyncio.new_event_loop()

    def round_trip(token: int) -> tuple[list[int], int]:
        rounds.submit([token])
        while len(results) < token:
            loop.run_until_complete(asyncio.sleep(0.01))
        return results[-1]

    try:
        assert fs_sync.filesystem_type(directory) == "fuse"
        assert fs_sync.FilesystemSync.open(loop, directory, lambda tokens, result: None) is None
        install_interposer(faultfs.socket_path)
        opened = fs_sync.FilesystemSync.open(loop, directory, lambda *done: results.append(done))
        assert opened is not None, "syncfs rounds are used on the FUSE mount"
        rounds = opened
        try:
            (faultfs.mountpoint / "f").write_bytes(b"data")
            assert round_trip(1) == ([1], 0)
            assert faultfs.tree()["f"]["unsynced"] is False
            faultfs.fail("syncfs", errno.EIO)
            (faultfs.mountpoint / "f").write_bytes(b"more")
            assert round_trip(2) == ([2], -errno.EIO)
        finally:
            rounds.close()
        counters = faultfs.stats()["counters"]
        assert counters["syncfs"] == 2 and counters["fsyncdirs"] == 1, "syncfs, then fsync of the directory"
    finally:
        loop.close()
