"""Page-cache tail: once synced, all but a segment's last `tail` bytes may leave the page cache.

Only durable bytes are ever dropped, in steps of at least 4 MiB, by whichever flush path synced
them; -1 drops nothing; reads of dropped ranges still return the data (from the disk).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from storage_support import make_batch, offsets

from streamlog.storage.config import LogConfig
from streamlog.storage.log import PartitionLog

MiB = 1024 * 1024


class Advice:
    """Records posix_fadvise calls, then lets the real one run."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls: list[tuple[int, int, int]] = []
        real = os.posix_fadvise

        def record(fd: int, offset: int, length: int, advice: int) -> None:
            self.calls.append((offset, length, advice))
            real(fd, offset, length, advice)

        monkeypatch.setattr(os, "posix_fadvise", record)


def open_log(tmp_path: Path, tail: int) -> PartitionLog:
    plog = PartitionLog.open(tmp_path / "t-0", LogConfig(), now_ms=0)
    plog.set_write_behind(True)
    plog.set_cache_tail(tail)
    return plog


def append_mib(plog: PartitionLog, mib: int) -> None:
    for _ in range(mib):
        plog.append(make_batch(100, value_size=10_000), now_ms=0)  # about 1 MiB


def read_offsets(plog: PartitionLog) -> list[tuple[int, int]]:
    """(first, last) offset of every batch read back, from the start."""
    found: list[tuple[int, int]] = []
    offset = 0
    while offset < plog.log_end_offset:
        result = plog.read(offset, 4 * MiB)
        found += offsets(result.data)
        offset = result.next_offset
    return found


def test_a_flush_drops_what_lies_before_the_tail_and_reads_still_work(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    advice = Advice(monkeypatch)
    plog = open_log(tmp_path, tail=1 * MiB)
    append_mib(plog, 7)
    before = read_offsets(plog)
    plog.prepare_flush()
    plog.flush()
    size = plog.segments[-1].size_bytes
    assert advice.calls == [(0, size - MiB, os.POSIX_FADV_DONTNEED)]
    append_mib(plog, 2)
    plog.prepare_flush()
    plog.flush()
    assert len(advice.calls) == 1, "less than 4 MiB more to drop: not asked yet"
    append_mib(plog, 3)
    assert len(advice.calls) == 1, "appends alone never drop anything"
    plog.prepare_flush()
    plog.flush()
    new_size = plog.segments[-1].size_bytes
    assert advice.calls[1] == (size - MiB, new_size - size, os.POSIX_FADV_DONTNEED), "from the last one's end"
    after = read_offsets(plog)
    assert after[: len(before)] == before and after[-1][1] + 1 == plog.log_end_offset
    plog.close()


def test_the_asynchronous_flush_path_drops_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    advice = Advice(monkeypatch)
    plog = open_log(tmp_path, tail=0)
    # A new log's first flush also makes its directory durable, so it is not a single fdatasync.
    plog.append(make_batch(1), now_ms=0)
    plog.prepare_flush()
    assert plog.begin_flush() is None
    plog.flush()
    append_mib(plog, 5)
    plog.prepare_flush()
    plan = plog.begin_flush()
    assert plan is not None
    assert advice.calls == []
    os.fdatasync(plan.fd)
    plog.finish_flush(plan)
    assert advice.calls == [(0, plan.size, os.POSIX_FADV_DONTNEED)], "all of it: the tail is 0"
    assert plog.flushed_offset == plog.log_end_offset
    assert read_offsets(plog) == [(0, 0)] + [(1 + i * 100, i * 100 + 100) for i in range(5)]
    plog.close()


def test_minus_one_keeps_everything(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    advice = Advice(monkeypatch)
    plog = open_log(tmp_path, tail=-1)
    append_mib(plog, 6)
    plog.prepare_flush()
    plog.flush()
    assert advice.calls == []
    plog.close()


def test_a_large_read_names_the_next_range_of_its_file(tmp_path: Path) -> None:
    """Read-ahead hints (ReadResult.read_ahead): a read of 1 MiB or more names the bytes after it in
    the same file, as many as were asked for (up to the end of the file); a small read names none."""
    plog = open_log(tmp_path, -1)
    append_mib(plog, 6)
    plog.prepare_flush()
    plog.flush()
    size = os.path.getsize(next((tmp_path / "t-0").glob("*.log")))
    big = plog.read(0, 2 * MiB)
    assert big.read_ahead is not None
    path, position, length = big.read_ahead
    assert path.endswith(".log") and Path(path).parent == tmp_path / "t-0"
    assert position == len(big.data) and length == 2 * MiB
    near_end = plog.read(big.next_offset, 10 * MiB)
    assert near_end.read_ahead is None, "the read took the rest of the file: nothing follows"
    assert len(big.data) + len(near_end.data) == size
    small = plog.read(0, 64 * 1024)
    assert small.read_ahead is None
    plog.close()
