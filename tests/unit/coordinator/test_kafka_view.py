"""coordinator/kafka_view.py: batches of the coordinators' logs rewritten in Kafka's record formats.

Checked against the declarations decoded by the generic codec (the interop tests check the same
bytes with an independent decoder): offsets and positions are kept, records without a Kafka
counterpart leave gaps, a batch left empty stays as an empty batch, tombstones stay tombstones, a
trailing partial batch is dropped, and the CRC of every rewritten batch is right.
"""

from __future__ import annotations

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
from streamlog.protocol.records.batch import iter_batches, verify_crc
from streamlog.protocol.records.builder import NewRecord, build_batch
from streamlog.protocol.records.record import Record, iter_records

TS = 1_700_000_000_000


def batches(data: bytes) -> list[tuple[int, int, int, list[Record]]]:
    out = []
    for pos, header in iter_batches(data):
        assert verify_crc(data, pos, header)
        out.append((header.base_offset, header.last_offset_delta, header.records_count,
                    list(iter_records(data, pos))))
    return out


def versioned(data: bytes, fields: tuple[kr.Field, ...]) -> tuple[int, dict[str, object]]:
    version = int.from_bytes(data[:2], "big", signed=True)
    body, end = codec.decode(fields, version, False, data, 2)
    assert end == len(data)
    return version, dict(body)


def test_offsets_and_groups_keep_their_offsets() -> None:
    member = StoredMember("m-1", None, "client", "/127.0.0.1", 45_000, 60_000, b"sub", b"asg")
    first = build_batch([
        NewRecord(offset_key("g", "t", 0), offset_value(OffsetEntry(42, 3, None, TS, -1)), TS),
        NewRecord(pending_offset_key("g", "t", 1, 7), offset_value(OffsetEntry(9, -1, "", TS, -1)), TS),
        NewRecord(group_key("g"), group_value(StoredGroup("consumer", 2, "range", "m-1", TS, (member,))), TS),
    ], base_offset=10)
    only_pending = build_batch([NewRecord(pending_offset_key("g", "t", 1, 7), None, TS)], base_offset=13)
    expiring_entry = OffsetEntry(1, -1, "m", TS, TS + 9)
    tombstone = build_batch([NewRecord(offset_key("g", "t", 0), None, TS + 5),
                             NewRecord(offset_key("g", "t", 2), offset_value(expiring_entry), TS + 5)],
                            base_offset=14)
    data = first + only_pending + tombstone + tombstone[:30]  # and a partial batch at the end

    view = batches(kafka_view("__consumer_offsets", data))
    assert [(b[0], b[1], b[2]) for b in view] == [(10, 2, 2), (13, 0, 0), (14, 1, 2)]
    commit, group = view[0][3]
    assert (commit.offset, group.offset) == (10, 12), "the staged offset at 11 leaves a gap"
    assert commit.key is not None and commit.value is not None
    assert versioned(commit.key, kr.OFFSET_COMMIT_KEY) == (1, {"group": "g", "topic": "t", "partition": 0})
    assert versioned(commit.value, kr.OFFSET_COMMIT_VALUE) == (3, {
        "offset": 42, "leader_epoch": 3, "metadata": "", "commit_timestamp": TS, "expire_timestamp": -1})
    assert group.key is not None and group.value is not None
    assert versioned(group.key, kr.GROUP_METADATA_KEY) == (2, {"group": "g"})
    version, described = versioned(group.value, kr.GROUP_METADATA_VALUE)
    assert version == 3
    shown = (described["protocol_type"], described["generation"], described["protocol"], described["leader"])
    assert shown == ("consumer", 2, "range", "m-1")
    members = described["members"]
    assert isinstance(members, list)
    assert [(m["member_id"], m["session_timeout"], m["rebalance_timeout"], m["subscription"])
            for m in members] == [("m-1", 45_000, 60_000, b"sub")]
    gone, expiring = view[2][3]
    assert (gone.offset, gone.value) == (14, None)
    assert expiring.value is not None
    assert versioned(expiring.value, kr.OFFSET_COMMIT_VALUE) == (1, {  # v1: no leader epoch on the wire
        "offset": 1, "leader_epoch": -1, "metadata": "m", "commit_timestamp": TS, "expire_timestamp": TS + 9})


def test_transaction_log() -> None:
    empty = TxnMetadata("tx", 5, 0, 60_000, TxnState.EMPTY, start_ms=-1, update_ms=TS)
    ongoing = TxnMetadata("tx", 5, 0, 60_000, TxnState.ONGOING,
                          partitions=frozenset({("a", 1), ("a", 0), ("b", 2)}), start_ms=TS, update_ms=TS + 1)
    data = build_batch([NewRecord(b"producer-ids", producer_id_block_value(1000), TS),
                        NewRecord(txn_key("tx"), txn_value(empty), TS)]) + \
        build_batch([NewRecord(txn_key("tx"), txn_value(ongoing), TS)], base_offset=2) + \
        build_batch([NewRecord(txn_key("tx"), None, TS)], base_offset=3)
    view = batches(kafka_view("__transaction_state", data))
    assert [(b[0], b[2]) for b in view] == [(0, 1), (2, 1), (3, 1)]
    (first,), (second,), (third,) = (b[3] for b in view)
    assert first.offset == 1, "the producer-id reservation has no Kafka counterpart"
    assert first.key is not None and first.value is not None and second.value is not None
    assert versioned(first.key, kr.TRANSACTION_LOG_KEY) == (0, {"transactional_id": "tx"})
    assert versioned(first.value, kr.TRANSACTION_LOG_VALUE)[1]["transaction_partitions"] is None
    version, body = versioned(second.value, kr.TRANSACTION_LOG_VALUE)
    assert (version, body["producer_id"], body["transaction_status"]) == (0, 5, 1)
    assert body["transaction_start_timestamp_ms"] == TS
    assert body["transaction_partitions"] == [{"topic": "a", "partition_ids": [0, 1]},
                                              {"topic": "b", "partition_ids": [2]}]
    assert third.value is None
