"""Joins with tables: stream-table, stream-global-table and table-table (Kafka Streams' semantics).

Theory of operation.

Stream-table (``KStreamKTableJoinProcessor``): only the stream side triggers; the table side only
updates its store.  A stream record with a None value is dropped; one with a None key is dropped by
the inner join and joined with None by the left join (KIP-962).  Otherwise the table's current value
for the key is read through its view (table_join_views.py): the inner join forwards
``joiner(value, table_value)`` only when there is one, the left join always (None when absent).
The output keeps the stream record's key, timestamp and headers.

Stream-global-table: the same, looking up ``key_selector(key, value)`` in the global store.  The
selector is called first (even for a None value, as Kafka does); a None selected key drops the
record from the inner join and joins it with None in the left join (Kafka 4.1, KAFKA-19208).

Table-table (``KTableKTable{Inner,Left,Right,Outer}Join`` and ``KTableKTableJoinMerger``): each side
has a processor; an update `Change(new, old)` from its side reads the other side's current value and
forwards a `Change` of join results, computed with Kafka's rules:
- inner: nothing unless the other side has a value; then ``joiner(new)`` / ``joiner(old)`` for those
  present (a deleted row becomes a tombstone);
- left, left side: nothing if the other side is absent and new and old are both None; otherwise
  joins with the other value or None;
- left, right side: nothing unless the left row exists; then joins the left value with new and old
  (a right delete turns the result back into ``joiner(left, None)``);
- outer: nothing if the other side is absent and new and old are both None; otherwise joins
  whichever values exist (``joiner(None, x)`` / ``joiner(x, None)``), None when neither does.
Old values are always computed (as Kafka Streams does when old values are sent, which is how every
table here behaves).  Where Kafka enables sending old values on a side (left join: the left side;
outer: both) and that side is a filter, Kafka's filter drops the update that is filtered out before
and after; the processor drops that ``Change(None, None)`` itself, since the filter here sends it.
Both side processors feed one merge node, which stores the new value when the join is materialized
and forwards the change.

Timestamps: a table-table result carries the larger of the update's timestamp and the other side's
timestamp (the update's own when the other side is absent).  The stores here keep no timestamps, so
each table-table join keeps its own store ``<merge node>-timestamps``: per key, the timestamp of the
last update each side sent to the join (`JOIN_TIMESTAMPS`, two big-endian int64, -1 for none; the
entry is dropped when both sides are absent).  That is the timestamp Kafka's timestamped stores
would hold for the row (every update of a table reaches the joins below it).  The store is logged
like any other, so a restored task keeps producing the same timestamps.
"""

from __future__ import annotations

import logging
import struct
from collections.abc import Callable
from typing import Any, Literal

from streamlog.streams.processor import Processor, ProcessorContext
from streamlog.streams.processors.table_join_views import Lookup, TableView
from streamlog.streams.record import Change, Headers, Record
from streamlog.streams.serdes import SerdeError

log = logging.getLogger(__name__)

SideKind = Literal["inner", "left", "right", "outer"]
UNKNOWN = -1


class _JoinTimestampsSerde:
    """(left timestamp, right timestamp) as two big-endian int64."""

    name = "JoinTimestamps"
    _struct = struct.Struct(">qq")

    def serialize(self, topic: str, value: Any, headers: Headers = ()) -> bytes | None:
        if value is None:
            return None
        return self._struct.pack(*value)

    def deserialize(self, topic: str, data: bytes | None, headers: Headers = ()) -> Any:
        if data is None:
            return None
        if len(data) != self._struct.size:
            raise SerdeError(f"join timestamps: expected 16 bytes, got {len(data)}")
        return self._struct.unpack(data)


JOIN_TIMESTAMPS = _JoinTimestampsSerde()


def _unset(*_: Any) -> Any:
    raise RuntimeError("processor used before init()")


class StreamTableJoin(Processor):
    """A stream joined with a table (inner or left); the table is read through `view`."""

    def __init__(self, view: TableView, joiner: Callable[[Any, Any], Any], left: bool) -> None:
        self._view = view
        self._joiner = joiner
        self._left = left
        self._lookup: Lookup = _unset

    def init(self, context: ProcessorContext) -> None:
        super().init(context)
        self._lookup = self._view.bind(context)

    def process(self, record: Record) -> None:
        key, value = record.key, record.value
        if value is None or (key is None and not self._left):
            log.debug("join: skipping a record with a None key or value")
            return
        other = None if key is None else self._lookup(key)
        if other is not None or self._left:
            self.context.forward(record.with_value(self._joiner(value, other)))


