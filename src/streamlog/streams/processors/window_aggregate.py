"""Windowed aggregations of a grouped stream: time windows (tumbling, hopping) and sliding windows.

Theory of operation, time windows (Kafka Streams' ``KStreamWindowAggregate``): a record with a None key
is dropped.  The processor keeps its own observed stream time (the largest timestamp it has seen,
the current record's included) and the close time ``observed - grace``.  For every window holding
the record's timestamp (oldest first) whose end is after the close time, the stored aggregate (or
``initializer()``) goes through ``aggregator(key, value, aggregate)``; the result is stored with the
timestamp ``max(record timestamp, stored timestamp)`` and forwarded as ``Change(new, old)`` under the
key ``Windowed(key, start, end)`` with that timestamp.  A window whose end is at or before the close
time is late for that record: the record is dropped for it and counted (`record_dropped`).  Reduce is
the aggregate whose initializer is None and whose aggregator keeps the value when there is no
aggregate yet.

Sliding windows (Kafka Streams' ``KStreamSlidingWindowAggregate``, the reverse-iterating variant its
built-in stores use): windows ``[start, start + d]`` exist only where records are.  A record at ``t``
(None key or value: dropped; ``t + 1 + d <= close``: late) updates every existing window that holds
it (newest first), then creates what is missing: the right window of the previous record
(``[prev + 1, prev + 1 + d]``), its own left window (``[t - d, t]``, seeded with the previous record's
left-window aggregate when that record is within ``d``), and its own right window (``[t + 1, t + 1 +
d]``) when later records exist.  A record earlier than ``d`` goes into the window ``[0, d]``.
Windows end inclusively here: a window is updated while ``end >= close``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from streamlog.streams.processor import Processor, ProcessorContext
from streamlog.streams.record import Change, Record
from streamlog.streams.windows import SlidingWindows, TimeWindows, Windowed

log = logging.getLogger(__name__)

Initializer = Callable[[], Any]
Aggregator = Callable[[Any, Any, Any], Any]


def reduce_parts(reducer: Callable[[Any, Any], Any]) -> tuple[Initializer, Aggregator]:
    """A reduction as an aggregation: no initial aggregate, the first value becomes it."""
    def initializer() -> Any:
        return None

    def aggregator(_key: Any, value: Any, aggregate: Any) -> Any:
        return value if aggregate is None else reducer(aggregate, value)

    return initializer, aggregator


class _WindowedProcessor(Processor):
    def __init__(self, store_name: str, initializer: Initializer, aggregator: Aggregator,
                 late_sink: str | None = None) -> None:
        self._store_name = store_name
        self._initializer = initializer
        self._aggregator = aggregator
        self._late_sink = late_sink
        self._observed = -1
        self._store: Any = None
        self._late_sent: Record | None = None

    def init(self, context: ProcessorContext) -> None:
        super().init(context)
        self._store = context.get_state_store(self._store_name)
        self._observed = context.current_stream_time_ms()  # a restarted task continues its stream time

    def _late(self, record: Record, start: int, end: int, close: int) -> None:
        log.debug("store %s: skipping record for expired window [%d,%d]: key=%r timestamp=%d close=%d",
                  self._store_name, start, end, record.key, record.timestamp, close)
        self.context.record_dropped("late")
        if self._late_sink is not None and self._late_sent is not record:
            self._late_sent = record  # once per record, however many of its windows it missed
            self.context.forward(record, to=self._late_sink)


class TimeWindowAggregate(_WindowedProcessor):
    def __init__(self, store_name: str, windows: TimeWindows, initializer: Initializer,
                 aggregator: Aggregator, late_sink: str | None = None) -> None:
        super().__init__(store_name, initializer, aggregator, late_sink)
        self._windows = windows

    def process(self, record: Record) -> None:
        key = record.key
        if key is None:
            self.context.record_dropped("null key")
            return
        timestamp = record.timestamp
        if timestamp > self._observed:
            self._observed = timestamp
        close = self._observed - self._windows.grace_ms
        size = self._windows.size_ms
        store = self._store
        for start in self._windows.window_starts(timestamp):
            end = start + size
            if end <= close:
                self._late(record, start, end, close)
                continue
            found = store.fetch_with_timestamp(key, start)
            if found is None or found[0] is None:
                old, new_ts = None, timestamp
                base = self._initializer()
            else:
                old, stored_ts = found
                base, new_ts = old, max(timestamp, stored_ts)
            new = self._aggregator(key, record.value, base)
            store.put(key, new, start, new_ts)
            self.context.forward(Record(Windowed(key, start, end), Change(new, old), new_ts, record.headers))


class SlidingWindowAggregate(_WindowedProcessor):
    def __init__(self, store_name: str, windows: SlidingWindows, initializer: Initializer,
                 aggregator: Aggregator, late_sink: str | None = None) -> None:
        super().__init__(store_name, initializer, aggregator, late_sink)
        self._d = windows.time_difference_ms
        self._grace = windows.grace_ms

    def process(self, record: Record) -> None:
        key, value, t = record.key, record.value, record.timestamp
        if key is None or value is None:
            self.context.record_dropped("null key or value")
            return
        if t > self._observed:
            self._observed = t
        close = self._observed - self._grace
        d = self._d
        if t + 1 + d <= close:
            self._late(record, t - d, t, close)
            return
        if t < d:
            self._process_early(record, close)
            return
        starts: set[int] = set()
        left_agg: tuple[Any, int] | None = None
        right_agg: tuple[Any, int] | None = None
        left_exists = right_exists = False
        previous: int | None = None
        for start, agg, agg_ts in self._windows(key, max(0, t - 2 * d), t + 1, reverse=True):
            starts.add(start)
            end = start + d
            if start == t + 1:
                right_exists = True
            elif end > t:
                if right_agg is None:
                    right_agg = (agg, agg_ts)
                self._update(record, start, (agg, agg_ts), close, existed=True)
            elif end == t:
                left_exists = True
                self._update(record, start, (agg, agg_ts), close, existed=True)
                if agg_ts < t:
                    previous = agg_ts
                else:
                    return
            else:
                left_agg = (agg, agg_ts)
                previous = agg_ts
                break
        if previous is not None and previous + 1 not in starts and previous + 1 + d >= t:
            self._update(record, previous + 1, (self._initializer(), t), close, existed=False)
        if not left_exists:
            if previous is not None and left_agg is not None and t - d <= previous:
                seed = (left_agg[0], t)
            else:
                seed = (self._initializer(), t)
            self._update(record, t - d, seed, close, existed=False)
        if not right_exists and right_agg is not None and right_agg[1] > t:
            self._create_right(record, right_agg)

    def _process_early(self, record: Record, close: int) -> None:
        key, t = record.key, record.timestamp
        combined: tuple[int, Any, int] | None = None
        right_agg: tuple[Any, int] | None = None
        right_exists = False
        starts: set[int] = set()
        previous: int | None = None
        for start, agg, agg_ts in self._windows(key, 0, t + 1, reverse=False):
            starts.add(start)
            if start == 0:
                combined = (start, agg, agg_ts)
                if agg_ts < t:
                    previous = agg_ts
            elif start <= t:
                right_agg = (agg, agg_ts)
                self._update(record, start, (agg, agg_ts), close, existed=True)
            elif start == t + 1:
                right_exists = True
        if right_agg is None and combined is not None and combined[2] > t:
            right_agg = (combined[1], combined[2])
        if not right_exists and right_agg is not None and right_agg[1] > t:
            self._create_right(record, right_agg)
        if previous is not None and previous + 1 not in starts:
            self._update(record, previous + 1, (self._initializer(), t), close, existed=False)
        if combined is None:
            self._update(record, 0, (self._initializer(), t), close, existed=False)
        else:
            self._update(record, 0, (combined[1], combined[2]), close, existed=True)

    def _windows(self, key: Any, time_from: int, time_to: int, reverse: bool) -> list[tuple[int, Any, int]]:
        return list(self._store.fetch_timestamped(key, time_from, time_to, reverse))

    def _update(self, record: Record, start: int, base: tuple[Any, int], close: int, *,
                existed: bool) -> None:
        end = start + self._d
        if end < close:
            self._late(record, start, end, close)
            return
        old, old_ts = base
        new = self._aggregator(record.key, record.value, old)
        new_ts = record.timestamp if old is None else max(record.timestamp, old_ts)
        self._store.put(record.key, new, start, new_ts)
        self.context.forward(Record(Windowed(record.key, start, end), Change(new, old if existed else None),
                                    new_ts, record.headers))

    def _create_right(self, record: Record, right_agg: tuple[Any, int]) -> None:
        start = record.timestamp + 1
        value, ts = right_agg
        self._store.put(record.key, value, start, ts)
        self.context.forward(Record(Windowed(record.key, start, start + self._d), Change(value, None), ts,
                                    record.headers))
