"""The log cleaner: compaction of a partition log down to the latest record of every key.

Theory of operation (Kafka's cleaner, in the same terms). The cleaner checkpoint (`first dirty
offset`) splits the closed segments into a clean head, already compacted, and a dirty tail. The
cleanable part of the tail stops before the active segment, the flushed offset, the last stable
offset, and the first segment younger than `min.compaction.lag.ms` (`assess`). A log is due when
its dirty ratio (dirty bytes / clean + dirty bytes) reaches `min.cleanable.dirty.ratio`, when its
oldest dirty batch is older than `max.compaction.lag.ms`, or when a tombstone or transaction marker
kept by an earlier cleaning has passed its delete horizon.

A cleaning (`CleaningJob`) makes three passes over the segments, reading them through its own
descriptors (never the ones the log's thread uses):

A. batch headers of the cleanable range: transactions (a transactional batch is aborted when the
   next marker of its producer is ABORT; a transaction with no marker in the range is undecided
   and the cleaning stops before it), and the last batch of every producer;
B. the records of the dirty part: the offset map, key -> offset of its latest record (control
   batches and aborted batches do not count; the map is capped by `max_map_entries`, and the dirty
   part then ends after the segment that filled it);
C. every batch from the log start to the end of the dirty part, in groups of consecutive segments
   that fit in one segment (`segment.bytes`), each group written to one cleaned segment:
   * a record is kept if it has a key and no later offset for that key is in the map;
   * a tombstone (null value) is kept until its batch's delete horizon has passed; a batch that
     keeps tombstones and has no horizon yet gets one: now + `delete.retention.ms` (attribute bit
     6 and baseTimestamp, as Kafka since KIP-534), so the next cleaning after that time removes them;
   * an aborted batch loses all its records; a marker (control batch) is never "keyed data": it is
     kept while records of its transaction remain, then stamped with a horizon, then removed (all
     cleaned segments are swapped in at once, so a marker may go in the same cleaning as its data);
   * a batch whose records are all gone is dropped, except the last batch of a producer, which is
     kept as an empty batch header so that its sequence numbers and epoch survive. Which batch is a
     producer's last comes from the caller's producer state when given; otherwise it is the last
     batch of that producer id in the cleaned range, unless older than `producer_expiration_ms`.
     The last batch before the active segment is kept the same way, so that a gap never reaches
     the end of the log (a consumer fetching inside it would get nothing and be stuck);
   Offsets never change (`compaction`). A group of one segment that comes out unchanged is not
   rewritten. The per-batch rules live in `cleaner_filter`; this module owns the passes, the files
   and the swap.

The cleaned segments then replace the old ones atomically (`cleaner_files` has the protocol and the
crash recovery). Threads: the job is created and `swap`ped on the log's owner thread; `build`,
`finish` and `abort` may run on a worker thread, while the owner keeps appending (only closed
segments are touched, and `PartitionLog.replace_segments` checks that they are still there).
`clean_log` runs all of it synchronously, for tests, tools and the embedded case.
"""

from __future__ import annotations

import contextlib
import os
import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from streamlog.protocol.records.header import HEADER_SIZE, BatchHeader
from streamlog.storage.cleaner_files import (
    CleanerCheckpoint,
    LogDir,
    cleaned_name,
    discard_cleaning,
    finish_swap,
    read_checkpoint_file,
    segment_name,
    write_checkpoint,
    write_manifest,
)
from streamlog.storage.cleaner_filter import LONG_MAX, BatchFilter, Vanished, read_batches
from streamlog.storage.config import INT32_MAX
from streamlog.storage.index import OffsetIndex, TimeIndex
from streamlog.storage.log import PartitionLog
from streamlog.storage.memory import MemoryPartitionLog, MemoryStore
from streamlog.storage.segment import FileStore, Segment, log_path

_WRITE_BUFFER = 1 << 20
_MAX_TIMESTAMP_AT = 35  # maxTimestamp field of a batch header


