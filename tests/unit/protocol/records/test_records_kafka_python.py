"""Cross-checks against kafka-python's independent v2 implementation (kafka.record.default_records).

kafka-python ships codec code but not the compression libraries; the fixture plugs cramjam's
primitives in where kafka-python expects python-snappy / lz4 / zstandard. kafka-python's own
xerial framing (``kafka.codec.snappy_encode``), batch layout, varints and CRC are what is tested.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import cramjam
import kafka.codec  # type: ignore[import-untyped]
import pytest
from kafka.record import default_records  # type: ignore[import-untyped]
from kafka.record.default_records import DefaultRecordBatch, DefaultRecordBatchBuilder  # type: ignore[import-untyped]

from streamlog.protocol.records import (
    Compression,
    Header,
    NewRecord,
    Record,
    build_batch,
    build_control_batch,
    iter_records,
    parse_header,
    validate_batch,
    verify_crc,
)


class _SnappyShim:
    """The two python-snappy functions kafka.codec calls (raw snappy blocks)."""

    @staticmethod
    def compress(data: bytes) -> bytes:
        return bytes(cramjam.snappy.compress_raw(data))

    @staticmethod
    def decompress(data: bytes) -> bytes:
        return bytes(cramjam.snappy.decompress_raw(data))


def _lz4_encode(data: bytes) -> bytes:
    # kafka-python calls python-lz4 with block_linked=False; cramjam's frame compressor with the same
    # setting (but, unlike ours, with a content checksum).
    compressor = cramjam.lz4.Compressor(block_linked=False)
    compressor.compress(data)
    return bytes(compressor.finish())


@pytest.fixture
def kafka_codecs(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(kafka.codec, "snappy", _SnappyShim)
    monkeypatch.setattr(kafka.codec, "has_snappy", lambda: True)
    monkeypatch.setattr(kafka.codec, "has_lz4", lambda: True)
    monkeypatch.setattr(kafka.codec, "has_zstd", lambda: True)
    monkeypatch.setattr(default_records, "lz4_encode", _lz4_encode)
    monkeypatch.setattr(default_records, "lz4_decode", lambda d: bytes(cramjam.lz4.decompress(d)))
    monkeypatch.setattr(default_records, "zstd_encode", lambda d: bytes(cramjam.zstd.compress(d)))
    monkeypatch.setattr(default_records, "zstd_decode", lambda d: bytes(cramjam.zstd.decompress(d)))
    yield


SAMPLE = [
    NewRecord(b"user-1", b'{"event": "signup"}' * 20, 1_700_000_000_000, (Header("source", b"web"),)),
    NewRecord(None, b"keyless " * 30, 1_700_000_000_250, ()),
    NewRecord(b"user-2", None, 1_699_999_999_900, (Header("ключ", None), Header("", b""))),
    NewRecord(b"", b"", 1_700_000_000_100, ()),
]


def kafka_python_batch(
    records: list[NewRecord], codec: Compression, *, producer_id: int = -1, base_sequence: int = -1
) -> bytearray:
    builder = DefaultRecordBatchBuilder(
        magic=2,
        compression_type=int(codec),
        is_transactional=False,
        producer_id=producer_id,
        producer_epoch=0 if producer_id >= 0 else -1,
        base_sequence=base_sequence,
        batch_size=1 << 30,
    )
    for offset, record in enumerate(records):
        headers = [(h.key, h.value) for h in record.headers]
        assert builder.append(offset, record.timestamp, record.key, record.value, headers) is not None
    return builder.build()  # type: ignore[no-any-return]


def expected(records: list[NewRecord], base_offset: int = 0) -> list[Record]:
    return [Record(base_offset + i, r.timestamp, r.key, r.value, r.headers) for i, r in enumerate(records)]


def as_records(kp_batch: Any) -> list[Record]:
    return [
        Record(r.offset, r.timestamp, r.key, r.value, tuple(Header(k, v) for k, v in r.headers))
        for r in kp_batch
    ]


CODECS = list(Compression)


@pytest.mark.usefixtures("kafka_codecs")
@pytest.mark.parametrize("codec", CODECS)
def test_kafka_python_batches_parse_and_validate(codec: Compression) -> None:
    batch = kafka_python_batch(SAMPLE, codec, producer_id=1234, base_sequence=56)
    header = parse_header(batch)
    assert header.compression is codec  # kafka-python kept the codec (the data is compressible)
    assert header.size == len(batch)
    assert (header.producer_id, header.base_sequence, header.last_sequence) == (1234, 56, 59)
    assert (header.base_timestamp, header.max_timestamp) == (1_700_000_000_000, 1_700_000_000_250)
    assert verify_crc(batch, 0, header)
    stats = validate_batch(batch, 0, header, require_keys=False)
    assert (stats.min_timestamp, stats.max_timestamp, stats.max_timestamp_offset_delta) == (
        1_699_999_999_900,
        1_700_000_000_250,
        1,
    )
    assert list(iter_records(batch)) == expected(SAMPLE)


@pytest.mark.usefixtures("kafka_codecs")
@pytest.mark.parametrize("codec", CODECS)
def test_our_batches_read_by_kafka_python(codec: Compression) -> None:
    batch = build_batch(
        SAMPLE, base_offset=500, compression=codec, producer_id=9, producer_epoch=1, base_sequence=3
    )
    kp = DefaultRecordBatch(batch)
    assert kp.validate_crc()
    assert (kp.base_offset, kp.compression_type, kp.producer_id, kp.base_sequence) == (500, codec, 9, 3)
    assert (kp.last_offset_delta, kp.first_timestamp, kp.max_timestamp) == (
        3,
        1_700_000_000_000,
        1_700_000_000_250,
    )
    assert as_records(kp) == expected(SAMPLE, 500)


@pytest.mark.usefixtures("kafka_codecs")
def test_kafka_python_xerial_snappy_batches() -> None:
    # kafka-python writes snappy with xerial framing (32 KiB blocks), like the Java client.
    big = [NewRecord(b"k%d" % i, b"payload %d " % i * 200, 1_000 + i) for i in range(60)]
    batch = kafka_python_batch(big, Compression.SNAPPY)
    assert bytes(batch[61:69]) == b"\x82SNAPPY\x00"
    validate_batch(batch, 0, parse_header(batch), require_keys=True)
    assert list(iter_records(batch)) == expected(big)


def test_uncompressed_bytes_match_kafka_python_exactly() -> None:
    # kafka-python writes baseOffset 0 and partitionLeaderEpoch 0; with the same inputs the two
    # encoders must agree byte for byte (header, varints, records, CRC).
    ours = build_batch(SAMPLE, partition_leader_epoch=0)
    assert ours == bytes(kafka_python_batch(SAMPLE, Compression.NONE))


def test_control_batch_read_by_kafka_python() -> None:
    batch = build_control_batch(
        commit=True, producer_id=5, producer_epoch=2, coordinator_epoch=8, timestamp=99
    )
    kp = DefaultRecordBatch(batch)
    assert kp.validate_crc()
    assert kp.is_control_batch and kp.is_transactional
    (record,) = list(kp)
    assert record.commit and record.version == 0
