"""What the log cleaner keeps of each batch (the rules are in `cleaner`'s docstring).

Theory of operation. A `BatchFilter` sees the batches of one cleaning three times, in log order,
through the job in `cleaner`, which owns the loops, the files and the stop checks:

* `note_header` (pass A, headers only): for each producer, its transactional batches since its
  last marker and the last batch it wrote; at a marker, the batches of an aborted transaction are
  remembered (`aborted`). `undecided_from` then names the first transactional batch whose marker
  was not seen.
* `map_batch` (pass B, dirty part): the offset map, key -> offset of the key's latest record, as
  `~offset` (negative) when that record is a tombstone. `seal_map` sorts the latest offsets, so
  that `filter` can judge a dirty batch by bisecting its offset range: no latest record in it means
  nothing to keep, all of them latest (and no tombstone) means keep it as it is; only batches with
  some of each are decoded.
* `filter` (pass C, everything cleaned): the bytes to write for a batch (itself, a rewrite, an
  empty header, or nothing), keeping count of records and of the earliest pending delete horizon.

`read_batches` reads a closed segment's batches in chunks, through a descriptor of the job's own
(or the memory store), so it may run on any thread.
"""

from __future__ import annotations

import os
from bisect import bisect_left, bisect_right
from collections.abc import Iterator, Mapping

from streamlog.protocol.records.batch import iter_batches
from streamlog.protocol.records.header import (
    ATTR_CONTROL,
    ATTR_TRANSACTIONAL,
    HEADER_SIZE,
    HEADER_STRUCT,
    BatchHeader,
    check_header,
)
from streamlog.protocol.records.record import ControlType, decode_control_record, iter_records
from streamlog.storage import compaction
from streamlog.storage.cleaner_files import LogDir, segment_name
from streamlog.storage.errors import CorruptLogError
from streamlog.storage.segment import Segment

LONG_MAX = 2**63 - 1
_CHUNK = 1 << 20

Outcome = tuple[bytes | None, int, bool]  # (bytes to write or None, their maxTimestamp, unchanged?)


class Vanished(CorruptLogError):
    """A segment being read lost bytes: deleted (DeleteRecords, topic deletion) meanwhile."""


Batch = tuple[bytes, int, BatchHeader]  # buffer, position in it, header


def read_batches(directory: LogDir | None, seg: Segment, label: str) -> Iterator[Batch]:
    """(buffer, position, header) of every batch of a closed segment, read in chunks of 1 MiB
    (or one whole batch when it is larger), through `directory` for a file segment."""
    fd = directory.open_read(segment_name(seg.base_offset, ".log")) if directory is not None else None

    def read(position: int, size: int) -> bytes:
        data = os.pread(fd, size, position) if fd is not None else seg.store.read(position, size)
        if len(data) < size:
            raise Vanished(f"segment {seg.base_offset} of {label} is shorter than it was")
        return data

    try:
        pos, size = 0, seg.size
        while pos < size:
            buf = read(pos, min(_CHUNK, size - pos))
            used = 0
            for off, header in iter_batches(buf):
                yield buf, off, header
                used = off + header.size
            if used == 0:  # a batch larger than the chunk
                if len(buf) < HEADER_SIZE:
                    raise CorruptLogError(f"torn batch in segment {seg.base_offset} of {label}")
                header = BatchHeader(*HEADER_STRUCT.unpack_from(buf, 0))
                check_header(header, pos)
                yield read(pos, header.size), 0, header
                used = header.size
            pos += used
    finally:
        if fd is not None:
            os.close(fd)


def control_kind(buf: bytes, pos: int) -> ControlType | None:
    """COMMIT or ABORT for a transaction marker batch; None for other control batches."""
    for record in iter_records(buf, pos):
        found = decode_control_record(record)
        return None if found is None else ControlType(found[0])
    return None


