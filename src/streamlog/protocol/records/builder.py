"""Building v2 record batches: for the broker's own writes (control markers, internal topics) and tools.

Theory of operation: records are encoded in one pass into a bytearray (offset deltas 0..n-1,
timestamp deltas against the first record's timestamp), the section is compressed as one block
if a codec is chosen, the 61-byte header is packed in front, and the CRC-32C over attributes..end
is written last. The codec requested is always used, even when it does not shrink the data.
Layouts are documented in ``header`` (batch) and ``record`` (records).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .compression import Compression, compress
from .crc import batch_crc
from .header import (
    ATTR_CONTROL,
    ATTR_LOG_APPEND_TIME,
    ATTR_TRANSACTIONAL,
    CRC_OFFSET,
    HEADER_SIZE,
    HEADER_STRUCT,
    LOG_OVERHEAD,
    MAGIC,
    TimestampType,
)
from .record import CONTROL_KEY_STRUCT, END_TXN_VALUE_STRUCT, ControlType, Header
from .varint import NULL_LENGTH, write_varint

__all__ = ["NewRecord", "build_batch", "build_control_batch", "encode_records"]

_INT32_MAX = 0x7FFFFFFF


@dataclass(frozen=True, slots=True)
class NewRecord:
    """A record to be written: the builder assigns its offset delta."""

    key: bytes | None
    value: bytes | None
    timestamp: int
    headers: tuple[Header, ...] = ()


def encode_records(records: Sequence[NewRecord], base_timestamp: int,
                   offset_deltas: Sequence[int] | None = None) -> bytes:
    """The uncompressed records section for ``records`` (offset deltas 0..n-1, or ``offset_deltas``:
    a batch rewritten with records left out keeps the others' offsets)."""
    out = bytearray()
    body = bytearray()
    for index, record in enumerate(records):
        body.clear()
        body.append(0)  # record attributes: unused
        write_varint(body, record.timestamp - base_timestamp)
        write_varint(body, index if offset_deltas is None else offset_deltas[index])
        _write_bytes(body, record.key)
        _write_bytes(body, record.value)
        write_varint(body, len(record.headers))
        for header in record.headers:
            _write_bytes(body, header.key.encode("utf-8"))
            _write_bytes(body, header.value)
        write_varint(out, len(body))
        out += body
    return bytes(out)


def _write_bytes(out: bytearray, data: bytes | None) -> None:
    if data is None:
        out.append(NULL_LENGTH)
    else:
        write_varint(out, len(data))
        out += data


def build_batch(
    records: Sequence[NewRecord],
    *,
    base_offset: int = 0,
    compression: Compression = Compression.NONE,
    producer_id: int = -1,
    producer_epoch: int = -1,
    base_sequence: int = -1,
    transactional: bool = False,
    control: bool = False,
    timestamp_type: TimestampType = TimestampType.CREATE_TIME,
    partition_leader_epoch: int = -1,
) -> bytes:
    """Encode ``records`` (at least one) as one v2 batch."""
    if not records:
        raise ValueError("a record batch needs at least one record")
    if len(records) > _INT32_MAX:
        raise ValueError("too many records for one batch")
    base_timestamp = records[0].timestamp
    max_timestamp = max(record.timestamp for record in records)
    section = compress(compression, encode_records(records, base_timestamp))
    attributes = int(compression)
    if timestamp_type == TimestampType.LOG_APPEND_TIME:
        attributes |= ATTR_LOG_APPEND_TIME
    if transactional:
        attributes |= ATTR_TRANSACTIONAL
    if control:
        attributes |= ATTR_CONTROL
    size = HEADER_SIZE + len(section)
    batch = bytearray(size)
    HEADER_STRUCT.pack_into(
        batch,
        0,
        base_offset,
        size - LOG_OVERHEAD,
        partition_leader_epoch,
        MAGIC,
        0,  # CRC, written below
        attributes,
        len(records) - 1,
        base_timestamp,
        max_timestamp,
        producer_id,
        producer_epoch,
        base_sequence,
        len(records),
    )
    batch[HEADER_SIZE:] = section
    batch[CRC_OFFSET : CRC_OFFSET + 4] = batch_crc(batch, 0, size).to_bytes(4, "big")
    return bytes(batch)


def build_control_batch(
    *,
    commit: bool,
    producer_id: int,
    producer_epoch: int,
    coordinator_epoch: int,
    timestamp: int,
    base_offset: int = 0,
    partition_leader_epoch: int = -1,
) -> bytes:
    """A transaction marker batch: one COMMIT or ABORT control record, transactional + control bits set."""
    control_type = ControlType.COMMIT if commit else ControlType.ABORT
    record = NewRecord(
        key=CONTROL_KEY_STRUCT.pack(0, control_type),
        value=END_TXN_VALUE_STRUCT.pack(0, coordinator_epoch),
        timestamp=timestamp,
    )
    return build_batch(
        [record],
        base_offset=base_offset,
        producer_id=producer_id,
        producer_epoch=producer_epoch,
        transactional=True,
        control=True,
        partition_leader_epoch=partition_leader_epoch,
    )
