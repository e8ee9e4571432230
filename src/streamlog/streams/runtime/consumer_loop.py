"""The processing loop of one instance: poll, process, punctuate, commit; and the rebalance callbacks.

Theory of operation: one thread owns every client and every task, so nothing here needs a lock.
Each `iteration`:

1. moves tasks along (tasks.py): pending tasks get their committed offsets and a restore plan, the
   changelog reader applies a slice of the restores (and tails the standbys), restored tasks start;
2. polls the group consumer for a batch (without waiting while restores are under way) and hands
   each record to its task; a task fed by several partitions (co-partitioned inputs) buffers them
   per partition and takes them in timestamp order across its partitions, each partition in offset
   order, waiting while an empty partition still has records on the broker, as Kafka Streams'
   ``PartitionGroup`` with ``max.task.idle.ms=0`` (partition_group.py);
3. fires due wall-clock punctuators, applies global-table updates, commits when the commit interval
   has passed, logs progress.

Rebalance callbacks run inside ``consume``.  On assignment they apply it (incrementally under the
cooperative protocol), pause the new partitions (they resume once their task is restored) and
register the tasks.  On revocation they commit first (under exactly-once: the open transaction,
before anyone else may own the partitions), then close the revoked tasks cleanly.  On loss (the
member was dropped from the group) nothing can be committed: the open transaction is aborted and the
lost tasks are closed dirty; the tasks still owned start over from their committed offsets.
Exceptions inside a callback are kept and raised after ``consume`` returns, never inside librdkafka.

Assignment strategy: cooperative-sticky (incremental rebalances: tasks not moving keep processing)
when every sub-topology reads a single topic.  A sub-topology reading several co-partitioned topics
(a join, a merge, a table and a stream) needs partition p of all of them in the same task, and the
cooperative-sticky assignor balances partitions one by one, ignoring topics; the ``range`` assignor
gives member i the same slice of partition numbers of every topic whose partition count is the same
(which co-partitioning guarantees) when all members subscribe to the same topics (they do: one
application, one subscription), so it is used then, with eager rebalances.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Final, cast

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition

from streamlog.streams.errors import DeserializationError, InvalidTimestampError, StreamsError
from streamlog.streams.record import RawRecord, TaskId
from streamlog.streams.runtime.clients import OutageMonitor
from streamlog.streams.runtime.collector import KafkaRecordCollector
from streamlog.streams.runtime.commit import CommitResult, Committer
from streamlog.streams.runtime.errors import FatalRuntimeError, RecordErrorHandler
from streamlog.streams.runtime.global_stores import GlobalStateUpdater
from streamlog.streams.runtime.partition_group import MAX_WAIT_MS, PartitionGroup
from streamlog.streams.runtime.progress import ProgressReporter
from streamlog.streams.runtime.restore import ChangelogReader
from streamlog.streams.runtime.standby import StandbyManager
from streamlog.streams.runtime.tasks import ActiveTask, TaskManager, TaskState
from streamlog.streams.topology import Topology

log = logging.getLogger("streamlog.streams")

MAX_BATCH: Final = 500
EXTRA_BATCHES: Final = 40  # more batches taken at once while a multi-partition task waits (20,000 records)
RESTORE_SLICE_S: Final = 0.05
FATAL_CONSUMER_ERRORS: Final = frozenset({
    KafkaError.TOPIC_AUTHORIZATION_FAILED, KafkaError.GROUP_AUTHORIZATION_FAILED, KafkaError._FATAL,
    KafkaError.UNKNOWN_TOPIC_OR_PART, KafkaError._UNKNOWN_TOPIC, KafkaError._AUTO_OFFSET_RESET,
})


def assignment_strategy(topology: Topology) -> str:
    """cooperative-sticky unless a sub-topology reads several topics (see the module docstring)."""
    if all(len(sub.source_topics) == 1 for sub in topology.subtopologies):
        return "cooperative-sticky"
    return "range"


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class ProcessingLoop:
    """The loop and the rebalance callbacks of one instance (module docstring)."""

    def __init__(self, *, consumer: Consumer, collector: KafkaRecordCollector, tasks: TaskManager,
                 committer: Committer, reader: ChangelogReader, globals_: GlobalStateUpdater,
                 standbys: StandbyManager, handler: RecordErrorHandler, progress: ProgressReporter,
                 monitor: OutageMonitor, commit_interval_ms: int, poll_timeout_s: float,
                 cooperative: bool, new_producer: Callable[[], None]) -> None:
        self.consumer = consumer
        self.collector = collector
        self.tasks = tasks
        self.committer = committer
        self.reader = reader
        self.globals = globals_
        self.standbys = standbys
        self.handler = handler
        self.progress = progress
        self.monitor = monitor
        self.commit_interval_ms = commit_interval_ms
        self.poll_timeout_s = poll_timeout_s
        self.new_producer = new_producer
        self.closing = False
        self.rebalances = 0
        self._callback_error: BaseException | None = None
        self._next_commit = _now_ms() + commit_interval_ms
        self._cooperative = cooperative

    # --- subscription and callbacks ---------------------------------------------------------------

    def subscribe(self, topics: list[str]) -> None:
        self.consumer.subscribe(topics, on_assign=self._on_assign, on_revoke=self._on_revoke,
                                on_lost=self._on_lost)

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        try:
            if self._cooperative:
                consumer.incremental_assign(partitions)
            else:
                consumer.assign(partitions)
            if partitions:
                consumer.pause(partitions)
            new = self.tasks.assigned((tp.topic, tp.partition) for tp in partitions)
            self.rebalances += 1
            for task_id in new:
                self.standbys.promote(task_id)
            log.info("rebalance: assigned %s; active tasks now %s", _names(new) or "nothing new",
                     _names(sorted(self.tasks.tasks)) or "none")
            self.standbys.membership_changed()
        except BaseException as exc:  # raised after consume() returns
            self._callback_error = self._callback_error or exc

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        try:
            keys = [(tp.topic, tp.partition) for tp in partitions]
            clean = True
            if keys and not self.closing and any(self.tasks.by_partition.get(k) for k in keys):
                result = self.committer.commit()
                if result in (CommitResult.REVIVE, CommitResult.NEW_PRODUCER):
                    clean = False
                    self._recover(result, keep=keys)
            closed = self.tasks.released(keys, clean=clean)
            if self._cooperative:
                consumer.incremental_unassign(partitions)
            else:
                consumer.unassign()
            if closed:
                log.info("rebalance: revoked %s; active tasks now %s", _names(closed),
                         _names(sorted(self.tasks.tasks)) or "none")
            self.standbys.membership_changed()
        except BaseException as exc:
            self._callback_error = self._callback_error or exc

    def _on_lost(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        try:
            keys = [(tp.topic, tp.partition) for tp in partitions]
            if self.committer.exactly_once and self.collector.in_transaction:
                self._recover(self.committer.abort(), keep=keys)
            closed = self.tasks.released(keys, clean=False)
            if self._cooperative:
                consumer.incremental_unassign(partitions)
            else:
                consumer.unassign()
            log.warning("rebalance: lost %s (this instance was dropped from the group); they will be "
                        "processed again from their last commit", _names(closed) or "no tasks")
            self.standbys.membership_changed()
        except BaseException as exc:
            self._callback_error = self._callback_error or exc

    def _recover(self, result: CommitResult, keep: list[tuple[str, int]] | None = None) -> None:
        """After an abort (or a fenced producer): every task, except those being released, restarts."""
        if result is CommitResult.NEW_PRODUCER:
            self.new_producer()
        releasing = {self.tasks.by_partition[k].task_id for k in keep or [] if k in self.tasks.by_partition}
        revived = self.tasks.revive([t for t in self.tasks.tasks if t not in releasing])
        if revived:
            log.info("tasks %s start over from their last commit", _names(revived))

    def _raise_callback_error(self) -> None:
        if self._callback_error is not None:
            error, self._callback_error = self._callback_error, None
            raise error

    # --- one iteration ----------------------------------------------------------------------------

    def iteration(self) -> None:
        now = _now_ms()
        self.tasks.initialize_pending()
        if self.reader.targets:
            self.reader.step(RESTORE_SLICE_S if self.reader.busy() else 0.0)
        self.tasks.finish_restores(now)
        busy = self.reader.busy() or any(a.state is TaskState.PENDING for a in self.tasks.tasks.values())
        messages = self.consumer.consume(num_messages=MAX_BATCH, timeout=0.0 if busy else self.poll_timeout_s)
        if messages and any(a.group is not None and a.group.buffered() for a in self.tasks.running()):
            # a task waits for one of its partitions: take what librdkafka already fetched, so records
            # queued behind other partitions' reach their task's buffer without waiting on processing
            for _ in range(EXTRA_BATCHES):
                more = self.consumer.consume(num_messages=MAX_BATCH, timeout=0.0)
                if not more:
                    break
                messages.extend(more)
        self._raise_callback_error()
        if messages or any(active.group is not None for active in self.tasks.running()):
            self._process(messages, _now_ms())
        now = _now_ms()
        for active in self.tasks.running():
            assert active.task is not None
            active.task.punctuate_wall_clock(now)
        self.globals.poll()
        self.standbys.maybe_refresh()
        if now >= self._next_commit or self._commit_requested():
            self.commit()
        self.progress.maybe_report(self.handler.skipped)
        self.collector.poll()
        if self.monitor.due_probe():
            self._probe()
        if self.monitor.fatal is not None:
            raise FatalRuntimeError(f"the Kafka client failed for good: {self.monitor.fatal.str()}")

    def _probe(self) -> None:
        """A metadata request: answered, it ends the outage the monitor reported."""
        try:
            self.consumer.list_topics(timeout=0.5)
        except KafkaException:
            self.monitor.probe_failed()
            return
        self.monitor.connection_ok()

    def _commit_requested(self) -> bool:
        """A processor called ``context.commit()`` (Kafka Streams: commit soon)."""
        requested = False
        for active in self.tasks.running():
            if active.task is not None and active.task.commit_requested:
                active.task.commit_requested = False
                requested = True
        return requested

    def commit(self) -> CommitResult:
        self._next_commit = _now_ms() + self.commit_interval_ms
        result = self.committer.commit()
        if result in (CommitResult.REVIVE, CommitResult.NEW_PRODUCER):
            self._recover(result)
        elif result is CommitResult.COMMITTED:
            self.monitor.connection_ok()
        if result is not CommitResult.RETRY:
            self.globals.checkpoint()
            self.standbys.checkpoint()
        return result

    def _process(self, messages: list[Message], now: int) -> None:
        by_task: dict[TaskId, list[Message]] = {}
        tasks: dict[TaskId, ActiveTask] = {}
        for message in messages:
            error = message.error()
            if error is not None:
                self._consumer_error(error)
                continue
            active = self.tasks.by_partition.get((message.topic() or "", message.partition() or 0))
            if active is None or active.state is not TaskState.RUNNING:
                continue  # fetched before a pause: read again after the seek that resumes the task
            tasks[active.task_id] = active
            by_task.setdefault(active.task_id, []).append(message)
        count = 0
        for task_id, batch in by_task.items():
            active = tasks[task_id]
            if len(active.partitions) >= 2:
                group = active.group
                if group is None:
                    group = active.group = PartitionGroup(active.partitions, _message_timestamp)
                for message in batch:
                    group.add((message.topic() or "", message.partition() or 0), message)
                continue
            for message in batch:
                if active.state is not TaskState.RUNNING or active.task is None:
                    break  # revived by an abort in the middle of the batch
                self._process_one(active, message, now)
                count += 1
        for active in self.tasks.running():
            if active.group is not None:
                count += self._drain_group(active, now)
        self.progress.count(count)

    def _drain_group(self, active: ActiveTask, now: int) -> int:
        """Process a multi-partition task's buffered records in timestamp order while they are ready
        (at most `MAX_BATCH` per iteration, so the consumer keeps fetching for the other tasks)."""
        count = 0
        lag_state = self._lag_state(active)
        group = active.group
        forced = group.forced if group is not None else 0
        while (count < MAX_BATCH and active.group is not None and active.state is TaskState.RUNNING
               and active.task is not None):
            message = active.group.next_ready(lag_state, now)
            if message is None:
                break
            self._process_one(active, message, now)
            count += 1
        if group is not None and group.forced > forced and forced == 0:
            log.info("task %s: an empty input partition has not caught up after %d ms; processing the "
                     "others without waiting for it", active.task_id, MAX_WAIT_MS)
        return count

    def _lag_state(self, active: ActiveTask) -> Callable[[tuple[str, int]], bool | None]:
        def lag_state(partition: tuple[str, int]) -> bool | None:
            """True: nothing more to fetch for `partition`; False: records on the broker; None: not known."""
            tp = TopicPartition(*partition)
            try:
                _, end = self.consumer.get_watermark_offsets(tp, cached=True)  # the LSO under read_committed
                position = self.consumer.position([tp])[0].offset  # past control records, unlike ours
            except KafkaException:
                return None
            if end is None or end < 0 or position is None or position < 0:
                return None  # no fetch response or no position for it yet
            return bool(position >= end)
        return lag_state

    def _process_one(self, active: ActiveTask, message: Message, now: int) -> None:
        topic, partition, offset = message.topic() or "", message.partition() or 0, message.offset() or 0
        _, timestamp = message.timestamp()
        headers = message.headers()
        raw = RawRecord(topic, partition, offset, message.key(), message.value(), timestamp,
                        tuple(cast(list[tuple[str, bytes | None]], headers)) if headers else ())
        assert active.task is not None
        try:
            active.task.process(raw, now)
        except DeserializationError as exc:
            self.handler.handle(exc)  # raises FatalRuntimeError under "fail"
        except InvalidTimestampError as exc:
            raise FatalRuntimeError(f"{exc}; stopping", commit_first=True) from exc
        active.consumed[(topic, partition)] = offset + 1
        active.processed += 1

    def _consumer_error(self, error: KafkaError) -> None:
        code = error.code()
        if error.fatal() or code in FATAL_CONSUMER_ERRORS:
            raise FatalRuntimeError(f"consumer failed: {error.str()}")
        if code in (KafkaError._TRANSPORT, KafkaError._ALL_BROKERS_DOWN, KafkaError._RESOLVE):
            self.monitor.connection_lost(error.str())
        else:
            log.debug("consumer: %s", error.str())

    def all_running(self) -> bool:
        return bool(self.tasks.tasks) and all(a.state is TaskState.RUNNING for a in self.tasks.tasks.values())


def _message_timestamp(message: Message) -> int:
    return int(message.timestamp()[1])


def _names(task_ids: list[TaskId]) -> str:
    return ", ".join(str(t) for t in task_ids)


__all__ = ["ProcessingLoop", "StreamsError", "assignment_strategy"]