@dataclass(frozen=True, slots=True)
class CleanerConfig:
    """A compacted log's settings (Kafka's topic-config names in `from_topic_config`)."""

    delete_retention_ms: int = 86_400_000  # delete.retention.ms
    min_cleanable_dirty_ratio: float = 0.5  # min.cleanable.dirty.ratio
    min_compaction_lag_ms: int = 0  # min.compaction.lag.ms
    max_compaction_lag_ms: int = LONG_MAX  # max.compaction.lag.ms
    producer_expiration_ms: int = 86_400_000  # producer.id.expiration.ms (broker setting)
    max_map_entries: int = 4_000_000  # keys per cleaning (log.cleaner.dedupe.buffer.size / 32)

    @classmethod
    def from_topic_config(
        cls,
        props: Mapping[str, Any],
        *,
        producer_expiration_ms: int = 86_400_000,
        max_map_entries: int = 4_000_000,
    ) -> CleanerConfig:
        """Read Kafka's topic-config names (missing ones take Kafka's defaults)."""
        return cls(
            delete_retention_ms=int(props.get("delete.retention.ms", 86_400_000)),
            min_cleanable_dirty_ratio=float(props.get("min.cleanable.dirty.ratio", 0.5)),
            min_compaction_lag_ms=int(props.get("min.compaction.lag.ms", 0)),
            max_compaction_lag_ms=int(props.get("max.compaction.lag.ms", LONG_MAX)),
            producer_expiration_ms=producer_expiration_ms,
            max_map_entries=max_map_entries,
        )


def is_compacted(props: Mapping[str, Any]) -> bool:
    """Whether a topic config's cleanup.policy includes compact."""
    return "compact" in str(props.get("cleanup.policy", "")).split(",")


@dataclass(frozen=True, slots=True)
class CleanResult:
    log_name: str
    checkpoint: CleanerCheckpoint  # the new cleaner checkpoint
    segments_replaced: int  # old segments swapped out
    segments_written: int  # cleaned segments swapped in
    records_read: int  # records in the batches cleaned (pass C)
    records_kept: int
    bytes_read: int
    bytes_written: int  # bytes of the cleaned range after cleaning (unchanged segments included)
    keys: int  # entries of the offset map


class CleanerCheckpoints:
    """Each log's cleaner checkpoint, cached; durable logs keep theirs in their directory."""

    def __init__(self) -> None:
        self._cache: weakref.WeakKeyDictionary[PartitionLog, CleanerCheckpoint] = weakref.WeakKeyDictionary()

    def get(self, log: PartitionLog) -> CleanerCheckpoint:
        found = self._cache.get(log)
        if found is None:
            found = None if isinstance(log, MemoryPartitionLog) else read_checkpoint_file(log.name)
            found = found or CleanerCheckpoint(log.log_start_offset, -1)
            self._cache[log] = found
        return found

    def put(self, log: PartitionLog, checkpoint: CleanerCheckpoint) -> None:
        self._cache[log] = checkpoint


@dataclass(frozen=True, slots=True)
class Assessment:
    first_dirty: int
    clean_bytes: int
    dirty_bytes: int  # cleanable dirty bytes
    reason: str | None  # why a cleaning is due now, or None

    @property
    def ratio(self) -> float:
        total = self.clean_bytes + self.dirty_bytes
        return self.dirty_bytes / total if total else 0.0

    @property
    def due(self) -> bool:
        return self.reason is not None


def _end(segs: Sequence[Segment], i: int, active_base: int) -> int:
    """Where segment i's offset range ends: the next segment's base offset."""
    return segs[i + 1].base_offset if i + 1 < len(segs) else active_base


def _first_dirty(checkpoint: CleanerCheckpoint, log_start: int, active_base: int) -> int:
    offset = checkpoint.first_dirty_offset
    return log_start if offset < log_start or offset > active_base else offset


def _bounds(
    segs: Sequence[Segment],
    active_base: int,
    first_dirty: int,
    upper: int,
    config: CleanerConfig,
    now_ms: int,
) -> tuple[int, int]:
    """(d, u): segs[:d] is the clean head, segs[d:u] the cleanable dirty part."""
    d = 0
    while d < len(segs) and _end(segs, d, active_base) <= first_dirty:
        d += 1
    u = d
    lag = config.min_compaction_lag_ms
    while u < len(segs) and segs[u].next_offset <= upper:
        if lag > 0 and segs[u].max_timestamp > now_ms - lag:
            break
        u += 1
    return d, u


