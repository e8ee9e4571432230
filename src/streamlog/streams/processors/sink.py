"""Sinks: serialize a record with the sink's serdes and hand it to the task's `RecordCollector`.

Theory of operation: the topic is the sink's own, or what its chooser returns for
``(key, value, record_context)``; the key and value serdes get that topic and the record's headers;
the record keeps its timestamp and headers.  The partition is left to the producer (murmur2 of the
key bytes, as Kafka's Java client), which is what co-partitions a repartition topic with its readers.
"""

from __future__ import annotations

from typing import Any

from streamlog.streams.interfaces import RecordCollector
from streamlog.streams.processor import Processor
from streamlog.streams.record import Record
from streamlog.streams.serdes import Serde
from streamlog.streams.topology.builder import TopicChooser


class Sink(Processor):
    def __init__(self, topic: str | None, chooser: TopicChooser | None, key_serde: Serde,
                 value_serde: Serde, collector: RecordCollector) -> None:
        self._topic = topic
        self._chooser = chooser
        self._key_serde = key_serde
        self._value_serde = value_serde
        self._collector = collector

    def _choose(self, record: Record) -> str:
        assert self._chooser is not None
        topic: Any = self._chooser(record.key, record.value, self.context.record_context())
        if not isinstance(topic, str) or not topic:
            raise ValueError(f"the topic chooser returned {topic!r}, not a topic name")
        return topic

    def process(self, record: Record) -> None:
        topic = self._topic if self._topic is not None else self._choose(record)
        headers = record.headers
        key = self._key_serde.serialize(topic, record.key, headers)
        value = self._value_serde.serialize(topic, record.value, headers)
        self._collector.send(topic, key, value, record.timestamp, headers, None)
