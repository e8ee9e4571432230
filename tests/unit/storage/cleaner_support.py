"""Helpers for the log cleaner tests: keyed batches, reading a log back, the expected compaction."""

from __future__ import annotations

from collections.abc import Sequence

from streamlog.protocol.records.batch import BatchHeader, iter_batches
from streamlog.protocol.records.builder import NewRecord, build_batch, build_control_batch
from streamlog.protocol.records.compression import Compression
from streamlog.protocol.records.record import Record, iter_records
from streamlog.storage.config import LogConfig
from streamlog.storage.log import PartitionLog

SMALL = LogConfig(segment_bytes=2_000, index_interval_bytes=200)

KV = tuple[bytes | None, bytes | None]


def batch(
    records: Sequence[KV],
    timestamp: int = 1_000,
    *,
    producer_id: int = -1,
    epoch: int = -1,
    sequence: int = -1,
    transactional: bool = False,
    compression: Compression = Compression.NONE,
) -> bytearray:
    """One batch of (key, value) records; record i has timestamp `timestamp + i`."""
    new = [NewRecord(k, v, timestamp + i) for i, (k, v) in enumerate(records)]
    return bytearray(
        build_batch(
            new,
            producer_id=producer_id,
            producer_epoch=epoch,
            base_sequence=sequence,
            transactional=transactional,
            compression=compression,
        )
    )


def marker(producer_id: int, *, commit: bool, timestamp: int = 1_000, epoch: int = 0) -> bytearray:
    return bytearray(
        build_control_batch(
            commit=commit, producer_id=producer_id, producer_epoch=epoch, coordinator_epoch=0,
            timestamp=timestamp,
        )
    )


def append(log: PartitionLog, data: bytearray, now_ms: int = 0) -> int:
    """Append one batch; returns its base offset."""
    return log.append(data, now_ms=now_ms).first_offset


def write_updates(log: PartitionLog, count: int, keys: int, *, per_batch: int = 5, start: int = 0) -> None:
    """`count` updates round-robin over `keys` keys, value "v<i>", timestamp 1000 + i."""
    for first in range(start, start + count, per_batch):
        last = min(first + per_batch, start + count)
        recs: list[KV] = [(f"k{i % keys}".encode(), f"v{i}".encode()) for i in range(first, last)]
        append(log, batch(recs, 1_000 + first))


def batches(log: PartitionLog) -> list[tuple[BatchHeader, list[Record]]]:
    """Every batch from the log start, with its records."""
    out: list[tuple[BatchHeader, list[Record]]] = []
    offset = log.log_start_offset
    while offset < log.log_end_offset:
        result = log.read(offset, 1 << 20)
        if not result.data:
            break
        for pos, header in iter_batches(result.data):
            out.append((header, list(iter_records(result.data, pos))))
        offset = result.next_offset
    return out


def records(log: PartitionLog) -> list[Record]:
    return [r for _, recs in batches(log) for r in recs]


def as_tuples(recs: Sequence[Record]) -> list[tuple[int, bytes | None, bytes | None]]:
    return [(r.offset, r.key, r.value) for r in recs]


def latest(recs: Sequence[Record]) -> dict[bytes | None, bytes | None]:
    """key -> last value (None for a tombstone)."""
    out: dict[bytes | None, bytes | None] = {}
    for r in recs:
        out[r.key] = r.value
    return out


def live(recs: Sequence[Record]) -> dict[bytes | None, bytes | None]:
    """key -> last value, without deleted keys."""
    return {k: v for k, v in latest(recs).items() if v is not None}


def compacted(recs: Sequence[Record], upto: int) -> list[tuple[int, bytes | None, bytes | None]]:
    """What compaction of [0, upto) must leave: the last record of each key there, and everything
    from `upto` on (tombstones kept)."""
    last: dict[bytes | None, int] = {}
    for r in recs:
        if r.offset < upto:
            last[r.key] = r.offset
    return [(r.offset, r.key, r.value) for r in recs if r.offset >= upto or last[r.key] == r.offset]
