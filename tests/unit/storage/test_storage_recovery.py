"""Opening a durable log: clean restarts, crashes, torn and corrupt tails, lost indexes."""

from __future__ import annotations

import glob
import logging
import os
from pathlib import Path

import pytest
from storage_support import make_batch, offsets

from streamlog.protocol.records.batch import parse_header
from streamlog.storage import recovery
from streamlog.storage.checkpoint import RECOVERY_POINT_FILE
from streamlog.storage.config import LogConfig
from streamlog.storage.log import PartitionLog

SMALL = LogConfig(segment_bytes=1_000, index_interval_bytes=100)
BATCH_SIZE = len(make_batch(3))


def crash(log_: PartitionLog) -> None:
    """Drop the log like a killed process would: release descriptors, write nothing more."""
    log_._release()


def fill(log_: PartitionLog, batches: int, *, start: int = 0) -> None:
    for i in range(start, start + batches):
        log_.append(make_batch(3, 1_000 * i), now_ms=0)


def open_small(path: Path, config: LogConfig = SMALL) -> PartitionLog:
    return PartitionLog.open(path, config, now_ms=0)


def segment_files(path: Path, suffix: str = ".log") -> list[str]:
    return sorted(glob.glob(os.path.join(path, f"*{suffix}")))


def assert_readable(log_: PartitionLog, batches: int) -> None:
    """Every offset reads its own batch, and timestamps map back to offsets."""
    assert log_.log_end_offset == 3 * batches
    for offset in range(log_.log_end_offset):
        [(base, last)] = offsets(log_.read(offset, 1).data)
        assert (base, last) == (offset - offset % 3, offset - offset % 3 + 2)
    for i in range(batches):
        assert log_.offset_for_timestamp(1_000 * i) == (3 * i, 1_000 * i)
        assert log_.offset_for_timestamp(1_000 * i + 1) == (3 * i + 1, 1_000 * i + 1)


def test_clean_reopen_trusts_everything(tmp_path: Path) -> None:
    log_ = open_small(tmp_path)
    fill(log_, 40)
    segs = log_.segments
    log_.close()
    again = open_small(tmp_path)
    report = again.recovery_report
    assert report.clean_shutdown and report.segments_rebuilt == () and report.truncated_bytes == 0
    assert again.segments == segs
    assert again.flushed_offset == again.log_end_offset == 120
    assert_readable(again, 40)
    again.append(make_batch(3, 40_000), now_ms=0)
    assert_readable(again, 41)
    again.close()


def test_empty_log_reopens(tmp_path: Path) -> None:
    open_small(tmp_path).close()
    again = open_small(tmp_path)
    assert (again.log_start_offset, again.log_end_offset, again.size_bytes) == (0, 0, 0)
    again.close()


def info_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.name == "streamlog.storage" and r.levelno >= logging.INFO]


def test_a_new_or_never_written_log_logs_nothing(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="streamlog.storage")
    log_ = open_small(tmp_path / "new-0")
    crash(log_)  # not even a clean shutdown: there is nothing in it to recover
    open_small(tmp_path / "new-0").close()
    assert info_lines(caplog) == []


def test_recovery_is_one_line_for_an_operator(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="streamlog.storage")
    log_ = open_small(tmp_path)
    fill(log_, 40)
    crash(log_)
    open_small(tmp_path).close()
    assert info_lines(caplog) == [f"{tmp_path}: recovered after an unclean shutdown: checked 5 of 5 segments "
                                  "from the start (no recovery point); nothing was lost"]
    caplog.clear()
    log_ = open_small(tmp_path)
    fill(log_, 1, start=40)
    log_.flush()
    fill(log_, 1, start=41)
    crash(log_)
    with open(segment_files(tmp_path)[-1], "ab") as f:
        f.write(b"\x00\x01garbage" * 30)
    open_small(tmp_path).close()
    [line] = [line for line in info_lines(caplog) if "recovered" in line]
    assert line == (f"{tmp_path}: recovered after an unclean shutdown: checked 1 of 6 segments from the "
                    "recovery point, offset 123; cut 270 bytes of torn or corrupt data (the log now ends "
                    "at offset 126)")


def test_crash_without_flush_rescans_everything(tmp_path: Path) -> None:
    log_ = open_small(tmp_path)
    fill(log_, 40)
    segs = log_.segments
    crash(log_)
    again = open_small(tmp_path)
    report = again.recovery_report
    assert not report.clean_shutdown
    assert report.recovery_point is None, "a new log claims no recovery point until its first flush"
    assert report.segments_rebuilt == tuple(s.base_offset for s in segs)
    assert report.truncated_bytes == 0
    assert again.segments == segs
    assert_readable(again, 40)
    again.close()


