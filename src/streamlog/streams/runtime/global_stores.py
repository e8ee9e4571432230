"""Global tables: every instance keeps a full copy of each global topic in a local store.

Theory of operation (Kafka Streams' ``GlobalStreamThread``, folded into the processing loop): one
consumer with manual assignment reads every partition of every global topic (``read_committed``
under exactly-once).  At start-up `bootstrap` reads each partition from the store's checkpoint (a
persistent store whose checkpoint entry is inside the partition's current range) or from the log
start (after wiping the store) up to the end offset it saw when it began, before any task processes
a record, so lookups from the first record on see the table as of start-up.  Then `poll`, called by
the loop between batches, applies whatever arrived.  Records are raw ``put(key, value)``; a
tombstone deletes.  `checkpoint` (called at each commit and at shutdown) flushes the persistent global
stores and records their positions in ``<app dir>/global/.checkpoint``.
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Callable, Mapping

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, Message, TopicPartition

from streamlog.streams.errors import StreamsError
from streamlog.streams.interfaces import KeyValueBytesStore
from streamlog.streams.state import open_store
from streamlog.streams.state.directory import StateDirectory
from streamlog.streams.topology import GlobalStoreSpec

log = logging.getLogger("streamlog.streams")

BATCH = 1000
WATERMARK_TIMEOUT_S = 10.0
PROGRESS_EVERY_S = 5.0


class GlobalStateUpdater:
    """Global stores and their consumer (module docstring)."""

    def __init__(self, specs: Mapping[str, GlobalStoreSpec], partitions: Mapping[str, int],
                 consumer_factory: Callable[[], Consumer], directory: StateDirectory) -> None:
        self.specs = dict(specs)
        self.partitions = partitions
        self.directory = directory
        self.stores: dict[str, KeyValueBytesStore] = {}
        self._by_topic: dict[str, list[KeyValueBytesStore]] = {}
        self._positions: dict[tuple[str, int], int] = {}
        self._consumer: Consumer | None = consumer_factory() if specs else None

    def bootstrap(self, stopping: Callable[[], bool]) -> None:
        """Open the stores and read every global partition up to its current end."""
        consumer = self._consumer
        if consumer is None:
            return
        checkpoint = self.directory.global_checkpoint().read()
        ends: dict[tuple[str, int], int] = {}
        for spec in self.specs.values():
            keys = [(spec.topic, p) for p in range(self.partitions[spec.topic])]
            bounds = {key: self._watermarks(consumer, *key) for key in keys}
            valid = spec.persistent and all(
                key in checkpoint and bounds[key][0] <= checkpoint[key] <= bounds[key][1] for key in keys)
            directory = None
            if spec.persistent:
                directory = self.directory.global_store_dir(spec.name)
                if not valid:
                    shutil.rmtree(directory, ignore_errors=True)
                    directory = self.directory.global_store_dir(spec.name)
            store = open_store(spec, directory)
            self.stores[spec.name] = store
            self._by_topic.setdefault(spec.topic, []).append(store)
            for key in keys:
                self._positions[key] = checkpoint[key] if valid else bounds[key][0]
                ends[key] = bounds[key][1]
        consumer.assign([TopicPartition(t, p, pos if pos >= 0 else OFFSET_BEGINNING)
                         for (t, p), pos in sorted(self._positions.items())])
        started = time.monotonic()
        next_log = started + PROGRESS_EVERY_S
        applied = 0
        while any(self._positions[key] < end for key, end in ends.items()):
            if stopping():
                return
            applied += self._apply(consumer.consume(num_messages=BATCH, timeout=0.2))
            if time.monotonic() >= next_log:
                next_log = time.monotonic() + PROGRESS_EVERY_S
                left = sum(max(0, end - self._positions[key]) for key, end in ends.items())
                log.info("global stores: restoring, %d records applied, %d offsets to go", applied, left)
        if self.specs:
            log.info("global stores %s ready: %d records read in %.1fs", sorted(self.specs), applied,
                     time.monotonic() - started)

    @staticmethod
    def _watermarks(consumer: Consumer, topic: str, partition: int) -> tuple[int, int]:
        try:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition),
                                                       timeout=WATERMARK_TIMEOUT_S, cached=False)
        except KafkaException as exc:
            message = f"cannot read the offsets of global topic {topic}-{partition}: {exc}"
            raise StreamsError(message) from None
        return int(low), int(high)

    def poll(self) -> int:
        """Apply what has arrived since the last call (never waits)."""
        if self._consumer is None:
            return 0
        return self._apply(self._consumer.consume(num_messages=BATCH, timeout=0))

    def _apply(self, messages: list[Message]) -> int:
        applied = 0
        for message in messages:
            error = message.error()
            key = (message.topic() or "", message.partition() or 0)
            if error is not None:
                if error.code() == KafkaError._PARTITION_EOF and message.offset() is not None:
                    self._positions[key] = max(self._positions.get(key, 0), message.offset() or 0)
                elif error.code() != KafkaError._PARTITION_EOF:
                    log.debug("global consumer: %s", error.str())
                continue
            offset = message.offset()
            if offset is None:
                continue
            record_key = message.key()
            if record_key is not None:
                for store in self._by_topic.get(key[0], []):
                    store.put(record_key, message.value())
                applied += 1
            self._positions[key] = offset + 1
        return applied

    def checkpoint(self) -> None:
        persistent = {spec.topic for spec in self.specs.values() if spec.persistent}
        if not persistent:
            return
        for spec in self.specs.values():
            if spec.persistent:
                self.stores[spec.name].flush()
        offsets = {key: pos for key, pos in self._positions.items() if key[0] in persistent and pos >= 0}
        self.directory.global_checkpoint().write(offsets)

    def close(self) -> None:
        for store in self.stores.values():
            store.close()
        self.stores.clear()
        if self._consumer is not None:
            self._consumer.close()
            self._consumer = None
