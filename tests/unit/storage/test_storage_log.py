"""Behaviour shared by PartitionLog and MemoryPartitionLog (every test runs against both)."""

from __future__ import annotations

import itertools

import pytest
from storage_support import OpenLog, headers, make_batch, offsets

from streamlog.protocol.records.batch import CorruptRecordError, parse_header
from streamlog.protocol.records.record import iter_records
from streamlog.storage.config import LogConfig
from streamlog.storage.errors import OffsetOutOfRange
from streamlog.storage.log import PartitionLog

SMALL = LogConfig(segment_bytes=1_000, index_interval_bytes=100)


def fill(
    log_: PartitionLog,
    batches: int,
    records: int = 3,
    *,
    start_ts: int = 1_000,
    ts_step: int = 1_000,
    step: int = 1,
) -> list[int]:
    """Append `batches` batches of `records` records (timestamps start_ts + i*ts_step + j*step)."""
    bases = []
    for i in range(batches):
        info = log_.append(make_batch(records, start_ts + i * ts_step, step=step), now_ms=0)
        bases.append(info.first_offset)
    return bases


def test_append_assigns_consecutive_offsets_and_epoch(open_log: OpenLog) -> None:
    log_ = open_log(leader_epoch=7)
    first = log_.append(make_batch(3), now_ms=0)
    buf = make_batch(2) + make_batch(4)  # two batches in one append
    second = log_.append(buf, now_ms=0)
    assert (first.first_offset, first.last_offset) == (0, 2)
    assert (second.first_offset, second.last_offset, second.size) == (3, 8, len(buf))
    assert log_.log_end_offset == 9
    # offsets were written in place into the caller's buffer
    assert [(h.base_offset, h.partition_leader_epoch) for h in headers(buf)] == [(3, 7), (5, 7)]
    result = log_.read(0, 10_000)
    assert offsets(result.data) == [(0, 2), (3, 4), (5, 8)]
    assert all(h.partition_leader_epoch == 7 for h in headers(result.data))


def test_append_info_max_timestamp(open_log: OpenLog) -> None:
    log_ = open_log()
    buf = make_batch(2, timestamps=[50, 10]) + make_batch(2, timestamps=[70, 60]) + make_batch(1, 70)
    info = log_.append(buf, now_ms=0)
    assert (info.max_timestamp, info.offset_of_max_timestamp) == (70, 2)


def test_append_rejects_empty_and_truncated_input(open_log: OpenLog) -> None:
    log_ = open_log()
    with pytest.raises(ValueError):
        log_.append(bytearray(), now_ms=0)
    with pytest.raises(CorruptRecordError):
        log_.append(make_batch(2)[:-5], now_ms=0)
    assert log_.log_end_offset == 0 and log_.size_bytes == 0


def test_segments_roll_on_size_and_reads_span_them(open_log: OpenLog) -> None:
    log_ = open_log(SMALL)
    bases = fill(log_, 60)
    segs = log_.segments
    assert len(segs) > 5
    assert all(s.size_bytes <= SMALL.segment_bytes for s in segs)
    assert [s.active for s in segs] == [False] * (len(segs) - 1) + [True]
    for before, after in itertools.pairwise(segs):
        assert before.next_offset == after.base_offset
    assert sum(s.size_bytes for s in segs) == log_.size_bytes
    # read everything back, continuing from next_offset
    seen: list[int] = []
    offset = 0
    while offset < log_.log_end_offset:
        result = log_.read(offset, 350)
        assert result.data
        seen += [b for b, _ in offsets(result.data)]
        offset = result.next_offset
    assert seen == bases


def test_every_offset_reads_the_batch_holding_it(open_log: OpenLog) -> None:
    log_ = open_log(SMALL)
    fill(log_, 80)
    assert len(log_.segments) > 5
    for offset in range(log_.log_end_offset):
        result = log_.read(offset, 1)
        [(base, last)] = offsets(result.data)
        assert base <= offset <= last
        assert base == offset - offset % 3
        assert (result.first_offset, result.next_offset) == (base, last + 1)


def test_read_max_bytes_returns_whole_batches_that_fit(open_log: OpenLog) -> None:
    log_ = open_log()
    fill(log_, 10)
    size = parse_header(make_batch(3), 0).size
    assert offsets(log_.read(0, size * 3).data) == [(0, 2), (3, 5), (6, 8)]
    assert offsets(log_.read(0, size * 3 - 1).data) == [(0, 2), (3, 5)]
    assert offsets(log_.read(4, size * 2 + 5).data) == [(3, 5), (6, 8)]
    # at least one batch, even when max_bytes is smaller than it (or zero)
    assert offsets(log_.read(7, 10).data) == [(6, 8)]
    assert offsets(log_.read(7, 0).data) == [(6, 8)]


