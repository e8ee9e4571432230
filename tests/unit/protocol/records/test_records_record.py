"""Building batches and reading their records back: offsets, timestamps, headers, control records."""

from __future__ import annotations

import struct

import pytest

from streamlog.protocol.records import (
    Compression,
    ControlType,
    CorruptRecordError,
    Header,
    InvalidRecordError,
    NewRecord,
    Record,
    TimestampType,
    assign_offsets,
    build_batch,
    build_control_batch,
    decode_control_record,
    iter_records,
    parse_header,
    verify_crc,
)


def test_build_batch_header_fields() -> None:
    records = [NewRecord(b"a", b"1", 500), NewRecord(b"b", b"2", 900), NewRecord(b"c", b"3", 700)]
    batch = build_batch(
        records,
        base_offset=40,
        compression=Compression.GZIP,
        producer_id=77,
        producer_epoch=4,
        base_sequence=12,
        transactional=True,
        partition_leader_epoch=9,
    )
    header = parse_header(batch)
    assert header.size == len(batch)
    assert (header.base_offset, header.last_offset, header.records_count) == (40, 42, 3)
    assert (header.base_timestamp, header.max_timestamp) == (500, 900)
    assert (header.producer_id, header.producer_epoch, header.base_sequence) == (77, 4, 12)
    assert header.last_sequence == 14
    assert header.partition_leader_epoch == 9
    assert header.compression is Compression.GZIP
    assert header.is_transactional and not header.is_control
    assert header.timestamp_type is TimestampType.CREATE_TIME
    assert verify_crc(batch, 0, header)


def test_records_come_back_with_absolute_offsets_and_timestamps() -> None:
    records = [
        NewRecord(b"key", b"value", 1_700_000_000_000, (Header("trace-id", b"abc"), Header("empty", None))),
        NewRecord(None, b"no key", 1_699_999_999_000),
        NewRecord(b"tombstone", None, 1_700_000_000_001),
        NewRecord(b"", b"", -1, (Header("ключ-🔑", b""),)),
    ]
    batch = build_batch(records, base_offset=1000)
    assert list(iter_records(batch)) == [
        Record(
            1000, 1_700_000_000_000, b"key", b"value", (Header("trace-id", b"abc"), Header("empty", None))
        ),
        Record(1001, 1_699_999_999_000, None, b"no key", ()),
        Record(1002, 1_700_000_000_001, b"tombstone", None, ()),
        Record(1003, -1, b"", b"", (Header("ключ-🔑", b""),)),
    ]


def test_log_append_time_batches_report_max_timestamp() -> None:
    records = [NewRecord(b"a", b"1", 10), NewRecord(b"b", b"2", 30), NewRecord(b"c", b"3", 20)]
    batch = build_batch(records, timestamp_type=TimestampType.LOG_APPEND_TIME)
    assert parse_header(batch).timestamp_type is TimestampType.LOG_APPEND_TIME
    assert [r.timestamp for r in iter_records(batch)] == [30, 30, 30]


def test_iter_records_reads_one_batch_at_a_position() -> None:
    first = build_batch([NewRecord(b"x", b"1", 1)])
    second = build_batch([NewRecord(b"y", b"2", 2), NewRecord(b"z", b"3", 3)], compression=Compression.LZ4)
    log = bytearray(first + second)
    assign_offsets(log, len(first), 1, 0)
    assert [(r.offset, r.key) for r in iter_records(log, len(first))] == [(1, b"y"), (2, b"z")]
    assert [(r.offset, r.key) for r in iter_records(memoryview(log))] == [(0, b"x")]


def test_iter_records_is_lazy_after_the_header() -> None:
    batch = bytearray(build_batch([NewRecord(b"a", b"1", 1), NewRecord(b"b", b"2", 2)]))
    batch[-1:] = b"\x05"  # damage the last record's header count (not checked by CRC here)
    records = iter_records(batch)
    assert next(records).key == b"a"
    with pytest.raises(CorruptRecordError):
        next(records)
    with pytest.raises(CorruptRecordError):
        iter_records(batch[:60])  # a bad header raises at the call


def test_iter_records_count_mismatch() -> None:
    batch = bytearray(build_batch([NewRecord(b"a", b"1", 1), NewRecord(b"b", b"2", 2)]))
    struct.pack_into(">i", batch, 57, 3)
    with pytest.raises(InvalidRecordError):
        list(iter_records(batch))
    struct.pack_into(">i", batch, 57, 1)
    with pytest.raises(InvalidRecordError):
        list(iter_records(batch))


def test_build_batch_requires_records() -> None:
    with pytest.raises(ValueError):
        build_batch([])


@pytest.mark.parametrize("commit", [True, False])
def test_control_batch(commit: bool) -> None:
    batch = build_control_batch(
        commit=commit, producer_id=123, producer_epoch=5, coordinator_epoch=42, timestamp=777, base_offset=9
    )
    header = parse_header(batch)
    assert header.is_control and header.is_transactional
    assert (header.producer_id, header.producer_epoch, header.base_sequence) == (123, 5, -1)
    assert (header.base_offset, header.records_count, header.max_timestamp) == (9, 1, 777)
    (record,) = iter_records(batch)
    assert record.key == struct.pack(">hh", 0, 1 if commit else 0)
    assert record.value == struct.pack(">hi", 0, 42)
    assert decode_control_record(record) == ((ControlType.COMMIT if commit else ControlType.ABORT), 42)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        (None, struct.pack(">hi", 0, 1)),
        (b"\x00\x00\x00", struct.pack(">hi", 0, 1)),
        (struct.pack(">hh", 0, 1), None),
        (struct.pack(">hh", 0, 1), b"\x00\x00\x00"),
        (struct.pack(">hh", 0, 3), struct.pack(">hi", 0, 1)),  # KRaft control type, not a txn marker
        (struct.pack(">hh", -1, 1), struct.pack(">hi", 0, 1)),
    ],
)
def test_decode_control_record_rejects_non_markers(key: bytes | None, value: bytes | None) -> None:
    assert decode_control_record(Record(0, 0, key, value, ())) is None
