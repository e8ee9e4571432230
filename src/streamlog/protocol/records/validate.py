"""Full inbound validation of a produced batch (Kafka's LogValidator checks for magic 2).

Theory of operation: the produce path keeps batches exactly as received and assigns offsets in
place, so it must first prove a batch is sound. In order, as Kafka checks them:

1. size: whole batch inside the buffer; above ``max_batch_bytes`` -> ``RecordTooLargeError``;
2. CRC-32C over attributes..end -> ``CorruptRecordError``;
3. header rules -> ``InvalidRecordError``: recordsCount >= 1 and equal to lastOffsetDelta + 1,
   no control batch unless ``allow_control`` (the broker's own markers), a producer id implies a
   base sequence (control batches carry none);
4. one pass over the (decompressed) records without building objects: every length and varint
   must fit inside its record and the record inside the section (else ``CorruptRecordError``);
   offset deltas must be 0..n-1, the section must hold exactly recordsCount records, and with
   ``require_keys`` (compacted topics) every key must be non-null (else ``MissingKeyError``, an
   ``InvalidRecordError`` naming every keyless record, which Kafka lists in Produce's record_errors).

The pass also collects the records' smallest and largest CreateTime timestamps (outside int64:
``CorruptRecordError``), which the produce handler needs for Kafka's timestamp checks
(message.timestamp.before/after.max.ms -> INVALID_TIMESTAMP) and for the time index. Record
layout: see ``record``.
"""

from __future__ import annotations

from dataclasses import dataclass

from .compression import DEFAULT_MAX_DECOMPRESSED
from .crc import batch_crc
from .errors import CorruptRecordError, InvalidRecordError, MissingKeyError, RecordTooLargeError
from .header import ATTR_CONTROL, ATTR_LOG_APPEND_TIME, BatchHeader, check_header
from .record import records_section
from .varint import iter_record_heads, read_record_tail

__all__ = ["BatchStats", "validate_batch"]

Buffer = bytes | bytearray | memoryview
_INT64_MIN, _INT64_MAX = -(1 << 63), (1 << 63) - 1


@dataclass(frozen=True, slots=True)
class BatchStats:
    """What ``validate_batch`` learned from the records (timestamps are CreateTime values)."""

    min_timestamp: int
    max_timestamp: int
    max_timestamp_offset_delta: int  # offset delta of the first record holding max_timestamp


def validate_batch(
    buf: Buffer,
    pos: int,
    header: BatchHeader,
    *,
    require_keys: bool,
    max_batch_bytes: int | None = None,
    allow_control: bool = False,
    max_decompressed: int | None = DEFAULT_MAX_DECOMPRESSED,
) -> BatchStats:
    """Check the batch at ``pos`` (described by ``header``) as Kafka checks a produced batch.

    Raises ``CorruptRecordError``, ``InvalidRecordError`` or its subclass ``RecordTooLargeError``.
    """
    check_header(header, pos)
    size = header.batch_length + 12
    if pos < 0 or pos + size > len(buf):
        raise CorruptRecordError("batch runs past the end of the buffer")
    if max_batch_bytes is not None and size > max_batch_bytes:
        raise RecordTooLargeError(f"batch of {size} bytes exceeds the limit of {max_batch_bytes}")
    if batch_crc(buf, pos, size) != header.crc:
        raise CorruptRecordError("record batch CRC mismatch")
    count = header.records_count
    if count <= 0:
        raise InvalidRecordError(f"invalid record count {count}")
    if header.last_offset_delta != count - 1:
        raise InvalidRecordError(
            f"lastOffsetDelta {header.last_offset_delta} does not match record count {count}"
        )
    is_control = header.attributes & ATTR_CONTROL
    if is_control and not allow_control:
        raise InvalidRecordError("clients may not write control batches")
    if header.producer_id >= 0 and header.base_sequence < 0 and not is_control:
        raise InvalidRecordError(f"invalid base sequence {header.base_sequence} for a producer id")
    data, p, end = records_section(buf, pos, header, max_decompressed)
    lo, hi, hi_delta = _scan(data, p, end, count, require_keys)
    base = header.base_timestamp
    lo_ts, hi_ts = base + lo, base + hi
    if (lo_ts < _INT64_MIN or hi_ts > _INT64_MAX) and not header.attributes & ATTR_LOG_APPEND_TIME:
        raise CorruptRecordError(f"record timestamps {lo_ts}..{hi_ts} are not int64 values")
    return BatchStats(lo_ts, hi_ts, hi_delta)


def _scan(data: Buffer, p: int, end: int, count: int, require_keys: bool) -> tuple[int, int, int]:
    """One pass over the records: returns (min ts delta, max ts delta, offset delta of the max)."""
    lo = hi = 0
    hi_delta = -1
    tail_of = read_record_tail
    keyless: list[int] = []
    heads = iter_record_heads(data, p, end, count)
    for index, (_s, _b, _a, record_end, ts, offset_delta, _k, key_length, tail) in enumerate(heads):
        if offset_delta != index:
            raise InvalidRecordError(f"record {index} has offset delta {offset_delta}")
        if key_length < 0 and require_keys:
            keyless.append(index)
        tail_of(data, tail, record_end)
        if hi_delta < 0:
            lo = hi = ts
            hi_delta = index
        elif ts > hi:
            hi, hi_delta = ts, index
        elif ts < lo:
            lo = ts
    if keyless:
        raise MissingKeyError(tuple(keyless))
    return lo, hi, hi_delta