def test_oversized_batch_is_returned_alone(open_log: OpenLog) -> None:
    log_ = open_log()
    log_.append(make_batch(1, value_size=5_000), now_ms=0)
    log_.append(make_batch(1), now_ms=0)
    result = log_.read(0, 100)
    assert offsets(result.data) == [(0, 0)]
    assert len(result.data) > 5_000


def test_read_stops_before_max_offset(open_log: OpenLog) -> None:
    log_ = open_log()
    fill(log_, 4)  # batches 0-2, 3-5, 6-8, 9-11
    assert offsets(log_.read(0, 10_000, max_offset=7).data) == [(0, 2), (3, 5), (6, 8)]
    assert offsets(log_.read(0, 10_000, max_offset=6).data) == [(0, 2), (3, 5)]
    assert offsets(log_.read(4, 10_000, max_offset=5).data) == [(3, 5)]
    empty = log_.read(6, 10_000, max_offset=6)
    assert (len(empty.data), empty.next_offset) == (0, 6)


def test_read_range_checks(open_log: OpenLog) -> None:
    log_ = open_log()
    fill(log_, 2)
    at_end = log_.read(6, 100)
    assert (len(at_end.data), at_end.first_offset, at_end.next_offset) == (0, 6, 6)
    assert (at_end.log_start_offset, at_end.log_end_offset) == (0, 6)
    with pytest.raises(OffsetOutOfRange) as info:
        log_.read(7, 100)
    assert (info.value.log_start_offset, info.value.log_end_offset) == (0, 6)
    with pytest.raises(OffsetOutOfRange):
        log_.read(-1, 100)
    empty = open_log()
    assert len(empty.read(0, 100).data) == 0


def test_offset_for_timestamp(open_log: OpenLog) -> None:
    log_ = open_log(SMALL)
    # batch i holds offsets 3i..3i+2 with timestamps 1000i+10, +20, +30
    fill(log_, 40, start_ts=10, ts_step=1_000, step=10)
    for i in range(40):
        for j, ts in enumerate((10, 20, 30)):
            assert log_.offset_for_timestamp(1_000 * i + ts) == (3 * i + j, 1_000 * i + ts)
        assert log_.offset_for_timestamp(1_000 * i + 11) == (3 * i + 1, 1_000 * i + 20)  # inside a batch
        if i < 39:  # between two batches
            assert log_.offset_for_timestamp(1_000 * i + 500) == (3 * i + 3, 1_000 * i + 1_010)
    assert log_.offset_for_timestamp(0) == (0, 10)  # before everything
    assert log_.offset_for_timestamp(-5) == (0, 10)
    assert log_.offset_for_timestamp(39_031) is None  # after everything
    assert open_log().offset_for_timestamp(0) is None


def test_offset_for_timestamp_with_out_of_order_timestamps(open_log: OpenLog) -> None:
    log_ = open_log(LogConfig(segment_bytes=200, index_interval_bytes=0))
    stamps = [500, 100, 900, 300, 700, 200, 1000, 50]
    for ts in stamps:
        log_.append(make_batch(1, ts), now_ms=0)
    assert len(log_.segments) > 2
    for target in range(0, 1_100, 25):
        expected = next(((o, t) for o, t in enumerate(stamps) if t >= target), None)
        assert log_.offset_for_timestamp(target) == expected, target


def test_max_timestamp(open_log: OpenLog) -> None:
    log_ = open_log(SMALL)
    assert log_.max_timestamp() is None
    log_.append(make_batch(3, timestamps=[5, 90, 7]), now_ms=0)
    fill(log_, 20, start_ts=10, ts_step=1)
    log_.append(make_batch(3, timestamps=[1, 2, 3]), now_ms=0)
    assert log_.max_timestamp() == (1, 90)
    log_.append(make_batch(3, timestamps=[400, 500, 500]), now_ms=0)
    end = log_.log_end_offset
    assert log_.max_timestamp() == (end - 2, 500)


def test_log_append_time_batches_use_the_batch_timestamp(open_log: OpenLog) -> None:
    log_ = open_log()
    log_.append(make_batch(3, timestamps=[0, 1, 1]), now_ms=0)
    log_.append(make_batch(3, timestamps=[1, 2, 3], log_append_time=True), now_ms=0)
    # under LogAppendTime every record carries the batch's max timestamp (3)
    assert log_.offset_for_timestamp(2) == (3, 3)
    records = list(iter_records(log_.read(3, 1_000).data, 0))
    assert [r.timestamp for r in records] == [3, 3, 3]


