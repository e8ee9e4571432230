"""The log of one partition: a sequence of segments, appended to at the end, read anywhere.

Theory of operation. Offsets [log_start_offset, log_end_offset) are readable. The log is a list
of `Segment`s sorted by base offset; only the last ("active") one is written. `append` takes one
or more v2 batches exactly as a producer sent them, writes each batch's base offset and the
partition leader epoch into the header in place (outside the CRC, so nothing is re-encoded),
rolls to a new segment first when the active one is full (segment.bytes), old (segment.ms since
its first append) or out of index room, and then stores all the bytes with one write.

`read` finds the segment by bisecting base offsets, the batch through the sparse offset index plus
a short header walk, and returns whole batches: always the one holding the requested offset (even
if it starts earlier, or alone exceeds max_bytes), then more while they fit. Like Kafka, one read
never crosses into the next segment; the caller asks again from `next_offset`.

Durability. Appends go to the page cache; `flush` fsyncs them. The broker runs `flush` on a
worker thread while its event-loop thread keeps appending, so the two share no lock: every
mutation ends with `_publish`, which stores one immutable `_FlushSnapshot` (log end offset, where
it lies, and the segments holding unsynced bytes or unsynced indexes). `flush` reads that one
attribute (an atomic reference read), fsyncs what it names by path, and only then reports the
snapshot's end offset as flushed; bytes appended after the snapshot are never claimed. Running two
flushes of one log at once is safe but pointless, and `close`, `delete` and `truncate_all` must not
overlap a flush (the broker waits for the flusher first).

Write-behind (`set_write_behind`, for partitions whose appends are acknowledged only after a
flush): appends keep their bytes in the active segment's store instead of writing them, and do not
publish; `prepare_flush`, on the owner's thread just before a flush is handed to a worker, writes
everything kept with one system call and publishes. So the snapshot never names bytes that are
not in the file, and the appends made while an fsync runs cost no system call each.

Page cache (`set_cache_tail`): once a flush has made a segment's bytes durable, all but the newest
`tail` bytes of it may be dropped from the page cache, so that the kernel hands the same pages to
the next writes (taking fresh pages cost 10 times more per byte on this project's VM; see
docs/performance.md, fifth round). Readers further back than the tail read from the disk.

Descriptors and the cost of opening (`descriptors`): segment files are opened on demand through the
data directory's descriptor cache, and `open` releases what recovery opened, so an idle partition
holds no descriptor. A log with nothing in it (a new partition, or one never written) is opened and
closed without any fsync or recovery point: there is nothing to make durable, and its first flush
also fsyncs the directory (so that flush runs on a thread, not as one asynchronous fdatasync). A
non-empty log pays one recovery-point fdatasync at open and one at close, plus a directory fsync
only when its files changed.

Failures (fail-stop, see `logdir`): an `OSError` from any write, read, fsync or file operation of
a durable log is reported to its `LogDir`, which goes offline for good; the error raised is
`LogDirOffline`, and every later call on any log of that directory raises it too, before touching a
file. Nothing is retried, so a failed fdatasync can never be followed by one that reports success
for pages the kernel dropped; the flushed offset stays where the last successful flush put it.

Retention takes whole closed segments off the front (`detach_oldest_segments`; their files can be
deleted on another thread), and the log cleaner (`cleaner`) swaps runs of closed segments for
compacted copies (`replace_segments`); both run their decisions and swaps on the owner's thread.

This module holds the logic shared by the durable `PartitionLog` and the in-memory
`MemoryPartitionLog` (`memory.py`), which differ only in their segment stores and in
checkpoints/fsync. Directory layout of a durable log (formats in `segment`, `index`, `checkpoint`):

    <data_dir>/<topic>-<partition>/
        00000000000000000000.log         record batches
        00000000000000000000.index       offset index
        00000000000000000000.timeindex   time index
        recovery-point.checkpoint        how much is known to be on disk
        log-start-offset.checkpoint      written by delete_records_before
        cleaner-offset.checkpoint        how far the log cleaner got (format in `cleaner_files`)
        cleaner-swap.manifest, *.cleaned only while the log cleaner swaps segments in
"""

from __future__ import annotations

import logging
import os
import shutil
import uuid
from bisect import bisect_right
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from streamlog.protocol.records.batch import assign_offsets
from streamlog.protocol.records.header import batch_spans
from streamlog.storage import timestamps
from streamlog.storage.checkpoint import (
    RecoveryCheckpoint,
    RecoveryPoint,
    fsync_dir,
    read_log_start,
    write_log_start,
)
from streamlog.storage.config import INT32_MAX, LogConfig
from streamlog.storage.descriptors import DescriptorCache
from streamlog.storage.errors import LogClosedError, LogDirOffline, OffsetOutOfRange
from streamlog.storage.index import OffsetIndex, TimeIndex
from streamlog.storage.logdir import LogDir
from streamlog.storage.recovery import RecoveryReport, list_segment_files, load_segments
from streamlog.storage.segment import FileStore, Segment, SegmentInfo, log_path

