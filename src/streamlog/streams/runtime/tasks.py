"""Active tasks of one instance: created on assignment, restored, run, committed, closed.

Theory of operation: a task is one partition of one sub-topology (`TaskId`), fed by that partition of
each of the sub-topology's source topics.  The rebalance callbacks (consumer_loop.py) only record
what changed: `assigned` registers new tasks as PENDING and pauses their partitions, `revoked` and
`lost` close them.  Everything slow happens in the loop, outside the callbacks:

PENDING -> RESTORING (`initialize_pending`): the group's committed offsets of the task's partitions
    are fetched, with the stream time each commit carries in its metadata, as Kafka Streams writes
    it (under read_committed this waits until no transaction of the previous owner holds them);
    each store is opened and planned for restore: a persistent store with a checkpoint entry
    inside the changelog's current range restores from there, any other store is wiped and restores
    from the log start; a source table (a store whose changelog is its own source topic) restores up
    to the group's committed offset of that topic, as Kafka Streams' source-topic changelogs.  Under
    exactly-once a checkpoint exists only after a clean close, so after a crash every persistent store
    is wiped and fully restored: its files may hold uncommitted writes.
RESTORING -> RUNNING (`finish_restores`): when the changelog reader has every target at its end, the
    task is built (`Task`), initialized (processors' init, punctuators), its partitions are sought to
    the committed offsets and resumed.  Under exactly-once the checkpoint file is deleted now.
RUNNING -> closed: clean (after a successful commit: stores flushed, checkpoint written) or dirty
    (after an abort or a lost partition: stores closed as they are; under exactly-once their files are
    wiped, because they may hold writes of an aborted transaction).

Records a paused task's partitions still deliver (fetched before the pause) are dropped; resuming
seeks to the committed offset, so they are read again.  `revive` closes tasks dirty and registers
them again as PENDING: the abort path of exactly-once, which rewinds inputs to the committed offsets
and state to the changelog's committed contents.

Threads: everything here runs in the processing thread.  Interactive queries (queries.py) read the
stores of RUNNING tasks from other threads; they hold `stores_lock` while they read, and `_close`
holds it while it closes a task's stores, so no read meets a closed store.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import enum
import logging
import shutil
import struct
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from confluent_kafka import OFFSET_BEGINNING, OFFSET_END, Consumer, KafkaException, Message, TopicPartition

from streamlog.streams.config import StreamsConfig
from streamlog.streams.interfaces import KeyValueBytesStore
from streamlog.streams.record import TaskId
from streamlog.streams.runtime.collector import KafkaRecordCollector
from streamlog.streams.runtime.partition_group import PartitionGroup
from streamlog.streams.runtime.restore import ChangelogReader, ChangelogTarget
from streamlog.streams.state import open_store
from streamlog.streams.state.directory import StateDirectory
from streamlog.streams.task import Task
from streamlog.streams.topology import StoreSpec, Topology

log = logging.getLogger("streamlog.streams")

COMMITTED_TIMEOUT_S = 10.0
STREAM_TIME_VERSION = 1  # Kafka Streams' commit metadata: base64({version: int8}{partition time: int64 BE})


def encode_stream_time(task: Task | None) -> str:
    """The commit metadata Kafka Streams writes: the stream time, so a restarted task continues it."""
    if task is None or task.stream_time < 0:
        return ""
    return base64.b64encode(struct.pack(">bq", STREAM_TIME_VERSION, task.stream_time)).decode()


def decode_stream_time(metadata: str | None) -> int:
    """The stream time in a commit's metadata; -1 if there is none (or it is not Kafka Streams')."""
    if not metadata:
        return -1
    try:
        data = base64.b64decode(metadata, validate=True)
    except (ValueError, binascii.Error):
        return -1
    if len(data) < 9 or data[0] < 1:
        return -1
    return int(struct.unpack_from(">q", data, 1)[0])
TopicPartitionKey = tuple[str, int]


class TaskState(enum.StrEnum):
    PENDING = "pending"
    RESTORING = "restoring"
    RUNNING = "running"


@dataclass(slots=True, eq=False)
class ActiveTask:
    """The runtime's bookkeeping for one active task (the processing itself is `Task`)."""

    task_id: TaskId
    partitions: set[TopicPartitionKey]
    state: TaskState = TaskState.PENDING
    stores: dict[str, KeyValueBytesStore] = field(default_factory=dict)
    task: Task | None = None
    start_offsets: dict[TopicPartitionKey, int] = field(default_factory=dict)  # from the group
    consumed: dict[TopicPartitionKey, int] = field(default_factory=dict)  # next offset, uncommitted
    start_stream_time: int = -1  # from the commit metadata of its partitions
    changelog_positions: dict[TopicPartitionKey, int] = field(default_factory=dict)
    processed: int = 0
    group: PartitionGroup[Message] | None = None  # records of a multi-partition task not processed yet