@pytest.mark.parametrize("chunk", [recovery._SCAN_CHUNK, 150, 61])
def test_garbage_after_the_last_batch_is_truncated(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, chunk: int
) -> None:
    monkeypatch.setattr(recovery, "_SCAN_CHUNK", chunk)
    log_ = open_small(tmp_path)
    fill(log_, 20)
    crash(log_)
    last = segment_files(tmp_path)[-1]
    with open(last, "ab") as f:
        f.write(b"\x00\x01garbage" * 30)
    with caplog.at_level(logging.WARNING, logger="streamlog.storage"):
        again = open_small(tmp_path)
    assert again.recovery_report.truncated_bytes == 270
    assert again.recovery_report.truncated_at_offset == 60
    assert "truncated 270 bytes" in caplog.text
    assert_readable(again, 20)
    assert again.append(make_batch(3, 20_000), now_ms=0).first_offset == 60
    assert_readable(again, 21)
    again.close()
    assert open_small(tmp_path).recovery_report.clean_shutdown


@pytest.mark.parametrize("cut", [1, 20, BATCH_SIZE - 61, BATCH_SIZE - 10, BATCH_SIZE - 1])
def test_torn_last_batch_is_truncated(tmp_path: Path, cut: int) -> None:
    log_ = open_small(tmp_path)
    fill(log_, 20)
    crash(log_)
    last = segment_files(tmp_path)[-1]
    os.truncate(last, os.path.getsize(last) - cut)
    again = open_small(tmp_path)
    assert again.recovery_report.truncated_bytes == BATCH_SIZE - cut
    assert again.log_end_offset == 57
    assert_readable(again, 19)
    assert again.append(make_batch(3, 19_000), now_ms=0).first_offset == 57
    assert_readable(again, 20)
    again.close()


@pytest.mark.parametrize("where", [17, 25, 40, BATCH_SIZE - 1])  # attributes, offset delta, timestamps, value
def test_flipped_byte_in_last_batch_is_truncated(tmp_path: Path, where: int) -> None:
    log_ = open_small(tmp_path)
    fill(log_, 20)
    crash(log_)
    last = segment_files(tmp_path)[-1]
    with open(last, "r+b") as f:
        f.seek(os.path.getsize(last) - BATCH_SIZE + where)
        byte = f.read(1)
        f.seek(-1, os.SEEK_CUR)
        f.write(bytes([byte[0] ^ 0x5A]))
    again = open_small(tmp_path)
    assert again.log_end_offset == 57
    assert again.recovery_report.truncated_bytes == BATCH_SIZE
    assert_readable(again, 19)
    again.close()


def test_corruption_in_an_early_segment_drops_everything_after_it(tmp_path: Path) -> None:
    log_ = open_small(tmp_path)
    fill(log_, 40)
    segs = log_.segments
    crash(log_)
    second = segment_files(tmp_path)[1]
    with open(second, "r+b") as f:  # last byte of the second batch of the second segment
        f.seek(2 * BATCH_SIZE - 1)
        byte = f.read(1)[0]
        f.seek(-1, os.SEEK_CUR)
        f.write(bytes([byte ^ 0x01]))
    again = open_small(tmp_path)
    report = again.recovery_report
    assert again.log_end_offset == segs[1].base_offset + 3
    assert report.deleted_segments == tuple(s.base_offset for s in segs[2:])
    assert len(segment_files(tmp_path)) == 2 and len(segment_files(tmp_path, ".index")) <= 2
    assert [s.base_offset for s in again.segments] == [segs[0].base_offset, segs[1].base_offset]
    assert again.append(make_batch(3, 0), now_ms=0).first_offset == segs[1].base_offset + 3
    again.close()


def test_only_the_tail_past_the_recovery_point_is_rechecked(tmp_path: Path) -> None:
    log_ = open_small(tmp_path)
    fill(log_, 30)
    flushed = log_.flush()
    fill(log_, 10, start=30)
    segs = log_.segments
    crash(log_)
    report = open_small(tmp_path).recovery_report
    assert report.recovery_point == flushed == 90
    holder = next(s for s in segs if s.base_offset <= flushed < s.next_offset)
    assert report.segments_rebuilt == tuple(
        s.base_offset for s in segs if s.base_offset >= holder.base_offset
    )
    assert report.segments_rebuilt[0] > 0


