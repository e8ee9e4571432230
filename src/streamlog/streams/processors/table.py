"""Table operations: records carry `Change(new, old)`; tables read from topics or built from streams.

Theory of operation (Kafka Streams' KTable processors, caching off, old values always sent):
- `TableSource` (``app.table``, ``Stream.to_table``): drops None keys; stores the value (None
  deletes) and forwards ``Change(value, previous)``.
- `TableFilter`: a value that fails the predicate becomes None, for the new and the old value
  alike, so a filtered-out update reaches downstream as a tombstone (as Kafka Streams documents).
- `TableMapValues`: ``mapper(value)`` for new and old (None stays None).
- `TableToStream`: forwards the new value (None: a tombstone record).
- `TableRepartitionMap` (``Table.group_by``): maps new and old with ``selector(key, value) ->
  (new_key, new_value)``.  When both results exist and share a key it forwards one
  ``Change(new, old)`` to it; otherwise ``Change(None, old)`` to the old key first, then
  ``Change(new, None)`` to the new one.  Pairs with a None key or value are dropped.
- `TableAggregate` / `TableReduce` (``GroupedTable``): first subtract the old value
  (``subtractor(key, old, aggregate)``; reduce: ``subtractor(aggregate, old)``) if there is an old
  value and an aggregate, then add the new value (``adder(key, new, aggregate or initializer())``;
  reduce: the value itself when there is no aggregate, else ``adder(aggregate, new)``).  The result is
  stored (None deletes) and forwarded as ``Change(result, previous)``.

Output timestamps are the triggering record's (Kafka Streams keeps the larger of that and the
stored aggregate's timestamp; the stores here keep no timestamps).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from streamlog.streams.processors.aggregate import _StoreProcessor
from streamlog.streams.processors.stateless import _Forwarding
from streamlog.streams.record import Change, Record


class TableSource(_StoreProcessor):
    def process(self, record: Record) -> None:
        key = record.key
        if key is None:
            return
        old = self._store.get(key)
        self._store.put(key, record.value)
        self._forward(Record(key, Change(record.value, old), record.timestamp, record.headers))


class TableFilter(_Forwarding):
    def __init__(self, predicate: Callable[[Any, Any], bool], negate: bool = False) -> None:
        self._predicate = predicate
        self._negate = negate

    def _keep(self, key: Any, value: Any) -> Any:
        if value is None or bool(self._predicate(key, value)) is self._negate:
            return None
        return value

    def process(self, record: Record) -> None:
        change: Change = record.value
        key = record.key
        new, old = self._keep(key, change.new), self._keep(key, change.old)
        self._forward(Record(key, Change(new, old), record.timestamp, record.headers))


class TableMapValues(_Forwarding):
    def __init__(self, mapper: Callable[[Any], Any]) -> None:
        self._mapper = mapper

    def process(self, record: Record) -> None:
        change: Change = record.value
        new = None if change.new is None else self._mapper(change.new)
        old = None if change.old is None else self._mapper(change.old)
        self._forward(Record(record.key, Change(new, old), record.timestamp, record.headers))


class TableToStream(_Forwarding):
    def process(self, record: Record) -> None:
        self._forward(Record(record.key, record.value.new, record.timestamp, record.headers))


class TableRepartitionMap(_Forwarding):
    def __init__(self, selector: Callable[[Any, Any], tuple[Any, Any]]) -> None:
        self._selector = selector

    def _pair(self, key: Any, value: Any) -> tuple[Any, Any] | None:
        if value is None:
            return None
        new_key, new_value = self._selector(key, value)
        return None if new_key is None or new_value is None else (new_key, new_value)

    def process(self, record: Record) -> None:
        if record.key is None:
            raise ValueError("the key of a record of a grouped table must not be None")
        change: Change = record.value
        new = self._pair(record.key, change.new)
        old = self._pair(record.key, change.old)
        ts, headers = record.timestamp, record.headers
        if new is not None and old is not None and new[0] == old[0]:
            self._forward(Record(new[0], Change(new[1], old[1]), ts, headers))
            return
        if old is not None:
            self._forward(Record(old[0], Change(None, old[1]), ts, headers))
        if new is not None:
            self._forward(Record(new[0], Change(new[1], None), ts, headers))


class TableAggregate(_StoreProcessor):
    def __init__(self, store_name: str, initializer: Callable[[], Any],
                 adder: Callable[[Any, Any, Any], Any], subtractor: Callable[[Any, Any, Any], Any]) -> None:
        super().__init__(store_name)
        self._initializer = initializer
        self._adder = adder
        self._subtractor = subtractor

    def process(self, record: Record) -> None:
        key = record.key
        if key is None:
            raise ValueError(f"the key of a record for the table aggregation {self._store_name!r} is None")
        change: Change = record.value
        old_agg = self._store.get(key)
        agg = old_agg
        if change.old is not None and agg is not None:
            agg = self._subtractor(key, change.old, agg)
        if change.new is not None:
            agg = self._adder(key, change.new, self._initializer() if agg is None else agg)
        self._store.put(key, agg)
        self._forward(Record(key, Change(agg, old_agg), record.timestamp, record.headers))


class TableReduce(_StoreProcessor):
    def __init__(self, store_name: str, adder: Callable[[Any, Any], Any],
                 subtractor: Callable[[Any, Any], Any]) -> None:
        super().__init__(store_name)
        self._adder = adder
        self._subtractor = subtractor

    def process(self, record: Record) -> None:
        key = record.key
        if key is None:
            raise ValueError(f"the key of a record for the table reduction {self._store_name!r} is None")
        change: Change = record.value
        old_agg = self._store.get(key)
        agg = old_agg
        if change.old is not None and agg is not None:
            agg = self._subtractor(agg, change.old)
        if change.new is not None:
            agg = change.new if agg is None else self._adder(agg, change.new)
        self._store.put(key, agg)
        self._forward(Record(key, Change(agg, old_agg), record.timestamp, record.headers))
