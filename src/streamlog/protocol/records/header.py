"""The 61-byte header of a v2 (magic 2) record batch, decoded with one ``struct.unpack_from``.

Theory of operation: the broker's produce and fetch paths look only at batch headers, never at
records, so parsing a header is one C-level unpack into a frozen value plus three range checks.
Everything derived (last offset, codec, flags, last sequence) is a property computed on demand.

Wire layout (big-endian; offsets relative to the batch start)::

    off len field                 notes
      0   8 baseOffset            int64; the broker overwrites it when assigning offsets
      8   4 batchLength           int32; bytes after this field (total size = batchLength + 12)
     12   4 partitionLeaderEpoch  int32; broker-set, NOT covered by the CRC
     16   1 magic                 int8; must be 2
     17   4 crc                   uint32; CRC-32C of bytes 21..end (attributes to end of batch)
     21   2 attributes            int16; bits 0-2 codec, 3 timestamp type (1 = LogAppendTime),
                                  4 transactional, 5 control, 6 delete horizon set, 7-15 unused
     23   4 lastOffsetDelta       int32; also the last sequence delta
     27   8 baseTimestamp         int64; the delete horizon when attribute bit 6 is set
     35   8 maxTimestamp          int64
     43   8 producerId            int64; -1 if none
     51   2 producerEpoch         int16; -1 if none
     53   4 baseSequence          int32; -1 if none
     57   4 recordsCount          int32
     61   . records               (compressed as one block when the codec is not NONE)
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum

from .compression import Compression
from .errors import CorruptRecordError

__all__ = [
    "ATTR_CODEC_MASK",
    "ATTR_CONTROL",
    "ATTR_DELETE_HORIZON",
    "ATTR_LOG_APPEND_TIME",
    "ATTR_TRANSACTIONAL",
    "HEADER_SIZE",
    "HEADER_STRUCT",
    "LOG_OVERHEAD",
    "MAGIC",
    "MIN_BATCH_LENGTH",
    "BatchHeader",
    "TimestampType",
    "batch_spans",
    "check_header",
    "parse_header",
]

HEADER_STRUCT = struct.Struct(">qiibIhiqqqhii")
HEADER_SIZE = 61  # bytes of the v2 batch header
LOG_OVERHEAD = 12  # baseOffset int64 + batchLength int32
MIN_BATCH_LENGTH = HEADER_SIZE - LOG_OVERHEAD  # batchLength of a batch with an empty records section
MAGIC = 2

# Field offsets used for in-place edits.
BASE_OFFSET_OFFSET = 0
BATCH_LENGTH_OFFSET = 8
PARTITION_LEADER_EPOCH_OFFSET = 12
CRC_OFFSET = 17
ATTRIBUTES_OFFSET = 21
BASE_TIMESTAMP_OFFSET = 27
MAX_TIMESTAMP_OFFSET = 35

ATTR_CODEC_MASK = 0x07
ATTR_LOG_APPEND_TIME = 0x08
ATTR_TRANSACTIONAL = 0x10
ATTR_CONTROL = 0x20
ATTR_DELETE_HORIZON = 0x40

_MAX_CODEC = max(Compression)
_INT32_MAX = 0x7FFFFFFF

assert HEADER_STRUCT.size == HEADER_SIZE

# What appending needs from each header, in one unpack: batchLength (8), magic (16),
# lastOffsetDelta (23), maxTimestamp (35); the pad bytes skip the fields in between.
SPAN_STRUCT = struct.Struct(">8xi4xb6xi8xq")


class TimestampType(IntEnum):
    """Attribute bit 3: who set the record timestamps."""

    CREATE_TIME = 0
    LOG_APPEND_TIME = 1


@dataclass(frozen=True, slots=True)
class BatchHeader:
    """The decoded 61-byte header of one record batch."""

    base_offset: int
    batch_length: int
    partition_leader_epoch: int
    magic: int
    crc: int
    attributes: int
    last_offset_delta: int
    base_timestamp: int
    max_timestamp: int
    producer_id: int
    producer_epoch: int
    base_sequence: int
    records_count: int

    @property
    def size(self) -> int:
        """Total bytes of the batch on the wire (``batch_length + 12``)."""
        return self.batch_length + LOG_OVERHEAD

    @property
    def last_offset(self) -> int:
        return self.base_offset + self.last_offset_delta

    @property
    def next_offset(self) -> int:
        return self.base_offset + self.last_offset_delta + 1

    @property
    def compression(self) -> Compression:
        return Compression(self.attributes & ATTR_CODEC_MASK)

    @property
    def timestamp_type(self) -> TimestampType:
        return (
            TimestampType.LOG_APPEND_TIME
            if self.attributes & ATTR_LOG_APPEND_TIME
            else TimestampType.CREATE_TIME
        )

    @property
    def is_transactional(self) -> bool:
        return bool(self.attributes & ATTR_TRANSACTIONAL)

    @property
    def is_control(self) -> bool:
        return bool(self.attributes & ATTR_CONTROL)

    @property
    def has_delete_horizon(self) -> bool:
        return bool(self.attributes & ATTR_DELETE_HORIZON)

    @property
    def has_producer_id(self) -> bool:
        return self.producer_id >= 0

    @property
    def last_sequence(self) -> int:
        """Sequence of the last record; wraps from INT32_MAX to 0 as Kafka does; -1 without sequences."""
        if self.base_sequence == -1:
            return -1
        seq = self.base_sequence + self.last_offset_delta
        return seq - (_INT32_MAX + 1) if seq > _INT32_MAX else seq


def parse_header(buf: bytes | bytearray | memoryview, pos: int = 0) -> BatchHeader:
    """Decode the header of the batch at ``pos``.

    Raises ``CorruptRecordError`` if fewer than 61 bytes remain, the magic is not 2, the codec is
    unknown, or batchLength is shorter than a header or runs past the end of ``buf``.
    """
    if pos < 0 or len(buf) - pos < HEADER_SIZE:
        raise CorruptRecordError(f"truncated batch header at position {pos}")
    header = BatchHeader(*HEADER_STRUCT.unpack_from(buf, pos))
    check_header(header, pos)
    if pos + LOG_OVERHEAD + header.batch_length > len(buf):
        raise CorruptRecordError(f"batch length {header.batch_length} runs past the end of the buffer")
    return header


def batch_spans(buf: bytes | bytearray | memoryview) -> list[tuple[int, int, int, int]]:
    """``(position, size, last_offset_delta, max_timestamp)`` of every batch in ``buf``.

    The append path's header walk: no ``BatchHeader`` objects, one small unpack per batch.  Raises
    ``CorruptRecordError`` when a header is truncated, is not magic 2, or its batchLength is
    shorter than a header or runs past the end of ``buf`` (full checks belong to validation).
    """
    out = []
    pos, end = 0, len(buf)
    unpack = SPAN_STRUCT.unpack_from
    while pos < end:
        if end - pos < HEADER_SIZE:
            raise CorruptRecordError(f"truncated batch header at position {pos}")
        batch_length, magic, last_offset_delta, max_timestamp = unpack(buf, pos)
        if magic != MAGIC:
            raise CorruptRecordError(f"unsupported record batch magic {magic} at position {pos}")
        if batch_length < MIN_BATCH_LENGTH:
            raise CorruptRecordError(f"batch length {batch_length} is shorter than the batch header")
        size = batch_length + LOG_OVERHEAD
        if pos + size > end:
            raise CorruptRecordError(f"batch length {batch_length} runs past the end of the buffer")
        out.append((pos, size, last_offset_delta, max_timestamp))
        pos += size
    return out


def check_header(header: BatchHeader, pos: int) -> None:
    """The checks of ``parse_header`` that do not depend on the buffer length."""
    if header.magic != MAGIC:
        raise CorruptRecordError(f"unsupported record batch magic {header.magic} at position {pos}")
    if header.batch_length < MIN_BATCH_LENGTH:
        raise CorruptRecordError(f"batch length {header.batch_length} is shorter than the batch header")
    if header.attributes & ATTR_CODEC_MASK > _MAX_CODEC:
        raise CorruptRecordError(f"unknown compression codec {header.attributes & ATTR_CODEC_MASK}")
