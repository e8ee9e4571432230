"""`TestDriver`: run an app's topology without a broker, in virtual time (Kafka Streams' TopologyTestDriver).

Theory of operation: the driver compiles the same `Topology` that `App.run()` runs and makes one
`Task` per sub-topology (partition 0: one partition per topic), with in-memory stores and an
in-memory `RecordCollector`.  `pipe(topic, key, value)` serializes with the serdes of the source
that reads `topic`, hands the record to its task, and then drains everything the tasks produced:
each produced record is kept (for `read`), and a record written to a topic the topology reads (a
repartition topic, or a user topic that is also a source) is fed back in and processed before
`pipe` returns, in the order it was produced, as TopologyTestDriver does.  Changelog records are
kept too and can be read back with `read("<app>-<store>-changelog")`.  Records piped into a global
table's topic go straight into its store.

Time: the wall clock is virtual, starting at `initial_wall_clock_ms`; it moves only with
`advance_wall_clock(ms)`, which fires due wall-clock punctuators.  A piped record's timestamp
defaults to the current wall clock.  Stream time is per task: the largest timestamp it has seen.

`read(topic)` drains the records written to `topic` since the last read and deserializes them with
the serdes of the sink (or store, for a changelog) that wrote them; a topic the topology never
writes is an error.  `store(name)` gives read access to a store (`get`, `range`, `all`, ...) with
Python keys and values.  Stores are in memory unless `persistent_stores=True`: then the stores the
app declares persistent are the real persistent stores (state/), in a temporary directory removed
by `close()` (slower to open; the results are the same).  Errors propagate: a
`DeserializationError` or `ProcessingError` from the task, a `SerdeError` from `pipe`'s own
serialization.
"""

from __future__ import annotations

import itertools
import tempfile
from collections import defaultdict, deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from streamlog.streams.app import App
from streamlog.streams.errors import StreamsError
from streamlog.streams.interfaces import KeyValueBytesStore
from streamlog.streams.record import Headers, RawRecord, TaskId
from streamlog.streams.serdes import Serde
from streamlog.streams.state import (
    InMemoryKeyValueStore,
    ReadOnlyKeyValueStore,
    ReadOnlySessionStore,
    ReadOnlyWindowStore,
    SessionBytesStore,
    WindowBytesStore,
    open_store,
    wrap_store,
)
from streamlog.streams.task import Task
from streamlog.streams.topology import StoreType
from streamlog.streams.topology.builder import NodeKind
from streamlog.streams.topology.topology import GlobalStoreSpec, StoreSpec
from streamlog.streams.windowed_serdes import SessionWindowedSerde, WindowStoreKeySerde

HeadersInput = Mapping[str, bytes | None] | Iterable[tuple[str, bytes | None]]


@dataclass(frozen=True, slots=True)
class TestRecord:
    """A record read from (or piped into) the driver, deserialized."""

    __test__ = False  # not a pytest test class

    key: Any
    value: Any
    timestamp: int
    headers: Headers = ()


@dataclass(frozen=True, slots=True)
class _Produced:
    topic: str
    key: bytes | None
    value: bytes | None
    timestamp: int
    headers: Headers
    partition: int | None


@dataclass(slots=True)
class _Collector:
    records: list[_Produced] = field(default_factory=list)

    def send(self, topic: str, key: bytes | None, value: bytes | None, timestamp: int,
             headers: Headers, partition: int | None) -> None:
        self.records.append(_Produced(topic, key, value, timestamp, tuple(headers), partition))


def _headers(headers: HeadersInput | None) -> Headers:
    if headers is None:
        return ()
    items = headers.items() if isinstance(headers, Mapping) else headers
    result = []
    for name, value in items:
        if not isinstance(name, str) or not (value is None or isinstance(value, bytes)):
            raise ValueError(f"headers are (str, bytes | None) pairs, got {(name, value)!r}")
        result.append((name, value))
    return tuple(result)