def test_unreadable_checkpoint_means_full_recovery(tmp_path: Path) -> None:
    log_ = open_small(tmp_path)
    fill(log_, 30)
    log_.close()
    with open(os.path.join(tmp_path, RECOVERY_POINT_FILE), "r+b") as f:
        f.write(b"XXXX")
    again = open_small(tmp_path)
    assert not again.recovery_report.clean_shutdown
    assert again.recovery_report.recovery_point is None
    assert len(again.recovery_report.segments_rebuilt) == len(again.segments)
    assert_readable(again, 30)
    again.close()


@pytest.mark.parametrize("suffix", [".index", ".timeindex"])
def test_deleted_indexes_are_rebuilt(tmp_path: Path, suffix: str) -> None:
    log_ = open_small(tmp_path)
    fill(log_, 40)
    log_.close()  # index entries reach the files in blocks; close writes the rest
    sizes = [os.path.getsize(p) for p in segment_files(tmp_path, suffix)]
    assert any(sizes)
    for path in segment_files(tmp_path, suffix):
        os.unlink(path)
    again = open_small(tmp_path)
    assert len(again.recovery_report.segments_rebuilt) == len(again.segments)
    assert_readable(again, 40)
    assert again.max_timestamp() == (119, 39_002)
    assert [os.path.getsize(p) for p in segment_files(tmp_path, suffix)] == sizes
    again.close()


def test_damaged_index_is_detected_and_rebuilt(tmp_path: Path) -> None:
    log_ = open_small(tmp_path)
    fill(log_, 40)
    log_.close()
    index = segment_files(tmp_path, ".index")[1]
    with open(index, "r+b") as f:
        f.write(b"\x7f\x00\x00\x00")  # first relative offset now larger than the next one
    again = open_small(tmp_path)
    assert again.recovery_report.segments_rebuilt == (again.segments[1].base_offset,)
    assert_readable(again, 40)
    again.close()


def test_log_start_offset_survives_reopen(tmp_path: Path) -> None:
    log_ = open_small(tmp_path)
    fill(log_, 40)
    log_.delete_records_before(50)
    crash(log_)
    again = open_small(tmp_path)
    assert again.log_start_offset == 50
    assert again.segments[0].base_offset <= 50 < again.segments[0].next_offset
    again.close()


def test_delete_records_to_end_then_reopen(tmp_path: Path) -> None:
    log_ = open_small(tmp_path)
    fill(log_, 10)
    log_.delete_records_before(30)
    log_.close()
    again = open_small(tmp_path)
    assert (again.log_start_offset, again.log_end_offset) == (30, 30)
    assert again.append(make_batch(3), now_ms=0).first_offset == 30
    again.close()


def test_crash_right_after_a_roll(tmp_path: Path) -> None:
    log_ = open_small(tmp_path)
    fill(log_, 8)
    log_.delete_records_before(24)  # rolls an empty active segment at 24
    crash(log_)
    again = open_small(tmp_path)
    assert (again.log_start_offset, again.log_end_offset) == (24, 24)
    again.close()


def test_big_batches_larger_than_the_scan_chunk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(recovery, "_SCAN_CHUNK", 100)
    log_ = PartitionLog.open(tmp_path, LogConfig(index_interval_bytes=0), now_ms=0)
    for size in (10, 5_000, 20, 3_000):
        log_.append(make_batch(2, value_size=size), now_ms=0)
    crash(log_)
    again = PartitionLog.open(tmp_path, LogConfig(), now_ms=0)
    assert again.recovery_report.truncated_bytes == 0
    assert [parse_header(again.read(o, 1).data, 0).base_offset for o in range(8)] == [0, 0, 2, 2, 4, 4, 6, 6]
    again.close()


def test_reopened_active_segment_rolls_by_first_batch_timestamp(tmp_path: Path) -> None:
    cfg = LogConfig(segment_ms=1_000)
    log_ = PartitionLog.open(tmp_path, cfg, now_ms=0)
    log_.append(make_batch(1, 5_000), now_ms=5_000)
    log_.close()
    again = PartitionLog.open(tmp_path, cfg, now_ms=5_500)
    again.append(make_batch(1, 5_600), now_ms=5_600)
    assert len(again.segments) == 1
    again.append(make_batch(1, 6_000), now_ms=6_000)
    assert len(again.segments) == 2
    again.close()
