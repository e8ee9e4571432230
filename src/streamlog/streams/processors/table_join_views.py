"""Table views: how a join reads a table's current value for a key (Kafka Streams' value getters).

Theory of operation: a join looks the other side up by key at the moment an update arrives.  A
materialized table (read from a topic, made by `to_table` or an aggregation, or a join result given
a store name) is read from its store (`StoreView`).  A table that is not materialized is computed on
the fly from the table it was derived from, as Kafka Streams' ``KTableValueGetterSupplier``s do:
`FilterView` (a value failing the predicate reads as absent), `MapValuesView` (the mapper applied
to the parent's value) and `JoinView` (the result of a table-table join from both sides' views,
with the inner / left / outer rules of Kafka's join value getters).  A view names the stores it
reads (`stores`), which the DSL connects to the joining processor; `bind(context)` returns the
lookup function a processor calls, ``key -> value or None``.

Timestamps are not part of a view: the stores here keep none, so the joins keep the timestamps
they need themselves (processors/table_join.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from streamlog.streams.processor import ProcessorContext

Lookup = Callable[[Any], Any]
JoinKind = Literal["inner", "left", "outer"]


class TableView:
    """A way to read a table's current value by key; see the module docstring."""

    __slots__ = ()

    @property
    def stores(self) -> tuple[str, ...]:
        raise NotImplementedError

    def bind(self, context: ProcessorContext) -> Lookup:
        raise NotImplementedError


@dataclass(frozen=True, slots=True)
class StoreView(TableView):
    store: str

    @property
    def stores(self) -> tuple[str, ...]:
        return (self.store,)

    def bind(self, context: ProcessorContext) -> Lookup:
        get: Lookup = context.get_state_store(self.store).get
        return get


@dataclass(frozen=True, slots=True)
class FilterView(TableView):
    parent: TableView
    predicate: Callable[[Any, Any], bool]
    negate: bool = False

    @property
    def stores(self) -> tuple[str, ...]:
        return self.parent.stores

    def bind(self, context: ProcessorContext) -> Lookup:
        parent, predicate, negate = self.parent.bind(context), self.predicate, self.negate

        def get(key: Any) -> Any:
            value = parent(key)
            if value is None or bool(predicate(key, value)) is negate:
                return None
            return value

        return get


@dataclass(frozen=True, slots=True)
class MapValuesView(TableView):
    parent: TableView
    mapper: Callable[[Any], Any]

    @property
    def stores(self) -> tuple[str, ...]:
        return self.parent.stores

    def bind(self, context: ProcessorContext) -> Lookup:
        parent, mapper = self.parent.bind(context), self.mapper

        def get(key: Any) -> Any:
            value = parent(key)
            return None if value is None else mapper(value)

        return get


@dataclass(frozen=True, slots=True)
class JoinView(TableView):
    """A table-table join's result, computed from both sides (``joiner(left, right)``)."""

    left: TableView
    right: TableView
    joiner: Callable[[Any, Any], Any]
    kind: JoinKind

    @property
    def stores(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys((*self.left.stores, *self.right.stores)))

    def bind(self, context: ProcessorContext) -> Lookup:
        left, right, joiner, kind = self.left.bind(context), self.right.bind(context), self.joiner, self.kind

        def get(key: Any) -> Any:
            left_value = left(key)
            if left_value is None and kind != "outer":
                return None
            right_value = right(key)
            if right_value is None and (kind == "inner" or left_value is None):
                return None
            return joiner(left_value, right_value)

        return get
