"""Timestamp lookups over a list of segments: ListOffsets by timestamp and MAX_TIMESTAMP.

Theory of operation. Each segment knows its largest batch max_timestamp (and the first batch that
reached it), so the first segment that can hold a record with timestamp >= T is the first whose
maximum is >= T. Inside it the time index gives the last entry with a timestamp below T: every
record up to that entry's offset is older than T, so the search starts at the batch holding that
offset (found through the offset index) and walks batch headers, decoding records
(`iter_records`) only in batches whose max_timestamp reaches T. Records below the log start offset
never count. Timestamps are those `iter_records` reports: under LogAppendTime every record of a
batch carries the batch's max_timestamp.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from streamlog.protocol.records.batch import BatchHeader, iter_batches
from streamlog.protocol.records.record import iter_records
from streamlog.storage.segment import Segment

_READ_BYTES = 256 * 1024

Found = tuple[int, int] | None  # (offset, timestamp)


def batches_from(seg: Segment, offset: int) -> Iterator[tuple[bytes | memoryview, int, BatchHeader]]:
    """(buffer, position, header) of `seg`'s batches, from the one holding `offset` on."""
    pos = seg.locate(offset)
    while pos is not None and pos < seg.size:
        data, _ = seg.read(pos, _READ_BYTES, None)
        for off, header in iter_batches(data):
            yield data, off, header
        pos += len(data)


def offset_for_timestamp(
    segments: Sequence[Segment], log_start: int, timestamp: int
) -> tuple[int, int] | None:
    """(offset, timestamp) of the first record at or after `log_start` with a timestamp >= `timestamp`."""
    for seg in segments:
        if seg.next_offset <= log_start or seg.max_timestamp < timestamp:
            continue
        rel = seg.time_index.lookup_before(timestamp)
        begin = max(log_start, seg.base_offset + (rel or 0))
        for data, off, header in batches_from(seg, begin):
            if header.max_timestamp < timestamp or header.last_offset < log_start:
                continue
            for record in iter_records(data, off):
                if record.timestamp >= timestamp and record.offset >= log_start:
                    return record.offset, record.timestamp
    return None


def max_timestamp(segments: Sequence[Segment], log_start: int) -> Found:
    """(offset, timestamp) of the first record at or after `log_start` with the largest timestamp."""
    best: tuple[int, int] | None = None  # (timestamp, offset)
    for seg in segments:
        if seg.next_offset <= log_start or seg.max_timestamp < 0:
            continue
        if best is not None and seg.max_timestamp <= best[0]:
            continue
        # The segment's maximum may belong to a record below the log start (first segment only);
        # then search the rest of the segment for its own maximum.
        exact = seg.offset_of_max_timestamp >= log_start
        found = _max_record(
            seg, max(seg.offset_of_max_timestamp, log_start), seg.max_timestamp if exact else None
        )
        if found is not None and (best is None or found[0] > best[0]):
            best = found
    return None if best is None else (best[1], best[0])


def _max_record(seg: Segment, begin: int, target: int | None) -> tuple[int, int] | None:
    """(timestamp, offset) of the first record from `begin` with the segment's largest timestamp
    there, or, given `target`, of the first record with exactly that timestamp."""
    best: tuple[int, int] | None = None
    for data, off, header in batches_from(seg, begin):
        if (
            (target is not None and header.max_timestamp != target)
            or header.last_offset < begin
            or (best is not None and header.max_timestamp <= best[0])
        ):
            continue
        for record in iter_records(data, off):
            if record.offset >= begin and (best is None or record.timestamp > best[0]):
                best = (record.timestamp, record.offset)
        if target is not None and best is not None and best[0] == target:
            return best
    return best
