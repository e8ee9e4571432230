"""`GroupedStream` and `GroupedTable`: records grouped by key, ready to aggregate into a `Table`.

Theory of operation, streams (Kafka Streams' ``GroupedStreamAggregateBuilder``): `count`, `reduce`
and `aggregate` first settle the store's name (`name=`, or a generated
``KSTREAM-AGGREGATE-STATE-STORE-n`` / ``KSTREAM-REDUCE-STATE-STORE-n``), then the processor's, then,
when the stream's key may have changed, insert a repartition topic named after the grouping's
`name` if one was given, else after the store.  A named grouping reuses its repartition topic for
every aggregation made from it.  Store serdes: the grouping's key serde; values INT64 for `count`,
the grouping's value serde for `reduce`, the app's default (or `value_serde=`) for `aggregate`.

Tables (Kafka Streams' ``KGroupedTableImpl``): a grouped table always repartitions, through
``<name or store>-repartition``, sending `Change` records encoded as processors/changed.py says; the
aggregation subtracts old values and adds new ones (processors/table.py).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from streamlog.streams import serdes
from streamlog.streams.dsl.common import DslContext, add_repartition, check_callable, check_store_name
from streamlog.streams.dsl.table import Table
from streamlog.streams.processor import ProcessorSupplier
from streamlog.streams.processors.aggregate import (
    StreamAggregate,
    StreamReduce,
    count_aggregator,
    count_initializer,
    count_subtractor,
)
from streamlog.streams.processors.changed import ChangedSerde
from streamlog.streams.processors.table import TableAggregate, TableReduce
from streamlog.streams.serdes import Serde
from streamlog.streams.topology import naming
from streamlog.streams.topology.builder import StoreDef
from streamlog.streams.windows import AnyWindows

if TYPE_CHECKING:
    from streamlog.streams.dsl.windowed import WindowedStream


class GroupedStream:
    def __init__(self, dsl: DslContext, node: str, key_serde: Serde, value_serde: Serde,
                 repartition_required: bool, grouped_name: str | None) -> None:
        self._dsl = dsl
        self.name = node
        self.key_serde = key_serde
        self.value_serde = value_serde
        self.repartition_required = repartition_required
        self.grouped_name = grouped_name
        self._repartition_source: str | None = None

    def count(self, name: str | None = None) -> Table:
        dsl = self._dsl
        store = check_store_name(name) or dsl.names.store(naming.STREAM_AGGREGATE)
        node = dsl.names.processor(naming.STREAM_AGGREGATE)
        return self._build(node, store, serdes.INT64,
                           lambda: StreamAggregate(store, count_initializer, count_aggregator))

    def reduce(self, reducer: Callable[[Any, Any], Any], name: str | None = None) -> Table:
        check_callable("reducer", reducer)
        dsl = self._dsl
        store = check_store_name(name) or dsl.names.store(naming.STREAM_REDUCE)
        node = dsl.names.processor(naming.STREAM_REDUCE)
        return self._build(node, store, self.value_serde, lambda: StreamReduce(store, reducer))

    def aggregate(self, initializer: Callable[[], Any], aggregator: Callable[[Any, Any, Any], Any],
                  name: str | None = None, value_serde: Serde | None = None) -> Table:
        check_callable("initializer", initializer)
        check_callable("aggregator", aggregator)
        dsl = self._dsl
        store = check_store_name(name) or dsl.names.store(naming.STREAM_AGGREGATE)
        node = dsl.names.processor(naming.STREAM_AGGREGATE)
        return self._build(node, store, dsl.value_serde(value_serde),
                           lambda: StreamAggregate(store, initializer, aggregator))

    def windowed_by(self, windows: AnyWindows, emit: str = "update",
                    late_records_topic: str | None = None) -> WindowedStream:
        """Aggregate per window: `TimeWindows`, `SlidingWindows` or `SessionWindows` (dsl/windowed.py).

        `emit` is "update" (every change of a window's aggregate, the default) or "final" (one result
        per window once stream time passes its end plus grace, as Kafka Streams'
        ``suppress(untilWindowCloses)``).  Records too late for their window are dropped and
        counted; `late_records_topic` also writes them to that topic.
        """
        from streamlog.streams.dsl.windowed import WindowedStream
        return WindowedStream(self, windows, emit, late_records_topic)

    def aggregation_parent(self, store: str) -> str:
        """The node an aggregation reads from: this grouping's, or its repartition topic's source."""
        parent = self.name
        if self.repartition_required:
            if self.grouped_name is not None and self._repartition_source is not None:
                parent = self._repartition_source
            else:
                parent = add_repartition(self._dsl, self.name, self.grouped_name or store, self.key_serde,
                                         self.value_serde)
                self._repartition_source = parent
        return parent

    def _build(self, node: str, store: str, store_value_serde: Serde, supplier: ProcessorSupplier) -> Table:
        dsl = self._dsl
        parent = self.aggregation_parent(store)
        persistent = dsl.config.persistent_stores
        dsl.builder.add_store(StoreDef(store, persistent, self.key_serde, store_value_serde))
        dsl.builder.add_processor(node, (parent,), supplier, stores=(store,))
        return Table(dsl, node, self.key_serde, store_value_serde, store)


class GroupedTable:
    def __init__(self, dsl: DslContext, node: str, key_serde: Serde, value_serde: Serde,
                 grouped_name: str | None) -> None:
        self._dsl = dsl
        self.name = node
        self.key_serde = key_serde
        self.value_serde = value_serde
        self.grouped_name = grouped_name
        self._repartition_source: str | None = None

    def count(self, name: str | None = None) -> Table:
        store = check_store_name(name) or self._dsl.names.store(naming.TABLE_AGGREGATE)

        def supplier() -> TableAggregate:
            return TableAggregate(store, count_initializer, count_aggregator, count_subtractor)

        return self._build(store, naming.TABLE_AGGREGATE, serdes.INT64, supplier)

    def reduce(self, adder: Callable[[Any, Any], Any], subtractor: Callable[[Any, Any], Any],
               name: str | None = None) -> Table:
        check_callable("adder", adder)
        check_callable("subtractor", subtractor)
        store = check_store_name(name) or self._dsl.names.store(naming.TABLE_AGGREGATE)
        return self._build(store, naming.TABLE_REDUCE, self.value_serde,
                           lambda: TableReduce(store, adder, subtractor))

    def aggregate(self, initializer: Callable[[], Any], adder: Callable[[Any, Any, Any], Any],
                  subtractor: Callable[[Any, Any, Any], Any], name: str | None = None,
                  value_serde: Serde | None = None) -> Table:
        check_callable("initializer", initializer)
        check_callable("adder", adder)
        check_callable("subtractor", subtractor)
        dsl = self._dsl
        store = check_store_name(name) or dsl.names.store(naming.TABLE_AGGREGATE)
        return self._build(store, naming.TABLE_AGGREGATE, dsl.value_serde(value_serde),
                           lambda: TableAggregate(store, initializer, adder, subtractor))

    def _build(self, store: str, prefix: str, store_value_serde: Serde, supplier: ProcessorSupplier) -> Table:
        dsl = self._dsl
        builder = dsl.builder
        sink = dsl.names.processor(naming.SINK)
        source = dsl.names.processor(naming.SOURCE)
        node = dsl.names.processor(prefix)
        if self._repartition_source is None or self.grouped_name is None:
            topic = naming.repartition_topic(self.grouped_name or store)
            changes = ChangedSerde(self.value_serde)
            builder.add_repartition_topic(topic)
            builder.add_sink(sink, self.name, topic, None, self.key_serde, changes)
            builder.add_source(source, (topic,), self.key_serde, changes)
            self._repartition_source = source
        builder.add_store(StoreDef(store, dsl.config.persistent_stores, self.key_serde, store_value_serde))
        builder.add_processor(node, (self._repartition_source,), supplier, stores=(store,))
        return Table(dsl, node, self.key_serde, store_value_serde, store)
