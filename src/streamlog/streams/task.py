"""A task: one partition of one sub-topology, run record by record.

Theory of operation: a `Task` instantiates the sub-topology's processors (one per node, from the
node's supplier), wraps the bytes stores the runtime opened in typed stores, and then does only
what it is told: `process(raw, wall_clock_ms)` deserializes the record with the serdes of the source
that reads its topic, advances stream time (the largest timestamp seen), sets the record context,
pushes the record through the nodes depth-first (each node forwards to its children before the
next record starts, as in Kafka Streams), then fires the stream-time punctuators that came due.
`punctuate_wall_clock(now_ms)` fires the due wall-clock punctuators.  The task never reads a
clock, never touches Kafka and never opens or closes a store: outputs, repartition records and
changelog updates all go out through the `RecordCollector`, changelog updates with the task's
partition and the current record's timestamp.

Errors: a record whose bytes the source serdes reject raises `DeserializationError`; a negative
timestamp raises `InvalidTimestampError`; anything a processor (user callback, serde, store) raises
comes out as `ProcessingError(task_id, node_name, cause)`, named after the innermost node.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable, Mapping
from typing import Any

from streamlog.streams.config import StreamsConfig
from streamlog.streams.errors import (
    DeserializationError,
    InvalidTimestampError,
    ProcessingError,
    StreamsError,
    TopologyError,
)
from streamlog.streams.interfaces import KeyValueBytesStore, RecordCollector
from streamlog.streams.processor import (
    Cancellable,
    Processor,
    ProcessorContext,
    PunctuationType,
    Punctuator,
    RecordContext,
)
from streamlog.streams.processors.sink import Sink
from streamlog.streams.processors.stateless import PassThrough
from streamlog.streams.record import Headers, RawRecord, Record, TaskId
from streamlog.streams.serdes import Serde
from streamlog.streams.state import (
    KeyValueStore,
    ReadOnlyKeyValueStore,
    SessionBytesStore,
    SessionStore,
    WindowBytesStore,
    WindowStore,
)
from streamlog.streams.topology.builder import NodeKind, StoreType
from streamlog.streams.topology.topology import NodeSpec, Topology


class _Node:
    """A node at run time: its processor and its children."""

    __slots__ = ("children", "children_by_name", "name", "processor", "task_id")

    def __init__(self, name: str, processor: Processor, task_id: TaskId) -> None:
        self.name = name
        self.processor = processor
        self.task_id = task_id
        self.children: tuple[_Node, ...] = ()
        self.children_by_name: dict[str, _Node] = {}

    def process(self, record: Record) -> None:
        try:
            self.processor.process(record)
        except ProcessingError:
            raise
        except Exception as exc:
            raise ProcessingError(self.task_id, self.name, exc) from exc


class _Schedule:
    __slots__ = ("callback", "cancelled", "interval", "node")

    def __init__(self, node: _Node, interval: int, callback: Punctuator) -> None:
        self.node = node
        self.interval = interval
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


_Queue = list[tuple[int, int, _Schedule]]


class _NodeContext(ProcessorContext):
    """The context one node's processor sees."""

    __slots__ = ("_node", "_task")

    def __init__(self, task: Task, node: _Node) -> None:
        self._task = task
        self._node = node

    @property
    def application_id(self) -> str:
        return self._task.application_id

    @property
    def task_id(self) -> TaskId:
        return self._task.task_id

    @property
    def topic(self) -> str | None:
        return self._task._topic

    @property
    def partition(self) -> int:
        return self._task._partition

    @property
    def offset(self) -> int:
        return self._task._offset

    @property
    def timestamp(self) -> int:
        return self._task._timestamp

    @property
    def headers(self) -> Headers:
        return self._task._headers

    def record_context(self) -> RecordContext:
        task = self._task
        return RecordContext(task._topic, task._partition, task._offset, task._timestamp, task._headers)

    def forward(self, record: Record, to: str | None = None) -> None:
        if to is None:
            for child in self._node.children:
                child.process(record)
            return
        named = self._node.children_by_name.get(to)
        if named is None:
            raise ValueError(f"processor {self._node.name!r} has no child named {to!r} "
                             f"(children: {sorted(self._node.children_by_name)})")
        named.process(record)

    def get_state_store(self, name: str) -> Any:
        return self._task._store_for(self._node.name, name)

    def schedule(self, interval_ms: int, punctuation_type: PunctuationType,
                 callback: Punctuator) -> Cancellable:
        return self._task._schedule(self._node, interval_ms, punctuation_type, callback)

    def current_stream_time_ms(self) -> int:
        return self._task.stream_time

    def current_system_time_ms(self) -> int:
        return self._task._wall_clock

    def commit(self) -> None:
        self._task.commit_requested = True

    def record_dropped(self, reason: str) -> None:
        task = self._task
        task.dropped_records[reason] = task.dropped_records.get(reason, 0) + 1


