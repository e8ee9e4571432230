"""Write-behind: appends kept in memory until `prepare_flush`, invisible to everything but the file."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from storage_support import make_batch, offsets

from streamlog.storage.checkpoint import RecoveryCheckpoint
from streamlog.storage.config import LogConfig
from streamlog.storage.log import PartitionLog
from streamlog.storage.segment import FileStore

SMALL = LogConfig(segment_bytes=1_000, index_interval_bytes=100)


def read_all(log_: PartitionLog) -> list[tuple[int, int]]:
    found: list[tuple[int, int]] = []
    offset = log_.log_start_offset
    while offset < log_.log_end_offset:
        result = log_.read(offset, 1 << 20)
        found += offsets(result.data)
        offset = result.next_offset
    return found


def file_size(log_: PartitionLog) -> int:
    names = [f for f in os.listdir(log_.name) if f.endswith(".log")]
    return sum(os.path.getsize(os.path.join(log_.name, f)) for f in names)


def test_store_reads_truncates_and_sizes_across_the_kept_bytes(tmp_path: Path) -> None:
    store = FileStore(str(tmp_path / "s.log"))
    store.write(b"0123456789")
    store.write_behind = True
    store.write(b"abcdef")
    store.write(b"ghij")
    assert os.path.getsize(tmp_path / "s.log") == 10
    assert store.size() == 20
    assert store.read(0, 20) == b"0123456789abcdefghij"
    assert store.read(8, 5) == b"89abc"  # spans the file and the kept bytes
    assert store.read(12, 100) == b"cdefghij"
    store.truncate(14)  # inside the kept bytes: the file is untouched
    assert os.path.getsize(tmp_path / "s.log") == 10 and store.read(0, 100) == b"0123456789abcd"
    store.truncate(4)  # inside the file: the kept bytes go too
    assert store.size() == 4 and store.read(0, 100) == b"0123"
    store.write(b"XY")
    store.write_out()
    assert os.path.getsize(tmp_path / "s.log") == 6 and store.read(0, 100) == b"0123XY"
    store.write(b"Z")
    store.close()  # close writes out what is kept
    with open(tmp_path / "s.log", "rb") as f:
        assert f.read() == b"0123XYZ"


def test_appends_reach_the_file_only_at_prepare_flush(tmp_path: Path) -> None:
    log_ = PartitionLog.open(tmp_path / "t-0", LogConfig(), now_ms=0)
    log_.set_write_behind(True)
    for _ in range(3):
        log_.append(make_batch(2), now_ms=0)
    assert file_size(log_) == 0
    assert log_.flush_needed()
    assert log_.flush() == 0, "flush claims only what prepare_flush published"
    assert read_all(log_) == [(0, 1), (2, 3), (4, 5)]  # reads see them
    log_.prepare_flush()
    assert file_size(log_) == 3 * len(make_batch(2))
    log_.append(make_batch(2), now_ms=0)  # after the publish: not covered by the next flush
    assert log_.flush() == 6 and log_.flushed_offset == 6
    assert log_.flush_needed()
    log_.prepare_flush()
    assert log_.flush() == 8 and not log_.flush_needed()
    log_.close()


def test_rolling_writes_out_the_sealed_segment(tmp_path: Path) -> None:
    log_ = PartitionLog.open(tmp_path / "t-0", SMALL, now_ms=0)
    log_.set_write_behind(True)
    for _ in range(30):
        log_.append(make_batch(3), now_ms=0)
    segs = log_.segments
    assert len(segs) > 2
    on_disk = {int(f[:20]): os.path.getsize(os.path.join(log_.name, f))
               for f in os.listdir(log_.name) if f.endswith(".log")}
    for seg in segs[:-1]:
        assert on_disk[seg.base_offset] == seg.size_bytes, "a sealed segment holds all its bytes"
    assert on_disk[segs[-1].base_offset] < segs[-1].size_bytes
    log_.close()


def test_everything_survives_close_and_reopen(tmp_path: Path) -> None:
    log_ = PartitionLog.open(tmp_path / "t-0", SMALL, now_ms=0)
    log_.set_write_behind(True)
    for _ in range(25):
        log_.append(make_batch(2), now_ms=0)
    log_.close()
    again = PartitionLog.open(tmp_path / "t-0", SMALL, now_ms=0)
    assert again.recovery_report.clean_shutdown and again.log_end_offset == 50
    assert read_all(again) == [(o, o + 1) for o in range(0, 50, 2)]
    again.close()


def test_a_crash_loses_only_what_no_flush_covered(tmp_path: Path) -> None:
    log_ = PartitionLog.open(tmp_path / "t-0", LogConfig(), now_ms=0)
    log_.set_write_behind(True)
    for _ in range(4):
        log_.append(make_batch(2), now_ms=0)
    log_.prepare_flush()
    assert log_.flush() == 8
    log_.append(make_batch(2), now_ms=0)  # kept in memory, never flushed: the "crash" drops it
    again = PartitionLog.open(tmp_path / "t-0", LogConfig(), now_ms=0)
    assert not again.recovery_report.clean_shutdown
    assert again.log_end_offset == 8
    again.close()


def test_switching_write_behind_off_writes_out(tmp_path: Path) -> None:
    log_ = PartitionLog.open(tmp_path / "t-0", LogConfig(), now_ms=0)
    log_.set_write_behind(True)
    log_.append(make_batch(2), now_ms=0)
    assert file_size(log_) == 0
    log_.set_write_behind(False)
    assert file_size(log_) == len(make_batch(2))
    log_.append(make_batch(2), now_ms=0)  # written through again
    assert file_size(log_) == 2 * len(make_batch(2))
    log_.close()


def test_recovery_point_is_rewritten_per_segment_and_every_few_mib(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log_ = PartitionLog.open(tmp_path / "t-0", SMALL, now_ms=0)
    checkpoint = RecoveryCheckpoint(log_.name)
    assert checkpoint.read() is None, "a new, empty log has nothing to claim"
    log_.append(make_batch(3), now_ms=0)
    log_.flush()
    first = checkpoint.read()
    assert first is not None and first.offset == 3, "the first flush writes one"
    log_.append(make_batch(3), now_ms=0)
    log_.flush()
    assert log_.flushed_offset == 6
    assert checkpoint.read() == first, "same segment, a few bytes on: not rewritten"
    while len(log_.segments) == 1:
        log_.append(make_batch(3), now_ms=0)
    log_.flush()
    point = checkpoint.read()
    assert point is not None and point.segment_base == log_.segments[-1].base_offset
    assert point.offset == log_.log_end_offset == log_.flushed_offset
    monkeypatch.setattr("streamlog.storage.log._CHECKPOINT_BYTES", 1)
    log_.append(make_batch(3), now_ms=0)
    log_.flush()
    point = checkpoint.read()
    assert point is not None and point.offset == log_.log_end_offset
    log_.close()