class TaskManager:
    """All active tasks of the instance, and their transitions (module docstring)."""

    def __init__(self, *, topology: Topology, config: StreamsConfig, consumer: Consumer,
                 reader: ChangelogReader, directory: StateDirectory, collector: KafkaRecordCollector,
                 global_stores: Mapping[str, KeyValueBytesStore], exactly_once: bool,
                 stores_lock: threading.Lock | None = None) -> None:
        self.topology = topology
        self.config = config
        self.consumer = consumer
        self.reader = reader
        self.directory = directory
        self.collector = collector
        self.global_stores = global_stores
        self.exactly_once = exactly_once
        # held while a task's stores close: interactive queries (queries.py) read under it
        self.stores_lock = stores_lock if stores_lock is not None else threading.Lock()
        self.tasks: dict[TaskId, ActiveTask] = {}
        self.by_partition: dict[TopicPartitionKey, ActiveTask] = {}
        # warm stores of standby tasks that became active: store name -> (store, changelog position)
        self.handover: dict[TaskId, dict[str, tuple[KeyValueBytesStore, int]]] = {}
        self._subtopology_of: dict[str, int] = {}
        self._stores_of: dict[int, list[StoreSpec]] = {}
        for spec in topology.stores.values():
            self._stores_of.setdefault(spec.subtopology, []).append(spec)
        changelogs = {spec.changelog_topic for spec in topology.stores.values() if spec.changelog_topic}
        collector.changelog_topics = frozenset(changelogs)

    def task_id_for(self, topic: str, partition: int) -> TaskId:
        sub = self._subtopology_of.get(topic)
        if sub is None:
            sub = self._subtopology_of[topic] = self.topology.subtopology_for_topic(topic)
        return TaskId(sub, partition)

    # --- rebalance callbacks: bookkeeping only --------------------------------------------------

    def assigned(self, partitions: Iterable[TopicPartitionKey]) -> list[TaskId]:
        """New partitions: their tasks become (or stay) PENDING; returns the new task ids."""
        new: list[TaskId] = []
        for topic, partition in partitions:
            task_id = self.task_id_for(topic, partition)
            active = self.tasks.get(task_id)
            if active is None:
                active = self.tasks[task_id] = ActiveTask(task_id, set())
                new.append(task_id)
            elif active.state is not TaskState.PENDING:
                # a co-partitioned partition joins a task that already runs: start it over
                self._close(active, clean=False)
                active.state = TaskState.PENDING
            active.partitions.add((topic, partition))
            self.by_partition[(topic, partition)] = active
        return new

    def released(self, partitions: Iterable[TopicPartitionKey], *, clean: bool) -> list[TaskId]:
        """Partitions taken away (revoked or lost): tasks left without partitions are closed."""
        closing: dict[TaskId, ActiveTask] = {}
        for key in partitions:
            active = self.by_partition.pop(key, None)
            if active is None:
                continue
            active.partitions.discard(key)
            closing[active.task_id] = active
        closed = []
        for task_id, active in closing.items():
            self._close(active, clean=clean and active.state is TaskState.RUNNING)
            if active.partitions:
                active.state = TaskState.PENDING  # what is left of a co-partitioned task starts over
            else:
                del self.tasks[task_id]
                closed.append(task_id)
        return closed

    # --- the loop's work ------------------------------------------------------------------------

    def initialize_pending(self) -> None:
        """PENDING -> RESTORING for every pending task whose committed offsets can be read now."""
        pending = [active for active in self.tasks.values() if active.state is TaskState.PENDING]
        if not pending:
            return
        wanted = [TopicPartition(topic, partition) for active in pending for topic, partition in
                  sorted(active.partitions)]
        try:
            committed = self.consumer.committed(wanted, timeout=COMMITTED_TIMEOUT_S)
        except KafkaException as exc:
            log.debug("reading committed offsets: %s (retrying)", exc)
            return
        offsets = {(tp.topic, tp.partition): tp.offset for tp in committed if tp.error is None}
        times = {(tp.topic, tp.partition): decode_stream_time(tp.metadata) for tp in committed
                 if tp.error is None}
        reset = OFFSET_BEGINNING if self.config.auto_offset_reset == "earliest" else OFFSET_END
        for active in pending:
            if any(key not in offsets for key in active.partitions):
                continue
            active.start_offsets = {key: offsets[key] if offsets[key] >= 0 else reset
                                    for key in active.partitions}
            active.start_stream_time = max((times.get(key, -1) for key in active.partitions), default=-1)
            active.consumed = {}
            self._plan_restore(active)
            active.state = TaskState.RESTORING

    def _plan_restore(self, active: ActiveTask) -> None:
        task_id = active.task_id
        checkpoint = self.directory.checkpoint(task_id).read()
        warm = self.handover.pop(task_id, {})
        targets: list[ChangelogTarget] = []
        for spec in self._stores_of.get(task_id.subtopology, []):
            topic = spec.changelog_topic or spec.source_topic
            if spec.name in warm and topic is not None:
                store, position = warm.pop(spec.name)
                low, high = self.reader.watermarks(topic, task_id.partition)
                if low <= position <= high:
                    active.stores[spec.name] = store
                    targets.append(ChangelogTarget(task_id, store, topic, task_id.partition, position, high))
                    continue
                store.close()
            if topic is None:
                active.stores[spec.name] = self._open(spec, task_id, wipe=False)  # nothing to restore it from
                continue
            low, high = self.reader.watermarks(topic, task_id.partition)
            if spec.source_topic is not None and spec.changelog_topic is None:
                committed = active.start_offsets.get((topic, task_id.partition), -1)
                high = max(low, committed) if committed >= 0 else low
            saved = checkpoint.get((topic, task_id.partition)) if spec.persistent else None
            valid = saved is not None and low <= saved <= high
            store = self._open(spec, task_id, wipe=spec.persistent and not valid)
            active.stores[spec.name] = store
            position = saved if valid and saved is not None else low
            if saved is not None and not valid:
                log.info("task %s: checkpoint of store %r (offset %d) is outside %s[%d] (%d..%d); "
                         "restoring from the start", task_id, spec.name, saved, topic, task_id.partition,
                         low, high)
            targets.append(ChangelogTarget(task_id, store, topic, task_id.partition, position, high))
        for store, _ in warm.values():
            store.close()
        self.reader.add(targets)

    def _open(self, spec: StoreSpec, task_id: TaskId, *, wipe: bool) -> KeyValueBytesStore:
        if not spec.persistent:
            return open_store(spec, None)
        directory = self.directory.store_dir(task_id, spec.name)
        if wipe:
            shutil.rmtree(directory, ignore_errors=True)
            directory = self.directory.store_dir(task_id, spec.name)
        return open_store(spec, directory)

    def finish_restores(self, now_ms: int) -> list[TaskId]:
        """RESTORING -> RUNNING for every task whose restore is complete; returns their ids."""
        started: list[TaskId] = []
        for active in self.tasks.values():
            if active.state is not TaskState.RESTORING or self.reader.restoring(active.task_id):
                continue
            for target in self.reader.remove(active.task_id):
                active.changelog_positions[target.key] = max(target.position, 0)
            active.task = Task(self.topology, active.task_id, active.stores, self.global_stores,
                               self.collector, self.config)
            active.task.stream_time = active.start_stream_time  # what it was at the last commit
            active.task.initialize(now_ms)
            if self.exactly_once:
                self.directory.checkpoint(active.task_id).delete()
            tps = [TopicPartition(topic, partition, active.start_offsets[(topic, partition)])
                   for topic, partition in sorted(active.partitions)]
            for tp in tps:
                try:
                    self.consumer.seek(tp)
                except KafkaException as exc:
                    log.debug("seek %s[%d] to %d: %s", tp.topic, tp.partition, tp.offset, exc)
            self.consumer.resume([TopicPartition(tp.topic, tp.partition) for tp in tps])
            active.state = TaskState.RUNNING
            started.append(active.task_id)
        return started

    def running(self) -> list[ActiveTask]:
        return [active for active in self.tasks.values() if active.state is TaskState.RUNNING]

    def pause_all_not_running(self) -> None:
        tps = [TopicPartition(topic, partition) for active in self.tasks.values()
               if active.state is not TaskState.RUNNING for topic, partition in active.partitions]
        if tps:
            self.consumer.pause(tps)

    # --- commits and checkpoints ----------------------------------------------------------------

    def offsets_to_commit(self) -> list[TopicPartition]:
        """The next offsets to commit, each with its task's stream time in the commit metadata."""
        return [TopicPartition(topic, partition, offset, metadata=encode_stream_time(active.task))
                for active in self.running()
                for (topic, partition), offset in sorted(active.consumed.items())]

    def committed(self, offsets: Iterable[TopicPartition]) -> None:
        """The commit of `offsets` succeeded: they are where the tasks restart from now."""
        for tp in offsets:
            active = self.by_partition.get((tp.topic, tp.partition))
            if active is None:
                continue
            key = (tp.topic, tp.partition)
            active.start_offsets[key] = tp.offset
            if active.consumed.get(key) == tp.offset:
                del active.consumed[key]

    def flush_stores(self) -> None:
        for active in self.running():
            for store in active.stores.values():
                store.flush()

    def write_checkpoints(self, tasks: Iterable[ActiveTask] | None = None) -> None:
        """Record how far each persistent store's changelog is in the store (after a flush)."""
        for active in self.running() if tasks is None else tasks:
            offsets = self._checkpoint_offsets(active)
            if offsets:
                self.directory.checkpoint(active.task_id).write(offsets)

    def _checkpoint_offsets(self, active: ActiveTask) -> dict[TopicPartitionKey, int]:
        offsets: dict[TopicPartitionKey, int] = {}
        partition = active.task_id.partition
        for spec in self._stores_of.get(active.task_id.subtopology, []):
            if not spec.persistent:
                continue
            if spec.changelog_topic is not None:
                key = (spec.changelog_topic, partition)
                acked = self.collector.acked.get(key)
                position = active.changelog_positions.get(key, 0)
                if acked is not None and acked + 1 > position:
                    position = active.changelog_positions[key] = acked + 1
                offsets[key] = position
            elif spec.source_topic is not None:
                key = (spec.source_topic, partition)
                start = active.start_offsets.get(key, -1)
                if start >= 0:
                    offsets[key] = start
        return offsets

    # --- closing --------------------------------------------------------------------------------

    def _close(self, active: ActiveTask, *, clean: bool) -> None:
        with self.stores_lock:  # no query reads a store while it closes
            self._close_locked(active, clean=clean)

    def _close_locked(self, active: ActiveTask, *, clean: bool) -> None:
        for store, _ in self.handover.pop(active.task_id, {}).values():
            store.close()
        if active.task is not None:
            try:
                active.task.close()
            except Exception:  # a processor's close failing must not keep the stores open
                log.exception("task %s: closing its processors failed", active.task_id)
            active.task = None
        active.group = None  # buffered records are fetched again from the committed offsets
        self.reader.remove(active.task_id)
        if clean:
            for store in active.stores.values():
                store.flush()
            self.write_checkpoints([active])
        for spec in self._stores_of.get(active.task_id.subtopology, []):
            if spec.changelog_topic is not None:
                self.collector.acked.pop((spec.changelog_topic, active.task_id.partition), None)
        for store in active.stores.values():
            store.close()
        active.stores = {}
        if not clean and self.exactly_once:
            self.directory.wipe_task(active.task_id)
        tps = [TopicPartition(topic, partition) for topic, partition in active.partitions]
        if tps:
            with contextlib.suppress(KafkaException):  # no longer assigned
                self.consumer.pause(tps)

    def close_all(self, *, clean: bool) -> None:
        for active in list(self.tasks.values()):
            self._close(active, clean=clean and active.state is TaskState.RUNNING)
        self.tasks.clear()
        self.by_partition.clear()

    def revive(self, task_ids: Iterable[TaskId] | None = None) -> list[TaskId]:
        """Close tasks dirty and start them over from the committed offsets and changelogs."""
        revived = []
        for task_id in list(self.tasks) if task_ids is None else task_ids:
            active = self.tasks.get(task_id)
            if active is None:
                continue
            self._close(active, clean=False)
            active.state = TaskState.PENDING
            active.consumed = {}
            active.changelog_positions = {}
            revived.append(task_id)
        return revived

    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000
