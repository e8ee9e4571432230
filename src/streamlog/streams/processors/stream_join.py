"""Stream-stream windowed joins: inner, left and outer, as Kafka Streams 3.9's ``KStreamKStreamJoin``.

Theory of operation.  A join of a left stream (``this``) and a right stream (``other``) is five nodes
(dsl/joins_stream.py): per side a *window* node (`JoinWindowProcessor`) that forwards each record
to its side's *join* node (`StreamJoinProcessor`) and then stores it in its side's window store
(a duplicate-keeping window store keyed by record key and timestamp), and a merge node both join
nodes feed.  A record at ``t`` on the left looks up the right store for its key in ``[t - before,
t + after]`` (on the right: the left store in ``[t - after, t + before]``), both bounds clamped at 0;
each match gives ``joiner(left value, right value)`` with the key, the timestamp ``max(t, other)``
and the record's headers, oldest match first (the store's order: timestamp, then arrival).
Records with a None key or value take no part (counted as dropped), except that an outer side
forwards a None-key record with a value at once, null-padded.  A window store keeps a record while
it is younger than its retention, ``before + after + grace``, measured against the largest
timestamp that store has seen; a put older than that is refused and counted as dropped ("late")
(Kafka's expired-record drop), but the late record still looks up the other side as any record
does, as in Kafka Streams 3.9.

Left and outer joins (KIP-633's fix, no spurious results): an outer side's record with no match is
not null-padded at once.  It goes into the *shared store* under (timestamp, side, key); a match
that arrives later on the other side deletes that entry (and gives the inner result).  Entries
leave only when the join's stream time (the largest timestamp either join node has seen in this
task, `JoinTimeTracker`, starting from the task's committed stream time after a restart) passes
their window's end plus grace: ``ts + after + grace`` for a left entry, ``ts + before + grace``
for a right one; they are then forwarded as ``joiner(left, None)`` or ``joiner(None, right)`` with
their own key and timestamp (and the headers of the record whose
arrival released them), in store order, and deleted.  The scan runs when a record arrives whose
timestamp is the new stream time, and is skipped while the smallest entry time the tracker knows
(``min_time``) plus this node's ``after`` plus grace has not been passed; it stops once both sides
met an entry whose window is still open.  A record so late that its own window already ended
(``t + after < stream time``) is null-padded at once instead.  All of this follows Kafka's code
step by step, Java's wrapping long arithmetic in the ``min_time`` check included, with one
difference: Kafka throttles the scans to one per second of wall-clock time (an internal setting its
own tests turn off); here every eligible record scans, so results do not depend on the clock.

When the stream goes quiet, `App(idle_advance_ms=N)` moves the task's stream time; the task then
calls `stream_time_advanced`, and the left join node runs the scan (without the ``min_time`` shortcut),
so null-padded results also come out without a new record.

The outer-join store's layout and the shared time are in processors/stream_join_state.py.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from streamlog.streams.processor import Processor, ProcessorContext
from streamlog.streams.processors.stream_join_state import (
    LEFT_FLAG,
    MAX_LONG,
    RIGHT_FLAG,
    JoinTimeTracker,
    TimeTrackers,
    decode_list,
    encode_list,
    java_long,
    shared_key,
    split_shared_key,
)
from streamlog.streams.record import Headers, Record
from streamlog.streams.serdes import Serde, SerdeError
from streamlog.streams.topology.naming import changelog_topic

log = logging.getLogger(__name__)

Joiner = Callable[[Any, Any], Any]


# ----------------------------------------------------------------------------- the processors
class JoinWindowProcessor(Processor):
    """Forward the record to the join node, then keep it in this side's window store."""

    def __init__(self, store_name: str) -> None:
        self._store_name = store_name
        self._store: Any = None

    def init(self, context: ProcessorContext) -> None:
        super().init(context)
        self._store = context.get_state_store(self._store_name)

    def process(self, record: Record) -> None:
        self.context.forward(record)
        if record.key is None or record.value is None:
            return  # never joined; a None value is not stored in a store that keeps duplicates
        if not self._store.put(record.key, record.value, record.timestamp, record.timestamp):
            log.debug("join store %s: skipping a record older than the retention: key=%r timestamp=%d",
                      self._store_name, record.key, record.timestamp)
            self.context.record_dropped("late")


@dataclass(frozen=True, slots=True)
class JoinSpec:
    """Everything both join nodes of one join share (the DSL builds one per join)."""

    this_store: str  # the left side's window store
    other_store: str  # the right side's window store
    shared_store: str | None  # left and outer joins
    before_ms: int
    after_ms: int
    grace_ms: int
    joiner: Joiner  # joiner(left value, right value)
    left_outer: bool
    right_outer: bool
    key_serde: Serde
    left_value_serde: Serde
    right_value_serde: Serde
    trackers: TimeTrackers


