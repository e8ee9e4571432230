"""FaultFS's state model without FUSE: what survives a power cut, fsyncgate, faults, capacity."""

from __future__ import annotations

import errno
import os

import pytest
from tests.support.faultfs_model import PAGE_SIZE, Model

RW = os.O_RDWR


def new_file(model: Model, path: str, data: bytes = b"", *, sync: bool = False) -> int:
    fh = model.create(path, 0o644, RW)
    if data:
        assert model.write(path, data, 0, fh) == len(data)
    if sync:
        model.fsync(path, True, fh)
    return fh


def content(model: Model, path: str) -> bytes:
    fh = model.open(path, os.O_RDONLY)
    try:
        return model.read(path, 1 << 30, 0, fh)
    finally:
        model.release(fh)


def exists(model: Model, path: str) -> bool:
    try:
        model.resolve(path)
    except FileNotFoundError:
        return False
    return True


def test_synced_data_survives_and_unsynced_data_is_lost() -> None:
    m = Model()
    m.mkdir("/d", 0o755)
    fh = new_file(m, "/d/f", b"a" * 5000, sync=True)
    m.fsyncdir("/")
    m.fsyncdir("/d")
    m.write("/d/f", b"b" * 3000, 5000, fh)
    m.write("/d/f", b"c" * 10, 0, fh)
    assert content(m, "/d/f") == b"c" * 10 + b"a" * 4990 + b"b" * 3000, "reads see the page cache"
    m.release(fh)
    report = m.power_cut()
    assert content(m, "/d/f") == b"a" * 5000
    assert report["pages_lost"] == 2 and report["files_changed"] == 1


def test_a_new_file_is_lost_unless_its_directory_was_fsynced() -> None:
    m = Model()
    m.release(new_file(m, "/kept", b"x", sync=True))
    m.fsyncdir("/")
    m.release(new_file(m, "/lost", b"y", sync=True))  # file synced, directory not
    m.mkdir("/dir", 0o755)
    m.fsyncdir("/dir")  # the directory's own entry in / is not synced
    m.power_cut()
    assert exists(m, "/kept") and content(m, "/kept") == b"x"
    assert not exists(m, "/lost") and not exists(m, "/dir")
    assert m.stats()["files"] == 1


def test_a_synced_directory_keeps_an_empty_file_whose_data_was_not_synced() -> None:
    m = Model()
    m.release(new_file(m, "/f", b"data"))
    m.fsyncdir("/")
    m.power_cut()
    assert content(m, "/f") == b""


def test_unlink_is_undone_by_a_power_cut_until_the_directory_is_synced() -> None:
    m = Model()
    m.release(new_file(m, "/f", b"old", sync=True))
    m.fsyncdir("/")
    m.unlink("/f")
    m.power_cut()
    assert content(m, "/f") == b"old"
    m.unlink("/f")
    m.fsyncdir("/")
    m.power_cut()
    assert not exists(m, "/f")


def test_replace_is_durable_only_after_the_directory_fsync() -> None:
    m = Model()
    m.release(new_file(m, "/cfg", b"v1", sync=True))
    m.fsyncdir("/")
    m.release(new_file(m, "/cfg.tmp", b"v2", sync=True))
    m.rename("/cfg.tmp", "/cfg")
    assert content(m, "/cfg") == b"v2"
    m.power_cut()
    assert content(m, "/cfg") == b"v1" and not exists(m, "/cfg.tmp")
    m.release(new_file(m, "/cfg.tmp", b"v3", sync=True))
    m.rename("/cfg.tmp", "/cfg")
    m.fsyncdir("/")
    m.power_cut()
    assert content(m, "/cfg") == b"v3" and not exists(m, "/cfg.tmp")


@pytest.mark.parametrize(("synced", "expected"), [
    (("/a",), {"/a/f": False, "/b/g": False}),  # gone from a, not yet in b: lost
    (("/b",), {"/a/f": True, "/b/g": True}),  # in b, not yet gone from a: both names
    (("/a", "/b"), {"/a/f": False, "/b/g": True}),
])
def test_a_rename_across_directories_needs_both_synced(synced: tuple[str, ...],
                                                       expected: dict[str, bool]) -> None:
    m = Model()
    m.mkdir("/a", 0o755)
    m.mkdir("/b", 0o755)
    m.release(new_file(m, "/a/f", b"payload", sync=True))
    m.syncfs()
    m.rename("/a/f", "/b/g")
    for directory in synced:
        m.fsyncdir(directory)
    m.power_cut()
    assert {p: exists(m, p) for p in expected} == expected
    for path, present in expected.items():
        if present:
            assert content(m, path) == b"payload"


