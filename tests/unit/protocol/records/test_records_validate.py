"""validate_batch: each Kafka produce check, with hand-assembled batches that break exactly one rule."""

from __future__ import annotations

import struct

import crc32c
import pytest

from streamlog.protocol.records import (
    Compression,
    CorruptRecordError,
    Header,
    InvalidRecordError,
    NewRecord,
    RecordTooLargeError,
    build_batch,
    build_control_batch,
    compress,
    parse_header,
    validate_batch,
)
from streamlog.protocol.records.errors import MissingKeyError


def varint(value: int) -> bytes:
    n = (value << 1) ^ (value >> 63)
    n &= (1 << 64) - 1
    out = bytearray()
    while n >= 0x80:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def field(data: bytes | None) -> bytes:
    return varint(-1) if data is None else varint(len(data)) + data


def record(
    offset_delta: int,
    key: bytes | None = b"k",
    value: bytes | None = b"v",
    ts_delta: int = 0,
    headers: tuple[tuple[bytes, bytes | None], ...] = (),
    length_adjust: int = 0,
) -> bytes:
    body = (
        b"\x00" + varint(ts_delta) + varint(offset_delta) + field(key) + field(value) + varint(len(headers))
    )
    for h_key, h_value in headers:
        body += field(h_key) + field(h_value)
    return varint(len(body) + length_adjust) + body


def raw_batch(
    section: bytes,
    count: int,
    *,
    last_offset_delta: int | None = None,
    codec: Compression = Compression.NONE,
    attributes: int = 0,
    producer_id: int = -1,
    base_sequence: int = -1,
    base_timestamp: int = 1_000,
) -> bytes:
    payload = compress(codec, section)
    batch = bytearray(61) + payload
    struct.pack_into(
        ">qiibIhiqqqhii",
        batch,
        0,
        0,
        len(batch) - 12,
        -1,
        2,
        0,
        attributes | codec,
        count - 1 if last_offset_delta is None else last_offset_delta,
        base_timestamp,
        base_timestamp,
        producer_id,
        0 if producer_id >= 0 else -1,
        base_sequence,
        count,
    )
    struct.pack_into(">I", batch, 17, crc32c.crc32c(bytes(batch[21:])))
    return bytes(batch)


def check(batch: bytes, *, require_keys: bool = False, **kwargs: object) -> object:
    return validate_batch(batch, 0, parse_header(batch), require_keys=require_keys, **kwargs)  # type: ignore[arg-type]


CODECS = list(Compression)


@pytest.mark.parametrize("codec", CODECS)
def test_hand_built_batch_is_valid(codec: Compression) -> None:
    section = record(0, ts_delta=5) + record(1, None, None, ts_delta=-3) + record(2, headers=((b"a", None),))
    stats = check(raw_batch(section, 3, codec=codec))
    assert stats.min_timestamp == 997  # type: ignore[attr-defined]
    assert stats.max_timestamp == 1_005  # type: ignore[attr-defined]
    assert stats.max_timestamp_offset_delta == 0  # type: ignore[attr-defined]


def test_stats_from_built_batch() -> None:
    records = [NewRecord(b"k", b"v", ts) for ts in (50, 49, 70, 20, 19, 71, 71, 60)]
    batch = build_batch(records)
    stats = validate_batch(batch, 0, parse_header(batch), require_keys=True)
    assert (stats.min_timestamp, stats.max_timestamp, stats.max_timestamp_offset_delta) == (19, 71, 5)


@pytest.mark.parametrize("codec", CODECS)
def test_bad_crc_is_corrupt(codec: Compression) -> None:
    batch = bytearray(raw_batch(record(0) + record(1), 2, codec=codec))
    batch[-1] ^= 0x40
    with pytest.raises(CorruptRecordError, match="CRC"):
        check(bytes(batch))


@pytest.mark.parametrize("codec", CODECS)
def test_null_key_rejected_for_compacted_topics(codec: Compression) -> None:
    batch = raw_batch(record(0) + record(1, key=None), 2, codec=codec)
    check(batch, require_keys=False)
    with pytest.raises(InvalidRecordError, match="key"):
        check(batch, require_keys=True)
    four = raw_batch(record(0, key=None) + record(1) + record(2, key=None) + record(3), 4, codec=codec)
    with pytest.raises(MissingKeyError) as caught:
        check(four, require_keys=True)
    assert caught.value.record_indexes == (0, 2), "every keyless record is named, as Kafka's record_errors"
    check(raw_batch(record(0, key=b""), 1, codec=codec), require_keys=True)  # empty key is a key


@pytest.mark.parametrize("codec", CODECS)
@pytest.mark.parametrize("deltas", [(1, 2), (0, 0), (0, 2), (1, 0), (-1, 0)])
def test_offset_deltas_must_be_0_to_n_minus_1(codec: Compression, deltas: tuple[int, int]) -> None:
    batch = raw_batch(record(deltas[0]) + record(deltas[1]), 2, codec=codec)
    with pytest.raises(InvalidRecordError, match="offset delta"):
        check(batch)