log = logging.getLogger("streamlog.storage")

_MAX_TIMESTAMP_AT = 35  # maxTimestamp field of a batch header
_NAME_MAX = 255  # bytes in a file name (ext4, xfs)
_CHECKPOINT_BYTES = 4 << 20  # a flush rewrites the recovery point once the log moved this far


def remove_tree_now(path: str) -> None:
    """Remove a directory and everything in it, here and now (what a missing file means: done)."""
    shutil.rmtree(path, ignore_errors=True)


@dataclass(frozen=True, slots=True)
class AppendInfo:
    first_offset: int
    last_offset: int
    max_timestamp: int  # largest batch max_timestamp in the append (-1 if none)
    offset_of_max_timestamp: int  # base offset of the first batch carrying it
    size: int  # bytes appended


@dataclass(frozen=True, slots=True)
class ReadResult:
    data: bytes | memoryview  # whole batches; empty at the end of the log or of the allowed range
    first_offset: int  # base offset of the first batch returned (the requested offset if none)
    next_offset: int  # offset after the last batch returned: where the next read continues
    log_start_offset: int
    log_end_offset: int
    # A large read (``READ_AHEAD_MIN`` or more) from a file: the next range of that file, as much as
    # was asked for, which the reader will likely ask for next (catching-up consumers).  The broker
    # may ask the kernel to read it ahead (``broker/read_ahead.py``); storage itself does not.
    read_ahead: tuple[str, int, int] | None = None


READ_AHEAD_MIN = 1 << 20


@dataclass(frozen=True, slots=True)
class _FlushSnapshot:
    end_offset: int
    segment_base: int  # where end_offset lies: the active segment ...
    position: int  # ... and its size
    dirty: tuple[tuple[Segment, int, bool], ...]  # (segment, bytes to make durable, sealed)
    dir_generation: int  # bumped when a segment file is created


@dataclass(frozen=True, slots=True)
class FlushPlan:
    """`PartitionLog.begin_flush`: fdatasync `fd`, then hand the plan to `finish_flush` (or, if the
    fdatasync failed, to `flush_failed`; if it never ran, to `cancel_flush`). `fd` stays open until
    then: it is lent out of the descriptor cache (`descriptors`)."""

    snapshot: _FlushSnapshot
    segment: Segment
    size: int  # the segment's bytes that the sync makes durable
    fd: int
    mark: int  # the file's write count when the descriptor was lent (what the sync covers)


