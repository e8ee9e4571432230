"""Batch-level operations: CRC, log scanning, torn tails, in-place offset and timestamp edits."""

from __future__ import annotations

import struct

import pytest

from streamlog.protocol.records import (
    Compression,
    CorruptRecordError,
    Header,
    NewRecord,
    TimestampType,
    assign_offsets,
    build_batch,
    iter_batches,
    iter_records,
    parse_header,
    set_log_append_time,
    valid_prefix_length,
    verify_crc,
)


def crc32c_reference(data: bytes) -> int:
    """Bit-at-a-time CRC-32C (reflected Castagnoli polynomial 0x82F63B78), independent of the C library."""
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 & -(crc & 1))
    return crc ^ 0xFFFFFFFF


def sample_batch(n: int = 3, codec: Compression = Compression.NONE, ts: int = 1_000) -> bytes:
    records = [
        NewRecord(f"k{i}".encode(), f"value-{i}".encode() * 3, ts + i, (Header("h", b"v"),)) for i in range(n)
    ]
    return build_batch(records, compression=codec, producer_id=11, producer_epoch=2, base_sequence=0)


def test_reference_crc_check_value() -> None:
    assert crc32c_reference(b"123456789") == 0xE3069283  # the published CRC-32C check value


@pytest.mark.parametrize("codec", list(Compression))
def test_crc_matches_independent_computation(codec: Compression) -> None:
    batch = sample_batch(codec=codec)
    header = parse_header(batch)
    assert header.crc == crc32c_reference(batch[21:])
    assert struct.unpack_from(">I", batch, 17)[0] == header.crc
    assert verify_crc(batch, 0, header)


def test_crc_excludes_offset_and_epoch_but_covers_the_rest() -> None:
    batch = bytearray(sample_batch())
    header = parse_header(batch)
    for pos in (*range(0, 8), *range(12, 16)):  # baseOffset and partitionLeaderEpoch
        changed = bytearray(batch)
        changed[pos] ^= 0xFF
        assert verify_crc(changed, 0, parse_header(changed))
    for pos in range(21, len(batch)):
        changed = bytearray(batch)
        changed[pos] ^= 0x01
        assert not verify_crc(changed, 0, parse_header(changed) if pos >= 61 else header), pos


def test_verify_crc_false_for_overrun() -> None:
    batch = sample_batch()
    header = parse_header(batch)
    assert not verify_crc(batch[:-1], 0, header)


def log_of(*batches: bytes) -> bytes:
    return b"".join(batches)


def test_iter_batches_walks_every_batch() -> None:
    batches = [
        sample_batch(n, codec)
        for n, codec in [(1, Compression.NONE), (5, Compression.GZIP), (2, Compression.ZSTD)]
    ]
    log = b"junk" + log_of(*batches)
    found = list(iter_batches(log, 4))
    positions = [4, 4 + len(batches[0]), 4 + len(batches[0]) + len(batches[1])]
    assert [pos for pos, _ in found] == positions
    assert [h.records_count for _, h in found] == [1, 5, 2]
    assert [h.compression for _, h in found] == [Compression.NONE, Compression.GZIP, Compression.ZSTD]
    # end bounds the scan
    assert [pos for pos, _ in iter_batches(log, 4, positions[2])] == positions[:2]


def test_iter_batches_stops_at_truncated_tail() -> None:
    a, b = sample_batch(2), sample_batch(4)
    log = a + b
    for cut in range(len(a), len(log)):
        assert [pos for pos, _ in iter_batches(log[:cut])] == [0]
    assert [pos for pos, _ in iter_batches(log[: len(a) - 1])] == []


def test_iter_batches_raises_on_garbage_header() -> None:
    log = sample_batch() + b"\x00" * 100
    with pytest.raises(CorruptRecordError):
        list(iter_batches(log))


def test_valid_prefix_length_with_torn_tail() -> None:
    batches = [sample_batch(n) for n in (1, 3, 2)]
    log = log_of(*batches)
    bounds = [0, len(batches[0]), len(batches[0]) + len(batches[1]), len(log)]
    for cut in range(len(log) + 1):
        expected = max(b for b in bounds if b <= cut)
        assert valid_prefix_length(log[:cut]) == expected
    # zero-filled tail (a pre-allocated or partially flushed page)
    assert valid_prefix_length(log + b"\x00" * 4096) == len(log)
    # from an offset
    assert valid_prefix_length(log, bounds[1]) == len(log) - bounds[1]


def test_valid_prefix_length_stops_at_bad_crc() -> None:
    batches = [sample_batch(n) for n in (1, 3, 2)]
    log = bytearray(log_of(*batches))
    log[len(batches[0]) + 70] ^= 0x10  # damage the second batch's records
    assert valid_prefix_length(log) == len(batches[0])
    assert valid_prefix_length(log, check_crc=False) == len(log)


def test_assign_offsets_in_place() -> None:
    for codec in Compression:
        batch = bytearray(sample_batch(4, codec))
        before = bytes(batch)
        assign_offsets(batch, 0, 1_000_000_000_000, 17)
        header = parse_header(batch)
        assert header.base_offset == 1_000_000_000_000
        assert header.partition_leader_epoch == 17
        assert header.batch_length == len(batch) - 12  # untouched
        assert batch[16:] == before[16:]
        assert verify_crc(batch, 0, header)
        assert [r.offset for r in iter_records(batch)] == [1_000_000_000_000 + i for i in range(4)]


def test_assign_offsets_at_position_in_memoryview() -> None:
    a, b = sample_batch(1), sample_batch(2)
    log = bytearray(a + b)
    with memoryview(log) as view:
        assign_offsets(view, len(a), 50, 3)
    assert [(p, h.base_offset, h.partition_leader_epoch) for p, h in iter_batches(log)] == [
        (0, 0, -1),
        (len(a), 50, 3),
    ]
    assert log[: len(a)] == a


@pytest.mark.parametrize("codec", list(Compression))
def test_set_log_append_time(codec: Compression) -> None:
    batch = bytearray(sample_batch(3, codec, ts=5_000))
    original = parse_header(batch)
    set_log_append_time(batch, 0, 9_999_999)
    header = parse_header(batch)
    assert header.timestamp_type is TimestampType.LOG_APPEND_TIME
    assert header.max_timestamp == 9_999_999
    assert header.base_timestamp == original.base_timestamp  # Kafka's in-place path leaves it
    assert header.compression is codec
    assert header.attributes == original.attributes | 0x08
    assert verify_crc(batch, 0, header)
    assert header.crc == crc32c_reference(bytes(batch[21:]))
    assert [r.timestamp for r in iter_records(batch)] == [9_999_999] * 3
    snapshot = bytes(batch)
    set_log_append_time(batch, 0, 9_999_999)  # already set: no change
    assert batch == snapshot
    set_log_append_time(batch, 0, 10_000_000)
    assert parse_header(batch).max_timestamp == 10_000_000
    assert verify_crc(batch, 0, parse_header(batch))


def test_set_log_append_time_rejects_non_batches() -> None:
    with pytest.raises(CorruptRecordError):
        set_log_append_time(bytearray(30), 0, 1)
    with pytest.raises(CorruptRecordError):
        set_log_append_time(bytearray(sample_batch())[:-1], 0, 1)
