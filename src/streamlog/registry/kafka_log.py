"""Reading and writing the ``_schemas`` topic with confluent-kafka, from threads, for an asyncio loop.

Theory of operation: the registry's state is the topic (records.py).  `SchemasTopic` makes sure the
topic exists (one partition, ``cleanup.policy=compact``, as Confluent creates it), then runs two
threads.  The reader assigns itself partition 0 from offset 0 and hands each batch of decoded
records, with its offsets, to a callback, which the service runs on its event loop.  The poller
serves the producer's delivery reports.  ``append`` produces records (acks=all, idempotent, in
order) and resolves to the offset of the last one; the service then waits until the reader has
applied that offset before it answers, so every answer reflects its own write (read your writes)
and every registry instance applies the same records in the same order.

Only the Kafka protocol is used, so the same code runs against Apache Kafka or Redpanda.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Sequence
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

from streamlog.registry import records
from streamlog.registry.records import NoopRecord, Record

log = logging.getLogger(__name__)

DEFAULT_TOPIC = "_schemas"
Batch = list[tuple[int, Record]]


class TopicError(Exception):
    """The topic cannot be created or read (unreachable brokers, wrong cleanup policy, ...)."""


class SchemasTopic:
    def __init__(self, bootstrap: str, *, topic: str = DEFAULT_TOPIC,
                 client_config: dict[str, Any] | None = None) -> None:
        self.bootstrap = bootstrap
        self.topic = topic
        # librdkafka's informational lines (e.g. "Purging unserved events" when the start-up admin
        # client closes) are noise in `streamlog serve`'s output; warnings and errors stay
        self._client_config = {"bootstrap.servers": bootstrap, "log_level": 4, **(client_config or {})}
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._producer: Producer | None = None
        self._consumer: Consumer | None = None

    # --- setup ----------------------------------------------------------------------------------

    def ensure_topic(self, timeout: float = 30.0) -> None:
        admin = AdminClient(self._client_config)
        try:
            metadata = admin.list_topics(timeout=timeout)
        except KafkaException as exc:
            raise TopicError(f"cannot reach the Kafka cluster at {self.bootstrap}: {exc}") from None
        if self.topic in metadata.topics and metadata.topics[self.topic].error is None:
            return
        replication = min(3, max(1, len(metadata.brokers)))
        new = NewTopic(self.topic, num_partitions=1, replication_factor=replication,
                       config={"cleanup.policy": "compact"})
        future = admin.create_topics([new], operation_timeout=timeout)[self.topic]
        try:
            future.result(timeout=timeout)
            log.info("created topic %s (compacted, 1 partition, replication %d)", self.topic, replication)
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise TopicError(f"cannot create topic {self.topic}: {exc.args[0].str()}") from None

    def end_offset(self, timeout: float = 30.0) -> int:
        """The offset the next record will get (the high watermark of partition 0)."""
        consumer = Consumer({**self._client_config, "group.id": "streamlog-registry-probe",
                             "enable.auto.commit": False})
        try:
            _, high = consumer.get_watermark_offsets(TopicPartition(self.topic, 0), timeout=timeout)
            return int(high)
        except KafkaException as exc:
            raise TopicError(f"cannot read {self.topic}: {exc}") from None
        finally:
            consumer.close()

    # --- running --------------------------------------------------------------------------------

    def start(self, on_batch: Callable[[Batch], None]) -> None:
        self._consumer = Consumer({
            **self._client_config, "group.id": "streamlog-registry-reader", "enable.auto.commit": False,
            # a long poll: the broker answers as soon as a record arrives, so read-back is not
            # delayed, and an idle registry costs the broker two fetches a second, not a hundred
            "enable.partition.eof": False, "fetch.wait.max.ms": 500, "isolation.level": "read_committed",
            # large fetches: a replay of 100,000 schemas takes a few round trips, not a hundred
            "max.partition.fetch.bytes": 16 * 1024 * 1024, "fetch.max.bytes": 64 * 1024 * 1024,
        })
        self._consumer.assign([TopicPartition(self.topic, 0, OFFSET_BEGINNING)])
        self._producer = Producer({**self._client_config, "acks": "all", "enable.idempotence": True,
                                   "linger.ms": 0, "message.max.bytes": 16 * 1024 * 1024})
        self._threads = [
            threading.Thread(target=self._read, args=(on_batch,), name="registry-reader", daemon=True),
            threading.Thread(target=self._poll_producer, name="registry-producer", daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def _read(self, on_batch: Callable[[Batch], None]) -> None:
        consumer = self._consumer
        assert consumer is not None
        delivered = -1
        while not self._stop.is_set():
            try:
                # poll returns at the first record; consume(timeout=0) then takes what is already
                # fetched (consume with a timeout would wait it out unless the batch filled up)
                first = consumer.poll(0.2)
                messages = [] if first is None else [first, *consumer.consume(num_messages=999, timeout=0)]
            except (KafkaException, RuntimeError) as exc:
                log.warning("reading %s: %s", self.topic, exc)
                continue
            batch: Batch = []
            for message in messages:
                error, offset = message.error(), message.offset()
                if error is not None:
                    if error.code() != KafkaError._PARTITION_EOF:
                        log.warning("reading %s: %s", self.topic, error.str())
                    continue
                if offset is not None:
                    batch.append((offset, records.decode(message.key(), message.value())))
            if not messages:
                # Idle: the position may be past offsets no record was delivered for (transaction
                # markers, offsets compaction removed); report it, so "read to offset N" completes.
                position = self._position(consumer)
                if position - 1 > delivered:
                    batch.append((position - 1, NoopRecord()))
            if batch:
                delivered = max(delivered, batch[-1][0])
                on_batch(batch)

    def _position(self, consumer: Consumer) -> int:
        try:
            (position,) = consumer.position([TopicPartition(self.topic, 0)])
        except (KafkaException, RuntimeError, ValueError):
            return -1
        return position.offset if position.offset is not None and position.offset >= 0 else -1

    def _poll_producer(self) -> None:
        producer = self._producer
        assert producer is not None
        while not self._stop.is_set():
            producer.poll(0.1)

    async def append(self, items: Sequence[Record]) -> int:
        """Produce records in order; the offset of the last, once the cluster acknowledged all."""
        producer = self._producer
        assert producer is not None and items
        loop = asyncio.get_running_loop()
        done: asyncio.Future[int] = loop.create_future()
        remaining = len(items)
        last = -1

        def delivered(error: KafkaError | None, message: Any) -> None:
            nonlocal remaining, last
            if error is not None:
                loop.call_soon_threadsafe(_fail, done, TopicError(f"writing {self.topic}: {error.str()}"))
                return
            remaining -= 1
            last = max(last, message.offset())
            if remaining == 0:
                loop.call_soon_threadsafe(_succeed, done, last)

        for item in items:
            key, value = records.encode(item)
            producer.produce(self.topic, value=value, key=key, partition=0, on_delivery=delivered)
        producer.poll(0)
        return await done

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=10)
        if self._producer is not None:
            self._producer.flush(5)
        if self._consumer is not None:
            self._consumer.close()
        self._threads = []


def _succeed(future: asyncio.Future[int], value: int) -> None:
    if not future.done():
        future.set_result(value)


def _fail(future: asyncio.Future[int], error: Exception) -> None:
    if not future.done():
        future.set_exception(error)
