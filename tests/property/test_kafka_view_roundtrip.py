"""Hypothesis: any record of the coordinators' logs, seen through ``kafka_view``, decodes (with
Kafka's declarations) to the same facts, at the same offset.

Random committed offsets, groups and transactional ids are written in Streamlog's own formats, in
batches of random size with records Kafka has no counterpart for mixed in; the view must keep every
batch's offsets and decode back to what was written.
"""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from streamlog.coordinator.group.model import OffsetEntry
from streamlog.coordinator.group.records import (
    StoredGroup,
    StoredMember,
    group_key,
    group_value,
    offset_key,
    offset_value,
    pending_offset_key,
)
from streamlog.coordinator.kafka_view import kafka_view
from streamlog.coordinator.txn.model import TxnMetadata
from streamlog.coordinator.txn.records import producer_id_block_value, txn_key, txn_value
from streamlog.coordinator.txn.states import TxnState
from streamlog.protocol import codec
from streamlog.protocol.messages import coordinator_records as kr
from streamlog.protocol.records.batch import iter_batches
from streamlog.protocol.records.builder import NewRecord, build_batch
from streamlog.protocol.records.record import iter_records

TS = 1_700_000_000_000
names = st.text(min_size=1, max_size=12)
ints = st.integers(-1, 2**31 - 1)
longs = st.integers(-1, 2**62)

offsets = st.builds(OffsetEntry, longs, ints, st.none() | st.text(max_size=8), longs, st.just(-1) | longs)
members = st.builds(StoredMember, names, st.none() | names, names, names, ints, ints, st.binary(max_size=8),
                    st.binary(max_size=8))
groups = st.builds(StoredGroup, st.none() | names, ints, st.none() | names, st.none() | names, longs,
                   st.lists(members, max_size=3).map(tuple))
txns = st.builds(TxnMetadata, names, longs, st.integers(0, 32767), ints, st.sampled_from(list(TxnState)),
                 partitions=st.frozensets(st.tuples(names, st.integers(0, 100)), max_size=4),
                 start_ms=longs, update_ms=longs)

# (kind, our record, what Kafka's record must say, or None: left out)
group_items = st.one_of(
    st.tuples(names, names, ints, offsets).map(lambda t: (
        offset_key(t[0], t[1], t[2]), offset_value(t[3]),
        ("offset", {"group": t[0], "topic": t[1], "partition": t[2]},
         {"offset": t[3].offset, "metadata": t[3].metadata or "",
          "commit_timestamp": t[3].commit_timestamp}))),
    st.tuples(names, groups).map(lambda t: (
        group_key(t[0]), group_value(t[1]),
        ("group", {"group": t[0]}, {"generation": t[1].generation, "protocol": t[1].protocol_name,
                                    "leader": t[1].leader, "members": len(t[1].members)}))),
    st.tuples(names, names, ints, longs).map(lambda t: (pending_offset_key(*t), None, None)),
)
txn_items = st.one_of(
    txns.map(lambda m: (txn_key(m.transactional_id), txn_value(m),
                        ("txn", {"transactional_id": m.transactional_id},
                         {"producer_id": m.producer_id, "producer_epoch": m.epoch,
                          "transaction_status": int(m.state)}))),
    longs.map(lambda n: (b"producer-ids", producer_id_block_value(n), None)),
)


def kafka_facts(key: bytes, value: bytes | None) -> tuple[str, dict[str, Any], dict[str, Any] | None]:
    version = int.from_bytes(key[:2], "big")
    fields, kind = {1: (kr.OFFSET_COMMIT_KEY, "offset"), 2: (kr.GROUP_METADATA_KEY, "group")}.get(
        version, (kr.TRANSACTION_LOG_KEY, "txn"))
    key_body = dict(codec.decode(fields, version, False, key, 2)[0])
    if value is None:
        return kind, key_body, None
    value_version = int.from_bytes(value[:2], "big")
    value_fields = {"offset": kr.OFFSET_COMMIT_VALUE, "group": kr.GROUP_METADATA_VALUE,
                    "txn": kr.TRANSACTION_LOG_VALUE}[kind]
    body, end = codec.decode(value_fields, value_version, False, value, 2)
    assert end == len(value)
    if kind == "offset":
        return kind, key_body, {k: body[k] for k in ("offset", "metadata", "commit_timestamp")}
    if kind == "group":
        return kind, key_body, {"generation": body["generation"], "protocol": body["protocol"],
                                "leader": body["leader"], "members": len(body["members"])}
    return kind, key_body, {k: body[k] for k in ("producer_id", "producer_epoch", "transaction_status")}


def check(topic: str, batches: list[list[tuple[bytes, bytes | None, Any]]]) -> None:
    data = b""
    expected: dict[int, Any] = {}
    base = 0
    for items in batches:
        data += build_batch([NewRecord(k, v, TS) for k, v, _ in items], base_offset=base)
        for i, (_k, _v, facts) in enumerate(items):
            if facts is not None:
                expected[base + i] = facts
        base += len(items)
    view = kafka_view(topic, data)
    seen: dict[int, Any] = {}
    ends = []
    for pos, header in iter_batches(view):
        ends.append(header.last_offset)
        for record in iter_records(view, pos):
            assert record.key is not None
            seen[record.offset] = kafka_facts(record.key, record.value)
    assert seen == expected
    assert ends == [end - 1 for end in _cumulative([len(b) for b in batches])]


def _cumulative(sizes: list[int]) -> list[int]:
    out, total = [], 0
    for size in sizes:
        total += size
        out.append(total)
    return out


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(group_items, min_size=1, max_size=4), min_size=1, max_size=4))
def test_consumer_offsets_view(batches: list[list[tuple[bytes, bytes | None, Any]]]) -> None:
    check("__consumer_offsets", batches)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(txn_items, min_size=1, max_size=4), min_size=1, max_size=4))
def test_transaction_state_view(batches: list[list[tuple[bytes, bytes | None, Any]]]) -> None:
    check("__transaction_state", batches)
