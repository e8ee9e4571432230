"""Batch header decoding: field positions, derived properties and rejection of bad headers."""

from __future__ import annotations

import struct

import pytest

from streamlog.protocol.records.batch import (
    HEADER_SIZE,
    LOG_OVERHEAD,
    BatchHeader,
    Compression,
    CorruptRecordError,
    TimestampType,
    parse_header,
)

INT32_MAX = 2**31 - 1


def raw_header(
    *,
    base_offset: int = 1234567890123,
    batch_length: int = 49,
    leader_epoch: int = 7,
    magic: int = 2,
    crc: int = 0xDEADBEEF,
    attributes: int = 0,
    last_offset_delta: int = 0,
    base_timestamp: int = 1_700_000_000_000,
    max_timestamp: int = 1_700_000_000_500,
    producer_id: int = 99,
    producer_epoch: int = 3,
    base_sequence: int = 42,
    records_count: int = 1,
) -> bytes:
    """Header bytes written field by field at the offsets the spec gives (not with the module's Struct)."""
    out = bytearray(HEADER_SIZE)
    struct.pack_into(">q", out, 0, base_offset)
    struct.pack_into(">i", out, 8, batch_length)
    struct.pack_into(">i", out, 12, leader_epoch)
    struct.pack_into(">b", out, 16, magic)
    struct.pack_into(">I", out, 17, crc)
    struct.pack_into(">h", out, 21, attributes)
    struct.pack_into(">i", out, 23, last_offset_delta)
    struct.pack_into(">q", out, 27, base_timestamp)
    struct.pack_into(">q", out, 35, max_timestamp)
    struct.pack_into(">q", out, 43, producer_id)
    struct.pack_into(">h", out, 51, producer_epoch)
    struct.pack_into(">i", out, 53, base_sequence)
    struct.pack_into(">i", out, 57, records_count)
    return bytes(out)


def test_constants() -> None:
    assert HEADER_SIZE == 61
    assert LOG_OVERHEAD == 12


def test_fields_decode_from_their_offsets() -> None:
    body = b"x" * 20
    buf = (
        b"pad"
        + raw_header(batch_length=49 + 20, attributes=0x1B, last_offset_delta=4, records_count=5)
        + body
    )
    header = parse_header(buf, 3)
    assert header == BatchHeader(
        base_offset=1234567890123,
        batch_length=69,
        partition_leader_epoch=7,
        magic=2,
        crc=0xDEADBEEF,
        attributes=0x1B,
        last_offset_delta=4,
        base_timestamp=1_700_000_000_000,
        max_timestamp=1_700_000_000_500,
        producer_id=99,
        producer_epoch=3,
        base_sequence=42,
        records_count=5,
    )
    assert header.size == 81 == len(buf) - 3
    assert header.last_offset == 1234567890127
    assert header.next_offset == 1234567890128
    assert header.compression is Compression.LZ4
    assert header.timestamp_type is TimestampType.LOG_APPEND_TIME
    assert header.is_transactional
    assert not header.is_control
    assert not header.has_delete_horizon
    assert header.last_sequence == 46


@pytest.mark.parametrize(
    ("attributes", "codec", "ts_type", "txn", "control", "horizon"),
    [
        (0x00, Compression.NONE, TimestampType.CREATE_TIME, False, False, False),
        (0x01, Compression.GZIP, TimestampType.CREATE_TIME, False, False, False),
        (0x02, Compression.SNAPPY, TimestampType.CREATE_TIME, False, False, False),
        (0x04, Compression.ZSTD, TimestampType.CREATE_TIME, False, False, False),
        (0x08, Compression.NONE, TimestampType.LOG_APPEND_TIME, False, False, False),
        (0x30, Compression.NONE, TimestampType.CREATE_TIME, True, True, False),
        (0x41, Compression.GZIP, TimestampType.CREATE_TIME, False, False, True),
        (0x7C, Compression.ZSTD, TimestampType.LOG_APPEND_TIME, True, True, True),
    ],
)
def test_attribute_bits(
    attributes: int, codec: Compression, ts_type: TimestampType, txn: bool, control: bool, horizon: bool
) -> None:
    header = parse_header(raw_header(attributes=attributes))
    assert header.compression is codec
    assert header.timestamp_type is ts_type
    assert header.is_transactional is txn
    assert header.is_control is control
    assert header.has_delete_horizon is horizon


@pytest.mark.parametrize(
    ("base_sequence", "last_offset_delta", "expected"),
    [
        (-1, 5, -1),
        (0, 0, 0),
        (10, 5, 15),
        (INT32_MAX, 0, INT32_MAX),
        (INT32_MAX, 1, 0),  # Kafka wraps sequences from INT32_MAX to 0
        (INT32_MAX - 2, 5, 2),
    ],
)
def test_last_sequence(base_sequence: int, last_offset_delta: int, expected: int) -> None:
    header = parse_header(raw_header(base_sequence=base_sequence, last_offset_delta=last_offset_delta))
    assert header.last_sequence == expected


def test_short_buffer_is_corrupt() -> None:
    buf = raw_header()
    for cut in range(HEADER_SIZE):
        with pytest.raises(CorruptRecordError):
            parse_header(buf[:cut])
    with pytest.raises(CorruptRecordError):
        parse_header(buf, 1)


@pytest.mark.parametrize("magic", [0, 1, 3, -1])
def test_bad_magic_is_corrupt(magic: int) -> None:
    with pytest.raises(CorruptRecordError, match="magic"):
        parse_header(raw_header(magic=magic))


@pytest.mark.parametrize("batch_length", [-1, 0, 48])
def test_batch_length_too_small_is_corrupt(batch_length: int) -> None:
    with pytest.raises(CorruptRecordError):
        parse_header(raw_header(batch_length=batch_length) + b"\x00" * 100)


def test_batch_length_past_buffer_is_corrupt() -> None:
    buf = raw_header(batch_length=49 + 10) + b"\x00" * 9
    with pytest.raises(CorruptRecordError):
        parse_header(buf)
    assert parse_header(buf + b"\x00").size == len(buf) + 1


@pytest.mark.parametrize("codec", [5, 6, 7])
def test_unknown_codec_is_corrupt(codec: int) -> None:
    with pytest.raises(CorruptRecordError, match="codec"):
        parse_header(raw_header(attributes=codec))


def test_accepts_memoryview_and_bytearray() -> None:
    buf = raw_header()
    assert parse_header(memoryview(buf)) == parse_header(bytearray(buf)) == parse_header(buf)
