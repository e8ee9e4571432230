"""Stream aggregations: `count`, `reduce` and `aggregate` of a grouped stream, over a key-value store.

Theory of operation (Kafka Streams' ``KStreamAggregate`` and ``KStreamReduce``): a record whose key or
value is None is dropped.  Otherwise the store's current aggregate for the key is read;
`aggregate` starts from ``initializer()`` when there is none and stores
``aggregator(key, value, aggregate)``; `reduce` stores the value itself when there is none, else
``reducer(aggregate, value)``; `count` is `aggregate` with 0 and ``+1``.  Every update is forwarded
(caching off) as a `Change(new, old)` with the record's timestamp, so the result is a table; the
store write also goes to the store's changelog through the typed store.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from streamlog.streams.processor import Processor, ProcessorContext
from streamlog.streams.record import Change, Record

log = logging.getLogger(__name__)


class _StoreProcessor(Processor):
    def __init__(self, store_name: str) -> None:
        self._store_name = store_name
        self._store: Any = None
        self._forward: Callable[..., None] = _unset

    def init(self, context: ProcessorContext) -> None:
        super().init(context)
        self._store = context.get_state_store(self._store_name)
        self._forward = context.forward


def _unset(*_: Any) -> None:
    raise RuntimeError("processor used before init()")


class StreamAggregate(_StoreProcessor):
    def __init__(self, store_name: str, initializer: Callable[[], Any],
                 aggregator: Callable[[Any, Any, Any], Any]) -> None:
        super().__init__(store_name)
        self._initializer = initializer
        self._aggregator = aggregator

    def process(self, record: Record) -> None:
        key, value = record.key, record.value
        if key is None or value is None:
            log.debug("store %s: dropping a record with a None key or value", self._store_name)
            return
        old = self._store.get(key)
        new = self._aggregator(key, value, self._initializer() if old is None else old)
        self._store.put(key, new)
        self._forward(Record(key, Change(new, old), record.timestamp, record.headers))


class StreamReduce(_StoreProcessor):
    def __init__(self, store_name: str, reducer: Callable[[Any, Any], Any]) -> None:
        super().__init__(store_name)
        self._reducer = reducer

    def process(self, record: Record) -> None:
        key, value = record.key, record.value
        if key is None or value is None:
            log.debug("store %s: dropping a record with a None key or value", self._store_name)
            return
        old = self._store.get(key)
        new = value if old is None else self._reducer(old, value)
        self._store.put(key, new)
        self._forward(Record(key, Change(new, old), record.timestamp, record.headers))


def count_initializer() -> int:
    return 0


def count_aggregator(_key: Any, _value: Any, aggregate: int) -> int:
    return aggregate + 1


def count_subtractor(_key: Any, _value: Any, aggregate: int) -> int:
    return aggregate - 1