def test_fsyncgate_marks_data_clean_without_making_it_durable() -> None:
    m = Model()
    fh = new_file(m, "/f", b"durable", sync=True)
    m.fsyncdir("/")
    m.write("/f", b"-doomed", 7, fh)
    m.fail("fsync", errno.EIO, "f")
    with pytest.raises(OSError) as failed:
        m.fsync("/f", True, fh)
    assert failed.value.errno == errno.EIO
    assert content(m, "/f") == b"durable-doomed", "reads still see the data"
    m.fsync("/f", True, fh)  # the retry "succeeds"
    m.release(fh)
    m.power_cut()
    assert content(m, "/f") == b"durable", "what the failed fsync covered is gone"


def test_without_fsyncgate_a_retried_fsync_makes_the_data_durable() -> None:
    m = Model(fsyncgate=False)
    fh = new_file(m, "/f")
    m.fsyncdir("/")
    m.write("/f", b"kept", 0, fh)
    m.fail("fsync", errno.EIO)
    with pytest.raises(OSError):
        m.fsync("/f", False, fh)
    m.fsync("/f", False, fh)
    m.release(fh)
    m.power_cut()
    assert content(m, "/f") == b"kept"


def test_a_sync_after_a_gated_one_copies_only_new_dirty_pages() -> None:
    m = Model()
    fh = new_file(m, "/f", b"\0" * (3 * PAGE_SIZE), sync=True)
    m.fsyncdir("/")
    m.write("/f", b"A", 0, fh)
    m.fail("fsync", errno.EIO)
    with pytest.raises(OSError):
        m.fsync("/f", True, fh)
    m.write("/f", b"C", 2 * PAGE_SIZE, fh)
    m.fsync("/f", True, fh)
    m.release(fh)
    m.power_cut()
    data = content(m, "/f")
    assert data[0:1] == b"\0" and data[2 * PAGE_SIZE:2 * PAGE_SIZE + 1] == b"C"


def test_faults_match_op_path_and_count() -> None:
    m = Model()
    m.mkdir("/t-0", 0o755)
    m.fail("create", errno.ENOSPC, "*/0000*.log", count=2)
    m.fail("mkdir", errno.EROFS, count=None)
    new_file(m, "/t-0/other.index")  # path does not match
    for _ in range(2):
        with pytest.raises(OSError) as failed:
            m.create("/t-0/00000.log", 0o644, RW)
        assert failed.value.errno == errno.ENOSPC
    new_file(m, "/t-0/00000.log")  # count used up
    for name in ("/x", "/y"):
        with pytest.raises(OSError) as failed:
            m.mkdir(name, 0o755)
        assert failed.value.errno == errno.EROFS
    m.clear_faults()
    m.mkdir("/x", 0o755)
    assert m.stats()["counters"]["faults_injected"] == 4
    with pytest.raises(ValueError):
        m.fail("mmap", errno.EIO)


def test_a_failed_operation_changes_nothing() -> None:
    m = Model()
    fh = new_file(m, "/f", b"abc")
    m.fail("write", errno.EIO)
    m.fail("rename", errno.EDQUOT)
    m.fail("truncate", errno.EIO)
    with pytest.raises(OSError):
        m.write("/f", b"zzzz", 0, fh)
    with pytest.raises(OSError):
        m.rename("/f", "/g")
    with pytest.raises(OSError):
        m.truncate("/f", 0, fh)
    assert content(m, "/f") == b"abc" and exists(m, "/f") and not exists(m, "/g")


