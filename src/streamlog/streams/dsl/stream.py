"""`Stream`: an unbounded sequence of records, and the operations Kafka Streams' KStream offers.

Theory of operation: every method adds nodes to the app's topology builder at once (so generated
names follow the call order, as in Kafka Streams) and returns a handle on the new node.  A stream
remembers its serdes and whether its key may have changed since it was read: `map`, `flat_map`,
`select_key`, `group_by` and `process` set that flag; `filter`, `filter_not`, `peek`, `map_values`,
`flat_map_values`, `split` and `merge` keep it; `repartition` clears it.  A stateful operation on a
flagged stream (an aggregation after `group_by_key`, or `to_table`) first writes the records
through a repartition topic, so each key lands in one task.

Serdes: operations that keep the key or value type keep its serde; the others fall back to the
app's defaults unless serdes are passed where Kafka Streams takes them (`to` = Produced,
`repartition` = Repartitioned, `group_by`/`group_by_key` = Grouped, `to_table` = Materialized).
`merge` keeps a serde both streams share, else falls back to the default.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

from streamlog.streams.dsl.common import (
    DslContext,
    add_repartition,
    check_callable,
    check_store_name,
    serde_or,
)
from streamlog.streams.errors import TopologyError
from streamlog.streams.processor import Processor, ProcessorSupplier, RecordContext
from streamlog.streams.processors import stateless
from streamlog.streams.processors.table import TableSource
from streamlog.streams.serdes import Serde
from streamlog.streams.topology import naming
from streamlog.streams.topology.builder import StoreDef

if TYPE_CHECKING:
    from streamlog.streams.dsl.branched import BranchedStream
    from streamlog.streams.dsl.grouped import GroupedStream
    from streamlog.streams.dsl.table import Table
    from streamlog.streams.windows import JoinWindows

TopicChooser = Callable[[Any, Any, RecordContext], str]


class Stream:
    """A stream of records; see the module docstring for the rules every method follows."""

    def __init__(self, dsl: DslContext, node: str, key_serde: Serde, value_serde: Serde,
                 repartition_required: bool = False) -> None:
        self._dsl = dsl
        self.name = node
        self.key_serde = key_serde
        self.value_serde = value_serde
        self.repartition_required = repartition_required

    def __repr__(self) -> str:
        return f"Stream({self.name!r}, key_serde={self.key_serde.name}, value_serde={self.value_serde.name})"

    def _then(self, prefix: str, supplier: ProcessorSupplier, key_serde: Serde, value_serde: Serde,
              repartition_required: bool) -> Stream:
        name = self._dsl.names.processor(prefix)
        self._dsl.builder.add_processor(name, (self.name,), supplier)
        return Stream(self._dsl, name, key_serde, value_serde, repartition_required)

    # ------------------------------------------------------------ stateless
    def filter(self, predicate: Callable[[Any, Any], bool]) -> Stream:
        check_callable("predicate", predicate)
        return self._then(naming.FILTER, lambda: stateless.Filter(predicate), self.key_serde,
                          self.value_serde, self.repartition_required)

    def filter_not(self, predicate: Callable[[Any, Any], bool]) -> Stream:
        check_callable("predicate", predicate)
        return self._then(naming.FILTER, lambda: stateless.Filter(predicate, negate=True), self.key_serde,
                          self.value_serde, self.repartition_required)

    def map(self, mapper: Callable[[Any, Any], tuple[Any, Any]]) -> Stream:
        check_callable("mapper", mapper)
        dsl = self._dsl
        return self._then(naming.MAP, lambda: stateless.Map(mapper), dsl.key_serde(None),
                          dsl.value_serde(None), True)

    def map_values(self, mapper: Callable[[Any], Any]) -> Stream:
        check_callable("mapper", mapper)
        return self._then(naming.MAPVALUES, lambda: stateless.MapValues(mapper), self.key_serde,
                          self._dsl.value_serde(None), self.repartition_required)

    def flat_map(self, mapper: Callable[[Any, Any], Iterable[tuple[Any, Any]]]) -> Stream:
        check_callable("mapper", mapper)
        dsl = self._dsl
        return self._then(naming.FLATMAP, lambda: stateless.FlatMap(mapper), dsl.key_serde(None),
                          dsl.value_serde(None), True)

    def flat_map_values(self, mapper: Callable[[Any], Iterable[Any]]) -> Stream:
        check_callable("mapper", mapper)
        return self._then(naming.FLATMAPVALUES, lambda: stateless.FlatMapValues(mapper), self.key_serde,
                          self._dsl.value_serde(None), self.repartition_required)

    def select_key(self, selector: Callable[[Any, Any], Any]) -> Stream:
        check_callable("selector", selector)
        return self._then(naming.KEY_SELECT, lambda: stateless.SelectKey(selector), self._dsl.key_serde(None),
                          self.value_serde, True)

    def peek(self, action: Callable[[Any, Any], Any]) -> Stream:
        check_callable("action", action)
        return self._then(naming.PEEK, lambda: stateless.Peek(action), self.key_serde, self.value_serde,
                          self.repartition_required)

    def foreach(self, action: Callable[[Any, Any], Any]) -> None:
        check_callable("action", action)
        name = self._dsl.names.processor(naming.FOREACH)
        self._dsl.builder.add_processor(name, (self.name,), lambda: stateless.Foreach(action))

    def split(self, named: str | None = None) -> BranchedStream:
        """Kafka Streams' ``split(Named)``: add branches, then `default_branch()` or `no_default_branch()`."""
        from streamlog.streams.dsl.branched import BranchedStream
        return BranchedStream(self._dsl, self, named)

    def merge(self, other: Stream) -> Stream:
        if not isinstance(other, Stream) or other._dsl is not self._dsl:
            raise TopologyError("merge() needs another Stream of the same App")
        if other.name == self.name:
            raise TopologyError("a stream cannot be merged with itself")
        dsl = self._dsl
        name = dsl.names.processor(naming.MERGE)
        dsl.builder.add_processor(name, (self.name, other.name), stateless.PassThrough)
        key = self.key_serde if self.key_serde is other.key_serde else dsl.key_serde(None)
        value = self.value_serde if self.value_serde is other.value_serde else dsl.value_serde(None)
        return Stream(dsl, name, key, value, self.repartition_required or other.repartition_required)

    # ------------------------------------------------------------ sinks and repartitioning
    def to(self, topic: str | TopicChooser, key_serde: Serde | None = None,
           value_serde: Serde | None = None) -> None:
        """Write every record to `topic`, or to the topic ``topic(key, value, record_context)`` names."""
        dsl = self._dsl
        name = dsl.names.processor(naming.SINK)
        keys, values = serde_or(key_serde, self.key_serde), serde_or(value_serde, self.value_serde)
        if isinstance(topic, str):
            if not topic:
                raise ValueError("to() needs a topic name")
            dsl.builder.add_sink(name, self.name, topic, None, keys, values)
        else:
            dsl.builder.add_sink(name, self.name, None, check_callable("topic chooser", topic), keys, values)

    def repartition(self, name: str | None = None, key_serde: Serde | None = None,
                    value_serde: Serde | None = None, num_partitions: int | None = None) -> Stream:
        if num_partitions is not None and (isinstance(num_partitions, bool)
                                           or not isinstance(num_partitions, int) or num_partitions < 1):
            raise ValueError(f"num_partitions must be an int >= 1, got {num_partitions!r}")
        dsl = self._dsl
        prefix = check_store_name(name) or dsl.names.processor(naming.REPARTITION)
        keys, values = serde_or(key_serde, self.key_serde), serde_or(value_serde, self.value_serde)
        source = add_repartition(dsl, self.name, prefix, keys, values, num_partitions)
        return Stream(dsl, source, keys, values, False)

    # ------------------------------------------------------------ grouping and tables
    def group_by(self, selector: Callable[[Any, Any], Any], name: str | None = None,
                 key_serde: Serde | None = None, value_serde: Serde | None = None) -> GroupedStream:
        from streamlog.streams.dsl.grouped import GroupedStream
        check_callable("selector", selector)
        dsl = self._dsl
        grouped = check_store_name(name)
        select = grouped or dsl.names.processor(naming.KEY_SELECT)
        dsl.builder.add_processor(select, (self.name,), lambda: stateless.SelectKey(selector))
        return GroupedStream(dsl, select, dsl.key_serde(key_serde), serde_or(value_serde, self.value_serde),
                             True, grouped)

    def group_by_key(self, name: str | None = None, key_serde: Serde | None = None,
                     value_serde: Serde | None = None) -> GroupedStream:
        from streamlog.streams.dsl.grouped import GroupedStream
        return GroupedStream(self._dsl, self.name, serde_or(key_serde, self.key_serde),
                             serde_or(value_serde, self.value_serde), self.repartition_required,
                             check_store_name(name))

    def to_table(self, name: str | None = None, key_serde: Serde | None = None,
                 value_serde: Serde | None = None) -> Table:
        """The latest value per key as a table (None values delete); `name` names its store."""
        from streamlog.streams.dsl.table import Table
        dsl = self._dsl
        node = dsl.names.processor(naming.TO_TABLE)
        store = check_store_name(name) or dsl.names.store(naming.TO_TABLE)
        keys, values = serde_or(key_serde, self.key_serde), serde_or(value_serde, self.value_serde)
        parent = self.name
        if self.repartition_required:
            parent = add_repartition(dsl, self.name, node, keys, values)
        dsl.builder.add_store(StoreDef(store, dsl.config.persistent_stores, keys, values))
        dsl.builder.add_processor(node, (parent,), lambda: TableSource(store), stores=(store,))
        return Table(dsl, node, keys, values, store)

    # ------------------------------------------------------------ Processor API
    def process(self, processor_supplier: ProcessorSupplier, stores: Sequence[str] = ()) -> Stream:
        """Run a `Processor` (a new one per task from `processor_supplier`) with access to `stores`."""
        if isinstance(processor_supplier, Processor) or not callable(processor_supplier):
            raise TypeError("process() needs a supplier that makes a new Processor per task "
                            "(e.g. the Processor class), not a Processor instance")
        if isinstance(stores, str):
            stores = (stores,)
        dsl = self._dsl
        for store in stores:
            if not dsl.builder.has_store(store):
                raise TopologyError(f"state store {store!r} is unknown: "
                                    f"add it with app.add_state_store() first")
        name = dsl.names.processor(naming.PROCESSOR)
        dsl.builder.add_processor(name, (self.name,), processor_supplier, stores=tuple(stores))
        return Stream(dsl, name, dsl.key_serde(None), dsl.value_serde(None), True)

    # ------------------------------------------------------------ joins (dsl/joins_table.py, joins_stream.py)
    def join(self, other: Any, *args: Any, name: str | None = None, key_serde: Serde | None = None,
             value_serde: Serde | None = None, other_value_serde: Serde | None = None,
             store_name: str | None = None) -> Stream:
        """``join(table, joiner)``, ``join(global_table, key_selector, joiner)`` or
        ``join(stream, joiner, JoinWindows(...))``: records with a match.

        ``joiner(value, table_value)``; ``key_selector(key, value)`` picks the global table's key.  A
        stream whose key may have changed is repartitioned first (`name`, `key_serde` and
        `value_serde` name the repartition topic and give its serdes, as Kafka's Joined).  With a
        stream (dsl/joins_stream.py): ``joiner(value, other_value)`` for every pair within the
        windows; `name`, `store_name`, `key_serde`, `value_serde`, `other_value_serde` as Kafka's
        StreamJoined.
        """
        if isinstance(other, Stream):
            return self._stream_join("join", other, args, name, store_name, key_serde, value_serde,
                                     other_value_serde)
        from streamlog.streams.dsl.joins_table import stream_join
        _table_join_only(other_value_serde, store_name)
        return stream_join(self, other, args, left=False, name=name, key_serde=key_serde,
                           value_serde=value_serde)

    def left_join(self, other: Any, *args: Any, name: str | None = None, key_serde: Serde | None = None,
                  value_serde: Serde | None = None, other_value_serde: Serde | None = None,
                  store_name: str | None = None) -> Stream:
        """As `join`, keeping records without a match: ``joiner(value, None)`` (with a stream: once
        the record's window has closed)."""
        if isinstance(other, Stream):
            return self._stream_join("left_join", other, args, name, store_name, key_serde, value_serde,
                                     other_value_serde)
        from streamlog.streams.dsl.joins_table import stream_join
        _table_join_only(other_value_serde, store_name)
        return stream_join(self, other, args, left=True, name=name, key_serde=key_serde,
                           value_serde=value_serde)

    def outer_join(self, other: Stream, joiner: Callable[[Any, Any], Any], windows: JoinWindows, *,
                   name: str | None = None, store_name: str | None = None, key_serde: Serde | None = None,
                   value_serde: Serde | None = None, other_value_serde: Serde | None = None) -> Stream:
        """``outer_join(stream, joiner, JoinWindows(...))``: as `left_join`, and records of `other`
        without a match give ``joiner(None, other_value)`` once their window has closed."""
        if not isinstance(other, Stream):
            raise TopologyError(f"Stream.outer_join() joins another Stream, got {other!r} "
                                f"(tables: Table.outer_join)")
        return self._stream_join("outer_join", other, (joiner, windows), name, store_name, key_serde,
                                 value_serde, other_value_serde)

    def _stream_join(self, op: str, other: Stream, args: tuple[Any, ...], name: str | None,
                     store_name: str | None, key_serde: Serde | None, value_serde: Serde | None,
                     other_value_serde: Serde | None) -> Stream:
        from streamlog.streams.dsl.joins_stream import stream_stream_join
        return stream_stream_join(self, other, args, op, name=name, store_name=store_name,
                                  key_serde=key_serde, value_serde=value_serde,
                                  other_value_serde=other_value_serde)


def _table_join_only(other_value_serde: Serde | None, store_name: str | None) -> None:
    if other_value_serde is not None or store_name is not None:
        raise TypeError("other_value_serde and store_name are for stream-stream joins (Kafka's StreamJoined)")
