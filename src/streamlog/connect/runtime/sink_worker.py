"""One sink task in its thread: a member of the connector's consumer group feeding ``put``.

Theory of operation (Kafka Connect's WorkerSinkTask): every sink task is a consumer in the group
``connect-<connector name>``, subscribed to ``topics`` (a list) or ``topics.regex``, reading
``read_committed`` with auto commit off.  When partitions are assigned the task hears ``open`` and
answers where to resume each one from its target's own record of what it applied; the consumer seeks
there (a partition it leaves out starts from the group's committed offset, else from
``auto.offset.reset``, earliest as Kafka Connect sets it).  Then it polls batches of at most
``consumer.override.max.poll.records`` (500) records, converts them (key and value converters;
headers are passed as bytes) and hands them to ``put``, which applies them with their offsets in one
target transaction.  After ``put`` the next offsets are committed to the group asynchronously: for
lag monitoring only, the target's offsets are the truth.  On revocation the task hears ``close``.
A paused task pauses its partitions and keeps polling, so it stays in the group.

Then the connector's transforms run on each converted record (``transforms``; a record a transform
drops is not put).  A record that fails conversion or a transform: under ``errors.tolerance=none``
(default) the task fails; under ``all`` it goes to ``errors.deadletterqueue.topic.name`` if set (the
original key, value and headers, plus Kafka Connect's ``__connect.errors.*`` context headers when
``errors.deadletterqueue.context.headers.enable=true``), else it is skipped.  The dead letter queue
topic is created if missing: one partition, the replication factor of
``errors.deadletterqueue.topic.replication.factor`` (here -1, the broker's default, by default:
Kafka's 3 cannot be placed on one node).

Dead letter queue context headers (values UTF-8 text, as Kafka Connect writes them):

=============================================  ==================================================
``__connect.errors.topic``                     the original record's topic
``__connect.errors.partition``                 its partition (decimal text)
``__connect.errors.offset``                    its offset (decimal text)
``__connect.errors.connector.name``            the connector
``__connect.errors.task.id``                   the task id (decimal text)
``__connect.errors.stage``                     KEY_CONVERTER, VALUE_CONVERTER or TRANSFORMATION
``__connect.errors.class.name``                the converter's class name (``key.converter``...);
                                               for a transform, the chain's types (comma-separated)
``__connect.errors.exception.class.name``      the Python exception's class
``__connect.errors.exception.message``         its message
``__connect.errors.exception.stacktrace``      its traceback
=============================================  ==================================================
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Mapping, Sequence
from typing import Any, Final

from confluent_kafka import Consumer, KafkaError, Message, Producer
from confluent_kafka import TopicPartition as KafkaTopicPartition
from confluent_kafka.admin import AdminClient

from streamlog.connect.api import (
    ConnectError,
    ConnectorConfig,
    ConnectorPlugin,
    SinkRecord,
    SinkTask,
    TopicPartition,
)
from streamlog.connect.runtime.config import Config
from streamlog.connect.runtime.pieces import (
    PRODUCER_DEFAULTS,
    apply_transforms,
    client_settings,
    create_topic,
    make_converter,
    make_transforms,
)
from streamlog.connect.runtime.states import TaskThread

log = logging.getLogger("streamlog.connect")

DEFAULT_MAX_POLL_RECORDS: Final = 500
POLL_TIMEOUT_S: Final = 0.5
ERROR_HEADER_PREFIX: Final = "__connect.errors."
# Kafka's internal topics, as librdkafka's topic.blacklist (regular expressions, comma-separated).
INTERNAL_TOPICS_BLACKLIST: Final = "^__consumer_offsets$,^__transaction_state$"


def sink_group_id(connector: str) -> str:
    return f"connect-{connector}"


class SinkContext:
    """What a sink task sees of the runner (api.SinkTaskContext)."""

    def __init__(self, config: Config, task_id: int) -> None:
        self.config: ConnectorConfig = config
        self.task_id = task_id


def _header(item: Any) -> tuple[str, bytes | None]:
    name, value = item
    return str(name), value.encode() if isinstance(value, str) else value


class ConversionFailed(Exception):
    def __init__(self, stage: str, class_name: str, cause: Exception) -> None:
        super().__init__(f"{stage}: {cause}")
        self.stage = stage
        self.class_name = class_name
        self.cause = cause


class SinkWorkerTask(TaskThread):
    """One sink task: see the module docstring."""

    def __init__(self, *, config: Config, plugin: ConnectorPlugin, task_id: int, bootstrap: str,
                 client_config: Mapping[str, str]) -> None:
        super().__init__(config.name, task_id)
        self.config = config
        self.plugin = plugin
        self.bootstrap = config.get_string("bootstrap.servers") or bootstrap
        self.client_config = dict(client_config)
        self.tolerate_all = config.get_string("errors.tolerance") == "all"
        self.dlq_topic = config.get_string("errors.deadletterqueue.topic.name") or ""
        self._dlq: Producer | None = None
        self._task: SinkTask | None = None
        self._assigned: list[TopicPartition] = []

    def work(self) -> None:
        forced = {"group.id": sink_group_id(self.connector), "enable.auto.commit": "false",
                  "isolation.level": "read_committed", "enable.auto.offset.store": "false"}
        # As Kafka Connect's consumers (exclude.internal.topics): topics.regex never matches the
        # broker's internal topics, which librdkafka's regex subscriptions would otherwise include.
        defaults = {"auto.offset.reset": "earliest", "topic.blacklist": INTERNAL_TOPICS_BLACKLIST}
        settings = client_settings(self.bootstrap, self.client_config, self.config, "consumer", defaults,
                                   forced)
        max_records = int(settings.pop("max.poll.records", DEFAULT_MAX_POLL_RECORDS))
        self.key_converter = make_converter(self.config, is_key=True)
        self.value_converter = make_converter(self.config, is_key=False)
        self.transforms = make_transforms(self.config)
        self.transform_types = ",".join(self.config.get_string(f"transforms.{alias}.type") or ""
                                        for alias in self.config.get_list("transforms"))
        made: Any = self.plugin.task_factory(self.config)
        task: SinkTask = made
        self._task = task
        task.start(SinkContext(self.config, self.task_id))
        consumer = Consumer(settings)
        try:
            topics = self.config.get_list("topics")
            regex = self.config.get_string("topics.regex") or ""
            subscription = topics if topics else ["^" + regex.removeprefix("^")]
            consumer.subscribe(subscription, on_assign=self._on_assign, on_revoke=self._on_revoke,
                               on_lost=self._on_revoke)
            self._loop(consumer, task, max_records)
        finally:
            try:
                if self._assigned:
                    task.close(list(self._assigned))
                    self._assigned = []
                consumer.close()
            finally:
                task.stop()
                if self._dlq is not None:
                    self._dlq.flush(10)

    def _loop(self, consumer: Consumer, task: SinkTask, max_records: int) -> None:
        paused = False
        while not self.stopping.is_set():
            if self.paused.is_set() != paused:
                paused = self.paused.is_set()
                assignment = consumer.assignment()
                if assignment:
                    (consumer.pause if paused else consumer.resume)(assignment)
            messages = consumer.consume(max_records, POLL_TIMEOUT_S)
            if paused:
                if messages:  # fetched before the pause took effect: read again after resume
                    _rewind(consumer, messages)
                continue
            records: list[SinkRecord] = []
            done: dict[tuple[str, int], int] = {}
            for message in messages:
                error = message.error()
                if error is not None:
                    if error.fatal():
                        raise ConnectError(f"sink {self.connector}-{self.task_id}: {error.str()}")
                    if error.code() != KafkaError._PARTITION_EOF:
                        log.warning("sink %s-%d: consumer error: %s", self.connector, self.task_id,
                                    error.str())
                    continue
                done[(message.topic() or "", message.partition() or 0)] = (message.offset() or 0) + 1
                try:
                    record = self._convert(message)
                except ConversionFailed as failure:
                    if not self.tolerate_all:
                        raise ConnectError(
                            f"sink {self.connector}-{self.task_id}: {failure}") from failure.cause
                    self._dead_letter(message, failure)
                    continue
                try:
                    transformed = apply_transforms(self.transforms, record)
                except Exception as exc:
                    if not self.tolerate_all:
                        raise ConnectError(
                            f"sink {self.connector}-{self.task_id}: transform failed on "
                            f"{record.topic}-{record.partition}@{record.offset}: {exc}") from exc
                    self._dead_letter(message, ConversionFailed("TRANSFORMATION", self.transform_types, exc))
                    continue
                if transformed is not None:
                    records.append(transformed)
            task.put(records)
            if done:
                offsets = [KafkaTopicPartition(t, p, o) for (t, p), o in done.items()]
                consumer.commit(offsets=offsets, asynchronous=True)

    def _convert(self, message: Message) -> SinkRecord:
        topic = message.topic() or ""
        try:
            key_schema, key = self.key_converter.to_connect(topic, message.key())
        except Exception as exc:
            raise ConversionFailed("KEY_CONVERTER", self.config.get_string("key.converter") or "",
                                   exc) from exc
        try:
            value_schema, value = self.value_converter.to_connect(topic, message.value())
        except Exception as exc:
            raise ConversionFailed("VALUE_CONVERTER", self.config.get_string("value.converter") or "",
                                   exc) from exc
        kind, timestamp = message.timestamp()
        headers = tuple(_header(item) for item in message.headers() or [])
        return SinkRecord(topic, message.partition() or 0, message.offset() or 0,
                          timestamp if kind != 0 else None, key_schema, key, value_schema, value, headers)

    def _dead_letter(self, message: Message, failure: ConversionFailed) -> None:
        if self.config.get_bool("errors.log.enable"):
            log.error("sink %s-%d: record %s-%s@%s failed (errors.tolerance=all): %s", self.connector,
                      self.task_id, message.topic(), message.partition(), message.offset(), failure)
        if not self.dlq_topic:
            return
        if self._dlq is None:
            producer_settings = client_settings(self.bootstrap, self.client_config, self.config, "producer",
                                                PRODUCER_DEFAULTS, {})
            admin = AdminClient(client_settings(self.bootstrap, self.client_config, self.config, "admin",
                                                {}, {}))
            if self.dlq_topic not in admin.list_topics(timeout=10).topics:
                create_topic(admin, self.dlq_topic, 1,
                             self.config.get_int("errors.deadletterqueue.topic.replication.factor"), {})
            self._dlq = Producer(producer_settings)
        headers: list[tuple[str, str | bytes | None]] = [_header(item) for item in message.headers() or []]
        if self.config.get_bool("errors.deadletterqueue.context.headers.enable"):
            headers.extend(self._context_headers(message, failure))
        self._dlq.produce(self.dlq_topic, key=message.key(), value=message.value(), headers=headers)
        self._dlq.poll(0)

    def _context_headers(self, message: Message,
                         failure: ConversionFailed) -> list[tuple[str, str | bytes | None]]:
        cause = failure.cause
        fields = {
            "topic": message.topic() or "",
            "partition": str(message.partition()),
            "offset": str(message.offset()),
            "connector.name": self.connector,
            "task.id": str(self.task_id),
            "stage": failure.stage,
            "class.name": failure.class_name,
            "exception.class.name": f"{type(cause).__module__}.{type(cause).__qualname__}",
            "exception.message": str(cause),
            "exception.stacktrace": "".join(traceback.format_exception(cause)),
        }
        return [(ERROR_HEADER_PREFIX + name, value.encode()) for name, value in fields.items()]

    # -- rebalance callbacks (run inside consume, in this thread) ------------------------------------

    def _on_assign(self, consumer: Consumer, partitions: list[KafkaTopicPartition]) -> None:
        if self._task is None:
            return
        assigned = [TopicPartition(p.topic, p.partition) for p in partitions]
        starts = self._task.open(assigned)
        self._assigned = assigned
        for partition in partitions:
            start = starts.get(TopicPartition(partition.topic, partition.partition))
            if start is not None:
                partition.offset = start
        consumer.assign(partitions)
        log.info("sink %s-%d: assigned %s", self.connector, self.task_id,
                 ", ".join(f"{p.topic}-{p.partition}" for p in partitions) or "nothing")

    def _on_revoke(self, consumer: Consumer, partitions: list[KafkaTopicPartition]) -> None:
        if self._task is None:
            return
        revoked = [tp for tp in (TopicPartition(p.topic, p.partition) for p in partitions)
                   if tp in self._assigned]  # not those closed already (at shutdown)
        if revoked:
            self._task.close(revoked)
        self._assigned = [p for p in self._assigned if p not in revoked]


def _rewind(consumer: Consumer, messages: Sequence[Message]) -> None:
    first: dict[tuple[str, int], int] = {}
    for message in messages:
        if message.error() is None:
            first.setdefault((message.topic() or "", message.partition() or 0), message.offset() or 0)
    for (topic, partition), offset in first.items():
        consumer.seek(KafkaTopicPartition(topic, partition, offset))
