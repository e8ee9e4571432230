"""`Table` and `GlobalTable`: the latest value per key, and the changes to it.

Theory of operation: a table node forwards `Change(new, old)` records (processors/table.py).  A
table read from a topic (`app.table`), made from a stream (`to_table`) or by an aggregation is
materialized in a store (`store_name`); `filter`, `filter_not` and `map_values` are computed on the
fly from the changes (Kafka Streams' non-materialized KTable operations).  `to_stream` turns the
changes back into records carrying the new value (a tombstone when it is None).  `group_by`
re-keys the table for an aggregation with adder/subtractor semantics (dsl/grouped.py).

A `GlobalTable` is a handle on a global store: every instance holds all partitions of its topic;
processors read it with ``context.get_state_store(global_table.store_name)``, and streams join it
with ``stream.join(global_table, key_selector, joiner)``.

Joins (dsl/joins_table.py): `join`, `left_join`, `outer_join` with another table, and with
``foreign_key=`` the foreign-key join.  A join reads a table by key through its `view`
(processors/table_join_views.py): its store, or, for a table computed on the fly (`filter`,
`map_values`, an unmaterialized join), a view over the table it came from.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from streamlog.streams.dsl.common import DslContext, check_callable, check_store_name
from streamlog.streams.processors.table import TableFilter, TableMapValues, TableRepartitionMap, TableToStream
from streamlog.streams.processors.table_join_views import FilterView, MapValuesView, StoreView, TableView
from streamlog.streams.serdes import Serde
from streamlog.streams.topology import naming

if TYPE_CHECKING:
    from streamlog.streams.dsl.grouped import GroupedTable
    from streamlog.streams.dsl.stream import Stream


class Table:
    def __init__(self, dsl: DslContext, node: str, key_serde: Serde, value_serde: Serde,
                 store_name: str | None = None, view: TableView | None = None) -> None:
        self._dsl = dsl
        self.name = node
        self.key_serde = key_serde
        self.value_serde = value_serde
        self.store_name = store_name
        self.view = view  # how joins read it by key, when that is not just its store (None)

    def __repr__(self) -> str:
        return f"Table({self.name!r}, store={self.store_name!r})"

    def _then(self, prefix: str, processor: Callable[[], Any], value_serde: Serde,
              view: Callable[[TableView], TableView] | None = None) -> Table:
        name = self._dsl.names.processor(prefix)
        self._dsl.builder.add_processor(name, (self.name,), processor)
        parent = self.view or (StoreView(self.store_name) if self.store_name is not None else None)
        derived = None if view is None or parent is None else view(parent)
        return Table(self._dsl, name, self.key_serde, value_serde, view=derived)

    def filter(self, predicate: Callable[[Any, Any], bool]) -> Table:
        check_callable("predicate", predicate)
        return self._then(naming.TABLE_FILTER, lambda: TableFilter(predicate), self.value_serde,
                          lambda parent: FilterView(parent, predicate))

    def filter_not(self, predicate: Callable[[Any, Any], bool]) -> Table:
        check_callable("predicate", predicate)
        return self._then(naming.TABLE_FILTER, lambda: TableFilter(predicate, negate=True), self.value_serde,
                          lambda parent: FilterView(parent, predicate, negate=True))

    def map_values(self, mapper: Callable[[Any], Any], value_serde: Serde | None = None) -> Table:
        check_callable("mapper", mapper)
        return self._then(naming.TABLE_MAPVALUES, lambda: TableMapValues(mapper),
                          self._dsl.value_serde(value_serde), lambda parent: MapValuesView(parent, mapper))

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

    # ------------------------------------------------------------ joins (dsl/joins_table.py)
    def join(self, other: Table, joiner: Callable[[Any, Any], Any], *,
             foreign_key: Callable[[Any], Any] | None = None, name: str | None = None,
             value_serde: Serde | None = None) -> Table:
        """Inner join with `other` on the key, or on ``foreign_key(value)`` = other's key.

        ``joiner(value, other_value)``; `name` materializes the result in a store of that name.
        """
        from streamlog.streams.dsl import joins_table
        if foreign_key is not None:
            return joins_table.foreign_key_join(self, other, joiner, foreign_key, left=False, name=name,
                                                value_serde=value_serde)
        return joins_table.table_join(self, other, joiner, "inner", name=name, value_serde=value_serde)

    def left_join(self, other: Table, joiner: Callable[[Any, Any], Any], *,
                  foreign_key: Callable[[Any], Any] | None = None, name: str | None = None,
                  value_serde: Serde | None = None) -> Table:
        """As `join`, keeping every row of this table (``joiner(value, None)`` without a match)."""
        from streamlog.streams.dsl import joins_table
        if foreign_key is not None:
            return joins_table.foreign_key_join(self, other, joiner, foreign_key, left=True, name=name,
                                                value_serde=value_serde)
        return joins_table.table_join(self, other, joiner, "left", name=name, value_serde=value_serde)

    def outer_join(self, other: Table, joiner: Callable[[Any, Any], Any], *, name: str | None = None,
                   value_serde: Serde | None = None) -> Table:
        """Keep the rows of both tables: ``joiner(value or None, other_value or None)``."""
        from streamlog.streams.dsl import joins_table
        return joins_table.table_join(self, other, joiner, "outer", name=name, value_serde=value_serde)


class GlobalTable:
    def __init__(self, topic: str, store_name: str, key_serde: Serde, value_serde: Serde) -> None:
        self.topic = topic
        self.store_name = store_name
        self.key_serde = key_serde
        self.value_serde = value_serde

    def __repr__(self) -> str:
        return f"GlobalTable({self.topic!r}, store={self.store_name!r})"

