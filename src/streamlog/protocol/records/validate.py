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
   ``require_keys`` (compacted topics) every key must be non-null (else ``InvalidRecordError``).

The pass also collects the records' smallest and largest CreateTime timestamps, which the produce
handler needs for Kafka's timestamp checks (message.timestamp.before/after.max.ms ->
INVALID_TIMESTAMP) and for the time index. Record layout: see ``record``.
"""

from __future__ import annotations

from dataclasses import dataclass

from .compression import DEFAULT_MAX_DECOMPRESSED
from .crc import batch_crc
from .errors import CorruptRecordError, InvalidRecordError, RecordTooLargeError
from .header import ATTR_CONTROL, BatchHeader, check_header
from .record import MIN_RECORD_BODY, records_section
from .varint import VARINT_MAX_BYTES, read_varint

__all__ = ["BatchStats", "validate_batch"]

Buffer = bytes | bytearray | memoryview


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
    try:
        lo, hi, hi_delta = _scan(data, p, end, count, require_keys)
    except IndexError:
        raise CorruptRecordError("record runs past the end of the records section") from None
    base = header.base_timestamp
    return BatchStats(base + lo, base + hi, hi_delta)


def _scan(data: Buffer, p: int, end: int, count: int, require_keys: bool) -> tuple[int, int, int]:
    """One pass over the records: returns (min ts delta, max ts delta, offset delta of the max)."""
    rv = read_varint
    vi = VARINT_MAX_BYTES
    lo = hi = 0
    hi_delta = -1
    for index in range(count):
        if p >= end:
            raise InvalidRecordError(f"batch declares {count} records but holds {index}")
        b = data[p]
        if b < 0x80:
            length, p = (b >> 1) ^ -(b & 1), p + 1
        else:
            length, p = rv(data, p, vi)
        record_end = p + length
        if length < MIN_RECORD_BODY or record_end > end:
            raise CorruptRecordError(f"bad record length {length}")
        p += 1  # attributes
        b = data[p]
        if b < 0x80:
            ts, p = (b >> 1) ^ -(b & 1), p + 1
        else:
            ts, p = rv(data, p)
        b = data[p]
        if b < 0x80:
            offset_delta, p = (b >> 1) ^ -(b & 1), p + 1
        else:
            offset_delta, p = rv(data, p, vi)
        if offset_delta != index:
            raise InvalidRecordError(f"record {index} has offset delta {offset_delta}")
        b = data[p]
        if b < 0x80:
            n, p = (b >> 1) ^ -(b & 1), p + 1
        else:
            n, p = rv(data, p, vi)
        if n >= 0:
            p += n
        elif n != -1:
            raise CorruptRecordError(f"bad key length {n}")
        elif require_keys:
            raise InvalidRecordError("compacted topic cannot accept a record without a key")
        b = data[p]
        if b < 0x80:
            n, p = (b >> 1) ^ -(b & 1), p + 1
        else:
            n, p = rv(data, p, vi)
        if n >= 0:
            p += n
        elif n != -1:
            raise CorruptRecordError(f"bad value length {n}")
        b = data[p]
        if b < 0x80:
            n, p = (b >> 1) ^ -(b & 1), p + 1
        else:
            n, p = rv(data, p, vi)
        if n:
            if n < 0 or n > (record_end - p) // 2:
                raise CorruptRecordError(f"bad header count {n}")
            for _ in range(n):
                h, p = rv(data, p, vi)
                if h < 0:
                    raise CorruptRecordError(f"bad header key length {h}")
                h, p = rv(data, p + h, vi)
                if h >= 0:
                    p += h
                elif h != -1:
                    raise CorruptRecordError(f"bad header value length {h}")
        if p != record_end:
            raise CorruptRecordError(f"record length {length} does not match its contents")
        if hi_delta < 0:
            lo = hi = ts
            hi_delta = index
        elif ts > hi:
            hi, hi_delta = ts, index
        elif ts < lo:
            lo = ts
    if p != end:
        raise InvalidRecordError(f"{end - p} bytes remain after the {count} declared records")
    return lo, hi, hi_delta