class PartitionLog:
    """A durable partition log in one directory; create it with `PartitionLog.open`."""

    def __init__(
        self,
        name: str,
        config: LogConfig,
        segments: list[Segment],
        *,
        log_start_offset: int,
        leader_epoch: int,
        report: RecoveryReport,
        checkpoint: RecoveryCheckpoint | None,
        logdir: LogDir | None = None,
        files: DescriptorCache | None = None,
    ) -> None:
        self.name = name
        self._dir = logdir
        # Where the segments' descriptors live: the data directory's cache, else one of its own.
        if files is None:
            files = logdir.files if logdir is not None else DescriptorCache()
        self._files = files
        self._checkpoint = checkpoint
        self._config = config
        self._segments = segments
        self._log_start = max(log_start_offset, segments[0].base_offset)
        self._leader_epoch = leader_epoch
        self._size = sum(s.size for s in segments)
        self._dirty: list[Segment] = []
        self._dir_generation = 0
        self._synced_dir_generation = 0
        self._dir_sync_owed = False  # a new recovery-point file awaits a directory fsync
        self._flushed = self.log_end_offset
        self._checkpointed = (-1, 0)  # (segment base, position) of the last recovery point written
        self._closed = False
        self._write_behind = False
        self._cache_tail = -1  # set_cache_tail: bytes of a synced segment kept in the page cache
        self._opened_as = (-1, -1, -1, -1)  # _fingerprint() once opened: close knows if anything changed
        self.recovery_report = report
        self._snapshot = _FlushSnapshot(0, 0, 0, (), 0)
        self._publish()

    # -- construction ------------------------------------------------------------------------

    @classmethod
    def open(
        cls,
        path: str | os.PathLike[str],
        config: LogConfig,
        *,
        now_ms: int,
        leader_epoch: int = 0,
        logdir: LogDir | None = None,
    ) -> PartitionLog:
        """Open (creating if needed) the log in directory `path`, recovering it after a crash.
        `logdir`: the health of the data directory it lives in (failures are reported there)."""
        directory = os.fspath(path)
        if logdir is not None:
            logdir.check()
            try:
                return cls._open(directory, config, now_ms=now_ms, leader_epoch=leader_epoch, logdir=logdir)
            except OSError as exc:
                raise logdir.fail(f"opening the log {directory}", exc) from exc
        return cls._open(directory, config, now_ms=now_ms, leader_epoch=leader_epoch, logdir=None)

    @classmethod
    def _open(
        cls, directory: str, config: LogConfig, *, now_ms: int, leader_epoch: int, logdir: LogDir | None
    ) -> PartitionLog:
        if not os.path.isdir(directory):
            os.makedirs(directory)
            fsync_dir(os.path.dirname(os.path.abspath(directory)))
        files = logdir.files if logdir is not None else DescriptorCache()
        checkpoint = RecoveryCheckpoint(directory)
        point = checkpoint.read()
        segments = [_file_segment(directory, base, files) for base in list_segment_files(directory)]
        kept, report = load_segments(directory, segments, config, point)
        log_start = read_log_start(directory) or 0
        if not kept:
            kept = [_file_segment(directory, log_start, files, create=True)]
        for seg in kept[:-1]:
            seg.seal()
        for seg in kept:  # what was loaded trusted is on disk; what was rebuilt is synced below
            trusted = seg.base_offset not in report.segments_rebuilt
            seg.flushed_size = seg.size if trusted else 0
            seg.indexes_synced = trusted
        kept[-1].first_append_ms = _first_append_ms(kept[-1], now_ms)
        self = cls(
            directory,
            config,
            kept,
            log_start_offset=log_start,
            leader_epoch=leader_epoch,
            report=report,
            checkpoint=checkpoint,
            logdir=logdir,
            files=files,
        )
        self._drop_below_log_start()
        cut = bool(report.truncated_bytes or report.deleted_segments)
        if not report.clean_shutdown and (self._size or cut):  # (an empty log has nothing to tell)
            log.info("%s: %s", directory, report.describe())
        if self._size == 0 and not cut:
            # Nothing in it (a new partition, or one never written): nothing to make durable and no
            # recovery point to claim. The files just made go durable with the first flush that
            # has something to make durable (the directory fsync it then needs).
            self._dir_generation += 1
            self._publish()
        else:  # (what recovery cut or deleted must stay cut: made durable before anything else)
            if not report.clean_shutdown:
                self._dir_generation += 1  # recovery may have cut, deleted or created files
            self._sync_everything()
        self._opened_as = self._fingerprint()
        for seg in self._segments:  # recovery opened them; the next use reopens what it needs
            seg.release()
        return self

    def _fingerprint(self) -> tuple[int, int, int, int]:
        """What changes when the log does (appends, rolls, retention, compaction, truncation)."""
        return (self._log_start, self.log_end_offset, len(self._segments), self._dir_generation)

    def _new_segment(self, base_offset: int) -> Segment:
        seg = _file_segment(self.name, base_offset, self._files, create=True)
        if isinstance(seg.store, FileStore):
            seg.store.write_behind = self._write_behind
        return seg

    def _persist_log_start(self, offset: int) -> None:
        write_log_start(self.name, offset)

    # -- failures ----------------------------------------------------------------------------

    @property
    def logdir(self) -> LogDir | None:
        return self._dir

    @property
    def files(self) -> DescriptorCache:
        """The cache that holds this log's segment descriptors (shared with the data directory)."""
        return self._files

    @property
    def offline(self) -> bool:
        """Whether the log's directory has failed (every call then raises `LogDirOffline`)."""
        return self._dir is not None and self._dir.failure is not None

    def _failed(self, operation: str, exc: BaseException) -> BaseException:
        """Report a failed I/O operation to the log directory; the error to raise."""
        if self._dir is None or isinstance(exc, LogDirOffline):
            return exc
        return self._dir.fail(operation, exc)

    def _guard(self) -> None:
        if self._closed:
            raise LogClosedError(self.name)
        logdir = self._dir
        if logdir is not None and logdir.failure is not None:
            raise logdir.offline_error()

    def flush_failed(self, exc: BaseException, plan: FlushPlan | None = None, *,
                     syncfs: bool = False) -> BaseException:
        """An fdatasync of `begin_flush`'s descriptor (`plan`'s) failed (run by the caller), or the
        syncfs of a flush round that covered this log (`syncfs`): report it and take the descriptor
        back. Returns the error to hand on."""
        if plan is not None:
            plan.segment.store.return_descriptor(None)
        if syncfs:
            return self._failed(f"syncfs of the filesystem (a flush round with {self.name})", exc)
        return self._failed(f"fdatasync of a segment of {self.name}", exc)

    # -- properties --------------------------------------------------------------------------

    @property
    def config(self) -> LogConfig:
        return self._config

    def update_config(self, config: LogConfig) -> None:
        """Use `config` from the next append on."""
        self._config = config

    def set_write_behind(self, on: bool) -> None:
        """Keep appended bytes in memory until the next flush (`prepare_flush`) instead of writing
        each append at once: for partitions whose appends wait for a flush anyway, so that every
        append made while an fsync runs costs no system call. Readers see no difference; a process
        crash loses what was kept, which no acknowledgement covered."""
        if on == self._write_behind:
            return
        if not on:
            self._publish()  # writes out what is kept
        self._write_behind = on
        store = self._segments[-1].store
        if isinstance(store, FileStore):
            store.write_behind = on

    def set_cache_tail(self, tail_bytes: int) -> None:
        """Once a segment's bytes are durable, keep only its last ``tail_bytes`` in the page cache
        and let the kernel drop the rest (``FileStore.drop_cache``), so that new writes reuse those
        pages instead of taking fresh ones; -1 (the default) keeps everything. Readers of older
        data read it from the disk, and the kernel caches it again for them."""
        self._cache_tail = tail_bytes

    def _drop_cache(self, seg: Segment) -> None:
        tail = self._cache_tail
        if tail >= 0 and seg.flushed_size > tail:
            seg.store.drop_cache(seg.flushed_size - tail)

    def prepare_flush(self) -> None:
        """On the owner's thread, before `flush` runs (on any thread): write out the appended bytes
        kept in memory and publish them for `flush`. Raises OSError if the write fails (what was
        not written stays kept, for the next try)."""
        if self._write_behind and self.log_end_offset > self._snapshot.end_offset and not self._closed:
            logdir = self._dir
            if logdir is not None and logdir.failure is not None:
                raise logdir.offline_error()
            self._publish()

    @property
    def leader_epoch(self) -> int:
        return self._leader_epoch

    @property
    def log_start_offset(self) -> int:
        return self._log_start

    @property
    def log_end_offset(self) -> int:
        return self._segments[-1].next_offset

    @property
    def flushed_offset(self) -> int:
        return self._flushed

    @property
    def size_bytes(self) -> int:
        return self._size

    @property
    def segments(self) -> tuple[SegmentInfo, ...]:
        last = len(self._segments) - 1
        return tuple(seg.info(i == last) for i, seg in enumerate(self._segments))

    def flush_needed(self) -> bool:
        """Whether `flush` would have anything to do."""
        snap = self._snapshot
        return self.log_end_offset > self._flushed or any(
            seg.flushed_size < size or (sealed and not seg.indexes_synced) for seg, size, sealed in snap.dirty
        )

    # -- append ------------------------------------------------------------------------------

    def append(self, batches: bytearray | memoryview, *, now_ms: int) -> AppendInfo:
        """Assign offsets to the validated v2 batches in `batches` (in place) and store them."""
        self._guard()
        total = len(batches)
        if total == 0:
            raise ValueError("nothing to append")
        spans = batch_spans(batches)  # checks every header before anything is changed
        first = next_offset = self._segments[-1].next_offset
        max_ts, offset_of_max = -1, first
        epoch = self._leader_epoch
        for pos, _size, last_delta, batch_max_ts in spans:
            assign_offsets(batches, pos, next_offset, epoch)
            if batch_max_ts > max_ts:
                max_ts, offset_of_max = batch_max_ts, next_offset
            next_offset += last_delta + 1
        last = next_offset - 1
        try:
            seg = self._maybe_roll(total, last, now_ms)
            start = seg.size
            seg.write(batches)
        except OSError as exc:
            raise self._failed(f"append to {self.name}", exc) from exc
        seg.note_batches(start, first, spans, self._config)
        # Index entries reach their files in blocks (see `index`); recovery rebuilds the indexes of
        # every segment past the recovery point anyway.
        seg.indexes_synced = False
        if seg.first_append_ms is None:
            seg.first_append_ms = now_ms
        self._size += total
        if self._write_behind:  # published (and written out) by prepare_flush
            dirty = self._dirty
            if not dirty or dirty[-1] is not seg:
                dirty.append(seg)
        else:
            self._publish_append(seg, last + 1)
        return AppendInfo(first, last, max_ts, offset_of_max, total)

    def _publish_append(self, seg: Segment, end_offset: int) -> None:
        """`_publish` after an append to the active segment `seg`."""
        dirty = self._dirty
        if not dirty or dirty[-1] is not seg:
            dirty.append(seg)
        if len(dirty) == 1:  # the common case: only the active segment has unsynced bytes
            self._snapshot = _FlushSnapshot(
                end_offset, seg.base_offset, seg.size, ((seg, seg.size, seg.sealed),), self._dir_generation
            )
        else:
            self._publish()

    def _maybe_roll(self, size: int, last_offset: int, now_ms: int) -> Segment:
        seg = self._segments[-1]
        if seg.size == 0:
            return seg
        cfg = self._config
        first_append = seg.first_append_ms
        if (
            seg.size + size > cfg.segment_bytes
            or (first_append is not None and now_ms - first_append >= cfg.segment_ms)
            or last_offset - seg.base_offset > INT32_MAX
            or len(seg.offset_index) >= cfg.max_offset_index_entries
            or len(seg.time_index) >= cfg.max_time_index_entries
        ):
            self._roll()
        return self._segments[-1]

    def _roll(self) -> None:
        old = self._segments[-1]
        old.seal()
        self._segments.append(self._new_segment(old.next_offset))
        self._dir_generation += 1
        if old not in self._dirty:
            self._dirty.append(old)
        self._publish()

    # -- read --------------------------------------------------------------------------------

    def read(self, offset: int, max_bytes: int, *, max_offset: int | None = None) -> ReadResult:
        """Whole batches from the one holding `offset`: at least one, then more while they fit in
        `max_bytes`; none whose base offset is at or past `max_offset` (high watermark or LSO)."""
        self._guard()
        start, end = self._log_start, self.log_end_offset
        if offset < start or offset > end:
            raise OffsetOutOfRange(offset, start, end)
        if offset < end and (max_offset is None or offset < max_offset):
            try:
                for seg in self._segments[self._segment_index(offset) :]:
                    pos = seg.locate(offset)
                    if pos is not None:
                        data, next_offset = seg.read(pos, max_bytes, max_offset)
                        if data:
                            first = int.from_bytes(data[:8], "big", signed=True)
                            size = len(data)
                            ahead = seg.next_range(pos + size, max_bytes) if size >= READ_AHEAD_MIN else None
                            return ReadResult(data, first, next_offset, start, end, ahead)
                        break
            except OSError as exc:
                raise self._failed(f"read from {self.name}", exc) from exc
        return ReadResult(b"", offset, offset, start, end)

    def _segment_index(self, offset: int) -> int:
        return max(bisect_right(self._segments, offset, key=lambda s: s.base_offset) - 1, 0)

    # -- timestamps --------------------------------------------------------------------------

    def offset_for_timestamp(self, timestamp: int) -> tuple[int, int] | None:
        """(offset, timestamp) of the first record at or after the log start whose timestamp is
        >= `timestamp`, or None if there is none (ListOffsets by timestamp)."""
        self._guard()
        try:
            return timestamps.offset_for_timestamp(self._segments, self._log_start, timestamp)
        except OSError as exc:
            raise self._failed(f"read from {self.name}", exc) from exc

    def max_timestamp(self) -> tuple[int, int] | None:
        """(offset, timestamp) of the first record with the largest timestamp, or None (ListOffsets
        MAX_TIMESTAMP)."""
        self._guard()
        try:
            return timestamps.max_timestamp(self._segments, self._log_start)
        except OSError as exc:
            raise self._failed(f"read from {self.name}", exc) from exc

    # -- deletion ----------------------------------------------------------------------------

    def delete_records_before(self, offset: int) -> int:
        """Make `offset` the log start offset (DeleteRecords); returns the new log start offset."""
        self._guard()
        if offset > self.log_end_offset:
            raise OffsetOutOfRange(offset, self._log_start, self.log_end_offset)
        if offset <= self._log_start:
            return self._log_start
        try:
            self._persist_log_start(offset)
            self._log_start = offset
            active = self._segments[-1]
            if active.size > 0 and active.next_offset <= offset:
                self._roll()
            self._drop_below_log_start()
        except OSError as exc:
            raise self._failed(f"deleting records of {self.name}", exc) from exc
        return offset

    def _drop_below_log_start(self) -> None:
        count = 0
        # A segment is wholly below the log start when the next one starts at or below it (its own
        # next_offset can be lower: compaction leaves gaps, and may leave it empty).
        while count < len(self._segments) - 1 and self._segments[count + 1].base_offset <= self._log_start:
            count += 1
        if count:
            self.delete_oldest_segments(count)
        if self.log_end_offset < self._log_start:  # the data below the log start is gone
            self.truncate_all(self._log_start)

    def retention_candidates(self, now_ms: int, retention_ms: int, retention_bytes: int) -> list[SegmentInfo]:
        """The oldest closed segments that retention may delete (oldest first; -1 = no limit):
        those wholly below the log start, those whose newest record is older than
        `retention_ms`, and those whose removal keeps the log at or above `retention_bytes`."""
        excess = self._size - retention_bytes
        out: list[SegmentInfo] = []
        for seg, following in zip(self._segments[:-1], self._segments[1:], strict=False):
            stamp = seg.max_timestamp if seg.max_timestamp >= 0 else seg.store.mtime_ms()
            if not (
                following.base_offset <= self._log_start
                or (retention_bytes >= 0 and excess - seg.size >= 0)
                or (retention_ms >= 0 and stamp is not None and now_ms - stamp > retention_ms)
            ):
                break
            out.append(seg.info(False))
            excess -= seg.size
        return out

    def delete_oldest_segments(self, count: int) -> int:
        """Delete up to `count` oldest segments, never the active one; returns how many."""
        doomed = self.detach_oldest_segments(count)
        try:
            for seg in doomed:
                seg.delete()
        except OSError as exc:
            raise self._failed(f"deleting segments of {self.name}", exc) from exc
        return len(doomed)

    def detach_oldest_segments(self, count: int) -> list[Segment]:
        """Take up to `count` oldest segments (never the active one) out of the log and advance the
        log start offset past them; the caller deletes their files (`Segment.delete`), which may
        happen on another thread since nothing in the log refers to them any more."""
        self._guard()
        count = max(0, min(count, len(self._segments) - 1))
        doomed, self._segments = self._segments[:count], self._segments[count:]
        for seg in doomed:
            self._size -= seg.size
            # Closed here, on the owner's thread, which alone changes the descriptor cache; the
            # files are about to be deleted, so nothing they hold needs a sync any more.
            seg.close()
        self._dirty = [s for s in self._dirty if not s.deleted and all(s is not d for d in doomed)]
        self._log_start = max(self._log_start, self._segments[0].base_offset)
        self._publish()
        return doomed

    # -- compaction (see `cleaner`) ----------------------------------------------------------

    def closed_segments(self) -> tuple[Segment, ...]:
        """The segments before the active one, oldest first. They never change, so the log cleaner
        may read them on another thread; it hands cleaned copies back to `replace_segments`."""
        return tuple(self._segments[:-1])

    def replace_segments(
        self, replacements: Sequence[tuple[Sequence[Segment], Segment]], install: Callable[[], None]
    ) -> bool:
        """Swap each run of consecutive closed segments for one cleaned segment with the same base
        offset, all or nothing. Returns False (changing nothing) if the log is closed or any run is
        no longer in the log as it was (deleted or truncated meanwhile). Otherwise `install()` is
        called first, to put the files in place, and then the segment list is updated."""
        if self._closed or not replacements:
            return False
        spans: list[tuple[int, int, Segment]] = []
        for old, new in replacements:
            at = next((i for i, s in enumerate(self._segments) if s is old[0]), -1) if old else -1
            end = at + len(old)
            if (
                at < 0
                or end >= len(self._segments)  # never the active segment
                or any(a is not b for a, b in zip(self._segments[at:end], old, strict=True))
                or new.base_offset != old[0].base_offset
            ):
                return False
            spans.append((at, end, new))
        if self.offline:
            return False
        try:
            install()
        except OSError as exc:
            raise self._failed(f"swapping cleaned segments into {self.name}", exc) from exc
        for at, end, new in sorted(spans, key=lambda span: span[0], reverse=True):
            self._size += new.size - sum(s.size for s in self._segments[at:end])
            self._segments[at:end] = [new]
            if new.flushed_size < new.size or not new.indexes_synced:
                self._dirty.append(new)
        live = {id(s) for s in self._segments}
        self._dirty = [s for s in self._dirty if id(s) in live]
        self._dir_generation += 1
        self._publish()
        return True

    def truncate_all(self, start_offset: int = 0) -> None:
        """Delete every record and restart the (empty) log at `start_offset`."""
        self._guard()
        try:
            for seg in self._segments:
                seg.delete()
            self._segments = [self._new_segment(start_offset)]
            self._dir_generation += 1
            self._dirty = []
            self._size = 0
            self._persist_log_start(start_offset)
            self._log_start = start_offset
            self._flushed = start_offset
            self._publish()
            self._sync_everything()
        except OSError as exc:
            raise self._failed(f"truncating {self.name}", exc) from exc

    # -- durability --------------------------------------------------------------------------

    def _publish(self) -> None:
        if self._write_behind:
            try:
                for seg in self._dirty:
                    if not seg.deleted:
                        seg.write_out()
            except OSError as exc:
                raise self._failed(f"write to {self.name}", exc) from exc
        self._dirty = [
            s
            for s in self._dirty
            if not s.deleted and (s.flushed_size < s.size or (s.sealed and not s.indexes_synced))
        ]
        active = self._segments[-1]
        self._snapshot = _FlushSnapshot(
            self.log_end_offset,
            active.base_offset,
            active.size,
            tuple([(s, s.size, s.sealed) for s in self._dirty]),
            self._dir_generation,
        )

    def flush(self) -> int:
        """fsync everything appended before the call; returns the new flushed offset.

        Safe to run on another thread while this log is appended to and read.
        """
        snap = self._snapshot
        if self._closed:
            return self._flushed
        self._guard()
        operation = "fdatasync"
        try:
            for seg, size, sealed in snap.dirty:
                if seg.flushed_size < size:
                    operation = f"fdatasync of segment {seg.base_offset}"
                    seg.sync_data()
                    seg.flushed_size = size
                    self._drop_cache(seg)
                if sealed and not seg.indexes_synced:
                    operation = f"fdatasync of the indexes of segment {seg.base_offset}"
                    seg.sync_indexes()
                    seg.indexes_synced = True
            if snap.dir_generation > self._synced_dir_generation:
                operation = "fsync of the directory"
                fsync_dir(self.name)
                self._synced_dir_generation = snap.dir_generation
            operation = "writing the recovery point"
            flushed = self._flushed_through(snap)
            if self._dir_sync_owed:
                operation = "fsync of the directory"
                fsync_dir(self.name)
                self._dir_sync_owed = False
            return flushed
        except OSError as exc:
            raise self._failed(f"{operation} of {self.name}", exc) from exc

    def _flushed_through(self, snap: _FlushSnapshot) -> int:
        """Everything `snap` names is synced: record it (and, now and then, the recovery point; the
        first flush of a log writes one even if empty, so that the file exists from then on)."""
        first = self._checkpointed[0] < 0
        if (snap.end_offset > self._flushed or first) and self._checkpoint is not None:
            # The checkpoint only bounds how much recovery re-checks, so within one segment it is
            # rewritten every _CHECKPOINT_BYTES, not on every flush (a write each time otherwise).
            base, position = self._checkpointed
            if first or snap.segment_base != base or snap.position - position >= _CHECKPOINT_BYTES:
                # The first one is fdatasync'ed (once in a log's life), the later ones are not: a
                # power cut then leaves an older recovery point, never none.
                if self._checkpoint.write(
                    RecoveryPoint(snap.end_offset, snap.segment_base, snap.position, False), sync=first
                ):
                    # A new checkpoint file (the first flush of a new log): its name is durable
                    # once the directory is fsynced again, by this flush or the next one.
                    self._dir_sync_owed = True
                self._checkpointed = (snap.segment_base, snap.position)
            self._flushed = max(self._flushed, snap.end_offset)
        return self._flushed

    def begin_flush(self) -> FlushPlan | None:
        """A flush split in two, for a caller that runs the fdatasync itself (asynchronously): on the
        owner's thread, after `prepare_flush`, the one descriptor whose fdatasync makes everything
        published durable; the caller then calls `finish_flush`. None when the flush needs more than
        one data sync (index files, the directory, several segments, or nothing): use `flush`."""
        if self._closed or self.offline:
            return None
        snap = self._snapshot
        if (snap.dir_generation > self._synced_dir_generation or snap.end_offset <= self._flushed
                or self._dir_sync_owed):
            return None
        todo = [
            (seg, size)
            for seg, size, sealed in snap.dirty
            if seg.flushed_size < size or (sealed and not seg.indexes_synced)
        ]
        if len(todo) != 1 or todo[0][0].sealed:
            return None
        seg, size = todo[0]
        try:
            lent = seg.store.lend_descriptor()
        except OSError as exc:
            raise self._failed(f"opening segment {seg.base_offset} of {self.name}", exc) from exc
        return None if lent is None else FlushPlan(snap, seg, size, lent[0], lent[1])

    def cancel_flush(self, plan: FlushPlan) -> None:
        """`plan.fd` will not be fdatasync'ed after all (the caller flushes another way): give it back."""
        plan.segment.store.return_descriptor(None)

    def finish_flush(self, plan: FlushPlan) -> int:
        """`plan.fd` was fdatasync'ed: record what is durable; returns the new flushed offset."""
        plan.segment.store.return_descriptor(plan.mark)
        if self._closed:
            return self._flushed
        self._guard()
        if plan.segment.flushed_size < plan.size:
            plan.segment.flushed_size = plan.size
            self._drop_cache(plan.segment)
        try:
            return self._flushed_through(plan.snapshot)
        except OSError as exc:
            raise self._failed(f"writing the recovery point of {self.name}", exc) from exc

    def _sync_everything(self, *, clean: bool = False) -> None:
        """fsync every segment and index and the directory, then write the checkpoint durably (and
        fsync the directory again if that created the checkpoint file, so that its name survives a
        power cut too)."""
        for seg in self._segments:
            seg.write_index_entries()
            seg.write_out()
            if seg.flushed_size < seg.size:
                seg.sync_data()
                seg.flushed_size = seg.size
            if not seg.indexes_synced:
                seg.sync_indexes()
                seg.indexes_synced = True
        if self._dir_generation > self._synced_dir_generation or self._dir_sync_owed:
            fsync_dir(self.name)
            self._synced_dir_generation = self._dir_generation
            self._dir_sync_owed = False
        active = self._segments[-1]
        if self._checkpoint is not None:
            created = self._checkpoint.write(
                RecoveryPoint(self.log_end_offset, active.base_offset, active.size, clean), sync=True
            )
            if created:
                fsync_dir(self.name)
            self._checkpointed = (active.base_offset, active.size)
        self._flushed = self.log_end_offset
        self._publish()

    def close(self) -> None:
        """Flush everything, mark the shutdown clean and release the files. On an offline
        directory nothing is written or synced (recovery at the next start re-checks the log)."""
        if self._closed:
            return
        if self.offline:
            self._abandon()
            return
        active = self._segments[-1]
        if active.max_timestamp >= 0:
            relative = active.offset_of_max_timestamp - active.base_offset
            active.time_index.maybe_add(active.max_timestamp, relative)
        try:
            changed = self._fingerprint() != self._opened_as
            if self._size > 0 or changed or self.flush_needed():
                if changed:
                    # Files may have been created or deleted since the open (rolls, retention,
                    # compaction): the directory must hold what the clean checkpoint describes.
                    self._dir_generation += 1
                self._sync_everything(clean=True)
            # else: nothing in it and nothing changed since it was opened: nothing to write, and
            # no recovery point is needed to open it again
            self._release()
        except OSError as exc:
            error = self._failed(f"closing {self.name}", exc)
            self._abandon()
            raise error from exc

    def _release(self) -> None:
        self._closed = True
        for seg in self._segments:
            seg.close()
        if self._checkpoint is not None:
            self._checkpoint.close()

    def _abandon(self) -> None:
        """Close every descriptor without writing anything (the directory failed)."""
        self._closed = True
        for seg in self._segments:
            seg.abandon()
        if self._checkpoint is not None:
            self._checkpoint.close()

    def delete(self, remove_tree: Callable[[str], object] = remove_tree_now) -> None:
        """Close the log and remove its directory (see `remove_directory`)."""
        self._guard_dir()
        try:
            if not self._closed:
                self._release()
            self.remove_directory(self.name, remove_tree)
        except OSError as exc:
            raise self._failed(f"deleting {self.name}", exc) from exc

    @staticmethod
    def remove_directory(path: str, remove_tree: Callable[[str], object] = remove_tree_now) -> None:
        """Rename a partition directory to `<path>.<random>.delete` (atomically, durably), then
        hand it to `remove_tree` (default: remove it here and now).

        Once renamed the partition is gone as far as anyone can tell, so the removal itself, which
        takes about a second for a few GB on ext4, may happen later, off the caller's thread. The
        random part keeps a re-created partition that is deleted again from colliding with a
        removal still under way. A crash in between leaves only a `.delete` directory, which
        `LogManager.open` removes. The name is cut to fit 255 bytes (a 249-character topic name
        plus the partition and the suffix would not).
        """
        suffix = f".{uuid.uuid4().hex[:12]}.delete"
        parent, base = os.path.split(path)
        doomed = os.path.join(parent, base[: _NAME_MAX - len(suffix)] + suffix)
        os.rename(path, doomed)
        fsync_dir(os.path.dirname(os.path.abspath(path)))
        remove_tree(doomed)

    def _check_open(self) -> None:
        if self._closed:
            raise LogClosedError(self.name)

    def _guard_dir(self) -> None:
        logdir = self._dir
        if logdir is not None and logdir.failure is not None:
            if not self._closed:
                self._abandon()
            raise logdir.offline_error()

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.name!r}, start={self._log_start}, end={self.log_end_offset}, "
            f"segments={len(self._segments)})"
        )


def _file_segment(
    directory: str, base_offset: int, files: DescriptorCache, *, create: bool = False
) -> Segment:
    store = FileStore(log_path(directory, base_offset, ".log"), files)
    seg = Segment(
        base_offset,
        store,
        OffsetIndex(log_path(directory, base_offset, ".index")),
        TimeIndex(log_path(directory, base_offset, ".timeindex")),
    )
    if create:
        store.truncate(0)
        seg.reset_state()
    return seg


def _first_append_ms(seg: Segment, now_ms: int) -> int | None:
    """Roll clock of a reopened active segment: its first batch's timestamp (as Kafka), capped at now."""
    if seg.size == 0:
        return None
    stamp = int.from_bytes(seg.store.read(_MAX_TIMESTAMP_AT, 8), "big", signed=True)
    return min(now_ms, stamp) if stamp >= 0 else now_ms
