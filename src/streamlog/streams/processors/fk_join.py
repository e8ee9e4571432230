"""The foreign-key table-table join's processors (Kafka Streams' KIP-213 implementation).

Theory of operation: ``left.join(right, joiner, foreign_key=extract)`` joins each left row with the
right row whose key is ``extract(left value)``.  The two tables are partitioned by different keys,
so the join runs in two places, talking through two internal topics (records in fk_join_wire.py):

1. `SubscriptionSend` (left task, child of the left table) turns each left update into
   subscriptions keyed by foreign key, written to the registration topic: the new foreign key,
   and on a foreign-key change an unsubscription of the old one.  Each carries the 128-bit hash of
   the new left value (None for a delete), the primary key, the task's partition, and an
   instruction that says whether a missing right row must produce a result.  The rules are Kafka
   Streams' (4.2, after KAFKA-16407): inner join: an insert subscribes and answers only on a match;
   an update with the same foreign key likewise; a changed foreign key unsubscribes the old one
   silently and subscribes the new one answering even without a match (to retract the old result);
   a None foreign key or a delete unsubscribes the old one with an answer (a tombstone); the
   left join always subscribes the new foreign key with an answer (a None foreign key too: that
   subscription is answered without being stored), after unsubscribing a changed old one silently.
2. `SubscriptionReceive` (right task) stores the subscription under (foreign key, primary key),
   or deletes it for the two unsubscribe instructions, and passes it on with what it replaced.
3. `SubscriptionJoin` (right task) reads the right row for the foreign key and answers on the
   response topic, keyed by primary key: the right value (or None) and the subscription's hash.
4. `ForeignTableJoin` (right task, child of the right table): a right update answers every
   subscription of its key (a prefix scan of the store) with the new right value.
5. `ResponseJoin` (left task) drops an answer whose hash is not the hash of the left row's current
   value (a newer update is on its way), else forwards ``joiner(left, right)``, or a tombstone when
   there is no right value (inner join) or no left row.  The result node (a table source over the
   output store) stores it and forwards ``Change(new, old)``.

Timestamps: a subscription's answer carries the larger of the subscription's timestamp and the right
row's; a right update's answers carry the update's; the result keeps the answer's.  The right row's
timestamp is kept by this join in ``<subscription store>-foreign-timestamps`` (foreign key -> the
timestamp of the right table's last update), since the stores here keep none.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from streamlog.streams.processor import Processor, ProcessorContext
from streamlog.streams.processors.fk_join_wire import (
    Instruction,
    Subscription,
    SubscriptionResponseWrapper,
    SubscriptionWrapper,
    combined_key,
    combined_prefix,
    value_hash,
)
from streamlog.streams.processors.table_join import UNKNOWN
from streamlog.streams.processors.table_join_views import Lookup, TableView
from streamlog.streams.record import Change, Record
from streamlog.streams.serdes import Serde, SerdeError

log = logging.getLogger(__name__)

_UNSUBSCRIBE = (Instruction.DELETE_KEY_NO_PROPAGATE, Instruction.DELETE_KEY_AND_PROPAGATE)


def _unset(*_: Any) -> Any:
    raise RuntimeError("processor used before init()")


def _key_bytes(serde: Serde, topic: str, key: Any) -> bytes:
    data = serde.serialize(topic, key)
    if data is None:
        raise SerdeError(f"foreign-key join: key serde {serde.name} gave no bytes for {key!r}")
    return data


class SubscriptionSend(Processor):
    def __init__(self, extractor: Callable[[Any], Any], foreign_key_serde: Serde, foreign_key_topic: str,
                 value_serde: Serde, hash_topic: str, left_join: bool) -> None:
        self._extract = extractor
        self._fk_serde = foreign_key_serde
        self._fk_topic = foreign_key_topic
        self._value_serde = value_serde
        self._hash_topic = hash_topic
        self._left_join = left_join

    def _changed(self, new_fk: Any, old_fk: Any) -> bool:
        serialize = self._fk_serde.serialize
        return serialize(self._fk_topic, new_fk) != serialize(self._fk_topic, old_fk)

    def process(self, record: Record) -> None:
        change: Change = record.value
        new, old = change.new, change.old
        hash_value = None
        if new is not None:
            data = self._value_serde.serialize(self._hash_topic, new)
            hash_value = None if data is None else value_hash(data)

        def send(foreign_key: Any, instruction: Instruction) -> None:
            wrapper = SubscriptionWrapper(hash_value, instruction, record.key, self.context.partition)
            self.context.forward(Record(foreign_key, wrapper, record.timestamp, record.headers))

        old_fk = None if old is None else self._extract(old)
        if self._left_join:
            if new is None and old is None:
                return
            new_fk = None if new is None else self._extract(new)
            if old_fk is not None and self._changed(new_fk, old_fk):
                send(old_fk, Instruction.DELETE_KEY_NO_PROPAGATE)
            send(new_fk, Instruction.PROPAGATE_NULL_IF_NO_FK_VAL_AVAILABLE)
            return
        if new is None:
            if old_fk is not None:
                send(old_fk, Instruction.DELETE_KEY_AND_PROPAGATE)
            return
        new_fk = self._extract(new)
        if new_fk is None:
            log.debug("foreign-key join: skipping a record with a None foreign key")
            if old_fk is not None:
                send(old_fk, Instruction.DELETE_KEY_AND_PROPAGATE)
        elif old_fk is not None and self._changed(new_fk, old_fk):
            send(old_fk, Instruction.DELETE_KEY_NO_PROPAGATE)
            send(new_fk, Instruction.PROPAGATE_NULL_IF_NO_FK_VAL_AVAILABLE)
        else:
            send(new_fk, Instruction.PROPAGATE_ONLY_IF_FK_VAL_AVAILABLE)


class SubscriptionReceive(Processor):
    def __init__(self, store: str, foreign_key_serde: Serde, foreign_key_topic: str,
                 primary_key_serde: Serde, primary_key_topic: str) -> None:
        self._store_name = store
        self._fk = (foreign_key_serde, foreign_key_topic)
        self._pk = (primary_key_serde, primary_key_topic)
        self._store: Any = None

    def init(self, context: ProcessorContext) -> None:
        super().init(context)
        self._store = context.get_state_store(self._store_name)

    def process(self, record: Record) -> None:
        foreign_key = record.key
        wrapper: SubscriptionWrapper = record.value
        new = Subscription(wrapper, record.timestamp)
        old = None
        if foreign_key is None:
            if wrapper.instruction is not Instruction.PROPAGATE_NULL_IF_NO_FK_VAL_AVAILABLE:
                log.debug("foreign-key join: skipping a subscription with a None foreign key")
                return
        else:
            key = combined_key(_key_bytes(*self._fk, foreign_key), _key_bytes(*self._pk, wrapper.primary_key))
            old = self._store.get(key)
            if wrapper.instruction in _UNSUBSCRIBE:
                self._store.delete(key)
            else:
                self._store.put(key, new)
        self.context.forward(Record((foreign_key, wrapper.primary_key), Change(new, old), record.timestamp,
                                    record.headers))


class SubscriptionJoin(Processor):
    def __init__(self, foreign_view: TableView, timestamps_store: str) -> None:
        self._view = foreign_view
        self._timestamps_name = timestamps_store
        self._foreign: Lookup = _unset
        self._timestamps: Any = None

    def init(self, context: ProcessorContext) -> None:
        super().init(context)
        self._foreign = self._view.bind(context)
        self._timestamps = context.get_state_store(self._timestamps_name)

    def process(self, record: Record) -> None:
        foreign_key, primary_key = record.key
        subscription: Subscription = record.value.new
        wrapper = subscription.wrapper
        foreign = None if foreign_key is None else self._foreign(foreign_key)
        timestamp = subscription.timestamp
        if foreign is not None:
            foreign_ts = self._timestamps.get(foreign_key)
            timestamp = max(timestamp, UNKNOWN if foreign_ts is None else foreign_ts)
        instruction = wrapper.instruction
        if instruction is Instruction.DELETE_KEY_NO_PROPAGATE:
            return
        if instruction is Instruction.PROPAGATE_ONLY_IF_FK_VAL_AVAILABLE and foreign is None:
            return
        value = None if instruction is Instruction.DELETE_KEY_AND_PROPAGATE else foreign
        response = SubscriptionResponseWrapper(wrapper.hash, value, wrapper.primary_partition)
        self.context.forward(Record(primary_key, response, timestamp, record.headers))


class ForeignTableJoin(Processor):
    def __init__(self, store: str, foreign_key_serde: Serde, foreign_key_topic: str, timestamps_store: str,
                 drop_empty: bool) -> None:
        self._store_name = store
        self._fk = (foreign_key_serde, foreign_key_topic)
        self._timestamps_name = timestamps_store
        self._drop_empty = drop_empty
        self._store: Any = None
        self._timestamps: Any = None

    def init(self, context: ProcessorContext) -> None:
        super().init(context)
        self._store = context.get_state_store(self._store_name)
        self._timestamps = context.get_state_store(self._timestamps_name)

    def process(self, record: Record) -> None:
        foreign_key = record.key
        if foreign_key is None:
            log.debug("foreign-key join: skipping a right-table record with a None key")
            return
        change: Change = record.value
        if self._drop_empty and change.new is None and change.old is None:
            return
        if change.new is not None:
            self._timestamps.put(foreign_key, record.timestamp)
        elif self._timestamps.get(foreign_key) is not None:
            self._timestamps.delete(foreign_key)
        prefix = combined_prefix(_key_bytes(*self._fk, foreign_key))
        for _, subscription in self._store.prefix_scan(prefix):
            wrapper: SubscriptionWrapper = subscription.wrapper
            response = SubscriptionResponseWrapper(wrapper.hash, change.new, wrapper.primary_partition)
            self.context.forward(Record(wrapper.primary_key, response, record.timestamp, record.headers))


class ResponseJoin(Processor):
    def __init__(self, primary_view: TableView, value_serde: Serde, hash_topic: str,
                 joiner: Callable[[Any, Any], Any], left_join: bool) -> None:
        self._view = primary_view
        self._value_serde = value_serde
        self._hash_topic = hash_topic
        self._joiner = joiner
        self._left_join = left_join
        self._primary: Lookup = _unset

    def init(self, context: ProcessorContext) -> None:
        super().init(context)
        self._primary = self._view.bind(context)

    def process(self, record: Record) -> None:
        response: SubscriptionResponseWrapper = record.value
        current = self._primary(record.key)
        current_hash = None
        if current is not None:
            data = self._value_serde.serialize(self._hash_topic, current)
            current_hash = None if data is None else value_hash(data)
        if response.hash != current_hash:
            log.debug("foreign-key join: dropping a stale response for %r", record.key)
            return
        foreign = response.foreign_value
        if foreign is None and (not self._left_join or current is None):
            result = None
        else:
            result = self._joiner(current, foreign)
        self.context.forward(record.with_value(result))