class TestDriver:
    """Runs `app`'s topology in memory; use as a context manager (or call `close()`)."""

    __test__ = False  # not a pytest test class

    def __init__(self, app: App, initial_wall_clock_ms: int = 0, *, persistent_stores: bool = False) -> None:
        self.app = app
        self.topology = app.topology()
        self._state_dir = (tempfile.TemporaryDirectory(prefix="streamlog-testdriver-") if persistent_stores
                           else None)
        self._wall_clock = int(initial_wall_clock_ms)
        self._collector = _Collector()
        self._offsets: dict[str, itertools.count[int]] = defaultdict(itertools.count)
        self._outputs: dict[str, deque[_Produced]] = defaultdict(deque)
        topology = self.topology
        self._stores: dict[str, KeyValueBytesStore] = {
            name: self._open_store(spec) for name, spec in topology.stores.items()
        }
        self._global_stores: dict[str, KeyValueBytesStore] = {
            name: self._open_store(spec) for name, spec in topology.global_stores.items()
        }
        self._global_by_topic = {spec.topic: name for name, spec in topology.global_stores.items()}
        self._tasks: dict[int, Task] = {}
        for sub in topology.subtopologies:
            stores = {name: self._stores[name] for name in sub.store_names}
            self._tasks[sub.id] = Task(topology, TaskId(sub.id, 0), stores, self._global_stores,
                                       self._collector, app.config)
        self._source_serdes: dict[str, tuple[Serde, Serde]] = {}
        self._sink_serdes: dict[str, tuple[Serde, Serde]] = {}
        self._chooser_serdes: list[tuple[Serde, Serde]] = []
        for spec in topology.node_specs.values():
            assert spec.kind is not NodeKind.PROCESSOR or spec.key_serde is None
            if spec.key_serde is None or spec.value_serde is None:
                continue
            serde_pair = (spec.key_serde, spec.value_serde)
            if spec.kind is NodeKind.SOURCE:
                for topic in spec.topics:
                    self._source_serdes[topic] = serde_pair
            elif spec.topics:
                self._sink_serdes.setdefault(spec.topics[0], serde_pair)
            else:
                self._chooser_serdes.append(serde_pair)
        for store in topology.stores.values():
            if store.changelog_topic is not None:
                self._sink_serdes[store.changelog_topic] = (_changelog_key_serde(store), store.value_serde)
        self._closed = False
        for task in self._tasks.values():
            task.initialize(self._wall_clock)
        self._drain()

    def _open_store(self, spec: StoreSpec | GlobalStoreSpec) -> KeyValueBytesStore:
        if self._state_dir is None or not spec.persistent:
            return wrap_store(spec, InMemoryKeyValueStore(spec.name))
        return open_store(spec, Path(self._state_dir.name) / spec.name)

    # ------------------------------------------------------------ context manager
    def __enter__(self) -> TestDriver:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close every processor and store; idempotent."""
        if self._closed:
            return
        self._closed = True
        try:
            for task in self._tasks.values():
                task.close()
        finally:
            for store in (*self._stores.values(), *self._global_stores.values()):
                store.close()
            if self._state_dir is not None:
                self._state_dir.cleanup()

    def _check_open(self) -> None:
        if self._closed:
            raise StreamsError("the TestDriver is closed")

    # ------------------------------------------------------------ time
    @property
    def wall_clock_ms(self) -> int:
        return self._wall_clock

    def advance_wall_clock(self, ms: int) -> None:
        """Move the virtual wall clock forward by `ms` and fire the wall-clock punctuators due."""
        self._check_open()
        if isinstance(ms, bool) or not isinstance(ms, int) or ms < 0:
            raise ValueError(f"advance_wall_clock takes an int >= 0 of milliseconds, got {ms!r}")
        self._wall_clock += ms
        for task in self._tasks.values():
            task.punctuate_wall_clock(self._wall_clock)
            self._drain()

    def stream_time(self, subtopology: int = 0) -> int:
        """The stream time of a sub-topology's task (-1 before its first record)."""
        return self._tasks[subtopology].stream_time

    # ------------------------------------------------------------ input
    def pipe(self, topic: str, key: Any, value: Any, timestamp: int | None = None,
             headers: HeadersInput | None = None) -> None:
        """Serialize with the source's serdes and process the record (and all it causes)."""
        self._check_open()
        serde_pair = self._input_serdes(topic)
        hdrs = _headers(headers)
        key_bytes = serde_pair[0].serialize(topic, key, hdrs)
        value_bytes = serde_pair[1].serialize(topic, value, hdrs)
        self.pipe_raw(topic, key_bytes, value_bytes, timestamp, hdrs)

    def pipe_many(self, topic: str, records: Iterable[tuple[Any, Any] | TestRecord]) -> None:
        """Pipe `(key, value)` pairs or `TestRecord`s in order."""
        for item in records:
            if isinstance(item, TestRecord):
                self.pipe(topic, item.key, item.value, item.timestamp, item.headers)
            else:
                key, value = item
                self.pipe(topic, key, value)

    def pipe_raw(self, topic: str, key: bytes | None, value: bytes | None, timestamp: int | None = None,
                 headers: HeadersInput | None = None) -> None:
        """As `pipe`, with the key and value already serialized."""
        self._check_open()
        self._input_serdes(topic)
        ts = self._wall_clock if timestamp is None else int(timestamp)
        hdrs = _headers(headers)
        global_store = self._global_by_topic.get(topic)
        if global_store is not None:
            if key is not None:
                self._global_stores[global_store].put(key, value)
            return
        self._deliver(RawRecord(topic, 0, next(self._offsets[topic]), key, value, ts, hdrs))
        self._drain()

    def _input_serdes(self, topic: str) -> tuple[Serde, Serde]:
        try:
            return self._source_serdes[topic]
        except KeyError:
            known = sorted(t for t in self._source_serdes if t not in self.topology.repartition_topics)
            raise ValueError(f"topic {topic!r} is not read by this topology (it reads {known})") from None

    def _deliver(self, raw: RawRecord) -> None:
        task = self._tasks[self.topology.subtopology_for_topic(raw.topic)]
        task.process(raw, self._wall_clock)

    def _drain(self) -> None:
        """Keep what the tasks produced; feed records for source topics back in, in order."""
        produced_list = self._collector.records
        done = 0
        try:
            while done < len(produced_list):
                produced = produced_list[done]
                done += 1
                self._outputs[produced.topic].append(produced)
                global_store = self._global_by_topic.get(produced.topic)
                if global_store is not None:
                    if produced.key is not None:
                        self._global_stores[global_store].put(produced.key, produced.value)
                elif produced.topic in self._source_serdes:
                    offset = next(self._offsets[produced.topic])
                    self._deliver(RawRecord(produced.topic, 0, offset, produced.key, produced.value,
                                            produced.timestamp, produced.headers))
        finally:
            del produced_list[:done]

    # ------------------------------------------------------------ output
    def read(self, topic: str) -> list[TestRecord]:
        """Drain the records written to `topic` since the last read, deserialized."""
        key_serde, value_serde = self._output_serdes(topic)
        return [TestRecord(key_serde.deserialize(topic, p.key, p.headers),
                           value_serde.deserialize(topic, p.value, p.headers), p.timestamp, p.headers)
                for p in self._take(topic)]

    def read_raw(self, topic: str) -> list[RawRecord]:
        """Drain the records written to `topic`, as bytes."""
        self._output_serdes(topic)
        return [RawRecord(p.topic, 0 if p.partition is None else p.partition, -1, p.key, p.value,
                          p.timestamp, p.headers) for p in self._take(topic)]

    def read_key_values(self, topic: str) -> list[tuple[Any, Any]]:
        return [(r.key, r.value) for r in self.read(topic)]

    def read_table(self, topic: str) -> dict[Any, Any]:
        """Drain `topic` and fold it into the latest value per key (tombstones delete)."""
        table: dict[Any, Any] = {}
        for record in self.read(topic):
            if record.value is None:
                table.pop(record.key, None)
            else:
                table[record.key] = record.value
        return table

    def _take(self, topic: str) -> list[_Produced]:
        queue = self._outputs.get(topic)
        if not queue:
            return []
        taken = list(queue)
        queue.clear()
        return taken

    def _output_serdes(self, topic: str) -> tuple[Serde, Serde]:
        if topic in self._sink_serdes:
            return self._sink_serdes[topic]
        if self._chooser_serdes:
            return self._chooser_serdes[0]
        writes = sorted(self._sink_serdes)
        raise ValueError(f"topic {topic!r} is not written by this topology (it writes {writes})")

    # ------------------------------------------------------------ stores
    def store(self, name: str) -> Any:
        """Read access to the store `name` (typed: Python keys and values).

        A `ReadOnlyKeyValueStore`, or for windowed aggregations and joins a `ReadOnlyWindowStore` /
        `ReadOnlySessionStore`.
        """
        topology = self.topology
        if name in topology.stores:
            spec = topology.stores[name]
            topic = spec.changelog_topic or spec.source_topic or name
            inner = self._stores[name]
            if isinstance(inner, WindowBytesStore):
                return ReadOnlyWindowStore(inner, spec.key_serde, spec.value_serde, topic,
                                           spec.window_size_ms)
            if isinstance(inner, SessionBytesStore):
                return ReadOnlySessionStore(inner, spec.key_serde, spec.value_serde, topic)
            return ReadOnlyKeyValueStore(inner, spec.key_serde, spec.value_serde, topic)
        if name in topology.global_stores:
            gspec = topology.global_stores[name]
            return ReadOnlyKeyValueStore(self._global_stores[name], gspec.key_serde, gspec.value_serde,
                                         gspec.topic)
        known = sorted([*topology.stores, *topology.global_stores])
        raise KeyError(f"no state store {name!r} in this topology (stores: {known})")

    def produced_topics(self) -> list[str]:
        """Topics that have unread records."""
        return sorted(topic for topic, queue in self._outputs.items() if queue)


def _changelog_key_serde(spec: StoreSpec) -> Serde:
    """How to read a store's changelog keys back: windowed stores log Kafka Streams' store keys."""
    if spec.store_type is StoreType.WINDOW:
        return WindowStoreKeySerde(spec.key_serde, spec.window_size_ms)
    if spec.store_type is StoreType.SESSION:
        return SessionWindowedSerde(spec.key_serde)
    return spec.key_serde
