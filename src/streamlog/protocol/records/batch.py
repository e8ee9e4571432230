"""Record batch v2: header access, log scanning, in-place edits and produce validation.

Theory of operation: the broker stores batches exactly as they arrive on the wire. On the produce
path it parses only the 61-byte header (``parse_header``: one ``struct.unpack_from``), validates
the batch once (``validate_batch``), then writes baseOffset and partitionLeaderEpoch in place
(``assign_offsets``). Both fields lie outside the CRC, so nothing is re-encoded or re-checksummed;
only LogAppendTime topics rewrite the attributes and maxTimestamp, and therefore the CRC
(``set_log_append_time``). Reading a log is walking headers (``iter_batches``); crash recovery
keeps the prefix of whole, CRC-valid batches (``valid_prefix_length``).

The field-by-field header layout is in ``header``; the record layout in ``record``. This module
re-exports the names the rest of the broker uses.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator

from .compression import Compression
from .crc import batch_crc
from .errors import CorruptRecordError, InvalidRecordError, RecordTooLargeError
from .header import (
    ATTR_CODEC_MASK,
    ATTR_LOG_APPEND_TIME,
    ATTRIBUTES_OFFSET,
    CRC_OFFSET,
    HEADER_SIZE,
    HEADER_STRUCT,
    LOG_OVERHEAD,
    MAGIC,
    MIN_BATCH_LENGTH,
    PARTITION_LEADER_EPOCH_OFFSET,
    BatchHeader,
    TimestampType,
    check_header,
    parse_header,
)
from .validate import BatchStats, validate_batch

__all__ = [
    "HEADER_SIZE",
    "LOG_OVERHEAD",
    "BatchHeader",
    "BatchStats",
    "Compression",
    "CorruptRecordError",
    "InvalidRecordError",
    "RecordTooLargeError",
    "TimestampType",
    "assign_offsets",
    "iter_batches",
    "parse_header",
    "set_log_append_time",
    "valid_prefix_length",
    "validate_batch",
    "verify_crc",
]

Buffer = bytes | bytearray | memoryview

_INT64 = struct.Struct(">q")
_INT32 = struct.Struct(">i")
_UINT32 = struct.Struct(">I")
# attributes, lastOffsetDelta, baseTimestamp, maxTimestamp: bytes 21..43 of the header.
_ATTRS_TO_MAX_TIMESTAMP = struct.Struct(">hiqq")
_MAX_CODEC = max(Compression)


def iter_batches(buf: Buffer, pos: int = 0, end: int | None = None) -> Iterator[tuple[int, BatchHeader]]:
    """Yield ``(position, header)`` for each complete batch in ``buf[pos:end]``.

    Stops quietly at a truncated trailing batch (fewer than 61 bytes, or a batchLength running
    past ``end``). A header that is not a v2 batch header raises ``CorruptRecordError``. CRCs are
    not checked (see ``verify_crc`` and ``valid_prefix_length``).
    """
    limit = len(buf) if end is None else min(end, len(buf))
    unpack = HEADER_STRUCT.unpack_from
    while limit - pos >= HEADER_SIZE:
        header = BatchHeader(*unpack(buf, pos))
        check_header(header, pos)
        size = header.batch_length + LOG_OVERHEAD
        if pos + size > limit:
            return
        yield pos, header
        pos += size


def valid_prefix_length(buf: Buffer, pos: int = 0, *, check_crc: bool = True) -> int:
    """Bytes of whole, well-formed (and, with ``check_crc``, CRC-valid) batches starting at ``pos``.

    Never raises for bad data: recovery truncates the log to ``pos + valid_prefix_length(...)``.
    """
    start, limit = pos, len(buf)
    unpack = HEADER_STRUCT.unpack_from
    while limit - pos >= HEADER_SIZE:
        fields = unpack(buf, pos)
        batch_length, magic, crc, attributes = fields[1], fields[3], fields[4], fields[5]
        size = batch_length + LOG_OVERHEAD
        if (
            magic != MAGIC
            or batch_length < MIN_BATCH_LENGTH
            or pos + size > limit
            or attributes & ATTR_CODEC_MASK > _MAX_CODEC
        ):
            break
        if check_crc and batch_crc(buf, pos, size) != crc:
            break
        pos += size
    return pos - start


def verify_crc(buf: Buffer, pos: int, header: BatchHeader) -> bool:
    """Whether the stored CRC matches the batch bytes (False if the batch overruns ``buf``)."""
    size = header.batch_length + LOG_OVERHEAD
    if pos < 0 or header.batch_length < MIN_BATCH_LENGTH or pos + size > len(buf):
        return False
    return batch_crc(buf, pos, size) == header.crc


def assign_offsets(buf: bytearray | memoryview, pos: int, base_offset: int, leader_epoch: int) -> None:
    """Write baseOffset and partitionLeaderEpoch in place; both lie outside the CRC.

    Two ``pack_into`` calls: struct writes pad bytes as zeros, so one call spanning the
    batchLength field in between would clobber it.
    """
    _INT64.pack_into(buf, pos, base_offset)
    _INT32.pack_into(buf, pos + PARTITION_LEADER_EPOCH_OFFSET, leader_epoch)


def set_log_append_time(buf: bytearray | memoryview, pos: int, timestamp_ms: int) -> None:
    """Mark the batch LogAppendTime with maxTimestamp = ``timestamp_ms`` and rewrite its CRC in place.

    As Kafka's in-place path (``DefaultRecordBatch.setMaxTimestamp``) does, baseTimestamp is left
    alone (it is the delete horizon when attribute bit 6 is set); readers give every record of a
    LogAppendTime batch the batch's maxTimestamp. Nothing is written if the batch already carries
    exactly this type and timestamp.
    """
    if pos < 0 or len(buf) - pos < HEADER_SIZE:
        raise CorruptRecordError(f"truncated batch header at position {pos}")
    fields = HEADER_STRUCT.unpack_from(buf, pos)
    batch_length, magic, attributes, last_offset_delta, base_timestamp, max_timestamp = (
        fields[1],
        fields[3],
        fields[5],
        fields[6],
        fields[7],
        fields[8],
    )
    size = batch_length + LOG_OVERHEAD
    if magic != MAGIC or batch_length < MIN_BATCH_LENGTH or pos + size > len(buf):
        raise CorruptRecordError(f"not a complete v2 batch at position {pos}")
    if attributes & ATTR_LOG_APPEND_TIME and max_timestamp == timestamp_ms:
        return
    _ATTRS_TO_MAX_TIMESTAMP.pack_into(
        buf,
        pos + ATTRIBUTES_OFFSET,
        attributes | ATTR_LOG_APPEND_TIME,
        last_offset_delta,
        base_timestamp,
        timestamp_ms,
    )
    _UINT32.pack_into(buf, pos + CRC_OFFSET, batch_crc(buf, pos, size))
