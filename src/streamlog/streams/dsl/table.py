"""`Table` and `GlobalTable`: the latest value per key, and the changes to it.

Theory of operation: a table node forwards `Change(new, old)` records (processors/table.py).  A
table read from a topic (`app.table`), made from a stream (`to_table`) or by an aggregation is
materialized in a store (`store_name`); `filter`, `filter_not` and `map_values` are computed on the
fly from the changes (Kafka Streams' non-materialized KTable operations).  `to_stream` turns the
changes back into records carrying the new value (a tombstone when it is None).  `group_by`
re-keys the table for an aggregation with adder/subtractor semantics (dsl/grouped.py).

A `GlobalTable` is a handle on a global store: every instance holds all partitions of its topic;
processors read it with ``context.get_state_store(global_table.store_name)`` (joins arrive in the
next issue).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from streamlog.streams.dsl.common import DslContext, check_callable, check_store_name
from streamlog.streams.processors.table import TableFilter, TableMapValues, TableRepartitionMap, TableToStream
from streamlog.streams.serdes import Serde
from streamlog.streams.topology import naming

if TYPE_CHECKING:
    from streamlog.streams.dsl.grouped import GroupedTable
    from streamlog.streams.dsl.stream import Stream


class Table:
    def __init__(self, dsl: DslContext, node: str, key_serde: Serde, value_serde: Serde,
                 store_name: str | None = None) -> None:
        self._dsl = dsl
        self.name = node
        self.key_serde = key_serde
        self.value_serde = value_serde
        self.store_name = store_name

    def __repr__(self) -> str:
        return f"Table({self.name!r}, store={self.store_name!r})"

    def _then(self, prefix: str, processor: Callable[[], Any], value_serde: Serde) -> Table:
        name = self._dsl.names.processor(prefix)
        self._dsl.builder.add_processor(name, (self.name,), processor)
        return Table(self._dsl, name, self.key_serde, value_serde)

    def filter(self, predicate: Callable[[Any, Any], bool]) -> Table:
        check_callable("predicate", predicate)
        return self._then(naming.TABLE_FILTER, lambda: TableFilter(predicate), self.value_serde)

    def filter_not(self, predicate: Callable[[Any, Any], bool]) -> Table:
        check_callable("predicate", predicate)
        return self._then(naming.TABLE_FILTER, lambda: TableFilter(predicate, negate=True), self.value_serde)

    def map_values(self, mapper: Callable[[Any], Any], value_serde: Serde | None = None) -> Table:
        check_callable("mapper", mapper)
        return self._then(naming.TABLE_MAPVALUES, lambda: TableMapValues(mapper),
                          self._dsl.value_serde(value_serde))

    def to_stream(self) -> Stream:
        from streamlog.streams.dsl.stream import Stream
        name = self._dsl.names.processor(naming.TABLE_TOSTREAM)
        self._dsl.builder.add_processor(name, (self.name,), TableToStream)
        return Stream(self._dsl, name, self.key_serde, self.value_serde, False)

    def group_by(self, selector: Callable[[Any, Any], tuple[Any, Any]], name: str | None = None,
                 key_serde: Serde | None = None, value_serde: Serde | None = None) -> GroupedTable:
        """Re-key: ``selector(key, value) -> (new_key, new_value)``; aggregate the result."""
        from streamlog.streams.dsl.grouped import GroupedTable
        check_callable("selector", selector)
        dsl = self._dsl
        grouped = check_store_name(name)
        select = grouped or dsl.names.processor(naming.TABLE_SELECT)
        dsl.builder.add_processor(select, (self.name,), lambda: TableRepartitionMap(selector))
        return GroupedTable(dsl, select, dsl.key_serde(key_serde), dsl.value_serde(value_serde), grouped)


class GlobalTable:
    def __init__(self, topic: str, store_name: str, key_serde: Serde, value_serde: Serde) -> None:
        self.topic = topic
        self.store_name = store_name
        self.key_serde = key_serde
        self.value_serde = value_serde

    def __repr__(self) -> str:
        return f"GlobalTable({self.topic!r}, store={self.store_name!r})"

