"""Record-level work of the log cleaner: scanning a batch's records and rewriting a batch without
the records compaction removes.

Theory of operation. `scan_records` walks the (decompressed) records section of one batch once,
without building `Record` objects, and returns per record what the cleaner needs: where its bytes
are, its key, whether it is a tombstone (null value), and its offset and timestamp deltas. It and
`map_keys` read only each record's head, through the records layer's decoder
(`streamlog.protocol.records.varint.iter_record_heads`). Record layout: see
`streamlog.protocol.records.record`.

`rebuild_batch` writes the batch again with only the records kept. Offsets never change: the
batch keeps its baseOffset and lastOffsetDelta (so the producer's last sequence survives, as
Kafka's cleaner does), and each kept record keeps its offsetDelta, which leaves gaps where records
went. Record bytes are copied unchanged unless the cleaner stamps a delete horizon, which moves
baseTimestamp; then each record's timestampDelta is re-based so its timestamp stays the same.
The records section is compressed again with the batch's own codec.

Rewritten batch, field by field (layout in `streamlog.protocol.records.header`)::

    baseOffset, partitionLeaderEpoch, magic, lastOffsetDelta,
    producerId, producerEpoch, baseSequence    unchanged
    batchLength                                new size - 12
    crc                                        recomputed
    attributes                                 unchanged, plus bit 6 when a horizon is stamped
    baseTimestamp                              the delete horizon (ms) when bit 6 is set, else unchanged
    maxTimestamp                               largest timestamp kept (CreateTime); unchanged under
                                               LogAppendTime, where every record carries it
    recordsCount                               records kept

`empty_batch` is Kafka's empty batch header, kept for the last batch of a producer so that its
sequence numbers and epoch survive compaction: the same header with recordsCount 0, no records,
codec NONE, and baseTimestamp = maxTimestamp = the original maxTimestamp.
"""

from __future__ import annotations

from collections.abc import Sequence

from streamlog.protocol.records.compression import Compression, compress
from streamlog.protocol.records.crc import batch_crc
from streamlog.protocol.records.header import (
    ATTR_CODEC_MASK,
    ATTR_DELETE_HORIZON,
    ATTR_LOG_APPEND_TIME,
    CRC_OFFSET,
    HEADER_SIZE,
    HEADER_STRUCT,
    LOG_OVERHEAD,
    MAGIC,
    BatchHeader,
)
from streamlog.protocol.records.record import records_section
from streamlog.protocol.records.varint import NULL_LENGTH, iter_record_heads, write_varint

Buffer = bytes | bytearray | memoryview

# One scanned record: (start, body, after_timestamp, end, timestamp_delta, offset_delta, key, tombstone).
# start..end are its bytes (length varint included); body is where its attributes byte is;
# after_timestamp is where the bytes following the timestampDelta begin.
Scanned = tuple[int, int, int, int, int, int, bytes | None, bool]


def records_of(buf: Buffer, pos: int, header: BatchHeader) -> tuple[Buffer, int, int]:
    """The records section of the batch at `pos` as (data, start, end), decompressed if needed."""
    return records_section(buf, pos, header)


def scan_records(data: Buffer, p: int, end: int, count: int) -> list[Scanned]:
    """The `count` records in data[p:end]. Raises CorruptRecordError (or InvalidRecordError for a
    count that does not match) for malformed data; checks only the records' heads (the bytes up to
    each value), which is all the cleaner reads."""
    null = NULL_LENGTH
    return [
        (start, body, after_ts, record_end, ts, delta, None if key_length < 0 else bytes(data[key:tail]),
         data[tail] == null)
        for start, body, after_ts, record_end, ts, delta, key, key_length, tail in (
            iter_record_heads(data, p, end, count)
        )
    ]


def map_keys(data: Buffer, p: int, end: int, count: int, base_offset: int, offsets: dict[bytes, int]) -> None:
    """Record in `offsets` key -> offset for every keyed record of the batch, as `~offset` (negative)
    for a tombstone (the offset map pass: `scan_records` without building anything else)."""
    null = NULL_LENGTH
    heads = iter_record_heads(data, p, end, count)
    for _start, _body, _after, _end, _ts, delta, key, key_length, tail in heads:
        if key_length >= 0:
            offset = base_offset + delta
            offsets[bytes(data[key:tail])] = ~offset if data[tail] == null else offset


def rebuild_batch(
    header: BatchHeader,
    data: Buffer,
    kept: Sequence[Scanned],
    *,
    horizon_ms: int | None = None,
) -> tuple[bytes, int]:
    """The batch described by `header` holding only `kept` (records scanned from `data`, in order).

    With `horizon_ms`, attribute bit 6 is set and baseTimestamp becomes the horizon. Returns the
    batch and its new maxTimestamp.
    """
    if not kept:
        raise ValueError("a rebuilt batch keeps at least one record; use empty_batch")
    base_ts = header.base_timestamp
    new_base = base_ts if horizon_ms is None else horizon_ms
    section = bytearray()
    if new_base == base_ts:
        for start, _body, _after, end, _ts, _delta, _key, _tomb in kept:
            section += data[start:end]
    else:
        shift = base_ts - new_base
        record = bytearray()
        for _start, body, after_ts, end, ts, _delta, _key, _tomb in kept:
            record.clear()
            record.append(data[body])
            write_varint(record, ts + shift)
            record += data[after_ts:end]
            write_varint(section, len(record))
            section += record
    if header.attributes & ATTR_LOG_APPEND_TIME:
        max_ts = header.max_timestamp
    else:
        max_ts = base_ts + max(r[4] for r in kept)
    codec = header.attributes & ATTR_CODEC_MASK
    payload = compress(Compression(codec), bytes(section)) if codec else section
    attributes = header.attributes | (ATTR_DELETE_HORIZON if horizon_ms is not None else 0)
    return _pack(header, attributes, new_base, max_ts, len(kept), payload), max_ts


def empty_batch(header: BatchHeader) -> bytes:
    """The header of `header`'s batch with no records (Kafka's empty batch for producer state)."""
    attributes = (header.attributes & ~ATTR_CODEC_MASK) & ~ATTR_DELETE_HORIZON
    return _pack(header, attributes, header.max_timestamp, header.max_timestamp, 0, b"")


def _pack(
    header: BatchHeader, attributes: int, base_ts: int, max_ts: int, count: int, payload: Buffer
) -> bytes:
    size = HEADER_SIZE + len(payload)
    batch = bytearray(size)
    HEADER_STRUCT.pack_into(
        batch,
        0,
        header.base_offset,
        size - LOG_OVERHEAD,
        header.partition_leader_epoch,
        MAGIC,
        0,
        attributes,
        header.last_offset_delta,
        base_ts,
        max_ts,
        header.producer_id,
        header.producer_epoch,
        header.base_sequence,
        count,
    )
    batch[HEADER_SIZE:] = payload
    batch[CRC_OFFSET : CRC_OFFSET + 4] = batch_crc(batch, 0, size).to_bytes(4, "big")
    return bytes(batch)
