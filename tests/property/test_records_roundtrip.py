"""Hypothesis round trips for record batches: build_batch -> parse/validate/iter_records, every codec.

Also cross-checks random batches with kafka-python's independent implementation in both
directions, and the CRC with kafka-python's pure-Python CRC-32C.
"""

from __future__ import annotations

from collections.abc import Iterator

import cramjam
import kafka.codec  # type: ignore[import-untyped]
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from kafka.record import default_records  # type: ignore[import-untyped]
from kafka.record._crc32c import crc as crc32c_pure_python  # type: ignore[import-untyped]
from kafka.record.default_records import DefaultRecordBatch, DefaultRecordBatchBuilder  # type: ignore[import-untyped]

from streamlog.protocol.records import (
    Compression,
    Header,
    InvalidRecordError,
    NewRecord,
    Record,
    TimestampType,
    build_batch,
    iter_batches,
    iter_records,
    parse_header,
    validate_batch,
    verify_crc,
)

nullable_bytes = st.none() | st.binary(max_size=40) | st.binary(min_size=100, max_size=400)
headers = st.lists(
    st.builds(Header, st.text(max_size=12), st.none() | st.binary(max_size=20)), max_size=4
).map(tuple)
timestamps = st.integers(-1, 2**44) | st.integers(1_600_000_000_000, 1_800_000_000_000)
new_records = st.builds(
    NewRecord, key=nullable_bytes, value=nullable_bytes, timestamp=timestamps, headers=headers
)
record_lists = st.lists(new_records, min_size=1, max_size=25)
codecs = st.sampled_from(list(Compression))

SETTINGS = settings(max_examples=120, deadline=None)


def expected_records(records: list[NewRecord], base_offset: int, log_append_time: bool) -> list[Record]:
    top = max(r.timestamp for r in records)
    return [
        Record(base_offset + i, top if log_append_time else r.timestamp, r.key, r.value, r.headers)
        for i, r in enumerate(records)
    ]


@SETTINGS
@given(
    records=record_lists,
    codec=codecs,
    base_offset=st.integers(0, 2**62),
    producer=st.tuples(st.integers(0, 2**62), st.integers(0, 2**15 - 1), st.integers(0, 2**31 - 1)),
    transactional=st.booleans(),
    log_append_time=st.booleans(),
    leader_epoch=st.integers(-1, 2**31 - 1),
)
def test_build_then_read_back(
    records: list[NewRecord],
    codec: Compression,
    base_offset: int,
    producer: tuple[int, int, int],
    transactional: bool,
    log_append_time: bool,
    leader_epoch: int,
) -> None:
    producer_id, producer_epoch, base_sequence = producer
    batch = build_batch(
        records,
        base_offset=base_offset,
        compression=codec,
        producer_id=producer_id,
        producer_epoch=producer_epoch,
        base_sequence=base_sequence,
        transactional=transactional,
        timestamp_type=TimestampType.LOG_APPEND_TIME if log_append_time else TimestampType.CREATE_TIME,
        partition_leader_epoch=leader_epoch,
    )
    header = parse_header(batch)
    assert header.size == len(batch)
    assert header.compression is codec
    assert (header.base_offset, header.records_count, header.last_offset) == (
        base_offset,
        len(records),
        base_offset + len(records) - 1,
    )
    assert (header.producer_id, header.producer_epoch, header.base_sequence) == producer
    assert header.partition_leader_epoch == leader_epoch
    assert header.is_transactional is transactional
    assert header.base_timestamp == records[0].timestamp
    assert header.max_timestamp == max(r.timestamp for r in records)
    assert header.crc == crc32c_pure_python(batch[21:])
    assert verify_crc(batch, 0, header)

    assert list(iter_records(batch)) == expected_records(records, base_offset, log_append_time)

    stats = validate_batch(batch, 0, header, require_keys=False)
    assert stats.max_timestamp == max(r.timestamp for r in records)
    assert stats.min_timestamp == min(r.timestamp for r in records)
    assert records[stats.max_timestamp_offset_delta].timestamp == stats.max_timestamp
    if any(r.key is None for r in records):
        with pytest.raises(InvalidRecordError):
            validate_batch(batch, 0, header, require_keys=True)
    else:
        validate_batch(batch, 0, header, require_keys=True)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.lists(new_records, min_size=1, max_size=6), codecs), min_size=1, max_size=4))
def test_log_of_batches(batches: list[tuple[list[NewRecord], Compression]]) -> None:
    log = bytearray()
    offset = 0
    for records, codec in batches:
        log += build_batch(records, base_offset=offset, compression=codec)
        offset += len(records)
    found = list(iter_batches(log))
    assert len(found) == len(batches)
    flat = [r for pos, _ in found for r in iter_records(log, pos)]
    assert [r.offset for r in flat] == list(range(offset))
    assert [(r.key, r.value) for r in flat] == [(r.key, r.value) for records, _ in batches for r in records]


# --- kafka-python cross-check -------------------------------------------------------------------


class _SnappyShim:
    @staticmethod
    def compress(data: bytes) -> bytes:
        return bytes(cramjam.snappy.compress_raw(data))

    @staticmethod
    def decompress(data: bytes) -> bytes:
        return bytes(cramjam.snappy.decompress_raw(data))


def _lz4_encode(data: bytes) -> bytes:
    compressor = cramjam.lz4.Compressor(block_linked=False)
    compressor.compress(data)
    return bytes(compressor.finish())


@pytest.fixture(scope="module")
def kafka_codecs() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(kafka.codec, "snappy", _SnappyShim)
        for name in ("has_snappy", "has_lz4", "has_zstd"):
            patch.setattr(kafka.codec, name, lambda: True)
        patch.setattr(default_records, "lz4_encode", _lz4_encode)
        patch.setattr(default_records, "lz4_decode", lambda d: bytes(cramjam.lz4.decompress(d)))
        patch.setattr(default_records, "zstd_encode", lambda d: bytes(cramjam.zstd.compress(d)))
        patch.setattr(default_records, "zstd_decode", lambda d: bytes(cramjam.zstd.decompress(d)))
        yield


@pytest.mark.usefixtures("kafka_codecs")
@SETTINGS
@given(records=record_lists, codec=codecs)
def test_kafka_python_to_ours(records: list[NewRecord], codec: Compression) -> None:
    builder = DefaultRecordBatchBuilder(2, int(codec), False, -1, -1, -1, 1 << 30)
    for offset, r in enumerate(records):
        builder.append(offset, r.timestamp, r.key, r.value, [(h.key, h.value) for h in r.headers])
    batch = builder.build()
    header = parse_header(batch)
    assert header.compression in (codec, Compression.NONE)  # kafka-python drops a codec that does not help
    validate_batch(batch, 0, header, require_keys=False)
    assert list(iter_records(batch)) == expected_records(records, 0, False)


@pytest.mark.usefixtures("kafka_codecs")
@SETTINGS
@given(records=record_lists, codec=codecs, base_offset=st.integers(0, 2**62))
def test_ours_to_kafka_python(records: list[NewRecord], codec: Compression, base_offset: int) -> None:
    kp = DefaultRecordBatch(build_batch(records, base_offset=base_offset, compression=codec))
    assert kp.validate_crc()
    assert kp.compression_type == codec
    got = [(r.offset, r.timestamp, r.key, r.value, tuple(Header(k, v) for k, v in r.headers)) for r in kp]
    assert got == [
        (r.offset, r.timestamp, r.key, r.value, r.headers)
        for r in expected_records(records, base_offset, False)
    ]