def test_delete_records_before(open_log: OpenLog) -> None:
    log_ = open_log(SMALL)
    fill(log_, 40)
    segs = log_.segments
    cut = segs[2].base_offset + 4
    assert log_.delete_records_before(cut) == cut
    assert log_.log_start_offset == cut
    assert log_.segments[0].base_offset == segs[2].base_offset  # whole segments below were deleted
    assert sum(s.size_bytes for s in log_.segments) == log_.size_bytes
    with pytest.raises(OffsetOutOfRange):
        log_.read(cut - 1, 100)
    # the batch holding the new start is still returned whole
    [(base, last)] = offsets(log_.read(cut, 1).data)
    assert base <= cut <= last
    assert log_.offset_for_timestamp(0) == (cut, 1_000 * (cut // 3 + 1) + cut % 3)
    assert log_.delete_records_before(3) == cut  # never moves backwards
    with pytest.raises(OffsetOutOfRange):
        log_.delete_records_before(log_.log_end_offset + 1)


def test_delete_records_up_to_log_end(open_log: OpenLog) -> None:
    log_ = open_log(SMALL)
    fill(log_, 10)
    end = log_.log_end_offset
    log_.delete_records_before(end)
    assert (log_.log_start_offset, log_.log_end_offset, log_.size_bytes) == (end, end, 0)
    assert [s.base_offset for s in log_.segments] == [end]
    assert log_.offset_for_timestamp(0) is None and log_.max_timestamp() is None
    assert log_.append(make_batch(2), now_ms=0).first_offset == end


def test_retention_candidates_and_deletion(open_log: OpenLog) -> None:
    log_ = open_log(SMALL)
    fill(log_, 40, start_ts=0, ts_step=1_000)
    segs = log_.segments
    assert log_.retention_candidates(0, -1, -1) == []
    # time: segments whose newest record is older than retention_ms at now_ms
    now = 40_000
    by_time = log_.retention_candidates(now, 25_000, -1)
    assert by_time == [s for s in segs[:-1] if now - s.max_timestamp > 25_000]
    assert by_time and len(by_time) < len(segs) - 1
    # size: keep at least retention_bytes
    keep = segs[-1].size_bytes + segs[-2].size_bytes
    by_size = log_.retention_candidates(0, -1, keep)
    assert by_size == list(segs[:-2])
    # never the active segment
    assert log_.retention_candidates(10**12, 0, 0) == list(segs[:-1])
    assert log_.delete_oldest_segments(len(by_time)) == len(by_time)
    assert log_.log_start_offset == segs[len(by_time)].base_offset
    assert log_.delete_oldest_segments(10**6) == len(segs) - 1 - len(by_time)
    assert len(log_.segments) == 1 and log_.log_start_offset == segs[-1].base_offset


def test_roll_on_segment_ms(open_log: OpenLog) -> None:
    log_ = open_log(LogConfig(segment_ms=100))
    log_.append(make_batch(1), now_ms=1_000)
    log_.append(make_batch(1), now_ms=1_099)
    assert len(log_.segments) == 1
    log_.append(make_batch(1), now_ms=1_100)
    assert [s.base_offset for s in log_.segments] == [0, 2]
    log_.append(make_batch(1), now_ms=1_150)
    assert len(log_.segments) == 2


def test_roll_when_index_is_full(open_log: OpenLog) -> None:
    log_ = open_log(LogConfig(segment_index_bytes=24, index_interval_bytes=0))  # two time entries
    fill(log_, 6)
    assert len(log_.segments) >= 2
    assert offsets(log_.read(0, 100_000).data)[0] == (0, 2)


def test_update_config(open_log: OpenLog) -> None:
    log_ = open_log()
    fill(log_, 5)
    assert len(log_.segments) == 1
    log_.update_config(SMALL)
    assert log_.config == SMALL
    fill(log_, 30)
    assert len(log_.segments) > 1


def test_truncate_all(open_log: OpenLog) -> None:
    log_ = open_log(SMALL)
    fill(log_, 30)
    log_.truncate_all(500)
    assert (log_.log_start_offset, log_.log_end_offset, log_.size_bytes) == (500, 500, 0)
    assert log_.append(make_batch(2), now_ms=0).first_offset == 500
    assert offsets(log_.read(500, 100).data) == [(500, 501)]


def test_flush_reports_everything_appended(open_log: OpenLog) -> None:
    log_ = open_log(SMALL)
    fill(log_, 20)
    assert log_.flush() == log_.log_end_offset == log_.flushed_offset
    assert not log_.flush_needed()


def test_max_timestamp_ignores_records_below_the_log_start(open_log: OpenLog) -> None:
    log_ = open_log()
    log_.append(make_batch(3, timestamps=[10, 900, 20]), now_ms=0)
    log_.append(make_batch(3, timestamps=[30, 500, 500]), now_ms=0)
    log_.append(make_batch(2, timestamps=[40, 50]), now_ms=0)
    assert log_.max_timestamp() == (1, 900)
    log_.delete_records_before(2)
    assert log_.max_timestamp() == (4, 500)
    assert log_.offset_for_timestamp(0) == (2, 20)
    log_.delete_records_before(5)
    assert log_.max_timestamp() == (5, 500)
