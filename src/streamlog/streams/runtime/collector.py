"""The `RecordCollector` of the Kafka runtime: every task output goes through one producer.

Theory of operation: tasks call ``send`` for sink, repartition and changelog records alike.  A
record with an explicit partition (changelogs: the task's partition) goes there; otherwise the
producer's partitioner (``murmur2_random``, Kafka's Java client for keyed records) picks it, so keys
land where any Java, kafkajs or Streamlog producer would put them.  Timestamps are the record's own
(CreateTime), headers pass through.

Delivery reports are served by ``poll`` (called by the loop and by ``flush``).  Each acknowledged
offset of a changelog partition is kept (`acked`): the commit writes it to the task's checkpoint file
(next offset to restore from = acked + 1).  A failed delivery is kept in `errors` and the commit
(commit.py) acts on it, instead of raising inside librdkafka's callback.

Under exactly-once, ``send`` first opens a transaction if none is open (`begin`): outputs, changelog
writes and the input offsets of one commit interval are one transaction.
"""

from __future__ import annotations

import time
from typing import Any

from confluent_kafka import KafkaError, Message, Producer

from streamlog.streams.record import Headers

QUEUE_FULL_WAIT_S = 0.05


class KafkaRecordCollector:
    """Produces task outputs; remembers changelog offsets and delivery failures (see module doc)."""

    def __init__(self, producer: Producer, *, transactional: bool) -> None:
        self.producer = producer
        self.transactional = transactional
        self.in_transaction = False
        self.stuck = False  # a call on `producer` never returned: replace it, never touch it again
        self.changelog_topics: frozenset[str] = frozenset()
        self.acked: dict[tuple[str, int], int] = {}
        self.errors: list[tuple[str, KafkaError]] = []
        self.sent = 0

    def begin(self) -> None:
        """Open a transaction unless one is open (exactly-once only)."""
        if self.transactional and not self.in_transaction:
            self.producer.begin_transaction()
            self.in_transaction = True

    def send(self, topic: str, key: bytes | None, value: bytes | None, timestamp: int,
             headers: Headers, partition: int | None) -> None:
        if self.transactional and not self.in_transaction:
            self.begin()
        kwargs: dict[str, Any] = {"key": key, "value": value, "timestamp": max(timestamp, 0),
                                  "on_delivery": self._delivered}
        if headers:
            kwargs["headers"] = list(headers)
        if partition is not None:
            kwargs["partition"] = partition
        while True:
            try:
                self.producer.produce(topic, **kwargs)
                break
            except BufferError:  # the local queue is full: let deliveries drain it
                self.producer.poll(QUEUE_FULL_WAIT_S)
        self.sent += 1

    def _delivered(self, error: KafkaError | None, message: Message) -> None:
        topic = message.topic() or ""
        if error is not None:
            self.errors.append((topic, error))
            return
        if topic in self.changelog_topics:
            partition, offset = message.partition(), message.offset()
            if partition is not None and offset is not None:
                key = (topic, partition)
                if offset > self.acked.get(key, -1):
                    self.acked[key] = offset

    def poll(self) -> None:
        self.producer.poll(0)

    def flush(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for every sent record's delivery report; True if none is left."""
        deadline = time.monotonic() + timeout
        while True:
            left = self.producer.flush(min(1.0, max(0.0, deadline - time.monotonic())))
            if left == 0:
                return True
            if time.monotonic() >= deadline:
                return False

    def take_errors(self) -> list[tuple[str, KafkaError]]:
        errors, self.errors = self.errors, []
        return errors
