"""Session aggregations of a grouped stream (Kafka Streams' ``KStreamSessionWindowAggregate``).

Theory of operation: a record with a None key is dropped.  A record at ``t`` looks up the key's
sessions that end at or after ``t - gap`` and start at or before ``t + gap``: every one of them
merges with the record's own session ``[t, t]``.  The aggregate starts at ``initializer()`` and folds
in each found session's aggregate with ``merger(key, aggregate, session aggregate)``; the merged
window spans them all.  If the merged window ends before the close time (observed stream time -
grace), the record is late: dropped and counted.  Otherwise, when the merged window differs from
``[t, t]``, each merged session is removed from the store and a tombstone for it is forwarded
(``Change(None, its aggregate)``, timestamped with its end); then ``aggregator(key, value,
aggregate)`` is stored under the merged window and forwarded.  Every record forwarded carries its
session's end as timestamp, as Kafka Streams does.  Reduce is the aggregate with no initial value
whose merger reduces the two aggregates.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from streamlog.streams.processor import Processor, ProcessorContext
from streamlog.streams.record import Change, Record
from streamlog.streams.windows import SessionWindows, Windowed

log = logging.getLogger(__name__)

Merger = Callable[[Any, Any, Any], Any]


class SessionWindowAggregate(Processor):
    def __init__(self, store_name: str, windows: SessionWindows, initializer: Callable[[], Any],
                 aggregator: Callable[[Any, Any, Any], Any], merger: Merger,
                 late_sink: str | None = None) -> None:
        self._late_sink = late_sink
        self._store_name = store_name
        self._windows = windows
        self._initializer = initializer
        self._aggregator = aggregator
        self._merger = merger
        self._observed = -1
        self._store: Any = None

    def init(self, context: ProcessorContext) -> None:
        super().init(context)
        self._store = context.get_state_store(self._store_name)
        self._observed = context.current_stream_time_ms()  # a restarted task continues its stream time

    def process(self, record: Record) -> None:
        key = record.key
        if key is None:
            self.context.record_dropped("null key")
            return
        t = record.timestamp
        if t > self._observed:
            self._observed = t
        close = self._observed - self._windows.grace_ms
        gap = self._windows.inactivity_gap_ms
        merged = list(self._store.find_sessions(key, t - gap, t + gap))
        aggregate = self._initializer()
        start = end = t
        for session, value in merged:
            aggregate = self._merger(key, aggregate, value)
            start, end = min(start, session.start), max(end, session.end)
        if end < close:
            log.debug("store %s: skipping record for expired session [%d,%d]: key=%r timestamp=%d close=%d",
                      self._store_name, start, end, key, t, close)
            self.context.record_dropped("late")
            if self._late_sink is not None:
                self.context.forward(record, to=self._late_sink)
            return
        forward = self.context.forward
        if (start, end) != (t, t):
            for session, value in merged:
                self._store.remove(session)
                forward(Record(session, Change(None, value), session.end, record.headers))
        aggregate = self._aggregator(key, record.value, aggregate)
        window = Windowed(key, start, end)
        self._store.put(window, aggregate)
        forward(Record(window, Change(aggregate, None), end, record.headers))


Initializer = Callable[[], Any]
Aggregator = Callable[[Any, Any, Any], Any]


def session_reduce_parts(reducer: Callable[[Any, Any], Any]) -> tuple[Initializer, Aggregator, Merger]:
    """A session reduction as an aggregation: initializer, aggregator, merger."""
    def initializer() -> Any:
        return None

    def aggregator(_key: Any, value: Any, aggregate: Any) -> Any:
        return value if aggregate is None else reducer(aggregate, value)

    def merger(_key: Any, left: Any, right: Any) -> Any:
        if left is None:
            return right
        return left if right is None else reducer(left, right)

    return initializer, aggregator, merger
