"""`WindowedStream`: a grouped stream cut into windows, ready to `count`, `reduce` or `aggregate`.

Theory of operation (Kafka Streams' ``TimeWindowedKStream``, ``SlidingWindowedKStream`` and
``SessionWindowedKStream``): `GroupedStream.windowed_by(windows, emit)` returns one of these; each
aggregation settles its store name (`name=` or a generated ``KSTREAM-AGGREGATE-STATE-STORE-n`` /
``KSTREAM-REDUCE-STATE-STORE-n``), then its processor's, repartitions first when the grouping's key
may have changed (as non-windowed aggregations do), and stores the windows in a window store (a
session store for sessions) whose changelog is ``<app>-<store>-changelog`` (``compact,delete``).
The result is a `Table` keyed by `Windowed(key, start, end)`, with the serde Kafka Streams uses on
topics (key + start for time and sliding windows, key + end + start for sessions).

Retention: `retention_ms=` on each aggregation (Kafka's ``Materialized.withRetention``), by default
what the windows need (windows.py); it may not be shorter than the window size plus grace.

`emit="final"` adds Kafka Streams' ``suppress(untilWindowCloses(unbounded()))`` after the aggregation:
a ``KTABLE-SUPPRESS-n`` processor with its buffer store ``KTABLE-SUPPRESS-STATE-STORE-m``
(processors/suppress.py).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from streamlog.streams import serdes
from streamlog.streams.dsl.common import check_callable, check_store_name
from streamlog.streams.dsl.table import Table
from streamlog.streams.errors import TopologyError
from streamlog.streams.processor import ProcessorSupplier
from streamlog.streams.processors.aggregate import count_aggregator, count_initializer
from streamlog.streams.processors.session_aggregate import SessionWindowAggregate, session_reduce_parts
from streamlog.streams.processors.suppress import SuppressUntilWindowCloses
from streamlog.streams.processors.window_aggregate import (
    SlidingWindowAggregate,
    TimeWindowAggregate,
    reduce_parts,
)
from streamlog.streams.serdes import Serde
from streamlog.streams.topology import naming
from streamlog.streams.topology.builder import StoreDef, StoreType
from streamlog.streams.windowed_serdes import SessionWindowedSerde, TimeWindowedSerde
from streamlog.streams.windows import AnyWindows, SessionWindows, SlidingWindows, TimeWindows

if TYPE_CHECKING:
    from streamlog.streams.dsl.grouped import GroupedStream

EMIT_MODES = ("update", "final")


class WindowedStream:
    def __init__(self, grouped: GroupedStream, windows: AnyWindows, emit: str,
                 late_records_topic: str | None = None) -> None:
        if not isinstance(windows, TimeWindows | SlidingWindows | SessionWindows):
            raise TypeError(f"windowed_by() takes TimeWindows, SlidingWindows or SessionWindows, "
                            f"got {windows!r}")
        if emit not in EMIT_MODES:
            raise ValueError(f"emit must be 'update' or 'final', got {emit!r}")
        self._grouped = grouped
        self._dsl = grouped._dsl
        self.windows = windows
        self.emit = emit
        topic_ok = late_records_topic is None or (isinstance(late_records_topic, str) and late_records_topic)
        if not topic_ok:
            raise ValueError(f"late_records_topic must be a topic name, got {late_records_topic!r}")
        self.late_records_topic = late_records_topic
        self._late_sink: str | None = None

    def __repr__(self) -> str:
        return f"WindowedStream({self._grouped.name!r}, {self.windows!r}, emit={self.emit!r})"

    # ------------------------------------------------------------ aggregations
    def count(self, name: str | None = None, retention_ms: int | None = None) -> Table:
        store = check_store_name(name) or self._dsl.names.store(naming.STREAM_AGGREGATE)
        initializer, aggregator = count_initializer, count_aggregator
        if isinstance(self.windows, SessionWindows):
            return self._session(store, naming.STREAM_AGGREGATE, serdes.INT64, initializer, aggregator,
                                 _add_counts, retention_ms)
        return self._build(store, naming.STREAM_AGGREGATE, serdes.INT64, initializer, aggregator,
                           retention_ms)

    def reduce(self, reducer: Callable[[Any, Any], Any], name: str | None = None,
               retention_ms: int | None = None) -> Table:
        check_callable("reducer", reducer)
        store = check_store_name(name) or self._dsl.names.store(naming.STREAM_REDUCE)
        value_serde = self._grouped.value_serde
        if isinstance(self.windows, SessionWindows):
            initializer, aggregator, merger = session_reduce_parts(reducer)
            return self._session(store, naming.STREAM_REDUCE, value_serde, initializer, aggregator, merger,
                                 retention_ms)
        initializer, aggregator = reduce_parts(reducer)
        return self._build(store, naming.STREAM_REDUCE, value_serde, initializer, aggregator, retention_ms)

    def aggregate(self, initializer: Callable[[], Any], aggregator: Callable[[Any, Any, Any], Any],
                  merger: Callable[[Any, Any, Any], Any] | None = None, name: str | None = None,
                  value_serde: Serde | None = None, retention_ms: int | None = None) -> Table:
        """Fold values into a per-window aggregate; sessions also need ``merger(key, agg1, agg2)``."""
        check_callable("initializer", initializer)
        check_callable("aggregator", aggregator)
        store = check_store_name(name) or self._dsl.names.store(naming.STREAM_AGGREGATE)
        store_value_serde = self._dsl.value_serde(value_serde)
        if isinstance(self.windows, SessionWindows):
            if merger is None:
                raise TypeError("aggregate() over SessionWindows needs a merger(key, aggregate1, aggregate2)")
            check_callable("merger", merger)
            return self._session(store, naming.STREAM_AGGREGATE, store_value_serde, initializer, aggregator,
                                 merger, retention_ms)
        if merger is not None:
            raise TypeError("merger is only for SessionWindows")
        return self._build(store, naming.STREAM_AGGREGATE, store_value_serde, initializer, aggregator,
                           retention_ms)

    # ------------------------------------------------------------ building
    def _retention(self, retention_ms: int | None, minimum: int, store: str) -> int:
        if retention_ms is None:
            return self.windows.default_retention_ms
        if isinstance(retention_ms, bool) or not isinstance(retention_ms, int) or retention_ms < minimum:
            raise TopologyError(f"the retention of window store {store!r} must be an int no smaller than the "
                                f"window size plus the grace period ({minimum} ms), got {retention_ms!r}")
        return retention_ms

    def _build(self, store: str, prefix: str, store_value_serde: Serde, initializer: Callable[[], Any],
               aggregator: Callable[[Any, Any, Any], Any], retention_ms: int | None) -> Table:
        windows = self.windows
        supplier: Callable[[str | None], ProcessorSupplier]
        if isinstance(windows, TimeWindows):
            size, minimum = windows.size_ms, windows.size_ms + windows.grace_ms
            tw = windows

            def supplier(late: str | None) -> ProcessorSupplier:
                return lambda: TimeWindowAggregate(store, tw, initializer, aggregator, late)
        else:
            assert isinstance(windows, SlidingWindows)
            size, minimum = windows.time_difference_ms, windows.time_difference_ms + windows.grace_ms
            sw = windows

            def supplier(late: str | None) -> ProcessorSupplier:
                return lambda: SlidingWindowAggregate(store, sw, initializer, aggregator, late)
        retention = self._retention(retention_ms, minimum, store)
        key_serde = self._grouped.key_serde
        store_def = StoreDef(store, self._dsl.config.persistent_stores, key_serde, store_value_serde,
                             store_type=StoreType.WINDOW, retention_ms=retention, window_size_ms=size)
        table = self._add(prefix, store_def, supplier, TimeWindowedSerde(key_serde, size))
        return self._maybe_suppress(table, windows.grace_ms)

    def _session(self, store: str, prefix: str, store_value_serde: Serde, initializer: Callable[[], Any],
                 aggregator: Callable[[Any, Any, Any], Any], merger: Callable[[Any, Any, Any], Any],
                 retention_ms: int | None) -> Table:
        windows = self.windows
        assert isinstance(windows, SessionWindows)
        retention = self._retention(retention_ms, windows.inactivity_gap_ms + windows.grace_ms, store)
        key_serde = self._grouped.key_serde
        store_def = StoreDef(store, self._dsl.config.persistent_stores, key_serde, store_value_serde,
                             store_type=StoreType.SESSION, retention_ms=retention)
        table = self._add(prefix, store_def,
                          lambda late: lambda: SessionWindowAggregate(store, windows, initializer, aggregator,
                                                                      merger, late),
                          SessionWindowedSerde(key_serde))
        return self._maybe_suppress(table, windows.inactivity_gap_ms + windows.grace_ms)

    def _add(self, prefix: str, store_def: StoreDef, supplier: Callable[[str | None], ProcessorSupplier],
             windowed_serde: Serde) -> Table:
        dsl = self._dsl
        node = dsl.names.processor(prefix)
        parent = self._grouped.aggregation_parent(store_def.name)
        late = None if self.late_records_topic is None else f"{node}-late-records"
        dsl.builder.add_store(store_def)
        dsl.builder.add_processor(node, (parent,), supplier(late), stores=(store_def.name,))
        if late is not None and self.late_records_topic is not None:
            grouped = self._grouped
            dsl.builder.add_sink(late, node, self.late_records_topic, None, grouped.key_serde,
                                 grouped.value_serde, side_output=True)
        return Table(dsl, node, windowed_serde, store_def.value_serde, store_def.name)

    def _maybe_suppress(self, table: Table, duration_ms: int) -> Table:
        if self.emit != "final":
            return table
        dsl = self._dsl
        node = dsl.names.processor(naming.TABLE_SUPPRESS)
        store = dsl.names.store(naming.TABLE_SUPPRESS)
        dsl.builder.add_store(StoreDef(store, False, serdes.BYTES, serdes.BYTES))
        key_serde, value_serde = table.key_serde, table.value_serde
        dsl.builder.add_processor(
            node, (table.name,),
            lambda: SuppressUntilWindowCloses(store, duration_ms, key_serde, value_serde), stores=(store,))
        return Table(dsl, node, key_serde, value_serde)


def _add_counts(_key: Any, left: int, right: int) -> int:
    return left + right
