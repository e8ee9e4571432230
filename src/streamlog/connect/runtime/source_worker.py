"""One source task in its thread: poll → transforms → converters → produce, with the offsets behind them.

Theory of operation (Kafka Connect's WorkerSourceTask / ExactlyOnceWorkerSourceTask):

At start the task's producer is made; under exactly-once its ``init_transactions`` comes first, which
fences a zombie with the same transactional id and aborts what it left open, so the offsets read next
(read_committed, offsets.py) are the last committed ones.  The task is started with a context that
answers ``offset(partition)`` from them, then polled in a loop until the worker stops it.

*At-least-once* (the default, ``exactly.once.support=requested``): an idempotent producer
(``acks=all``).  Each polled record's source offset becomes the pending offset of its source partition
(records dropped by a transform or skipped under ``errors.tolerance=all`` count too: they are done
with).  Every ``offset.flush.interval.ms`` the producer is flushed, so every record polled so far is
acknowledged (a failed delivery fails the task: nothing after it is committed), the pending offsets are
written to the offsets topic and flushed, and only then does the task hear ``offsets_committed``.
Stopping does a last flush and commit; so does a failing task, for the records sent before the
failure.  A crash loses at most the offsets since the last commit:
those records are produced again after the restart (duplicates, never a loss).

*Exactly-once* (``exactly.once.support=required``, KIP-618, ``transaction.boundary=poll``): a
transactional producer with ``transactional.id`` = ``<group id>-<connector>-<task id>``.  Each
non-empty poll is one transaction: begin, the records, the latest offset per source partition of the
batch to the offsets topic, commit, then ``offsets_committed``.  An empty poll commits nothing.  A
failed send or commit aborts the transaction (no record and no offset of it is visible).  When
librdkafka says the transaction can be aborted and the batch written again (a broker restart, a
coordinator that moved), the converted batch is written again in a new transaction, for up to
``TXN_RETRY_LIMIT_S``; a retriable commit error is retried as it is.  Any other failure (a fenced
producer, a record the broker refuses, a batch that keeps failing) fails the task; a restart resumes
from the last committed offsets.

Missing target topics: with ``topic.creation.default.partitions`` / ``.replication.factor`` set the
task creates each topic (AdminClient) before its first record; otherwise it leaves them to the
broker's auto-creation, as Kafka Connect does when topic creation is off.

``errors.tolerance=all``: a record whose transform or conversion raises is skipped (logged when
``errors.log.enable``); ``none`` (default): the task fails.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from confluent_kafka import KafkaError, KafkaException, Message, Producer
from confluent_kafka.admin import AdminClient

from streamlog.connect.api import (
    ConnectError,
    ConnectorConfig,
    ConnectorPlugin,
    SourceOffset,
    SourcePartition,
    SourceRecord,
    SourceTask,
)
from streamlog.connect.runtime.config import Config
from streamlog.connect.runtime.offsets import (
    OffsetMap,
    ensure_offsets_topic,
    offset_key,
    offset_value,
    partition_id,
    read_offsets,
)
from streamlog.connect.runtime.pieces import (
    PRODUCER_DEFAULTS,
    TopicCreator,
    apply_transforms,
    client_settings,
    encode_headers,
    make_converter,
    make_transforms,
)
from streamlog.connect.runtime.states import TaskThread

log = logging.getLogger("streamlog.connect")

POLL_TIMEOUT_S: Final = 0.5
TXN_TIMEOUT_S: Final = 30.0
TXN_RETRY_LIMIT_S: Final = 120.0  # how long one batch is retried through broker outages before the task fails
# delivery errors that writing the batch again cannot cure
PERMANENT_DELIVERY_ERRORS: Final = frozenset({
    KafkaError.MSG_SIZE_TOO_LARGE, KafkaError.RECORD_LIST_TOO_LARGE, KafkaError.TOPIC_AUTHORIZATION_FAILED,
    KafkaError.INVALID_RECORD, KafkaError.CLUSTER_AUTHORIZATION_FAILED, KafkaError.TOPIC_EXCEPTION,
    KafkaError.TRANSACTIONAL_ID_AUTHORIZATION_FAILED})
FLUSH_TIMEOUT_S: Final = 60.0


@dataclass(frozen=True, slots=True)
class _Outgoing:
    """A record ready for the producer."""

    topic: str
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, str | bytes | None]]
    extra: dict[str, Any]


class SourceContext:
    """What a source task sees of the runner (api.SourceTaskContext)."""

    def __init__(self, config: Config, task_id: int, offsets: OffsetMap, producer_settings: Mapping[str, Any],
                 bootstrap: str) -> None:
        self.config: ConnectorConfig = config
        self.task_id = task_id
        self._offsets = offsets
        self._producer_settings = dict(producer_settings)
        self._bootstrap = bootstrap
        self.commit_requested = threading.Event()

    def offset(self, partition: SourcePartition) -> SourceOffset | None:
        found = self._offsets.get(partition_id(partition))
        return None if found is None else found[1]

    def producer_config(self) -> dict[str, str]:
        return {k: v for k, v in self._producer_settings.items() if k != "transactional.id"}

    def bootstrap(self) -> str:
        return self._bootstrap

    def request_commit(self) -> None:
        self.commit_requested.set()


class SourceWorkerTask(TaskThread):
    """One source task: see the module docstring."""

    make_producer: Callable[[dict[str, Any]], Producer] = Producer  # tests replace it to inject failures

    def __init__(self, *, config: Config, plugin: ConnectorPlugin, task_id: int, bootstrap: str,
                 client_config: Mapping[str, str], offsets_topic: str, flush_interval_ms: int,
                 group_id: str) -> None:
        super().__init__(config.name, task_id)
        self.config = config
        self.plugin = plugin
        self.bootstrap = config.get_string("bootstrap.servers") or bootstrap
        self.client_config = dict(client_config)
        self.offsets_topic = config.get_string("offsets.storage.topic") or offsets_topic
        self.flush_interval_s = flush_interval_ms / 1000
        self.exactly_once = config.get_string("exactly.once.support") == "required"
        self.transactional_id = f"{group_id}-{config.name}-{task_id}"
        self.tolerate_all = config.get_string("errors.tolerance") == "all"
        self._delivery_error: KafkaError | None = None
        self._error_lock = threading.Lock()
        self._last_partition: tuple[dict[str, Any], str] | None = None

    # -- thread body ----------------------------------------------------------------------------------

    def work(self) -> None:
        forced = {"enable.idempotence": "true", "acks": "all"}
        if self.exactly_once:
            forced["transactional.id"] = self.transactional_id
            forced["transaction.timeout.ms"] = str(int(TXN_TIMEOUT_S * 1000))
        settings = client_settings(self.bootstrap, self.client_config, self.config, "producer",
                                   PRODUCER_DEFAULTS, forced)
        admin_settings = client_settings(self.bootstrap, self.client_config, self.config, "admin", {}, {})
        ensure_offsets_topic(AdminClient(admin_settings), self.offsets_topic)
        producer = self.make_producer(settings)
        if self.exactly_once:
            producer.init_transactions(TXN_TIMEOUT_S)  # fences a zombie, aborts what it left open
        consumer_settings = client_settings(self.bootstrap, self.client_config, self.config, "consumer",
                                            {}, {})
        consumer_settings.pop("bootstrap.servers", None)
        stored = read_offsets(self.bootstrap, self.offsets_topic, self.config.name, consumer_settings)
        self.key_converter = make_converter(self.config, is_key=True)
        self.value_converter = make_converter(self.config, is_key=False)
        self.transforms = make_transforms(self.config)
        self.topics = TopicCreator(admin_settings, self.config)
        task: Any = self.plugin.task_factory(self.config)
        source_task: SourceTask = task
        self.context = SourceContext(self.config, self.task_id, stored, settings, self.bootstrap)
        source_task.start(self.context)
        clean = False
        try:
            if self.exactly_once:
                self._loop_exactly_once(source_task, producer)
            else:
                self._loop_at_least_once(source_task, producer)
            clean = True
        finally:
            try:
                source_task.stop()
            finally:
                if not clean and self.exactly_once:
                    _abort_quietly(producer)
                producer.flush(5 if not clean else FLUSH_TIMEOUT_S)

    def _loop_at_least_once(self, task: SourceTask, producer: Producer) -> None:
        pending: dict[str, tuple[SourcePartition, SourceOffset]] = {}
        next_flush = time.monotonic() + self.flush_interval_s
        try:
            while not self.stopping.is_set():
                if self.paused.is_set():
                    self.stopping.wait(0.1)
                else:
                    for record in task.poll(POLL_TIMEOUT_S):
                        self._send(producer, record)
                        pending[self._partition_id(record.source_partition)] = (record.source_partition,
                                                                                record.source_offset)
                producer.poll(0)
                self._raise_delivery_error()
                if time.monotonic() >= next_flush or self.context.commit_requested.is_set():
                    self.context.commit_requested.clear()
                    self._commit_at_least_once(task, producer, pending)
                    next_flush = time.monotonic() + self.flush_interval_s
        except Exception:
            # as Kafka Connect's final commit of a failed task: the records sent before the failure
            # are still committed if the broker acknowledges them (a failed delivery stops this)
            with contextlib.suppress(Exception):
                self._commit_at_least_once(task, producer, pending)
            raise
        self._commit_at_least_once(task, producer, pending)

    def _commit_at_least_once(self, task: SourceTask, producer: Producer,
                              pending: dict[str, tuple[SourcePartition, SourceOffset]]) -> None:
        if not pending:
            return
        snapshot = dict(pending)
        self._flush(producer)
        self._write_offsets(producer, snapshot)
        self._flush(producer)
        pending.clear()
        task.offsets_committed(snapshot)

    def _loop_exactly_once(self, task: SourceTask, producer: Producer) -> None:
        while not self.stopping.is_set():
            if self.paused.is_set():
                self.stopping.wait(0.1)
                continue
            records = task.poll(POLL_TIMEOUT_S)
            if not records:
                producer.poll(0)
                continue
            self._commit_batch(task, producer, records)

    def _commit_batch(self, task: SourceTask, producer: Producer, records: Sequence[SourceRecord]) -> None:
        batch: dict[str, tuple[SourcePartition, SourceOffset]] = {}
        prepared: list[_Outgoing] = []
        for record in records:
            outgoing = self._prepare(record)
            if outgoing is not None:
                prepared.append(outgoing)
            batch[self._partition_id(record.source_partition)] = (record.source_partition,
                                                                  record.source_offset)
        deadline = time.monotonic() + TXN_RETRY_LIMIT_S
        while True:
            try:
                producer.begin_transaction()
                for outgoing in prepared:
                    self._produce(producer, outgoing)
                self._write_offsets(producer, batch)
                self._commit_transaction(producer, deadline)
                break
            except KafkaException as exc:
                error = exc.args[0]
                _abort_quietly(producer)
                with self._error_lock:
                    delivery, self._delivery_error = self._delivery_error, None
                permanent = delivery is not None and delivery.code() in PERMANENT_DELIVERY_ERRORS
                if (error.fatal() or not error.txn_requires_abort() or permanent
                        or time.monotonic() > deadline or self.stopping.is_set()):
                    cause = delivery if permanent and delivery is not None else error
                    raise ConnectError(f"the transaction of task {self.connector}-{self.task_id} failed: "
                                       f"{cause.str()}") from exc
                log.warning("task %s-%d: transaction aborted (%s); writing the batch again",
                            self.connector, self.task_id, error.str())
                time.sleep(0.5)
        task.offsets_committed(batch)

    def _commit_transaction(self, producer: Producer, deadline: float) -> None:
        """Commit, again while the error is retriable (e.g. the coordinator moved) until the deadline."""
        while True:
            try:
                producer.commit_transaction(TXN_TIMEOUT_S)
                return
            except KafkaException as exc:
                error = exc.args[0]
                if (not error.retriable() or error.txn_requires_abort() or error.fatal()
                        or time.monotonic() > deadline or self.stopping.is_set()):
                    raise
                time.sleep(0.2)

    # -- records --------------------------------------------------------------------------------------

    def _send(self, producer: Producer, record: SourceRecord) -> None:
        outgoing = self._prepare(record)
        if outgoing is not None:
            self._produce(producer, outgoing)

    def _partition_id(self, partition: SourcePartition) -> str:
        """`partition_id`, remembered for the last partition seen: a task's records almost always name one
        source partition (often as a new but equal dict each), and its canonical JSON costs per record."""
        last = self._last_partition
        if last is not None and last[0] == partition:
            return last[1]
        ident = partition_id(partition)
        self._last_partition = (dict(partition), ident)
        return ident

    def _prepare(self, record: SourceRecord) -> _Outgoing | None:
        """The record transformed and converted; None if dropped (or skipped under errors.tolerance=all)."""
        try:
            out = apply_transforms(self.transforms, record)
            if out is None:
                return None
            key = self.key_converter.from_connect(out.topic, out.key_schema, out.key)
            value = self.value_converter.from_connect(out.topic, out.value_schema, out.value)
            headers = encode_headers(out.headers)
        except Exception as exc:
            if not self.tolerate_all:
                raise
            self._log_skipped(record, exc)
            return None
        self.topics.ensure(out.topic)
        extra: dict[str, Any] = {}
        if out.partition is not None:
            extra["partition"] = out.partition
        if out.timestamp is not None:
            extra["timestamp"] = out.timestamp
        return _Outgoing(out.topic, key, value, headers, extra)

    def _produce(self, producer: Producer, outgoing: _Outgoing) -> None:
        while True:
            try:
                producer.produce(outgoing.topic, value=outgoing.value, key=outgoing.key,
                                 headers=outgoing.headers, on_delivery=self._delivered, **outgoing.extra)
                return
            except BufferError:
                producer.poll(0.1)
                self._raise_delivery_error()

    def _log_skipped(self, record: SourceRecord, exc: Exception) -> None:
        if not self.config.get_bool("errors.log.enable"):
            return
        if self.config.get_bool("errors.log.include.messages"):
            log.error("task %s-%d: skipping a record that failed (errors.tolerance=all): %s; record: %r",
                      self.connector, self.task_id, str(exc), record)
        else:
            log.error("task %s-%d: skipping a record of topic %s that failed (errors.tolerance=all): %s",
                      self.connector, self.task_id, record.topic, str(exc))

    def _write_offsets(self, producer: Producer,
                       offsets: Mapping[str, tuple[SourcePartition, SourceOffset]]) -> None:
        for partition, offset in offsets.values():
            producer.produce(self.offsets_topic, key=offset_key(self.connector, partition),
                             value=offset_value(offset), on_delivery=self._delivered)

    def _delivered(self, error: KafkaError | None, _message: Message) -> None:
        if error is not None:
            with self._error_lock:
                if self._delivery_error is None:
                    self._delivery_error = error

    def _raise_delivery_error(self) -> None:
        with self._error_lock:
            error = self._delivery_error
        if error is not None:
            raise ConnectError(f"task {self.connector}-{self.task_id}: a record could not be delivered: "
                               f"{error.str()}")

    def _flush(self, producer: Producer) -> None:
        deadline = time.monotonic() + FLUSH_TIMEOUT_S
        while producer.flush(1.0) > 0:
            if time.monotonic() > deadline:
                raise ConnectError(f"task {self.connector}-{self.task_id}: records not acknowledged "
                                   f"within {FLUSH_TIMEOUT_S:.0f}s")
        self._raise_delivery_error()


def _abort_quietly(producer: Producer) -> None:
    try:
        producer.abort_transaction(10)
    except KafkaException as exc:
        log.debug("abort_transaction: %s", exc)