@pytest.mark.parametrize("codec", CODECS)
def test_record_count_mismatch_is_invalid(codec: Compression) -> None:
    with pytest.raises(InvalidRecordError, match="declares 3 records but holds 2"):
        check(raw_batch(record(0) + record(1), 3, codec=codec))
    with pytest.raises(InvalidRecordError, match="remain"):
        check(raw_batch(record(0) + record(1) + record(2), 2, codec=codec))
    with pytest.raises(InvalidRecordError, match="remain"):
        check(raw_batch(record(0) + b"\x00", 1, codec=codec))


@pytest.mark.parametrize("count", [0, -1])
def test_empty_batch_is_invalid(count: int) -> None:
    with pytest.raises(InvalidRecordError, match="count"):
        check(raw_batch(b"", count, last_offset_delta=0))


def test_last_offset_delta_must_match_count() -> None:
    with pytest.raises(InvalidRecordError, match="lastOffsetDelta"):
        check(raw_batch(record(0) + record(1), 2, last_offset_delta=5))


def test_control_batches_from_clients_are_invalid() -> None:
    batch = build_control_batch(
        commit=False, producer_id=3, producer_epoch=0, coordinator_epoch=1, timestamp=1
    )
    with pytest.raises(InvalidRecordError, match="control"):
        check(batch)
    check(batch, allow_control=True)


def test_producer_id_requires_sequence() -> None:
    with pytest.raises(InvalidRecordError, match="sequence"):
        check(raw_batch(record(0), 1, producer_id=5, base_sequence=-1))
    check(raw_batch(record(0), 1, producer_id=5, base_sequence=0))


def test_max_batch_bytes() -> None:
    batch = raw_batch(record(0, value=b"x" * 100), 1)
    check(batch, max_batch_bytes=len(batch))
    with pytest.raises(RecordTooLargeError):
        check(batch, max_batch_bytes=len(batch) - 1)
    assert issubclass(RecordTooLargeError, InvalidRecordError)


def test_decompressed_size_limit() -> None:
    batch = raw_batch(record(0, value=b"\x00" * 100_000), 1, codec=Compression.GZIP)
    check(batch, max_decompressed=200_000)
    with pytest.raises(RecordTooLargeError):
        check(batch, max_decompressed=50_000)


def body(*parts: bytes) -> bytes:
    data = b"".join(parts)
    return varint(len(data)) + data


@pytest.mark.parametrize(
    ("section", "message"),
    [
        (record(0, length_adjust=1), "bad record length"),  # claims one byte more than the section has
        (record(0) + record(1, length_adjust=1), "bad record length"),
        (record(0, length_adjust=-1) + b"\x00", "does not match"),  # claims one byte less
        (record(0)[:-1], "bad record length"),  # truncated record
        (varint(3) + b"\x00\x00\x00", "bad record length"),  # shorter than the smallest record
        (varint(1000) + b"\x00" * 10, "bad record length"),  # length past the section
        (b"\x80\x80\x80\x80\x80\x01" + b"\x00" * 10, "varint longer"),  # 6-byte varint
        (body(b"\x00", varint(0), varint(0), varint(-2), varint(0), varint(0)), "bad key length -2"),
        (body(b"\x00", varint(0), varint(0), varint(0), varint(-3), varint(0)), "bad value length -3"),
        (body(b"\x00", varint(0), varint(0), varint(0), varint(0), varint(-1)), "bad header count -1"),
        (body(b"\x00", varint(0), varint(0), varint(0), varint(0), varint(50), b"\x00" * 4), "header count"),
        (
            body(b"\x00", varint(0), varint(0), varint(0), varint(0), varint(1), varint(-1), b"\x00"),
            "key length",
        ),
        (
            body(b"\x00", varint(0), varint(0), varint(0), varint(0), varint(1), varint(0), varint(-2)),
            "value",
        ),
        (body(b"\x00", varint(0), varint(0), varint(0), varint(9), varint(0)), "does not match|past the end"),
    ],
)
@pytest.mark.parametrize("codec", [Compression.NONE, Compression.ZSTD])
def test_malformed_records_are_corrupt(section: bytes, message: str, codec: Compression) -> None:
    with pytest.raises(CorruptRecordError, match=message):
        check(raw_batch(section, 2 if section.startswith(record(0)) else 1, codec=codec))


def test_compressed_garbage_is_corrupt() -> None:
    batch = bytearray(raw_batch(record(0), 1, codec=Compression.LZ4))
    batch[70:80] = b"\xff" * 10
    struct.pack_into(">I", batch, 17, crc32c.crc32c(bytes(batch[21:])))
    with pytest.raises(CorruptRecordError):
        check(bytes(batch))


def test_validates_batch_inside_a_larger_buffer() -> None:
    built = build_batch([NewRecord(b"k", b"v", 1, (Header("x", b"y"),))], compression=Compression.SNAPPY)
    buf = memoryview(b"\x01" * 7 + built + b"\x02" * 9)
    validate_batch(buf, 7, parse_header(buf, 7), require_keys=True)