def _upper(log: PartitionLog, active_base: int, stable_offset: int | None) -> int:
    upper = min(active_base, log.flushed_offset)
    return upper if stable_offset is None else min(upper, stable_offset)


def assess(
    log: PartitionLog, config: CleanerConfig, checkpoint: CleanerCheckpoint, now_ms: int, *,
    stable_offset: int | None = None,
) -> Assessment:
    """How dirty `log` is and whether a cleaning is due (run on the log's owner thread)."""
    segs = log.closed_segments()
    active_base = log.segments[-1].base_offset
    first_dirty = _first_dirty(checkpoint, log.log_start_offset, active_base)
    d, u = _bounds(segs, active_base, first_dirty, _upper(log, active_base, stable_offset), config, now_ms)
    clean = sum(s.size for s in segs[:d])
    dirty = sum(s.size for s in segs[d:u])
    reason = None
    if dirty > 0 and dirty / (clean + dirty) >= config.min_cleanable_dirty_ratio:
        reason = "dirty ratio"
    elif dirty > 0 and config.max_compaction_lag_ms < LONG_MAX:
        first = next((s for s in segs[d:u] if s.size >= HEADER_SIZE), None)
        if first is not None:
            stamp = int.from_bytes(first.store.read(_MAX_TIMESTAMP_AT, 8), "big", signed=True)
            if stamp >= 0 and now_ms - stamp > config.max_compaction_lag_ms:
                reason = "max compaction lag"
    if reason is None and 0 <= checkpoint.next_horizon_ms <= now_ms:
        reason = "delete horizon"
    return Assessment(first_dirty, clean, dirty, reason)


class _Stopped(Exception):
    pass