class BatchFilter:
    def __init__(
        self,
        now_ms: int,
        delete_retention_ms: int,
        producer_expiration_ms: int,
        producer_last_offsets: Mapping[int, int] | None,
    ) -> None:
        self.now_ms = now_ms
        self.delete_retention_ms = delete_retention_ms
        self.producer_expiration_ms = producer_expiration_ms
        self.producer_last = producer_last_offsets
        self.tail_offset = -1  # last offset of the last batch before the active segment, if cleaned
        self.map: dict[bytes, int] = {}
        self.next_horizon = -1  # earliest delete horizon of a tombstone or marker kept, -1 if none
        self.records_read = 0
        self.records_kept = 0
        self._aborted: set[int] = set()  # base offsets of aborted transactional batches
        self._open: dict[int, list[int]] = {}  # producer id -> its transactional batches since a marker
        self._last: dict[int, tuple[int, int]] = {}  # producer id -> (last offset, max timestamp)
        self._txn_data: dict[int, bool] = {}  # producer id -> records of its transaction kept
        self._latest: list[int] = []
        self._tombstones: list[int] = []
        self._dirty_from = LONG_MAX

    # -- pass A ------------------------------------------------------------------------------

    def note_header(self, buf: bytes, pos: int, h: BatchHeader) -> None:
        pid = h.producer_id
        if pid >= 0:
            self._last[pid] = (h.last_offset, h.max_timestamp)
        if h.attributes & ATTR_CONTROL:
            kind = control_kind(buf, pos)
            if kind is not None and pid >= 0:
                batches = self._open.pop(pid, None)
                if batches and kind == ControlType.ABORT:
                    self._aborted.update(batches)
        elif h.attributes & ATTR_TRANSACTIONAL and h.records_count > 0:
            self._open.setdefault(pid, []).append(h.base_offset)

    def undecided_from(self, boundary: int) -> int | None:
        """First offset at or after `boundary` of a transactional batch without a marker."""
        return min((b for batches in self._open.values() for b in batches if b >= boundary), default=None)

    # -- pass B ------------------------------------------------------------------------------

    def map_batch(self, buf: bytes, pos: int, h: BatchHeader) -> None:
        if h.attributes & ATTR_CONTROL or h.records_count == 0 or h.base_offset in self._aborted:
            return
        data, p, end = compaction.records_of(buf, pos, h)
        compaction.map_keys(data, p, end, h.records_count, h.base_offset, self.map)

    def seal_map(self, dirty_from: int) -> None:
        """The map is complete; batches from offset `dirty_from` on were mapped."""
        values = self.map.values()
        self._latest = sorted(v if v >= 0 else ~v for v in values)
        self._tombstones = sorted(~v for v in values if v < 0)
        self._dirty_from = dirty_from

    # -- pass C ------------------------------------------------------------------------------

    def is_last(self, h: BatchHeader) -> bool:
        """Whether the batch must stay, at least as an empty header: the last batch of a producer,
        or the last batch before the active segment (so that no gap reaches the log end, where a
        consumer inside it would get nothing back and could not tell how far to skip)."""
        if h.last_offset == self.tail_offset:
            return True
        pid = h.producer_id
        if pid < 0:
            return False
        if self.producer_last is not None:
            return self.producer_last.get(pid) == h.last_offset
        last = self._last.get(pid)
        if last is None or last[0] != h.last_offset:
            return False
        return self.now_ms - last[1] < self.producer_expiration_ms  # else the producer has expired

    def filter(self, buf: bytes, pos: int, h: BatchHeader) -> Outcome:
        """What to write for one batch."""
        self.records_read += h.records_count
        verbatim = buf[pos : pos + h.size]
        if h.attributes & ATTR_CONTROL:
            return self._marker(buf, pos, h, verbatim)
        if h.records_count == 0:
            return (verbatim, h.max_timestamp, True) if self.is_last(h) else (None, 0, False)
        transactional = h.attributes & ATTR_TRANSACTIONAL
        if transactional and h.base_offset in self._aborted:
            return self._emptied(h)
        if h.base_offset >= self._dirty_from:  # every record of a dirty batch is in the map if kept
            first, last = h.base_offset, h.last_offset
            latest = bisect_right(self._latest, last) - bisect_left(self._latest, first)
            if latest == 0:
                return self._emptied(h)
            tombstones = bisect_right(self._tombstones, last) - bisect_left(self._tombstones, first)
            if latest == h.records_count and tombstones == 0:
                self.records_kept += latest
                if transactional:
                    self._txn_data[h.producer_id] = True
                return verbatim, h.max_timestamp, True
        return self._records(buf, pos, h, verbatim, bool(transactional))

    def _records(self, buf: bytes, pos: int, h: BatchHeader, verbatim: bytes, transactional: bool) -> Outcome:
        data, p, end = compaction.records_of(buf, pos, h)
        records = compaction.scan_records(data, p, end, h.records_count)
        offsets = self.map
        base = h.base_offset
        expired = h.has_delete_horizon and h.base_timestamp <= self.now_ms
        kept = []
        tombstones = False
        for record in records:
            key = record[6]
            if key is None:
                continue
            latest = offsets.get(key)
            if latest is not None and base + record[5] < (latest if latest >= 0 else ~latest):
                continue
            if record[7]:
                if expired:
                    continue
                tombstones = True
            kept.append(record)
        self.records_kept += len(kept)
        if not kept:
            return self._emptied(h)
        if transactional:
            self._txn_data[h.producer_id] = True  # its marker stays while this data does
        stamp = tombstones and not h.has_delete_horizon
        horizon = self.now_ms + self.delete_retention_ms if stamp else None
        if tombstones:
            self._note_horizon(h.base_timestamp if horizon is None else horizon)
        if len(kept) == len(records) and not stamp:
            return verbatim, h.max_timestamp, True
        out, max_ts = compaction.rebuild_batch(h, data, kept, horizon_ms=horizon)
        return out, max_ts, False

    def _marker(self, buf: bytes, pos: int, h: BatchHeader, verbatim: bytes) -> Outcome:
        kind = control_kind(buf, pos)
        if kind is None or self._txn_data.pop(h.producer_id, False):  # not a marker, or data remains
            self.records_kept += h.records_count
            return verbatim, h.max_timestamp, True
        now = self.now_ms
        if not h.has_delete_horizon:  # its transaction is gone: remove the marker later
            horizon = now + self.delete_retention_ms
            self._note_horizon(horizon)
            data, p, end = compaction.records_of(buf, pos, h)
            records = compaction.scan_records(data, p, end, h.records_count)
            out, max_ts = compaction.rebuild_batch(h, data, records, horizon_ms=horizon)
            self.records_kept += h.records_count
            return out, max_ts, False
        if h.base_timestamp > now or self.is_last(h):
            if h.base_timestamp > now:
                self._note_horizon(h.base_timestamp)
            self.records_kept += h.records_count
            return verbatim, h.max_timestamp, True
        return None, 0, False

    def _emptied(self, h: BatchHeader) -> Outcome:
        if self.is_last(h):
            return compaction.empty_batch(h), h.max_timestamp, False
        return None, 0, False

    def _note_horizon(self, horizon: int) -> None:
        """A kept tombstone or marker may go at `horizon` (callers pass only pending ones)."""
        if horizon >= self.now_ms and (self.next_horizon < 0 or horizon < self.next_horizon):
            self.next_horizon = horizon
