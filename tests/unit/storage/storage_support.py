"""Helpers shared by the storage tests: building batches and reading them back."""

from __future__ import annotations

from collections.abc import Callable

from streamlog.protocol.records.batch import BatchHeader, iter_batches
from streamlog.protocol.records.builder import NewRecord, build_batch
from streamlog.protocol.records.header import TimestampType
from streamlog.storage.log import PartitionLog

# The `open_log` fixture: open_log(config=None, *, now_ms=0, leader_epoch=0) -> a fresh log.
OpenLog = Callable[..., PartitionLog]


def make_batch(
    count: int = 1,
    timestamp: int = 1_000,
    *,
    value_size: int = 10,
    step: int = 1,
    timestamps: list[int] | None = None,
    log_append_time: bool = False,
) -> bytearray:
    """A v2 batch of `count` records with timestamps `timestamp, timestamp+step, ...` (or `timestamps`)."""
    stamps = timestamps if timestamps is not None else [timestamp + i * step for i in range(count)]
    records = [
        NewRecord(f"k{i}".encode(), bytes([65 + i % 26]) * value_size, ts) for i, ts in enumerate(stamps)
    ]
    kind = TimestampType.LOG_APPEND_TIME if log_append_time else TimestampType.CREATE_TIME
    return bytearray(build_batch(records, timestamp_type=kind))


def headers(data: bytes | bytearray | memoryview) -> list[BatchHeader]:
    """The headers of the whole batches in `data`; asserts there is nothing else."""
    found = list(iter_batches(data))
    end = found[-1][0] + found[-1][1].size if found else 0
    assert end == len(data), "data holds a partial batch"
    return [h for _, h in found]


def offsets(data: bytes | bytearray | memoryview) -> list[tuple[int, int]]:
    """(base offset, last offset) of each batch in `data`."""
    return [(h.base_offset, h.last_offset) for h in headers(data)]