class Task:
    """Runs one partition of one sub-topology; see the module docstring."""

    def __init__(self, topology: Topology, task_id: TaskId, stores: Mapping[str, KeyValueBytesStore],
                 global_stores: Mapping[str, KeyValueBytesStore], collector: RecordCollector,
                 config: StreamsConfig) -> None:
        self.topology = topology
        self.task_id = task_id
        self.application_id = topology.application_id
        self.config = config
        self.stream_time = -1
        self.commit_requested = False
        self.dropped_records: dict[str, int] = {}  # reason -> count (Kafka Streams' dropped-records)
        self._idle_advance = config.idle_advance_ms
        self._last_record_wall: int | None = None  # wall clock when the last record arrived
        self._time_at_last_record = -1  # stream time right after it
        self._time_listeners: list[_Node] = []
        self._collector = collector
        self._wall_clock = 0
        self._topic: str | None = None
        self._partition = -1
        self._offset = -1
        self._timestamp = -1
        self._headers: Headers = ()
        self._seq = itertools.count()
        self._stream_queue: _Queue = []
        self._wall_queue: _Queue = []
        self._initialized = False
        self._closed = False
        sub = topology.subtopology(task_id.subtopology)
        self._stores = self._typed_stores(sub.store_names, stores)
        self._global_stores = {
            name: ReadOnlyKeyValueStore(global_stores[name], spec.key_serde, spec.value_serde, spec.topic)
            for name, spec in topology.global_stores.items() if name in global_stores
        }
        self._node_stores: dict[str, frozenset[str]] = {}
        self._nodes: dict[str, _Node] = {}
        self._sources: dict[str, tuple[_Node, Serde, Serde]] = {}
        specs = topology.nodes(task_id.subtopology)
        for spec in specs:
            self._nodes[spec.name] = _Node(spec.name, self._make_processor(spec), task_id)
            self._node_stores[spec.name] = frozenset(spec.stores)
        for spec in specs:
            node = self._nodes[spec.name]
            every_child = tuple(self._nodes[child] for child in spec.children)
            node.children = tuple(c for c in every_child if not topology.node_specs[c.name].side_output)
            node.children_by_name = {child.name: child for child in every_child}
            if spec.kind is NodeKind.SOURCE:
                assert spec.key_serde is not None and spec.value_serde is not None
                for topic in spec.topics:
                    self._sources[topic] = (node, spec.key_serde, spec.value_serde)
        self._contexts = {name: _NodeContext(self, node) for name, node in self._nodes.items()}
        self._time_listeners = [node for node in self._nodes.values()
                                if callable(getattr(node.processor, "stream_time_advanced", None))]

    # ------------------------------------------------------------------ construction
    def _make_processor(self, spec: NodeSpec) -> Processor:
        if spec.kind is NodeKind.SOURCE:
            return PassThrough()
        if spec.kind is NodeKind.SINK:
            assert spec.key_serde is not None and spec.value_serde is not None
            return Sink(spec.topics[0] if spec.topics else None, spec.chooser, spec.key_serde,
                        spec.value_serde, self._collector)
        assert spec.supplier is not None
        processor = spec.supplier()
        if not isinstance(processor, Processor):
            raise TopologyError(f"the supplier of processor {spec.name!r} returned {processor!r}, "
                                f"not a Processor")
        return processor

    def _typed_stores(self, names: tuple[str, ...],
                      stores: Mapping[str, KeyValueBytesStore]) -> dict[str, Any]:
        typed: dict[str, Any] = {}
        for name in names:
            spec = self.topology.stores[name]
            if name not in stores:
                raise TopologyError(f"task {self.task_id}: the runtime gave no store {name!r}")
            topic = spec.changelog_topic or spec.source_topic or name
            inner = stores[name]
            if spec.store_type is StoreType.WINDOW:
                assert isinstance(inner, WindowBytesStore)
                timed = self._timed_changelogger(spec.changelog_topic) if spec.changelog_topic else None
                typed[name] = WindowStore(inner, spec.key_serde, spec.value_serde, topic, spec.window_size_ms,
                                          timed)
            elif spec.store_type is StoreType.SESSION:
                assert isinstance(inner, SessionBytesStore)
                timed = self._timed_changelogger(spec.changelog_topic) if spec.changelog_topic else None
                typed[name] = SessionStore(inner, spec.key_serde, spec.value_serde, topic, timed,
                                           lambda: self._timestamp)
            else:
                changelog = self._changelogger(spec.changelog_topic) if spec.changelog_topic else None
                typed[name] = KeyValueStore(inner, spec.key_serde, spec.value_serde, topic, changelog)
        return typed

    def _timed_changelogger(self, topic: str) -> Callable[[bytes, bytes | None, int], None]:
        send, partition = self._collector.send, self.task_id.partition

        def log(key: bytes, value: bytes | None, timestamp: int) -> None:
            send(topic, key, value, timestamp, (), partition)

        return log

    def _changelogger(self, topic: str) -> Callable[[bytes, bytes | None], None]:
        send, partition = self._collector.send, self.task_id.partition

        def log(key: bytes, value: bytes | None) -> None:
            send(topic, key, value, self._timestamp, (), partition)

        return log

    def _store_for(self, node_name: str, store: str) -> Any:
        if store in self._node_stores.get(node_name, ()):
            return self._stores[store]
        if store in self._global_stores:
            return self._global_stores[store]
        raise TopologyError(f"processor {node_name!r} has no access to state store {store!r}: connect it "
                            f"(e.g. stream.process(supplier, stores=[{store!r}]))")

    # ------------------------------------------------------------------ lifecycle
    @property
    def stores(self) -> Mapping[str, Any]:
        """The typed stores of this task, by name."""
        return self._stores

    @property
    def source_topics(self) -> tuple[str, ...]:
        return tuple(self._sources)

    def initialize(self, wall_clock_ms: int) -> None:
        """Run every processor's init (after the runtime restored the stores)."""
        if self._initialized:
            return
        self._wall_clock = wall_clock_ms
        for name, node in self._nodes.items():
            try:
                node.processor.init(self._contexts[name])
            except Exception as exc:
                raise ProcessingError(self.task_id, name, exc) from exc
        self._initialized = True

    def close(self) -> None:
        """Run every processor's close; the first error is raised after all have been closed."""
        if self._closed:
            return
        self._closed = True
        first: ProcessingError | None = None
        for name, node in self._nodes.items():
            try:
                node.processor.close()
            except Exception as exc:
                first = first or ProcessingError(self.task_id, name, exc)
        self._stream_queue.clear()
        self._wall_queue.clear()
        if first is not None:
            raise first

    # ------------------------------------------------------------------ processing
    def process(self, raw: RawRecord, wall_clock_ms: int) -> None:
        if not self._initialized:
            self.initialize(wall_clock_ms)
        self._wall_clock = wall_clock_ms
        try:
            node, key_serde, value_serde = self._sources[raw.topic]
        except KeyError:
            raise StreamsError(f"task {self.task_id} does not read topic {raw.topic!r} "
                               f"(it reads {sorted(self._sources)})") from None
        headers = raw.headers
        try:
            key = key_serde.deserialize(raw.topic, raw.key, headers)
            value = value_serde.deserialize(raw.topic, raw.value, headers)
        except Exception as exc:
            raise DeserializationError(raw, exc) from exc
        timestamp = raw.timestamp
        if timestamp < 0:
            raise InvalidTimestampError(raw)
        if timestamp > self.stream_time:
            self.stream_time = timestamp
        self._topic, self._partition, self._offset = raw.topic, raw.partition, raw.offset
        self._timestamp, self._headers = timestamp, headers
        self._last_record_wall, self._time_at_last_record = wall_clock_ms, self.stream_time
        node.process(Record(key, value, timestamp, headers))
        queue = self._stream_queue
        if queue and queue[0][0] <= self.stream_time:
            self._punctuate(queue, self.stream_time)

    def punctuate_wall_clock(self, now_ms: int) -> int:
        """Fire the wall-clock punctuators due at `now_ms` (and advance an idle task's stream time)."""
        self._wall_clock = now_ms
        if self._idle_advance is not None and self._last_record_wall is not None:
            self._advance_idle(now_ms)
        queue = self._wall_queue
        if queue and queue[0][0] <= now_ms:
            return self._punctuate(queue, now_ms)
        return 0

    def _advance_idle(self, now_ms: int) -> None:
        """`App(idle_advance_ms=N)`: after N ms without a record, stream time follows the wall clock.

        Stream time becomes what it was at the last record plus the wall-clock time since then;
        processors that hold results until stream time passes a point (`emit="final"`, the
        null-padded results of stream-stream left/outer joins) get `stream_time_advanced`, and
        stream-time punctuators fire as if a record had arrived.
        """
        assert self._last_record_wall is not None and self._idle_advance is not None
        idle = now_ms - self._last_record_wall
        if idle < self._idle_advance:
            return
        target = self._time_at_last_record + idle
        if target <= self.stream_time:
            return
        self.stream_time = target
        saved = (self._topic, self._partition, self._offset, self._timestamp, self._headers)
        self._topic, self._partition, self._offset, self._timestamp, self._headers = None, -1, -1, target, ()
        try:
            for node in self._time_listeners:
                try:
                    node.processor.stream_time_advanced(target)  # type: ignore[attr-defined]
                except ProcessingError:
                    raise
                except Exception as exc:
                    raise ProcessingError(self.task_id, node.name, exc) from exc
        finally:
            self._topic, self._partition, self._offset, self._timestamp, self._headers = saved
        queue = self._stream_queue
        if queue and queue[0][0] <= target:
            self._punctuate(queue, target)

    def next_wall_clock_punctuation(self) -> int | None:
        """When the earliest wall-clock punctuator is due (None if there is none)."""
        while self._wall_queue and self._wall_queue[0][2].cancelled:
            heapq.heappop(self._wall_queue)
        return self._wall_queue[0][0] if self._wall_queue else None

    def _schedule(self, node: _Node, interval_ms: int, kind: PunctuationType,
                  callback: Punctuator) -> Cancellable:
        if isinstance(interval_ms, bool) or not isinstance(interval_ms, int) or interval_ms < 1:
            raise ValueError(f"punctuation interval must be an int >= 1 ms, got {interval_ms!r}")
        if not callable(callback):
            raise ValueError(f"punctuator must be callable, got {callback!r}")
        schedule = _Schedule(node, interval_ms, callback)
        if kind is PunctuationType.STREAM_TIME:
            heapq.heappush(self._stream_queue, (0, next(self._seq), schedule))
        elif kind is PunctuationType.WALL_CLOCK_TIME:
            heapq.heappush(self._wall_queue, (self._wall_clock + interval_ms, next(self._seq), schedule))
        else:
            raise ValueError(f"unknown punctuation type {kind!r}")
        return schedule

    def _punctuate(self, queue: _Queue, now: int) -> int:
        fired = 0
        saved = (self._topic, self._partition, self._offset, self._timestamp, self._headers)
        try:
            while queue and queue[0][0] <= now:
                due, _, schedule = heapq.heappop(queue)
                if schedule.cancelled:
                    continue
                self._topic, self._partition, self._offset, self._timestamp, self._headers = (
                    None, -1, -1, now, ())
                try:
                    schedule.callback(now)
                except ProcessingError:
                    raise
                except Exception as exc:
                    raise ProcessingError(self.task_id, schedule.node.name, exc) from exc
                fired += 1
                if not schedule.cancelled:
                    following = due + schedule.interval
                    if now >= following:
                        following = due + ((now - due) // schedule.interval + 1) * schedule.interval
                    heapq.heappush(queue, (following, next(self._seq), schedule))
        finally:
            self._topic, self._partition, self._offset, self._timestamp, self._headers = saved
        return fired