class StreamJoinProcessor(Processor):
    """One side's join node (`left` True: the left stream's); see the module docstring."""

    def __init__(self, spec: JoinSpec, left: bool) -> None:
        self._spec = spec
        self._left = left
        self._outer = spec.left_outer if left else spec.right_outer
        self._other_name = spec.other_store if left else spec.this_store
        # how far this side looks back and ahead in the other side's store
        self._before = spec.before_ms if left else spec.after_ms
        self._after = spec.after_ms if left else spec.before_ms
        self._grace = spec.grace_ms
        self._other: Any = None
        self._shared: Any = None
        self._tracker = JoinTimeTracker()
        self._topic = ""

    def init(self, context: ProcessorContext) -> None:
        super().init(context)
        spec = self._spec
        self._other = context.get_state_store(self._other_name)
        if spec.shared_store is not None:
            self._shared = context.get_state_store(spec.shared_store)
            # the topic Kafka's serdes get for a store: its changelog's
            self._topic = changelog_topic(context.application_id, spec.shared_store)
        self._tracker = spec.trackers.get(context.task_id, self._left)
        # a restarted task continues the stream time it committed (windowed aggregations do the same)
        self._tracker.stream_time = max(self._tracker.stream_time, context.current_stream_time_ms())

    def close(self) -> None:
        self._spec.trackers.remove(self.context.task_id, self._tracker)

    def _join(self, this_value: Any, other_value: Any) -> Any:
        if self._left:
            return self._spec.joiner(this_value, other_value)
        return self._spec.joiner(other_value, this_value)

    def process(self, record: Record) -> None:
        tracker = self._tracker
        t = record.timestamp
        if t > tracker.stream_time:
            tracker.stream_time = t
        key, value = record.key, record.value
        if key is None or value is None:
            if self._outer and key is None and value is not None:
                self.context.forward(Record(None, self._join(value, None), t, record.headers))
                return
            log.debug("join: skipping a record with a None key or value (topic %s, offset %d)",
                      self.context.topic, self.context.offset)
            self.context.record_dropped("null key or value")
            return
        if self._shared is not None and t == tracker.stream_time:
            self._emit_closed(record.headers, shortcut=True)
        time_from = max(0, t - self._before)
        time_to = max(0, t + self._after)
        matches = list(self._other.fetch(key, time_from, time_to))
        forward = self.context.forward
        for other_ts, other_value in matches:
            if self._shared is not None:
                self._delete_if_present(shared_key(other_ts, not self._left, self._key_bytes(key)))
            forward(Record(key, self._join(value, other_value), max(t, other_ts), record.headers))
        if self._outer and not matches:
            if self._shared is None or time_to < tracker.stream_time:
                forward(Record(key, self._join(value, None), t, record.headers))
            else:
                tracker.min_time = min(tracker.min_time, t)
                self._append(shared_key(t, self._left, self._key_bytes(key)), value)

    def stream_time_advanced(self, stream_time: int) -> None:
        """The task moved stream time without a record: release what closed (left node only)."""
        if self._shared is None or not self._left:
            return
        if stream_time > self._tracker.stream_time:
            self._tracker.stream_time = stream_time
            self._emit_closed((), shortcut=False)

    # ------------------------------------------------------------------ the shared store
    def _key_bytes(self, key: Any) -> bytes:
        data = self._spec.key_serde.serialize(self._topic, key)
        if data is None:
            raise SerdeError(f"outer-join store {self._topic!r}: the key serde gave no bytes for {key!r}")
        return data

    def _delete_if_present(self, entry_key: bytes) -> None:
        if self._shared.get(entry_key) is not None:
            self._shared.delete(entry_key)

    def _append(self, entry_key: bytes, value: Any) -> None:
        serde = self._spec.left_value_serde if self._left else self._spec.right_value_serde
        data = serde.serialize(self._topic, value)
        if data is None:
            raise SerdeError(f"outer-join store {self._topic!r}: the value serde gave no bytes for {value!r}")
        element = (LEFT_FLAG if self._left else RIGHT_FLAG) + data
        existing = self._shared.get(entry_key)
        elements = [] if existing is None else [e for e in decode_list(existing) if e is not None]
        elements.append(element)
        self._shared.put(entry_key, encode_list(elements))

    def _entries(self) -> Iterator[tuple[bytes, bytes | None]]:
        """(entry key, element) in store order, each element of a list in turn."""
        for entry_key, data in self._shared.all():
            for element in decode_list(data):
                yield entry_key, element

    def _emit_closed(self, headers: Headers, *, shortcut: bool) -> None:
        tracker = self._tracker
        spec = self._spec
        if shortcut and java_long(tracker.min_time + self._after + self._grace) >= tracker.stream_time:
            return  # nothing can have closed yet
        tracker.min_time = MAX_LONG
        emitted: list[bytes] = []
        left_open = right_open = False
        for entry_key, element in self._entries():
            timestamp, is_left, key_bytes = split_shared_key(entry_key)
            tracker.min_time = timestamp
            if left_open and right_open:
                break  # no more candidates on either side
            look_ahead = spec.after_ms if is_left else spec.before_ms
            if timestamp + look_ahead + self._grace >= tracker.stream_time:
                if is_left:
                    left_open = True
                else:
                    right_open = True
                continue
            self._forward_unmatched(timestamp, key_bytes, element, headers)
            if not emitted or emitted[-1] != entry_key:
                emitted.append(entry_key)
        for entry_key in emitted:  # after the scan, in scan order (Kafka deletes as it goes)
            self._shared.delete(entry_key)

    def _forward_unmatched(self, timestamp: int, key_bytes: bytes, element: bytes | None,
                           headers: Headers) -> None:
        spec = self._spec
        key = spec.key_serde.deserialize(self._topic, key_bytes)
        left_value = right_value = None
        if element is not None:
            serde = spec.left_value_serde if element[:1] == LEFT_FLAG else spec.right_value_serde
            value = serde.deserialize(self._topic, element[1:])
            if element[:1] == LEFT_FLAG:
                left_value = value
            else:
                right_value = value
        self.context.forward(Record(key, spec.joiner(left_value, right_value), timestamp, headers))
