"""Replaying changelogs into stores: restores of active tasks, and standby replicas that tail them.

Theory of operation: one `ChangelogReader` per instance owns a consumer with manual assignment (no
group, no commits; ``read_committed`` under exactly-once).  Each `ChangelogTarget` is one changelog
partition (or, for a source table, its source topic partition) feeding one store, from `position`
(the checkpoint, or the log start after the store was wiped) to `end`, exclusive: the changelog's
end offset when the restore was planned (under ``read_committed`` that is the last stable offset),
or the group's committed offset for a source table.  A target with no `end` belongs to a standby
and is tailed for as long as it is registered.

A restore is finished when the consumer's position reaches `end`, never by counting records:
compaction leaves gaps in the offsets and transaction markers occupy offsets no record is returned
for.  Reaching the end is seen three ways, whichever comes first: a record at `end - 1` or beyond,
the partition-EOF event (the consumer's position equals the end of the log), or the consumer's
`position()` when a poll returns nothing.  An empty changelog (end == start) needs no read at all.

`step` reads what is fetched for at most ``max_seconds``, so the processing loop restores in slices
and keeps polling its group consumer meanwhile (as Kafka Streams restores inside its stream thread):
tasks already restored keep processing, and a long restore never exceeds ``max.poll.interval.ms``.
Large restores log their progress every `PROGRESS_EVERY_S` seconds.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Final

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, Message, TopicPartition

from streamlog.streams.interfaces import KeyValueBytesStore
from streamlog.streams.record import TaskId

log = logging.getLogger("streamlog.streams")

PROGRESS_EVERY_S: Final = 5.0
LARGE_RESTORE: Final = 10_000  # records (by offsets): restores at least this long log at INFO
BATCH: Final = 1000
WATERMARK_TIMEOUT_S: Final = 10.0


@dataclass(slots=True, eq=False)
class ChangelogTarget:
    """One topic partition replayed into one store (see the module docstring)."""

    owner: TaskId
    store: KeyValueBytesStore
    topic: str
    partition: int
    position: int  # the next offset to apply; OFFSET_BEGINNING until the first record
    end: int | None  # exclusive; None: a standby, tailed without end
    start: int = 0
    applied: int = 0
    started_at: float = field(default_factory=time.monotonic)
    reported: bool = False

    @property
    def key(self) -> tuple[str, int]:
        return (self.topic, self.partition)

    @property
    def done(self) -> bool:
        return self.end is not None and self.position >= self.end


class ChangelogReader:
    """Reads changelog partitions into stores for restores and standbys (module docstring)."""

    def __init__(self, consumer: Consumer) -> None:
        self.consumer = consumer
        self.targets: dict[tuple[str, int], ChangelogTarget] = {}
        self._assigned: set[tuple[str, int]] = set()
        self._next_progress = time.monotonic() + PROGRESS_EVERY_S

    # --- planning -------------------------------------------------------------------------------

    def watermarks(self, topic: str, partition: int) -> tuple[int, int]:
        """(log start, end) of a partition; the end is the last stable offset under read_committed."""
        low, high = self.consumer.get_watermark_offsets(TopicPartition(topic, partition),
                                                        timeout=WATERMARK_TIMEOUT_S, cached=False)
        return int(low), int(high)

    def add(self, targets: Iterable[ChangelogTarget]) -> None:
        changed = False
        for target in targets:
            if target.key in self.targets:
                raise ValueError(f"{target.topic}[{target.partition}] is already being read "
                                 f"for task {self.targets[target.key].owner}")
            target.start = max(target.position, 0)
            self.targets[target.key] = target
            changed = True
            if target.end is not None and target.end - target.start >= LARGE_RESTORE:
                log.info("task %s: restoring store %r from %s[%d], offsets %d to %d", target.owner,
                         target.store.name, target.topic, target.partition, target.start, target.end)
        if changed:
            self._finish_done()
            self._reassign()

    def remove(self, owner: TaskId) -> list[ChangelogTarget]:
        """Stop reading for `owner`; its targets (with their positions) are returned."""
        gone = [target for target in self.targets.values() if target.owner == owner]
        for target in gone:
            del self.targets[target.key]
        if gone:
            self._reassign()
        return gone

    def owned_by(self, owner: TaskId) -> list[ChangelogTarget]:
        return [target for target in self.targets.values() if target.owner == owner]

    def restoring(self, owner: TaskId) -> bool:
        """True while some target of `owner` still has records to restore."""
        return any(not target.done for target in self.targets.values()
                   if target.owner == owner and target.end is not None)

    def busy(self) -> bool:
        """True if some restore (not a standby) is unfinished: the loop should not sleep in poll."""
        return any(target.end is not None and not target.done for target in self.targets.values())

    # --- reading --------------------------------------------------------------------------------

    def step(self, max_seconds: float) -> int:
        """Apply what arrives for up to ``max_seconds``; the number of records applied."""
        if not self._assigned:
            return 0
        deadline = time.monotonic() + max_seconds
        applied = 0
        while True:
            left = max(0.0, deadline - time.monotonic())
            messages = self.consumer.consume(num_messages=BATCH, timeout=left)
            if messages:
                applied += self._apply(messages)
            else:
                self._check_positions()
            self._finish_done()
            if not messages or time.monotonic() >= deadline or not self._assigned:
                break
        self._maybe_log_progress()
        return applied

    def _apply(self, messages: list[Message]) -> int:
        batches: dict[tuple[str, int], list[tuple[bytes, bytes | None, int]]] = {}
        for message in messages:
            error = message.error()
            key = (message.topic() or "", message.partition() or 0)
            target = self.targets.get(key)
            if error is not None:
                if error.code() == KafkaError._PARTITION_EOF and target is not None:
                    self._reached_end_of_log(target, message.offset())
                elif error.code() != KafkaError._PARTITION_EOF:
                    log.debug("changelog reader: %s", error.str())
                continue
            offset = message.offset()
            if target is None or offset is None or target.done:
                continue
            if target.end is not None and offset >= target.end:
                target.position = target.end  # a source table restores only up to the committed offset
                continue
            record_key = message.key()
            if record_key is not None:
                batches.setdefault(key, []).append((record_key, message.value(), message.timestamp()[1]))
            target.position = offset + 1
        count = 0
        for key, batch in batches.items():
            target = self.targets[key]
            timed = getattr(target.store, "restore_with_timestamps", None)
            if timed is not None:  # window and session stores keep each changelog record's timestamp
                timed(batch)
            else:
                target.store.restore((k, v) for k, v, _ in batch)
            target.applied += len(batch)
            count += len(batch)
        return count

    def _reached_end_of_log(self, target: ChangelogTarget, offset: int | None) -> None:
        if offset is None:
            return
        target.position = max(target.position, offset)
        if target.end is not None and target.position < target.end:
            # the log ends before the planned end: it was truncated or recreated meanwhile
            _, high = self.watermarks(target.topic, target.partition)
            if high <= target.position:
                log.warning("task %s: %s[%d] ends at %d, before %d where the restore planned to stop",
                            target.owner, target.topic, target.partition, high, target.end)
                target.end = target.position

    def _check_positions(self) -> None:
        reading = [target for target in self.targets.values()
                   if target.key in self._assigned and not target.done]
        if not reading:
            return
        try:
            positions = self.consumer.position([TopicPartition(t.topic, t.partition) for t in reading])
        except KafkaException:
            return
        for target, found in zip(reading, positions, strict=True):
            if found.offset is not None and found.offset >= 0:
                target.position = max(target.position, found.offset)

    def _finish_done(self) -> None:
        finished = [target for target in self.targets.values() if target.done and not target.reported]
        for target in finished:
            target.reported = True
            elapsed = time.monotonic() - target.started_at
            level = logging.INFO if target.applied >= LARGE_RESTORE else logging.DEBUG
            log.log(level, "task %s: restored store %r from %s[%d]: %d records up to offset %d in %.1fs",
                    target.owner, target.store.name, target.topic, target.partition, target.applied,
                    target.position, elapsed)
        if any(target.key in self._assigned for target in finished):
            self._reassign()

    def _reassign(self) -> None:
        wanted = {key for key, target in self.targets.items() if not target.done}
        if wanted == self._assigned:
            return
        if wanted:
            self.consumer.assign([
                TopicPartition(topic, partition, self.targets[(topic, partition)].position
                               if self.targets[(topic, partition)].position >= 0 else OFFSET_BEGINNING)
                for topic, partition in sorted(wanted)])
        else:
            self.consumer.unassign()
        self._assigned = wanted

    def _maybe_log_progress(self) -> None:
        now = time.monotonic()
        if now < self._next_progress:
            return
        self._next_progress = now + PROGRESS_EVERY_S
        for target in self.targets.values():
            if target.end is None or target.done or target.end - target.start < LARGE_RESTORE:
                continue
            total = target.end - target.start
            done = max(0, target.position - target.start)
            log.info("task %s: restoring store %r: %d of %d offsets (%.0f%%), %d records applied",
                     target.owner, target.store.name, done, total, 100.0 * done / total, target.applied)

    def close(self) -> None:
        self.targets.clear()
        self._assigned.clear()
        self.consumer.close()