def test_capacity_gives_a_short_write_then_enospc_and_statfs_reports_it() -> None:
    m = Model(capacity=10_000)
    fh = new_file(m, "/f")
    assert m.write("/f", b"x" * 6000, 0, fh) == 6000
    assert m.statfs()["f_bavail"] * m.statfs()["f_frsize"] == (4000 // PAGE_SIZE) * PAGE_SIZE
    assert m.write("/f", b"y" * 6000, 6000, fh) == 4000, "a short write: what fits"
    with pytest.raises(OSError) as failed:
        m.write("/f", b"z", 10_000, fh)
    assert failed.value.errno == errno.ENOSPC
    assert m.write("/f", b"over", 0, fh) == 4, "overwriting needs no space"
    m.truncate("/f", 1000, fh)
    assert m.write("/f", b"w" * 100, 1000, fh) == 100
    m.set_capacity(None)
    assert m.write("/f", b"v" * 20_000, 0, fh) == 20_000
    m.free_override = 12345 * PAGE_SIZE
    assert m.statfs()["f_bavail"] == 12345


def test_space_of_an_unlinked_file_comes_back_when_it_is_closed() -> None:
    m = Model(capacity=8000)
    fh = new_file(m, "/f", b"x" * 8000)
    m.unlink("/f")
    assert m.used == 8000
    m.release(fh)
    assert m.used == 0


def test_syncfs_makes_everything_durable() -> None:
    m = Model()
    m.mkdir("/a", 0o755)
    m.mkdir("/a/b", 0o755)
    m.release(new_file(m, "/a/b/f", b"deep"))
    m.release(new_file(m, "/g", b"top"))
    m.syncfs()
    assert m.stats()["unsynced_files"] == 0
    m.power_cut()
    assert content(m, "/a/b/f") == b"deep" and content(m, "/g") == b"top"


def test_a_failed_syncfs_gates_only_the_matching_files() -> None:
    m = Model()
    fa = new_file(m, "/a.log", b"aaa")
    fb = new_file(m, "/b.idx", b"bbb")
    m.fail("syncfs", errno.EIO, "*.log")
    with pytest.raises(OSError):
        m.syncfs()
    m.syncfs()
    m.release(fa)
    m.release(fb)
    m.power_cut()
    assert content(m, "/a.log") == b"" and content(m, "/b.idx") == b"bbb"


def test_a_syncfs_fault_on_clean_files_does_not_fire() -> None:
    m = Model()
    m.release(new_file(m, "/a.log", b"aaa", sync=True))
    m.fail("syncfs", errno.EIO, "*.log")
    m.syncfs()  # nothing under *.log is unsynced
    m.fail("syncfs", errno.EIO, "*")
    with pytest.raises(OSError):
        m.syncfs()  # "*" always fires


def random_cut(seed: int) -> tuple[Model, bytes, bytes]:
    m = Model()
    durable = bytes(range(256)) * 16 * 2  # two pages
    fh = new_file(m, "/f", durable, sync=True)
    m.fsyncdir("/")
    volatile = durable + b"N" * (20 * PAGE_SIZE + 100)
    m.write("/f", b"O" * 100, 50, fh)  # an overwrite inside the durable part
    m.write("/f", volatile[len(durable):], len(durable), fh)
    volatile = volatile[:50] + b"O" * 100 + volatile[150:]
    m.release(fh)
    m.power_cut(keep="random", seed=seed)
    return m, durable, volatile


def test_keep_random_keeps_a_subset_of_the_dirty_pages() -> None:
    sizes = set()
    mixed = 0
    for seed in range(20):
        m, durable, volatile = random_cut(seed)
        data = content(m, "/f")
        assert len(durable) <= len(data) <= len(volatile)
        sizes.add(len(data))
        kept = lost = 0
        for start in range(0, len(data), PAGE_SIZE):
            page = data[start:start + PAGE_SIZE]
            old = durable[start:start + PAGE_SIZE].ljust(len(page), b"\0")
            new = volatile[start:start + len(page)]
            assert page in (old, new), f"page {start // PAGE_SIZE} is the old or the new content"
            kept += page == new != old
            lost += page == old != new
        mixed += bool(kept and lost)
    assert mixed >= 10, "mostly, some dirty pages were written back and some not"
    assert len(sizes) > 10, "the surviving size varies"


def test_keep_random_is_deterministic_per_seed() -> None:
    assert content(random_cut(7)[0], "/f") == content(random_cut(7)[0], "/f")
    assert content(random_cut(7)[0], "/f") != content(random_cut(8)[0], "/f")


def test_keep_none_is_exactly_the_durable_state() -> None:
    m = Model()
    durable = b"d" * (2 * PAGE_SIZE + 10)
    fh = new_file(m, "/f", durable, sync=True)
    m.fsyncdir("/")
    m.write("/f", b"more" * 5000, len(durable), fh)
    m.write("/f", b"over", 0, fh)
    m.release(fh)
    m.power_cut(keep="none")
    assert content(m, "/f") == durable


def test_unknown_keep_mode_is_refused() -> None:
    with pytest.raises(ValueError):
        Model().power_cut(keep="some")
