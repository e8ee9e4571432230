"""The coordinators' logs as Kafka's internal topics: their records rewritten into Kafka's formats.

Theory of operation: Streamlog keeps ``__consumer_offsets`` and ``__transaction_state`` in its own
record formats (``group/records.py``, ``txn/records.py``); tools that read Kafka's internal topics
(Burrow, Kafka's offsets and transaction-log formatters, Kafka UIs) expect Kafka's
(``protocol/messages/coordinator_records.py``).  When a consumer fetches one of them, ``kafka_view``
rewrites the batches the log returned, record by record, keeping every batch's base offset, last
offset delta and every kept record's offset, so positions, watermarks and committed offsets stay
those of the log (the records of KIP-848 consumer groups, ``group/consumer_records.py``, are in
Kafka's format on disk and pass unchanged):

- a committed offset becomes Kafka's OffsetCommitKey v1 / OffsetCommitValue v3 (v1 when it carries
  an explicit expiry); a group's metadata GroupMetadataKey v2 / GroupMetadataValue v3; a
  transactional id's metadata TransactionLogKey v0 / TransactionLogValue v0; tombstones stay
  tombstones;
- records Kafka has no counterpart for (offsets staged by an open transaction, which Kafka keeps as
  transactional batches; the producer-id reservation, which Kafka keeps in the cluster metadata;
  records of a newer version) are left out, leaving a gap in the offsets as compaction does; a
  batch left with no record stays, empty, so consumers move past it (Kafka's cleaner leaves such
  batches too);
- a trailing partial batch is left out (the consumer fetches it whole next time).

Rewritten batches are uncompressed and carry no producer id.  Pure: bytes in, bytes out.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from streamlog.coordinator.group.consumer_records import is_consumer_key
from streamlog.coordinator.group.records import (
    GroupKey,
    OffsetKey,
    RecordError,
    decode_group_value,
    decode_key,
    decode_offset_value,
)
from streamlog.coordinator.txn.model import TxnMetadata
from streamlog.coordinator.txn.records import TXN_PREFIX
from streamlog.coordinator.txn.records import decode as decode_txn
from streamlog.coordinator.txn.states import TxnState
from streamlog.protocol import codec
from streamlog.protocol.messages import coordinator_records as kr
from streamlog.protocol.records.batch import iter_batches
from streamlog.protocol.records.builder import NewRecord, encode_records
from streamlog.protocol.records.crc import batch_crc
from streamlog.protocol.records.header import (
    ATTR_LOG_APPEND_TIME,
    CRC_OFFSET,
    HEADER_SIZE,
    HEADER_STRUCT,
    LOG_OVERHEAD,
    MAGIC,
)
from streamlog.protocol.records.record import iter_records
from streamlog.protocol.schema import Field

KeyValue = tuple[bytes, bytes | None]
Converter = Callable[[bytes | None, bytes | None], KeyValue | None]

OFFSETS_TOPIC = "__consumer_offsets"
TRANSACTION_TOPIC = "__transaction_state"


def _versioned(version: int, fields: tuple[Field, ...], body: dict[str, object]) -> bytes:
    return version.to_bytes(2, "big", signed=True) + codec.encode(fields, version, False, body)


def _offset_commit(key: OffsetKey, value: bytes | None) -> KeyValue:
    new_key = _versioned(kr.OFFSET_COMMIT_KEY_VERSION, kr.OFFSET_COMMIT_KEY,
                         {"group": key.group_id, "topic": key.topic, "partition": key.partition})
    if value is None:
        return new_key, None
    entry = decode_offset_value(value)
    version = (kr.OFFSET_COMMIT_VALUE_WITH_EXPIRY_VERSION if entry.expire_timestamp >= 0
               else kr.OFFSET_COMMIT_VALUE_VERSION)
    return new_key, _versioned(version, kr.OFFSET_COMMIT_VALUE, {
        "offset": entry.offset, "leader_epoch": entry.leader_epoch, "metadata": entry.metadata or "",
        "commit_timestamp": entry.commit_timestamp, "expire_timestamp": entry.expire_timestamp})


def _group_metadata(key: GroupKey, value: bytes | None) -> KeyValue:
    new_key = _versioned(kr.GROUP_METADATA_KEY_VERSION, kr.GROUP_METADATA_KEY, {"group": key.group_id})
    if value is None:
        return new_key, None
    group = decode_group_value(value)
    members = [{"member_id": m.member_id, "group_instance_id": m.group_instance_id,
                "client_id": m.client_id, "client_host": m.client_host,
                "rebalance_timeout": m.rebalance_timeout_ms, "session_timeout": m.session_timeout_ms,
                "subscription": m.subscription, "assignment": m.assignment}
               for m in group.members]
    return new_key, _versioned(kr.GROUP_METADATA_VALUE_VERSION, kr.GROUP_METADATA_VALUE, {
        "protocol_type": group.protocol_type or "", "generation": group.generation,
        "protocol": group.protocol_name, "leader": group.leader,
        "current_state_timestamp": group.state_timestamp, "members": members})


def group_record(key: bytes | None, value: bytes | None) -> KeyValue | None:
    """One ``__consumer_offsets`` record in Kafka's format, or None if Kafka has no counterpart."""
    if key is None:
        return None
    if is_consumer_key(key):  # KIP-848 consumer-group records (types 3-8) are Kafka's already
        return key, value
    try:
        parsed = decode_key(key)
        if isinstance(parsed, OffsetKey):
            return _offset_commit(parsed, value)
        if isinstance(parsed, GroupKey):
            return _group_metadata(parsed, value)
    except RecordError:
        return None
    return None  # an offset staged by an open transaction