class CleaningJob:
    """One cleaning of one log: create and `swap` on the log's owner thread; `build`, then
    `finish` (after a successful swap) or `abort`, on any one thread."""

    def __init__(
        self,
        log: PartitionLog,
        config: CleanerConfig,
        checkpoint: CleanerCheckpoint,
        now_ms: int,
        *,
        stable_offset: int | None = None,
        producer_last_offsets: Mapping[int, int] | None = None,
        should_stop: Callable[[], bool] | None = None,
        on_step: Callable[[str], None] | None = None,
        force: bool = False,
    ) -> None:
        self.log = log
        self.config = config
        self._segs = log.closed_segments()
        self._active_base = log.segments[-1].base_offset
        self._log_config = log.config
        self._durable = not isinstance(log, MemoryPartitionLog)
        self._path = log.name
        self._first_dirty = _first_dirty(checkpoint, log.log_start_offset, self._active_base)
        upper = _upper(log, self._active_base, stable_offset)
        self._d, self._u = _bounds(self._segs, self._active_base, self._first_dirty, upper, config, now_ms)
        self._horizon_due = force or 0 <= checkpoint.next_horizon_ms <= now_ms
        self._filter = BatchFilter(
            now_ms, config.delete_retention_ms, config.producer_expiration_ms, producer_last_offsets
        )
        self._should_stop = should_stop
        self._on_step = on_step
        self._dir: LogDir | None = None
        self._runs: list[tuple[tuple[Segment, ...], Segment, int]] = []  # (old, new, end offset)
        self._bytes = [0, 0]  # read, written
        self._checkpoint = checkpoint
        self._crashed = False
        self.abandoned: str | None = None  # why `build` gave up, if it did

    def _step(self, name: str) -> None:
        """Tests simulate a crash by raising here; nothing is cleaned up after that."""
        if self._on_step is not None:
            try:
                self._on_step(name)
            except BaseException:
                self._crashed = True
                raise

    def _batches(self, seg: Segment) -> Iterator[tuple[bytes, int, BatchHeader]]:
        for item in read_batches(self._dir, seg, self._path):
            if self._should_stop is not None and self._should_stop():
                raise _Stopped
            yield item

    # -- build (any thread) ------------------------------------------------------------------

    def build(self) -> bool:
        """Write the cleaned segments and commit the swap; False if there is nothing to do or
        the job was stopped (then nothing is left behind)."""
        if self._u == self._d and not self._horizon_due:
            return False
        try:
            if self._durable:
                self._dir = LogDir(self._path)
                discard_cleaning(self._dir)  # leftovers of a cleaning that failed
            self._scan_headers()
            self._build_map()
            if self._u == self._d and not self._horizon_due:
                self._close()
                return False
            self._write_groups()
            end = _end(self._segs, self._u - 1, self._active_base) if self._u else self._first_dirty
            self._checkpoint = CleanerCheckpoint(max(end, self._first_dirty), self._filter.next_horizon)
            self._step("written")
            if self._runs and self._dir is not None:
                write_manifest(self._dir, [(old[0].base_offset, end) for old, _, end in self._runs])
            self._step("committed")
            return True
        except (_Stopped, Vanished, FileNotFoundError) as exc:  # stopped, or the log lost segments
            self.abandoned = "stopped" if isinstance(exc, _Stopped) else f"log changed: {exc}"
            self.abort()
            return False
        except BaseException:
            if not self._crashed:
                with contextlib.suppress(OSError):
                    self.abort()
            raise

    def _scan_headers(self) -> None:
        """Pass A; the cleaning then stops before the segment of the first undecided transaction."""
        for seg in self._segs[: self._u]:
            for buf, pos, h in self._batches(seg):
                self._filter.note_header(buf, pos, h)
        boundary = _end(self._segs, self._d - 1, self._active_base) if self._d else -1
        first = self._filter.undecided_from(boundary)
        if first is not None:
            while self._u > self._d and self._segs[self._u - 1].base_offset > first:
                self._u -= 1
            if self._u > self._d:
                self._u -= 1  # the segment holding `first`

    def _build_map(self) -> None:
        """Pass B, over the dirty part, which ends early if the map fills up."""
        for i in range(self._d, self._u):
            for buf, pos, h in self._batches(self._segs[i]):
                self._filter.map_batch(buf, pos, h)
            if len(self._filter.map) >= self.config.max_map_entries:
                self._u = i + 1
                break
        self._filter.seal_map(self._segs[self._d].base_offset if self._d < len(self._segs) else LONG_MAX)

    # -- pass C ------------------------------------------------------------------------------

    def _groups(self) -> Iterator[tuple[int, int]]:
        """Runs [i, j) of segments to merge: as many as fit in segment.bytes (before cleaning)."""
        limit = self._log_config.segment_bytes
        i = 0
        while i < self._u:
            j, size = i + 1, self._segs[i].size
            base = self._segs[i].base_offset
            while (
                j < self._u
                and size + self._segs[j].size <= limit
                and _end(self._segs, j, self._active_base) - 1 - base <= INT32_MAX
            ):
                size += self._segs[j].size
                j += 1
            yield i, j
            i = j

    def _new_segment(self, base: int) -> Segment:
        if not self._durable:
            return Segment(base, MemoryStore(), OffsetIndex(None), TimeIndex(None))
        seg = Segment(
            base,
            FileStore(log_path(self._path, base, ".log"), self.log.files),
            OffsetIndex(log_path(self._path, base, ".index")),
            TimeIndex(log_path(self._path, base, ".timeindex")),
        )
        # Its index paths are the old segment's until the swap: no block may reach them before.
        seg.offset_index.file.hold = True
        seg.time_index.file.hold = True
        return seg

    def _write_groups(self) -> None:
        """Pass C: each run of segments into one `.cleaned` file (fsynced), or a memory segment."""
        if self._u == len(self._segs) and self._segs and self._segs[-1].size > 0:
            self._filter.tail_offset = self._segs[-1].next_offset - 1
        cfg = self._log_config
        note = (cfg.index_interval_bytes, cfg.max_offset_index_entries, cfg.max_time_index_entries)
        for i, j in self._groups():
            old = self._segs[i:j]
            new = self._new_segment(old[0].base_offset)
            fd = self._dir.create(cleaned_name(new.base_offset)) if self._dir is not None else None
            pending = bytearray()
            position = 0
            changed = len(old) > 1
            try:
                for seg in old:
                    self._bytes[0] += seg.size
                    for buf, pos, h in self._batches(seg):
                        out, max_ts, same = self._filter.filter(buf, pos, h)
                        changed = changed or not same
                        if out is None:
                            continue
                        new.note_batch(position, h.base_offset, h.last_offset, max_ts, len(out), *note)
                        position += len(out)
                        if fd is None:
                            new.store.write(out)
                        else:
                            pending += out
                            if len(pending) >= _WRITE_BUFFER:
                                _write_all(fd, pending)
                                pending.clear()
                if fd is not None:
                    _write_all(fd, pending)
                    if changed:
                        os.fsync(fd)
            finally:
                if fd is not None:
                    os.close(fd)
            self._bytes[1] += position
            if not changed:
                if self._dir is not None:
                    self._dir.unlink(cleaned_name(new.base_offset))
                continue
            new.flushed_size = new.size
            self._runs.append((tuple(old), new, _end(self._segs, j - 1, self._active_base)))

    # -- swap (owner thread) -----------------------------------------------------------------

    def swap(self) -> bool:
        """Put the cleaned segments in place of the old ones; False if the log changed meanwhile
        (then call `abort`)."""
        if not self._runs:
            return True
        ok = self.log.replace_segments([(old, new) for old, new, _ in self._runs], self._install)
        if ok:
            for old, _, _ in self._runs:
                for seg in old:
                    seg.close()
                    seg.deleted = True
            self._step("swapped")
        return ok

    def _install(self) -> None:
        directory = self._dir
        for old, new, _ in self._runs:
            if directory is not None:
                for seg in old:
                    seg.store.size()  # keep a descriptor, so the old segment stays readable until swapped
                for seg in old[1:]:
                    for suffix in (".log", ".index", ".timeindex"):
                        directory.unlink(segment_name(seg.base_offset, suffix))
                self._step("swap:deleted")
                for suffix in (".index", ".timeindex"):  # `seal` writes new ones (truncating would be slow)
                    directory.unlink(segment_name(new.base_offset, suffix))
                directory.replace(cleaned_name(new.base_offset), segment_name(new.base_offset, ".log"))
                self._step("swap:renamed")
            new.offset_index.file.hold = False
            new.time_index.file.hold = False
            new.seal()  # writes the index entries held back, to the new files
            if directory is not None:  # an index with no entries still gets its (empty) file
                for index in (new.offset_index.file, new.time_index.file):
                    if index.path is not None and not os.path.exists(index.path):
                        os.close(os.open(index.path, os.O_WRONLY | os.O_CREAT, 0o644))

    # -- finish or abort (any thread) --------------------------------------------------------

    def finish(self) -> CleanResult:
        """Make the swap durable and write the new cleaner checkpoint."""
        if self._dir is not None:
            if self._runs:
                finish_swap(self._dir)
            self._step("finishing")
            write_checkpoint(self._dir, self._checkpoint)
        self._close()
        return CleanResult(
            self._path,
            self._checkpoint,
            sum(len(old) for old, _, _ in self._runs),
            len(self._runs),
            self._filter.records_read,
            self._filter.records_kept,
            self._bytes[0],
            self._bytes[1],
            len(self._filter.map),
        )

    def abort(self) -> None:
        """Forget the cleaning: nothing changes in the log."""
        try:
            if self._dir is not None:
                discard_cleaning(self._dir)
        finally:
            self._close()

    def _close(self) -> None:
        if self._dir is not None:
            self._dir.close()
            self._dir = None


def _write_all(fd: int, data: bytearray) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def clean_log(
    log: PartitionLog,
    config: CleanerConfig,
    checkpoints: CleanerCheckpoints,
    now_ms: int,
    *,
    stable_offset: int | None = None,
    producer_last_offsets: Mapping[int, int] | None = None,
    force: bool = False,
    on_step: Callable[[str], None] | None = None,
) -> CleanResult | None:
    """Clean `log` now if it is due, all on the calling thread; None if nothing was done. With
    `force`, the whole cleaned range is filtered again even if nothing is dirty."""
    checkpoint = checkpoints.get(log)
    if not force and not assess(log, config, checkpoint, now_ms, stable_offset=stable_offset).due:
        return None
    job = CleaningJob(
        log, config, checkpoint, now_ms, stable_offset=stable_offset,
        producer_last_offsets=producer_last_offsets, on_step=on_step, force=force,
    )
    if not job.build():
        return None
    if not job.swap():
        job.abort()
        return None
    result = job.finish()
    checkpoints.put(log, result.checkpoint)
    return result
