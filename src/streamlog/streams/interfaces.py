"""The seams between the topology (pure logic), the state stores and the two runtimes.

A `Task` (task.py) runs one partition of one sub-topology.  It never touches Kafka or a clock
itself: it writes every output, and every changelog update, through a `RecordCollector`; it reads
stores through the `KeyValueBytesStore` the runtime opened for it; and wall-clock time comes in as
arguments.  Two runtimes drive tasks: `runtime/` (confluent-kafka consumer and producer, one
consumer group per application) and `testing.py` (in-memory topics, virtual time).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Protocol

from streamlog.streams.record import Headers


class RecordCollector(Protocol):
    """Where a task's outputs go: sink topics, repartition topics and changelogs alike.

    `partition` is None to let the producer's partitioner choose (murmur2 of the key bytes, as
    Kafka's Java client); changelog writes always name the task's partition.
    """

    def send(self, topic: str, key: bytes | None, value: bytes | None, timestamp: int,
             headers: Headers, partition: int | None) -> None: ...


class KeyValueBytesStore(Protocol):
    """A key-value store over bytes, ordered by key bytes (unsigned lexicographic), as RocksDB.

    Values are never None inside the store: `put(key, None)` deletes.  Iterators return
    `(key, value)` pairs in key order and stay valid while the store is modified (they may or may
    not see the modification).  `range(lo, hi)` is inclusive at both ends; None means unbounded.
    """

    name: str
    persistent: bool

    def get(self, key: bytes) -> bytes | None: ...
    def put(self, key: bytes, value: bytes | None) -> None: ...
    def delete(self, key: bytes) -> bytes | None: ...
    def range(self, lo: bytes | None, hi: bytes | None,
              reverse: bool = False) -> Iterator[tuple[bytes, bytes]]: ...
    def all(self) -> Iterator[tuple[bytes, bytes]]: ...
    def approximate_num_entries(self) -> int: ...
    def restore(self, batch: Iterable[tuple[bytes, bytes | None]]) -> None: ...
    def flush(self) -> None: ...
    def close(self) -> None: ...
