"""Loading a partition directory: trust what was flushed, re-check everything after it.

Theory of operation. `PartitionLog.flush` records in `recovery-point.checkpoint` the offset below
which every batch is fsynced, with the segment and byte position where that offset starts; a clean
`close` marks the checkpoint clean after fsyncing the indexes too. On open:

* Clean shutdown (checkpoint clean and naming the last segment at exactly its current size): every
  segment is loaded "trusted": its index files are read and sanity-checked, and only the batch
  headers after the last offset-index entry are walked (no CRC) to find the segment's end.
  A segment whose indexes fail the checks (or are missing) is rebuilt from its log file.
* Otherwise segments wholly before the checkpoint's segment are loaded trusted, and the rest are
  rebuilt: their indexes are recomputed from the batch headers, walking the part below the
  checkpoint position without CRC checks and checking the CRC of every batch after it. The first
  batch that is torn, fails its CRC, is not a v2 batch, or goes back in offsets ends the log: the
  segment is truncated there and every later segment is deleted. Without a checkpoint (first open,
  or an unreadable file) every segment is rebuilt with CRC checks.

Before any of this, `list_segment_files` completes a segment swap that the log cleaner had
committed, or deletes the files of one it had not (`cleaner_files.recover_swaps`).

Afterwards the caller fsyncs whatever was rebuilt and writes a new, not-clean checkpoint, so that
a crash from then on is never mistaken for a clean shutdown. What was done is returned in a
`RecoveryReport` and logged.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass

from streamlog.protocol.records.batch import (
    HEADER_SIZE,
    BatchHeader,
    CorruptRecordError,
    iter_batches,
    valid_prefix_length,
)
from streamlog.protocol.records.header import HEADER_STRUCT, check_header
from streamlog.storage.checkpoint import RecoveryPoint
from streamlog.storage.cleaner_files import recover_swaps
from streamlog.storage.config import INT32_MAX, LogConfig
from streamlog.storage.segment import Segment

log = logging.getLogger("streamlog.storage")

_SCAN_CHUNK = 4 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class RecoveryReport:
    """What opening a partition log did."""

    clean_shutdown: bool  # loaded without re-checking anything
    recovery_point: int | None  # offset below which data was trusted; None: nothing trusted
    segments_loaded: int  # segments kept
    segments_rebuilt: tuple[int, ...]  # base offsets of segments whose indexes were rebuilt
    truncated_bytes: int  # bytes cut from the tail (torn or corrupt batches and what followed)
    truncated_at_offset: int | None  # log end offset after the cut, if anything was cut
    deleted_segments: tuple[int, ...]  # base offsets of segment files removed

    def describe(self) -> str:
        """What recovery did, for an operator (the log line after an unclean shutdown)."""
        checked = len(self.segments_rebuilt)
        where = ("the start (no recovery point)" if self.recovery_point is None
                 else f"the recovery point, offset {self.recovery_point}")
        text = (f"recovered after an unclean shutdown: checked {checked} of {self.segments_loaded} "
                f"segment{'' if self.segments_loaded == 1 else 's'} from {where}; ")
        if not self.truncated_bytes and not self.deleted_segments:
            return text + "nothing was lost"
        lost = []
        if self.truncated_bytes:
            lost.append(f"cut {self.truncated_bytes} bytes of torn or corrupt data (the log now ends at "
                        f"offset {self.truncated_at_offset})")
        if self.deleted_segments:
            count = len(self.deleted_segments)
            lost.append(f"removed {count} segment{'' if count == 1 else 's'} after the end of the valid data")
        return text + "; ".join(lost)


EMPTY_REPORT = RecoveryReport(True, None, 0, (), 0, None, ())


def _header_at(buf: bytes, off: int) -> BatchHeader | None:
    """The header at `off` if it looks like a v2 batch header, whatever follows it."""
    if len(buf) - off < HEADER_SIZE:
        return None
    header = BatchHeader(*HEADER_STRUCT.unpack_from(buf, off))
    try:
        check_header(header, off)
    except CorruptRecordError:
        return None
    return header


def scan(
    segment: Segment,
    start: int,
    end: int,
    *,
    check_crc: bool,
    expected_offset: int,
    on_batch: Callable[[int, BatchHeader], None],
) -> int:
    """Walk whole batches of `segment` in [start, end), calling `on_batch(position, header)`.

    Returns where the valid run stops: `end` if every batch was whole, well-formed (and CRC-valid
    with `check_crc`), began at or after the previous batch's next offset and fits the segment's
    32-bit relative offsets; otherwise the position of the first batch that was not.
    """
    pos, want = start, _SCAN_CHUNK
    while end - pos >= HEADER_SIZE:
        buf = segment.store.read(pos, min(want, end - pos))
        good = valid_prefix_length(buf, 0, check_crc=check_crc)
        for off, header in iter_batches(buf, 0, good):
            if header.base_offset < expected_offset or header.last_offset - segment.base_offset > INT32_MAX:
                return pos + off
            on_batch(pos + off, header)
            expected_offset = header.next_offset
        if pos + len(buf) >= end or len(buf) < min(want, end - pos):
            return pos + good  # the chunk reached the end: whatever follows `good` is damaged
        if good == 0:  # the first batch is larger than the chunk, or damaged
            big = _header_at(buf, 0)
            if big is None or pos + big.size > end or big.size <= len(buf):
                return pos
            want = big.size
            continue
        pos += good
        want = _SCAN_CHUNK
    return pos


def _indexer(segment: Segment, config: LogConfig) -> Callable[[int, BatchHeader], None]:
    interval = config.index_interval_bytes
    max_offsets, max_times = config.max_offset_index_entries, config.max_time_index_entries

    def on_batch(position: int, header: BatchHeader) -> None:
        segment.note_batch(
            position,
            header.base_offset,
            header.last_offset,
            header.max_timestamp,
            header.size,
            interval,
            max_offsets,
            max_times,
        )

    return on_batch


def rebuild(segment: Segment, config: LogConfig, crc_from: int) -> int:
    """Recompute `segment`'s state and indexes from its batches, checking CRCs from byte
    `crc_from` on; truncate the store after the last valid batch. Returns the bytes cut.
    """
    physical = segment.store.size()
    segment.reset_state()
    on_batch = _indexer(segment, config)
    crc_from = min(crc_from, physical)
    end = scan(segment, 0, crc_from, check_crc=False, expected_offset=segment.base_offset, on_batch=on_batch)
    if end == crc_from:
        end = scan(
            segment, end, physical, check_crc=True, expected_offset=segment.next_offset, on_batch=on_batch
        )
    if end < physical:
        segment.store.truncate(end)
    segment.write_index_entries()
    return physical - end


def load_trusted(segment: Segment, config: LogConfig) -> bool:
    """Load a segment believed intact from its index files plus a walk of its last few batches.

    Returns False (leaving the segment in an undefined state, to be rebuilt) if an index file is
    missing or inconsistent, or the walk does not end exactly at the end of the file.
    """
    physical = segment.store.size()
    segment.reset_state(keep_index_files=True)
    if not segment.offset_index.load(physical) or not segment.time_index.load(INT32_MAX):
        return False
    start = segment.offset_index.last_position()
    expected = segment.base_offset + segment.offset_index.last_relative_offset()
    last_time = segment.time_index.last()
    if last_time is not None:
        segment.max_timestamp = last_time[0]
        segment.offset_of_max_timestamp = segment.base_offset + last_time[1]
    segment.size = segment.last_indexed_pos = start
    first: list[int] = []
    on_batch = _indexer(segment, config)

    def check_first(position: int, header: BatchHeader) -> None:
        if not first:
            first.append(header.base_offset)
        on_batch(position, header)

    end = scan(segment, start, physical, check_crc=False, expected_offset=expected, on_batch=check_first)
    if end != physical or (start > 0 and first != [expected]):
        return False
    segment.write_index_entries()
    return True


def load_segments(
    label: str, segments: list[Segment], config: LogConfig, checkpoint: RecoveryPoint | None
) -> tuple[list[Segment], RecoveryReport]:
    """Load or rebuild `segments` (sorted by base offset); delete the ones past a corrupt point."""
    last = segments[-1] if segments else None
    clean = (
        checkpoint is not None
        and checkpoint.clean
        and last is not None
        and last.base_offset == checkpoint.segment_base
        and last.store.size() == checkpoint.position
    )
    kept: list[Segment] = []
    rebuilt: list[int] = []
    deleted: list[int] = []
    truncated = 0
    for i, seg in enumerate(segments):
        trusted = clean or (
            checkpoint is not None and seg is not last and seg.base_offset < checkpoint.segment_base
        )
        if kept and seg.base_offset < kept[-1].next_offset:
            log.warning(
                "%s: segment %d overlaps the one before it; deleting it and later ones",
                label,
                seg.base_offset,
            )
            deleted.extend(s.base_offset for s in segments[i:])
            break
        if not (trusted and load_trusted(seg, config)):
            crc_from = 0
            if checkpoint is not None and seg.base_offset == checkpoint.segment_base:
                crc_from = checkpoint.position
            elif trusted:
                log.warning(
                    "%s: indexes of segment %d are missing or damaged; rebuilding them",
                    label,
                    seg.base_offset,
                )
            rebuilt.append(seg.base_offset)
            cut = rebuild(seg, config, crc_from)
            if cut:
                truncated += cut
                kept.append(seg)
                log.warning(
                    "%s: truncated %d bytes of torn or corrupt data from segment %d; log now ends at "
                    "offset %d",
                    label,
                    cut,
                    seg.base_offset,
                    seg.next_offset,
                )
                deleted.extend(s.base_offset for s in segments[i + 1 :])
                break
        kept.append(seg)
    for seg in segments:
        if seg.base_offset in deleted:
            seg.delete()
    if deleted:
        log.warning("%s: deleted segments %s that followed the end of the valid log", label, deleted)
    report = RecoveryReport(
        clean_shutdown=clean,
        recovery_point=checkpoint.offset if checkpoint is not None else None,
        segments_loaded=len(kept),
        segments_rebuilt=tuple(rebuilt),
        truncated_bytes=truncated,
        truncated_at_offset=kept[-1].next_offset if truncated and kept else None,
        deleted_segments=tuple(deleted),
    )
    return kept, report


def list_segment_files(directory: str) -> list[int]:
    """Base offsets of the `.log` files in `directory`; drops temporary files and orphan indexes.

    First completes (or rolls back) a segment swap the log cleaner was doing (`cleaner_files`).
    """
    recover_swaps(directory)
    names = os.listdir(directory)
    bases = sorted(int(n[:-4]) for n in names if n.endswith(".log") and n[:-4].isdigit())
    known = {f"{b:020d}" for b in bases}
    for name in names:
        stem, _, suffix = name.partition(".")
        if name.endswith(".tmp") or (suffix in ("index", "timeindex") and stem not in known):
            os.unlink(os.path.join(directory, name))
    return bases