class StreamGlobalTableJoin(Processor):
    """A stream joined with a global table through ``key_selector(key, value)``."""

    def __init__(self, store: str, key_selector: Callable[[Any, Any], Any],
                 joiner: Callable[[Any, Any], Any], left: bool) -> None:
        self._store_name = store
        self._selector = key_selector
        self._joiner = joiner
        self._left = left
        self._lookup: Lookup = _unset

    def init(self, context: ProcessorContext) -> None:
        super().init(context)
        self._lookup = context.get_state_store(self._store_name).get

    def process(self, record: Record) -> None:
        value = record.value
        mapped = self._selector(record.key, value)
        if value is None or (mapped is None and not self._left):
            log.debug("join: skipping a record with a None value or a None selected key")
            return
        other = None if mapped is None else self._lookup(mapped)
        if other is not None or self._left:
            self.context.forward(record.with_value(self._joiner(value, other)))


class TableJoinSide(Processor):
    """One side of a table-table join; `kind` is the rule set this side applies (module docstring).

    `is_left` says which slot of the timestamps store is this side's, and the order in which the
    user's joiner gets the values (it always gets ``(left, right)``).
    """

    def __init__(self, kind: SideKind, is_left: bool, other: TableView, joiner: Callable[[Any, Any], Any],
                 timestamps_store: str, drop_empty: bool) -> None:
        self._kind = kind
        self._is_left = is_left
        self._other_view = other
        self._user_joiner = joiner
        self._timestamps_name = timestamps_store
        self._drop_empty = drop_empty
        self._other: Lookup = _unset
        self._timestamps: Any = None

    def init(self, context: ProcessorContext) -> None:
        super().init(context)
        self._other = self._other_view.bind(context)
        self._timestamps = context.get_state_store(self._timestamps_name)

    def _join(self, this: Any, other: Any) -> Any:
        return self._user_joiner(this, other) if self._is_left else self._user_joiner(other, this)

    def _other_timestamp(self, key: Any, own: int, present: bool, other_value: Any) -> int:
        """Record this side's timestamp for `key`; return the other side's (UNKNOWN if absent)."""
        store = self._timestamps
        entry = store.get(key)
        left_ts, right_ts = entry if entry is not None else (UNKNOWN, UNKNOWN)
        mine = own if present else UNKNOWN
        if self._is_left:
            left_ts, other_ts = mine, right_ts
            updated = (left_ts, right_ts)
        else:
            right_ts, other_ts = mine, left_ts
            updated = (left_ts, right_ts)
        if mine == UNKNOWN and (other_ts == UNKNOWN or other_value is None):
            if entry is not None:
                store.delete(key)
        elif updated != entry:
            store.put(key, updated)
        return other_ts if other_value is not None else UNKNOWN

    def process(self, record: Record) -> None:
        key = record.key
        if key is None:
            log.debug("table join: skipping a record with a None key")
            return
        change: Change = record.value
        new, old = change.new, change.old
        if self._drop_empty and new is None and old is None:
            return
        other = self._other(key)
        other_ts = self._other_timestamp(key, record.timestamp, new is not None, other)
        kind = self._kind
        if other is None and (kind in ("inner", "right") or (new is None and old is None)):
            return
        join = self._join
        if kind == "right":  # the right side of a left join: the left row exists
            result = Change(join(new, other), join(old, other))
        elif kind == "outer":
            result = Change(None if new is None and other is None else join(new, other),
                            None if old is None and other is None else join(old, other))
        else:
            result = Change(None if new is None else join(new, other),
                            None if old is None else join(old, other))
        timestamp = max(record.timestamp, other_ts)
        self.context.forward(Record(key, result, timestamp, record.headers))


class TableJoinMerge(Processor):
    """Both sides' results: stored when the join is materialized (`store`), then forwarded."""

    def __init__(self, store: str | None) -> None:
        self._store_name = store
        self._store: Any = None

    def init(self, context: ProcessorContext) -> None:
        super().init(context)
        if self._store_name is not None:
            self._store = context.get_state_store(self._store_name)

    def process(self, record: Record) -> None:
        if self._store is not None:
            self._store.put(record.key, record.value.new)
        self.context.forward(record)