def _partitions(meta: TxnMetadata) -> list[dict[str, object]] | None:
    if meta.state == TxnState.EMPTY:
        return None  # as Kafka writes an Empty transaction
    by_topic: dict[str, list[int]] = {}
    for topic, partition in sorted(meta.partitions):
        by_topic.setdefault(topic, []).append(partition)
    return [{"topic": t, "partition_ids": ps} for t, ps in by_topic.items()]


def txn_record(key: bytes | None, value: bytes | None) -> KeyValue | None:
    """One ``__transaction_state`` record in Kafka's format, or None if Kafka has no counterpart."""
    if key is None:
        return None
    try:
        decoded = decode_txn(key, value)
    except (ValueError, KeyError, TypeError):
        return None
    if decoded is None or not decoded[0].startswith(TXN_PREFIX):
        return None
    name, meta = decoded
    new_key = _versioned(kr.TRANSACTION_LOG_KEY_VERSION, kr.TRANSACTION_LOG_KEY,
                         {"transactional_id": name.removeprefix(TXN_PREFIX)})
    if not isinstance(meta, TxnMetadata):
        return new_key, None
    return new_key, _versioned(kr.TRANSACTION_LOG_VALUE_VERSION, kr.TRANSACTION_LOG_VALUE, {
        "producer_id": meta.producer_id, "producer_epoch": meta.epoch,
        "transaction_timeout_ms": meta.timeout_ms, "transaction_status": int(meta.state),
        "transaction_partitions": _partitions(meta),
        "transaction_last_update_timestamp_ms": meta.update_ms,
        "transaction_start_timestamp_ms": meta.start_ms})


CONVERTERS: dict[str, Converter] = {OFFSETS_TOPIC: group_record, TRANSACTION_TOPIC: txn_record}


def _batch(base_offset: int, leader_epoch: int, attributes: int, last_offset_delta: int, base_timestamp: int,
           max_timestamp: int, kept: Iterable[tuple[int, NewRecord]]) -> bytes:
    pairs = list(kept)
    section = encode_records([r for _d, r in pairs], base_timestamp, [d for d, _r in pairs])
    size = HEADER_SIZE + len(section)
    out = bytearray(size)
    HEADER_STRUCT.pack_into(out, 0, base_offset, size - LOG_OVERHEAD, leader_epoch, MAGIC, 0,
                            attributes & ATTR_LOG_APPEND_TIME, last_offset_delta, base_timestamp,
                            max_timestamp, -1, -1, -1, len(pairs))
    out[HEADER_SIZE:] = section
    out[CRC_OFFSET:CRC_OFFSET + 4] = batch_crc(out, 0, size).to_bytes(4, "big")
    return bytes(out)


def kafka_view(topic: str, data: bytes | memoryview) -> bytes:
    """The whole batches in ``data`` (read from ``topic``'s log) with their records in Kafka's format."""
    convert = CONVERTERS[topic]
    out = bytearray()
    for pos, header in iter_batches(data):
        kept: list[tuple[int, NewRecord]] = []
        for record in iter_records(data, pos):
            converted = convert(record.key, record.value)
            if converted is not None:
                kept.append((record.offset - header.base_offset, NewRecord(converted[0], converted[1],
                                                                           record.timestamp)))
        out += _batch(header.base_offset, header.partition_leader_epoch, header.attributes,
                      header.last_offset_delta, header.base_timestamp, header.max_timestamp, kept)
    return bytes(out)


__all__ = ["CONVERTERS", "OFFSETS_TOPIC", "TRANSACTION_TOPIC", "group_record", "kafka_view", "txn_record"]
