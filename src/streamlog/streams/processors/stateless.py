"""Stateless stream operations: one record in, zero or more records out, nothing remembered.

Theory of operation: each processor applies its user callback and forwards what results, keeping
the record's timestamp and headers (Kafka Streams' rule: outputs inherit the input's timestamp).
Callback signatures are the DSL's contract: `filter`, `map`, `flat_map`, `select_key`, `peek`,
`foreach` and the `split` predicates get ``(key, value)``; `map_values` and `flat_map_values` get
``(value)``.  `map` and `flat_map` callbacks return ``(key, value)`` pairs.  None keys and values
are passed to callbacks as they are (filtering them is the user's choice, as in Kafka Streams).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from streamlog.streams.processor import Processor, ProcessorContext
from streamlog.streams.record import Record

KeyValuePredicate = Callable[[Any, Any], bool]


class _Forwarding(Processor):
    _forward: Callable[..., None]

    def init(self, context: ProcessorContext) -> None:
        super().init(context)
        self._forward = context.forward


class PassThrough(_Forwarding):
    def process(self, record: Record) -> None:
        self._forward(record)


class Filter(_Forwarding):
    def __init__(self, predicate: KeyValuePredicate, negate: bool = False) -> None:
        self._predicate = predicate
        self._negate = negate

    def process(self, record: Record) -> None:
        if bool(self._predicate(record.key, record.value)) is not self._negate:
            self._forward(record)


class Map(_Forwarding):
    def __init__(self, mapper: Callable[[Any, Any], tuple[Any, Any]]) -> None:
        self._mapper = mapper

    def process(self, record: Record) -> None:
        key, value = self._mapper(record.key, record.value)
        self._forward(Record(key, value, record.timestamp, record.headers))


class SelectKey(_Forwarding):
    def __init__(self, selector: Callable[[Any, Any], Any]) -> None:
        self._selector = selector

    def process(self, record: Record) -> None:
        self._forward(Record(self._selector(record.key, record.value), record.value, record.timestamp,
                             record.headers))


class MapValues(_Forwarding):
    def __init__(self, mapper: Callable[[Any], Any]) -> None:
        self._mapper = mapper

    def process(self, record: Record) -> None:
        self._forward(Record(record.key, self._mapper(record.value), record.timestamp, record.headers))


class FlatMap(_Forwarding):
    def __init__(self, mapper: Callable[[Any, Any], Iterable[tuple[Any, Any]]]) -> None:
        self._mapper = mapper

    def process(self, record: Record) -> None:
        for key, value in self._mapper(record.key, record.value):
            self._forward(Record(key, value, record.timestamp, record.headers))


class FlatMapValues(_Forwarding):
    def __init__(self, mapper: Callable[[Any], Iterable[Any]]) -> None:
        self._mapper = mapper

    def process(self, record: Record) -> None:
        for value in self._mapper(record.value):
            self._forward(Record(record.key, value, record.timestamp, record.headers))


class Peek(_Forwarding):
    def __init__(self, action: Callable[[Any, Any], Any]) -> None:
        self._action = action

    def process(self, record: Record) -> None:
        self._action(record.key, record.value)
        self._forward(record)


class Foreach(Processor):
    def __init__(self, action: Callable[[Any, Any], Any]) -> None:
        self._action = action

    def process(self, record: Record) -> None:
        self._action(record.key, record.value)


class Branch(Processor):
    """`split()`: the record goes to the first branch whose predicate holds, else the default branch.

    `predicates` and `child_names` are the lists `BranchedStream` keeps appending to while the
    topology is built; the default branch, if any, is the last child and has no predicate.
    """

    def __init__(self, predicates: Sequence[KeyValuePredicate], child_names: Sequence[str]) -> None:
        self._predicates = tuple(predicates)
        self._children = tuple(child_names)

    def process(self, record: Record) -> None:
        for predicate, child in zip(self._predicates, self._children, strict=False):
            if predicate(record.key, record.value):
                self.context.forward(record, child)
                return
        if len(self._children) > len(self._predicates):
            self.context.forward(record, self._children[len(self._predicates)])
